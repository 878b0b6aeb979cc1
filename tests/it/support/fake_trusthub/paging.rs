//! Twilio's paging: `PageSize` (1..=1000, default 50), `Page` (client state), and
//! `PageToken`, which Twilio hands out in `meta.next_page_url` (`PA` + the last SID of the
//! page before) and `previous_page_url` (`PB` + the first SID of the page after). Every
//! `meta` URL keeps the list's filters, in the description's order, before the paging
//! parameters, as in the description's `readFull` examples.

use super::rules::{error, invalid};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn params(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// One page of `items` (already filtered) for a request on `base` + `path` with `query`;
/// `filters` are the list's filter parameters, kept in every `meta` URL.
pub fn page(base: &str, path: &str, query: &str, filters: &[&str], items: &[Value]) -> Response {
    keyed_page(base, path, query, filters, items, "results")
}

/// A page whose items sit under `key` (`meta.key` names it), as the Events API lists sinks
/// (`sinks`), subscriptions (`subscriptions`) and subscribed events (`types`).
pub fn keyed_page(
    base: &str,
    path: &str,
    query: &str,
    filters: &[&str],
    items: &[Value],
    key: &str,
) -> Response {
    let params = params(query);
    let size = match params.get("PageSize").map(|v| v.parse::<usize>()) {
        None => 50,
        Some(Ok(size)) if (1..=1000).contains(&size) => size,
        Some(_) => return invalid("PageSize", &params["PageSize"]),
    };
    let page = match params.get("Page").map(|v| v.parse::<usize>()) {
        None => 0,
        Some(Ok(page)) => page,
        Some(Err(_)) => return invalid("Page", &params["Page"]),
    };
    let position = |sid: &str| items.iter().position(|item| item["sid"] == sid);
    let start = match params.get("PageToken") {
        None => (page * size).min(items.len()),
        Some(token) => match (token.get(..2), token.get(2..).and_then(position)) {
            (Some("PA"), Some(at)) => at + 1,
            (Some("PB"), Some(at)) => at.saturating_sub(size),
            _ => return error(400, 20001, &format!("Invalid PageToken {token:?}")),
        },
    };
    let end = (start + size).min(items.len());
    let url = |page: usize, token: Option<String>| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for name in filters {
            if let Some(value) = params.get(*name) {
                query.append_pair(name, value);
            }
        }
        query.append_pair("PageSize", &size.to_string());
        query.append_pair("Page", &page.to_string());
        if let Some(token) = token {
            query.append_pair("PageToken", &token);
        }
        format!("{base}{path}?{}", query.finish())
    };
    let sid = |i: usize| items[i]["sid"].as_str().unwrap_or_default().to_owned();
    let next = (end < items.len()).then(|| url(page + 1, Some(format!("PA{}", sid(end - 1)))));
    let previous = (start > 0 && page > 0).then(|| url(page - 1, Some(format!("PB{}", sid(start)))));
    let mut body = json!({
        "meta": {
            "page": page,
            "page_size": size,
            "first_page_url": url(0, None),
            "previous_page_url": previous,
            "url": url(page, params.get("PageToken").cloned()),
            "next_page_url": next,
            "key": key,
        }
    });
    body[key] = json!(items[start..end]);
    Json(body).into_response()
}
