//! `demo`: the real `serve`, with a sandbox of Twilio, a mail sink and a webhook subscriber on
//! loopback in this process, and a scripted story played through the real signed-callback
//! path, so that a newcomer sees the whole product work with nothing configured. The sandbox is
//! wired here only: `serve` never talks to it.

mod sandbox;
mod smtp;
mod story;

use crate::app::{self, Application};
use crate::config::Config;
use anyhow::Context as _;
use sandbox::Sandbox;
use std::collections::HashMap;
use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Where the demo keeps its data unless `DATABASE_URL` says otherwise: a file of its own,
/// started afresh on every run.
pub const DEMO_DATABASE: &str = "trusthub-hooks-demo.db";

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

async fn loopback() -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// The address to serve on: `LISTEN_ADDR`, else 127.0.0.1:8080, else (taken) a free port.
fn listen_addr(asked: Option<String>) -> anyhow::Result<SocketAddr> {
    let asked = asked.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let addr: SocketAddr = asked
        .parse()
        .with_context(|| format!("LISTEN_ADDR: {asked:?} is not an address such as 127.0.0.1:8080"))?;
    // The port must be known before `serve` starts: it is the public URL the story signs for.
    let free = std::net::TcpListener::bind(addr)
        .or_else(|_| std::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0)))
        .with_context(|| format!("LISTEN_ADDR: cannot listen on {addr}"))?;
    Ok(free.local_addr()?)
}

pub async fn run() -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let addr = listen_addr(env("LISTEN_ADDR"))?;
    let database_url = match env("DATABASE_URL") {
        Some(url) => url,
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{DEMO_DATABASE}{suffix}"));
            }
            format!("sqlite://{DEMO_DATABASE}")
        }
    };
    let api_token = env("API_TOKENS")
        .map(|t| t.split(',').next().unwrap_or_default().trim().to_owned())
        .unwrap_or_else(|| format!("demo-{}", random_hex(12)));

    let sandbox = Sandbox {
        account: format!("AC{}", random_hex(16)),
        token: random_hex(16),
        bundles: Arc::new(Mutex::new(HashMap::new())),
        brands: Arc::new(Mutex::new(HashMap::new())),
    };
    let (twilio, twilio_addr) = loopback().await?;
    tokio::spawn(axum::serve(twilio, sandbox::router(sandbox.clone())).into_future());
    let (smtp, smtp_addr) = loopback().await?;
    let mails = Arc::new(AtomicUsize::new(0));
    tokio::spawn(smtp::serve(smtp, mails.clone()));
    let (subscriber, subscriber_addr) = loopback().await?;
    let hooks = Arc::new(AtomicUsize::new(0));
    let counted = hooks.clone();
    let receiver = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(axum::serve(subscriber, receiver).into_future());

    let public_url = format!("http://{addr}");
    let twilio_url = format!("http://{twilio_addr}");
    let mut settings: Vec<(&str, String)> = vec![
        ("DATABASE_URL", database_url.clone()),
        ("LISTEN_ADDR", addr.to_string()),
        ("PUBLIC_URL", public_url.clone()),
        ("API_TOKENS", api_token.clone()),
        ("TWILIO_ACCOUNT_SID", sandbox.account.clone()),
        ("TWILIO_AUTH_TOKEN", sandbox.token.clone()),
        ("TRUSTHUB_API_URL", twilio_url.clone()),
        ("TWILIO_NUMBERS_API_URL", twilio_url.clone()),
        ("TWILIO_MESSAGING_API_URL", twilio_url.clone()),
        ("TWILIO_API_URL", twilio_url),
        ("SUBACCOUNT_DISCOVERY", "false".into()),
        ("SMTP_URL", format!("smtp://{smtp_addr}")),
        (
            "ALERT_EMAIL_FROM",
            "Trust Hub alerts <alerts@demo.example>".into(),
        ),
        ("ALERT_EMAIL_TO", "compliance-team@demo.example".into()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ("WORKER_POLL_MS", "100".into()),
        ("JOB_RETRY_BASE_MS", "200".into()),
    ];
    if let Some(format) = env("LOG_FORMAT") {
        settings.push(("LOG_FORMAT", format));
    }
    let config = Config::load_from(None, settings).context("the demo's configuration")?;
    let shutdown = app::shutdown_signal().context("installing signal handlers")?;
    let application = Application::build(&config).await?;
    let served = tokio::spawn(application.run(shutdown));

    println!();
    println!("trusthub-hooks demo: the real service, with a sandbox of Twilio on this machine.");
    println!("  dashboard:  {public_url}/ui   (sign in with the token below)");
    println!("  API token:  {api_token}");
    println!("  API:        curl -H 'Authorization: Bearer {api_token}' {public_url}/v1/profiles");
    println!("  database:   {database_url}");
    println!("Playing the story (callbacks signed as Twilio signs them); Ctrl-C to stop.");
    println!();
    let story = story::Story {
        base: public_url,
        sandbox,
        api_token,
        subscriber: format!("http://{subscriber_addr}/hooks"),
    };
    match story.play().await {
        Ok(()) => {
            // The notifications go out in the background: give them a moment before the tally.
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            println!(
                "Story done: {} emails and {} webhook deliveries so far. See {}/ui.",
                mails.load(std::sync::atomic::Ordering::Relaxed),
                hooks.load(std::sync::atomic::Ordering::Relaxed),
                story.base
            );
        }
        Err(error) => eprintln!("the demo story stopped: {error:#}"),
    }
    served.await.context("the server task")??;
    Ok(())
}
