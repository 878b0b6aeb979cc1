//! A plain HTTP client for the dashboard: no redirects followed, the session cookie handled by
//! hand so that every test sees exactly what the server sets.

use crate::support::{TestApp, API_TOKEN};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response};

pub fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The session cookie a response sets, if any, as `name=value` (the name is `th_session`, or
/// `__Host-th_session` under an https `PUBLIC_URL`), to be sent back as it is.
pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("th_session=") || v.starts_with("__Host-th_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|pair| !pair.ends_with('='))
}

/// The value of a `name=value` cookie pair.
pub fn value_of(cookie: &str) -> &str {
    cookie.split_once('=').expect("name=value").1
}

pub fn set_cookie_header(response: &Response) -> String {
    response.headers()[SET_COOKIE].to_str().unwrap().to_owned()
}

pub fn location(response: &Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// Signs in with `token`; returns the response (a redirect on success).
pub async fn sign_in(app: &TestApp, token: &str) -> Response {
    client()
        .post(app.url("/ui/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

/// Signs in with the test API token and returns the session cookie (`name=value`).
pub async fn login(app: &TestApp) -> String {
    let response = sign_in(app, API_TOKEN).await;
    assert_eq!(response.status(), 303);
    session_cookie(&response).expect("a session cookie")
}

pub async fn get(app: &TestApp, cookie: Option<&str>, path: &str) -> Response {
    let mut request = client().get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

/// A page's HTML, asserting it answered 200.
pub async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let response = get(app, Some(cookie), path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}

/// Posts a form as a browser would, with extra headers.
pub async fn post(
    app: &TestApp,
    cookie: Option<&str>,
    path: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut request = client()
        .post(app.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap());
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// How many rows link to a profile page.
pub fn profile_rows(html: &str) -> usize {
    html.matches("class=\"sid\" href=\"/ui/profiles/").count()
}
