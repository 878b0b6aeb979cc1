//! The server loop: the router on hyper's HTTP/1.1 server, with what `axum::serve` leaves
//! unset. A deadline for each request's headers (a slow-loris client cannot hold a connection
//! open by trickling them), a deadline on each response write that makes no progress (a
//! client that never reads cannot either, `deadline.rs`), a longest life for a connection,
//! a cap on open connections, in all and per client address (memory stays bounded however
//! many are opened, and one host cannot take them all), and the peer address for the
//! failed-signature limiter.

mod deadline;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// What bounds each connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a connection's first byte (or the end of its previous request) to the end of the
    /// request's headers.
    pub header_read_timeout: Duration,
    /// From the end of the headers to the end of the body (a 408 past it).
    pub body_read_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Connections one peer address may hold at once (0: no cap); further ones are closed.
    pub max_connections_per_address: usize,
    /// How long a response write may wait on a client that takes nothing.
    pub write_timeout: Duration,
    /// The longest a connection is served.
    pub connection_max: Duration,
}

impl Limits {
    /// The connection limits of a configuration.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(config.body_read_timeout_secs.max(1)),
            max_connections: config.max_connections.max(1) as usize,
            max_connections_per_address: config.max_connections_per_address as usize,
            write_timeout: Duration::from_secs(config.write_timeout_secs.max(1)),
            connection_max: Duration::from_secs(config.connection_max_secs.max(1)),
        }
    }
}

/// Serves `app` until `shutdown` completes, then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // HTTP/1.1 only: what Twilio and proxies speak to a backend. (hyper-util's auto builder,
    // which also detects HTTP/2, waits for a first byte before any deadline applies, so a
    // client that connects and sends nothing would hold its connection forever.)
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = PerAddress::new(limits.max_connections_per_address);
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait rather than spin, as axum::serve does.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = per_address.hold(peer.ip()) else {
            tracing::debug!(%peer, "closed at once: this address holds MAX_CONNECTIONS_PER_ADDRESS");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone().map_request(with_peer(peer)));
        let stream = deadline::WriteDeadline::new(stream, limits.write_timeout);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let most = limits.connection_max;
        tokio::spawn(async move {
            match tokio::time::timeout(most, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(%error, %peer, "connection ended with an error"),
                Err(_) => tracing::debug!(%peer, "connection closed after CONNECTION_MAX_SECS"),
            }
            drop((held, permit));
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Connections held per peer address, capped.
#[derive(Clone)]
struct PerAddress {
    cap: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection held by an address; released when dropped.
struct Held {
    address: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            held: Arc::default(),
        }
    }

    /// A connection for `address`, unless it holds the cap already.
    fn hold(&self, address: IpAddr) -> Option<Held> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = held.entry(address).or_default();
        if self.cap > 0 && *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Held {
            address,
            held: self.held.clone(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

fn with_peer(peer: SocketAddr) -> impl Fn(Request<Incoming>) -> Request<Body> + Clone {
    move |request| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }
}

#[cfg(test)]
mod tests {
    use super::PerAddress;
    use std::net::IpAddr;

    #[test]
    fn an_address_holds_at_most_its_cap_and_gets_slots_back() {
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let cap = PerAddress::new(2);
        let first = cap.hold(a).unwrap();
        let _second = cap.hold(a).unwrap();
        assert!(cap.hold(a).is_none(), "the third of one address");
        assert!(cap.hold(b).is_some(), "another address has its own");
        drop(first);
        assert!(cap.hold(a).is_some(), "a slot comes back when a connection ends");
        let unlimited = PerAddress::new(0);
        let all: Vec<_> = (0..100).map(|_| unlimited.hold(a).unwrap()).collect();
        assert_eq!(all.len(), 100);
    }
}
