//! A TCP proxy on loopback that a test can cut (open connections dropped, new ones closed at
//! once) and restore: a database that goes away and comes back, without stopping the server
//! other tests share. It keeps its listening socket throughout, so its port never changes
//! hands.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::start_from(TcpListener::bind("127.0.0.1:0").await.unwrap(), upstream)
    }

    /// On a listener the test bound earlier, e.g. to know its address before the upstream
    /// exists.
    pub fn start_from(listener: TcpListener, upstream: SocketAddr) -> Self {
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let pipes: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (is_cut, open) = (cut.clone(), pipes.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                open.lock().unwrap().push(pipe.abort_handle());
            }
        });
        Self {
            port,
            cut,
            pipes,
            accept: accept.abort_handle(),
        }
    }

    /// Drops every connection; new ones are closed as soon as they are accepted, until
    /// `restore`.
    pub async fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
        tokio::task::yield_now().await;
    }

    /// Forwards new connections again.
    pub async fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }
}
