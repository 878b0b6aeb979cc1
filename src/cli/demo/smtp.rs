//! The demo's mail sink: just enough SMTP (RFC 5321) over TCP for lettre to hand over the
//! alerts; each message is counted, not delivered anywhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

/// Serves SMTP on `listener` until the process ends; `received` counts the messages taken.
pub async fn serve(listener: TcpListener, received: Arc<AtomicUsize>) {
    while let Ok((socket, _)) = listener.accept().await {
        let received = received.clone();
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            if write.write_all(b"220 demo-smtp ESMTP ready\r\n").await.is_err() {
                return;
            }
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                let reply: &[u8] = if in_data {
                    if line != "." {
                        continue;
                    }
                    in_data = false;
                    received.fetch_add(1, Ordering::Relaxed);
                    b"250 2.0.0 queued\r\n"
                } else {
                    match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                        Some("EHLO") => b"250-demo-smtp\r\n250 8BITMIME\r\n",
                        Some("HELO") | Some("MAIL") | Some("RCPT") | Some("RSET") | Some("NOOP") => {
                            b"250 2.0.0 ok\r\n"
                        }
                        Some("DATA") => {
                            in_data = true;
                            b"354 end with <CRLF>.<CRLF>\r\n"
                        }
                        Some("QUIT") => {
                            let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                            return;
                        }
                        _ => b"502 5.5.2 not implemented\r\n",
                    }
                };
                if write.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}
