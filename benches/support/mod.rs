//! What the benchmarks share: running one on each backend, each time on a fresh database.

use std::future::Future;
use trusthub_hooks::config::SqliteSynchronous;
use trusthub_hooks::store::{self, DynStore};

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Runs `bench` on a new SQLite file, then on a new PostgreSQL database (dropped afterwards)
/// when the server at 127.0.0.1:5432 answers.
pub async fn on_each_backend<F, Fut>(mut bench: F)
where
    F: FnMut(&'static str, DynStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    bench(
        "sqlite",
        store::connect(&url, SqliteSynchronous::Normal).await.unwrap(),
    )
    .await;
    use sqlx::Connection as _;
    let mut admin = match sqlx::PgConnection::connect(PG_ADMIN).await {
        Ok(admin) => admin,
        Err(error) => return println!("postgres   skipped: {error}"),
    };
    let name = format!("th_bench_{}", std::process::id());
    sqlx::query(&format!("drop database if exists {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    bench(
        "postgres",
        store::connect(&url, SqliteSynchronous::Normal).await.unwrap(),
    )
    .await;
    sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
