//! The dashboard shows each bundle's kind and filters by it.

use crate::support::fake_trusthub::kinds::TRUST_PRODUCT;
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::{bundle, callback, fast_jobs, wait_for, Backend, TestApp, ACCOUNT, TOKEN};
use crate::ui::client::{login, page, profile_rows};

async fn the_dashboard_shows_and_filters_by_kind(backend: Backend) {
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let (profile, product) = (bundle(0xb1), bundle(0xb2));
    fake.add_profile(&profile, ACCOUNT, "twilio-approved");
    fake.add_bundle(
        TRUST_PRODUCT,
        &product,
        ACCOUNT,
        "twilio-approved",
        "Acme Branded Calling",
    );
    let base = fake.base.clone();
    let app = TestApp::spawn_with(backend, None, move |env| {
        env.push(("TRUSTHUB_API_URL", base));
        fast_jobs(env);
    })
    .await;
    for sid in [&profile, &product] {
        let fields = callback(sid, "twilio-approved");
        assert_eq!(app.post_signed(&fields, TOKEN).await.status(), 204);
    }
    // The decisions' confirmations learn the kinds.
    for sid in [&profile, &product] {
        wait_for(20, "the kind learnt", || async {
            let (_, shown) = app.api_get(&format!("/v1/profiles/{sid}")).await;
            shown["kind"].as_str().map(drop)
        })
        .await;
    }
    let cookie = login(&app).await;
    let products = page(&app, &cookie, "/ui/profiles?kind=trust_product").await;
    assert_eq!(profile_rows(&products), 1, "{products}");
    assert!(products.contains(&product) && products.contains("Acme Branded Calling"));
    assert!(
        products.contains("<option value=\"trust_product\" selected>"),
        "{products}"
    );
    let profiles = page(&app, &cookie, "/ui/profiles?kind=customer_profile").await;
    assert_eq!(profile_rows(&profiles), 1);
    assert!(profiles.contains(&profile));
    let all = page(&app, &cookie, "/ui/profiles").await;
    for label in ["Trust product", "Customer profile"] {
        let cell = format!("<td data-label=\"Kind\">{label}</td>");
        assert!(all.contains(&cell), "{all}");
    }
    let shown = page(&app, &cookie, &format!("/ui/profiles/{product}")).await;
    assert!(
        shown.contains("<span class=\"kind\">Trust product</span>"),
        "{shown}"
    );
}

both_backends!(the_dashboard_shows_and_filters_by_kind);
