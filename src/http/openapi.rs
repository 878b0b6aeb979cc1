//! `GET /openapi.json`: the OpenAPI 3 description, generated from the handlers' annotations.

use super::{callback, compliance, deliveries, events, health, jobs, profiles, webhooks};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "trusthub-hooks",
        description = "Verified, durable Twilio Trust Hub status callbacks, their history, evaluations and alerts."
    ),
    paths(
        callback::receive,
        events::receive,
        profiles::list,
        profiles::show,
        profiles::evaluations,
        compliance::brands,
        compliance::brand,
        compliance::campaigns,
        compliance::campaign,
        compliance::verifications,
        compliance::verification,
        webhooks::create,
        webhooks::list,
        webhooks::remove,
        deliveries::list,
        deliveries::show,
        deliveries::retry,
        jobs::list,
        jobs::retry,
        health::healthz,
        health::readyz,
        health::metrics,
        openapi_json,
    ),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("one of API_TOKENS"))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "this document", body = Object)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
