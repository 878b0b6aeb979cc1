//! Webhook delivery throughput to a receiver on loopback: signed POSTs sent and recorded per
//! second, through the real queue, worker and sender.
//!
//! `cargo bench --bench delivery` (SQLite in a temporary file; PostgreSQL at 127.0.0.1:5432
//! when reachable). `DELIVERY_BENCH_EVENTS` sets the number of deliveries (default 5000).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use trusthub_hooks::jobs::deliver::Deliverer;
use trusthub_hooks::notify::signing;
use trusthub_hooks::notify::webhook::WebhookSender;
use trusthub_hooks::queue::{Backoff, Worker, WorkerConfig};
use trusthub_hooks::store::{self, Channel, DynStore, NewDelivery, Webhook};

async fn receiver(count: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn bench(name: &str, store: DynStore, events: usize, concurrency: u32) {
    store.migrate().await.unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let url = receiver(received.clone()).await;
    let now = store::now();
    let webhook = Webhook {
        id: "wh_bench".into(),
        url: url.clone(),
        events: Vec::new(),
        description: None,
        secret: signing::new_secret(),
        enabled: true,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    store.create_webhook(&webhook).await.unwrap();
    let payload =
        serde_json::json!({"type": "profile.status_changed", "data": {"sid": "BU0", "to": "in-review"}});
    let deliveries: Vec<NewDelivery> = (0..events)
        .map(|n| NewDelivery {
            channel: Channel::Webhook,
            webhook_id: Some(webhook.id.clone()),
            recipient: url.clone(),
            event_id: format!("msg_bench_{n}"),
            event_type: "profile.status_changed".into(),
            transition_id: None,
            profile_sid: None,
            payload: payload.clone(),
        })
        .collect();
    for chunk in deliveries.chunks(500) {
        store.create_deliveries(chunk, &[]).await.unwrap();
    }
    let backoff = Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_secs(1),
    };
    let deliverer = Deliverer {
        store: store.clone(),
        webhooks: WebhookSender::new(Duration::from_secs(10), true).unwrap(),
        email: None,
        max_attempts: 3,
        backoff,
    };
    let config = WorkerConfig {
        concurrency,
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(10),
        backoff,
        max_retry_after: Duration::from_secs(1),
    };
    let worker = Worker::new(store.clone(), config, Arc::new(Notify::new())).register(deliverer);
    let started = Instant::now();
    while worker.run_once().await.unwrap() > 0 {}
    let elapsed = started.elapsed();
    assert_eq!(
        received.load(Ordering::Relaxed),
        events,
        "every delivery arrived once"
    );
    println!(
        "{name:<10} concurrency {concurrency:>3}: {events} signed webhooks delivered and recorded in {:>6.0} ms ({:>6.0} deliveries/s)",
        elapsed.as_secs_f64() * 1e3,
        events as f64 / elapsed.as_secs_f64()
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let events: usize = std::env::var("DELIVERY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    for concurrency in [8, 32] {
        support::on_each_backend(|name, store| bench(name, store, events, concurrency)).await;
    }
}
