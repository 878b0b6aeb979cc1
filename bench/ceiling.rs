//! The ceiling `bench/run` compares against: an axum server that answers 204 to every POST
//! without reading, verifying or storing anything.
//!
//! Usage: ceiling LISTEN_ADDR

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let app = Router::new()
        .route(
            "/twilio/status-callback",
            post(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/readyz", axum::routing::get(|| async { StatusCode::OK }));
    axum::serve(listener, app).await
}
