//! A connection's writes under a deadline: a response write (or flush) that makes no progress
//! for `timeout` fails, and hyper closes the connection. Without it a client that sends
//! requests and never reads their responses holds its connection, and a `MAX_CONNECTIONS`
//! slot, forever: once the socket's send buffer is full, every write waits.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Sleep};

pub struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    /// Armed while a write waits; disarmed by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// `Pending` from the stream: fails once it has lasted `timeout`.
    fn waited<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took no response bytes within WRITE_TIMEOUT_SECS",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<T>(&mut self, ready: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.stalled = None;
        ready
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.waited(cx),
            ready => self.progressed(ready),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.waited(cx),
            ready => self.progressed(ready),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.waited(cx),
            ready => self.progressed(ready),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Pending => self.waited(cx),
            ready => self.progressed(ready),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WriteDeadline;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Writes to a peer that never reads fail once they have waited `timeout`; to a peer that
    /// reads, however much, they never do.
    #[tokio::test]
    async fn a_stalled_write_fails_and_a_read_one_never_does() {
        let (client, server) = tokio::io::duplex(1024);
        let mut stalled = WriteDeadline::new(server, Duration::from_millis(200));
        let started = tokio::time::Instant::now();
        let chunk = vec![b'x'; 4096];
        let error = loop {
            if let Err(error) = stalled.write_all(&chunk).await {
                break error;
            }
        };
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(client);

        let (mut client, server) = tokio::io::duplex(1024);
        let mut read = WriteDeadline::new(server, Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.unwrap();
            all.len()
        });
        for _ in 0..100 {
            read.write_all(&chunk)
                .await
                .expect("a reading peer never times out");
        }
        read.shutdown().await.unwrap();
        drop(read);
        assert_eq!(reader.await.unwrap(), 100 * chunk.len());
    }
}
