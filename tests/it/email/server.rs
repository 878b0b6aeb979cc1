//! The test SMTP server itself, spoken to by hand: it refuses what a real server refuses, so
//! that the product passing against it means the product behaves as a real client must.

use crate::support::smtp::SmtpServer;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;

struct Client<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Sends one line; returns the reply's code and its lines' text.
    async fn send(&mut self, line: &str) -> (u16, String) {
        let stream = self.stream.get_mut();
        stream.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        self.reply().await
    }

    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            // A server that lost its place (reading a command as message data, say) hangs
            // rather than answers: a failure too.
            let read = self.stream.read_line(&mut line);
            let read = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
            assert!(read.expect("no reply within 10 s").unwrap() > 0, "closed");
            text.push_str(&line[4..]);
            // "250-" continues a reply, "250 " ends it.
            if line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), text);
            }
        }
    }
}

async fn connect(smtp: &SmtpServer) -> Client<TcpStream> {
    let socket = TcpStream::connect(("127.0.0.1", smtp.port)).await.unwrap();
    let mut client = Client {
        stream: BufReader::new(socket),
    };
    assert_eq!(client.reply().await.0, 220);
    client
}

fn codes(replies: &[(u16, String)]) -> Vec<u16> {
    replies.iter().map(|(code, _)| *code).collect()
}

#[tokio::test]
async fn commands_out_of_order_get_503() {
    let smtp = SmtpServer::start().await;
    let mut client = connect(&smtp).await;
    let mut replies = Vec::new();
    for line in [
        "MAIL FROM:<a@example.com>",
        "EHLO client",
        "RCPT TO:<b@example.com>",
        "DATA",
        "MAIL FROM:<a@example.com>",
        "MAIL FROM:<a@example.com>",
        "DATA",
        "RCPT TO:<b@example.com>",
        "RCPT TO:<c@example.com>",
        "DATA",
    ] {
        replies.push(client.send(line).await);
    }
    assert_eq!(
        codes(&replies),
        [503, 250, 503, 503, 250, 503, 503, 250, 250, 354],
        "{replies:?}"
    );
    assert_eq!(client.send("Subject: hi\r\n\r\n..dot\r\n.").await.0, 250);
    // The transaction is over: RCPT needs a new MAIL.
    assert_eq!(client.send("RCPT TO:<b@example.com>").await.0, 503);
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, ["b@example.com", "c@example.com"]);
    assert_eq!(messages[0].data, b"Subject: hi\r\n\r\n.dot\r\n");
}

#[tokio::test]
async fn auth_only_after_starttls_and_ehlo_again() {
    let smtp = SmtpServer::setup()
        .starttls()
        .require_auth("alerts", "s3cret")
        .start()
        .await;
    let mut client = connect(&smtp).await;
    assert_eq!(client.send("STARTTLS").await.0, 503, "EHLO first");
    let (_, offered) = client.send("EHLO client").await;
    assert!(
        offered.contains("STARTTLS") && !offered.contains("AUTH"),
        "{offered}"
    );
    let plain = STANDARD.encode("\0alerts\0s3cret");
    assert_eq!(client.send(&format!("AUTH PLAIN {plain}")).await.0, 538);
    assert_eq!(client.send("MAIL FROM:<a@example.com>").await.0, 530);
    assert_eq!(client.send("STARTTLS").await.0, 220);
    let server_name = ServerName::try_from("127.0.0.1").unwrap();
    let connector = smtp.tls_connector();
    let tls = connector
        .connect(server_name, client.stream.into_inner())
        .await
        .unwrap();
    let mut client = Client {
        stream: BufReader::new(tls),
    };
    assert_eq!(
        client.send("MAIL FROM:<a@example.com>").await.0,
        503,
        "EHLO again"
    );
    let (_, offered) = client.send("EHLO client").await;
    assert!(
        offered.contains("AUTH PLAIN LOGIN") && !offered.contains("STARTTLS"),
        "{offered}"
    );
    assert_eq!(client.send("MAIL FROM:<a@example.com>").await.0, 530);
    let wrong = STANDARD.encode("\0alerts\0guess");
    assert_eq!(client.send(&format!("AUTH PLAIN {wrong}")).await.0, 535);
    assert_eq!(client.send("AUTH LOGIN").await.0, 334);
    assert_eq!(client.send(&STANDARD.encode("alerts")).await.0, 334);
    assert_eq!(client.send(&STANDARD.encode("s3cret")).await.0, 235);
    assert_eq!(client.send("AUTH PLAIN").await.0, 503, "already authenticated");
    assert_eq!(client.send("MAIL FROM:<a@example.com>").await.0, 250);
    assert_eq!(
        smtp.credentials(),
        [("alerts", "guess"), ("alerts", "s3cret")].map(|(u, p)| (u.to_owned(), p.to_owned()))
    );
    let commands = smtp.commands();
    let clear: Vec<&str> = commands
        .iter()
        .filter(|c| !c.tls)
        .map(|c| c.verb.as_str())
        .collect();
    assert_eq!(clear, ["STARTTLS", "EHLO", "AUTH", "MAIL", "STARTTLS"]);
}

#[tokio::test]
async fn scripted_failures_answer_one_command_each() {
    let smtp = SmtpServer::start().await;
    smtp.fail_next("mail", "550 5.7.1 sender address rejected");
    smtp.fail_next("RCPT", "451 4.2.1 try later");
    let mut client = connect(&smtp).await;
    let mut replies = vec![client.send("EHLO client").await];
    for line in [
        "MAIL FROM:<a@example.com>",
        "RCPT TO:<b@example.com>",
        "MAIL FROM:<a@example.com>",
        "RCPT TO:<b@example.com>",
        "RCPT TO:<b@example.com>",
    ] {
        replies.push(client.send(line).await);
    }
    assert_eq!(codes(&replies), [250, 550, 503, 250, 451, 250], "{replies:?}");
    assert!(replies[1].1.contains("sender address rejected"));
}
