//! A small SMTP server (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT) on loopback, so that email tests speak real SMTP over TCP. Replies to DATA can be
//! scripted (451 for a transient refusal, 550 for a permanent one).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.data).unwrap()
    }

    pub fn subject(&self) -> String {
        use mailparse::MailHeaderMap as _;
        self.parsed()
            .headers
            .get_first_value("Subject")
            .unwrap_or_default()
    }

    /// The decoded bodies of the text/plain and text/html parts.
    pub fn parts(&self) -> (String, String) {
        let parsed = self.parsed();
        let mut text = String::new();
        let mut html = String::new();
        for part in parsed.subparts.iter().chain(std::iter::once(&parsed)) {
            match part.ctype.mimetype.as_str() {
                "text/plain" => text = part.get_body().unwrap(),
                "text/html" => html = part.get_body().unwrap(),
                _ => {}
            }
        }
        (text, html)
    }
}

#[derive(Default)]
struct State {
    messages: Vec<Received>,
    data_replies: VecDeque<String>,
    /// Every command's verb, in order, across sessions.
    verbs: Vec<String>,
    /// Whether EHLO offers AUTH (and AUTH is accepted), with no STARTTLS: a server whose
    /// STARTTLS a man in the middle stripped.
    offers_auth: bool,
}

pub struct SmtpServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    pub async fn start() -> Self {
        Self::start_with(State::default()).await
    }

    /// A server that offers AUTH without STARTTLS.
    pub async fn start_offering_auth_in_clear() -> Self {
        Self::start_with(State {
            offers_auth: true,
            ..State::default()
        })
        .await
    }

    async fn start_with(state: State) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, shared.clone()));
            }
        });
        Self { port, state, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next messages' DATA get these replies instead of 250 (e.g. "451 4.3.0 try later").
    pub fn reply_to_next_data(&self, replies: &[&str]) {
        self.state
            .lock()
            .unwrap()
            .data_replies
            .extend(replies.iter().map(|r| (*r).to_owned()));
    }

    pub fn messages(&self) -> Vec<Received> {
        self.state.lock().unwrap().messages.clone()
    }

    /// Every command verb received so far (EHLO, MAIL, AUTH...).
    pub fn verbs(&self) -> Vec<String> {
        self.state.lock().unwrap().verbs.clone()
    }
}

fn address(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument.rfind('>').unwrap_or(argument.len());
    argument[start..end].to_owned()
}

async fn session(socket: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 test.smtp ESMTP ready\r\n").await.is_err() {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let offers_auth = {
            let mut s = state.lock().unwrap();
            s.verbs.push(verb.clone());
            s.offers_auth
        };
        let answer: String = match verb.as_str() {
            "EHLO" if offers_auth => {
                "250-test.smtp\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 10485760\r\n".into()
            }
            "EHLO" => "250-test.smtp\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n".into(),
            "AUTH" if offers_auth => "235 2.7.0 Authentication successful\r\n".into(),
            "HELO" | "NOOP" => "250 OK\r\n".into(),
            "RSET" => {
                from.clear();
                to.clear();
                "250 OK\r\n".into()
            }
            "MAIL" => {
                from = address(&command);
                to.clear();
                "250 OK\r\n".into()
            }
            "RCPT" => {
                to.push(address(&command));
                "250 OK\r\n".into()
            }
            "DATA" => {
                if write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                    data.extend_from_slice(unstuffed.as_bytes());
                }
                let mut s = state.lock().unwrap();
                match s.data_replies.pop_front() {
                    Some(scripted) => format!("{scripted}\r\n"),
                    None => {
                        s.messages.push(Received {
                            from: from.clone(),
                            to: to.clone(),
                            data,
                        });
                        "250 OK queued\r\n".into()
                    }
                }
            }
            "QUIT" => {
                let _ = write.write_all(b"221 Bye\r\n").await;
                return;
            }
            _ => "502 Command not implemented\r\n".into(),
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
