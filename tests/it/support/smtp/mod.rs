//! A small SMTP server on loopback, as strict as a real one, so that email tests speak real
//! SMTP over TCP: commands in RFC 5321's order (EHLO or HELO, MAIL, RCPT..., DATA; 503
//! otherwise), STARTTLS (RFC 3207) or TLS from the first byte (`smtps://`) with a self-signed
//! certificate made at start, AUTH PLAIN and LOGIN (RFC 4954) offered and accepted over TLS
//! only, and replies scripted per command. It records every command with whether TLS carried
//! it, the credentials it was given and the messages it accepted.

mod session;
mod tls;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    /// Whether the message came over TLS.
    pub tls: bool,
    /// The user the session authenticated as, if it did.
    pub user: Option<String>,
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

/// A command received: the connection it came on (numbered from 0), its verb, upper-cased,
/// and whether TLS carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub session: usize,
    pub verb: String,
    pub tls: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Security {
    /// No TLS at all, as a development catcher.
    #[default]
    Plain,
    StartTls,
    /// TLS from the first byte (`smtps://`, port 465's way).
    Implicit,
}

/// How a server behaves; `SmtpServer::setup()` starts one.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    security: Security,
    /// AUTH offered and accepted without TLS: a server whose STARTTLS a man in the middle
    /// stripped.
    auth_in_clear: bool,
    /// The one user and password accepted; MAIL before AUTH is refused (530).
    account: Option<(String, String)>,
}

impl Setup {
    pub fn starttls(mut self) -> Self {
        self.security = Security::StartTls;
        self
    }

    pub fn implicit_tls(mut self) -> Self {
        self.security = Security::Implicit;
        self
    }

    pub fn require_auth(mut self, user: &str, password: &str) -> Self {
        self.account = Some((user.to_owned(), password.to_owned()));
        self
    }

    pub async fn start(self) -> SmtpServer {
        SmtpServer::start_with(self).await
    }
}

#[derive(Default)]
struct State {
    sessions: usize,
    messages: Vec<Received>,
    /// Every command, in order, across sessions.
    commands: Vec<Command>,
    /// Every (user, password) an AUTH carried, accepted or not.
    credentials: Vec<(String, String)>,
    /// Replies that the next command of a verb gets instead of its own: (verb, reply).
    scripted: VecDeque<(String, String)>,
    /// Replies to the end of the next messages' data instead of 250.
    data_replies: VecDeque<String>,
}

struct Shared {
    setup: Setup,
    identity: Option<tls::Identity>,
    state: Mutex<State>,
}

pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Shared>,
    /// The certificate as a PEM file, for `SMTP_CA_FILE`.
    certificate: Option<tempfile::NamedTempFile>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    /// A server without TLS or AUTH.
    pub async fn start() -> Self {
        Self::setup().start().await
    }

    pub fn setup() -> Setup {
        Setup::default()
    }

    /// A server that offers and accepts AUTH without STARTTLS.
    pub async fn start_offering_auth_in_clear() -> Self {
        Setup {
            auth_in_clear: true,
            ..Setup::default()
        }
        .start()
        .await
    }

    async fn start_with(setup: Setup) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let identity = (setup.security != Security::Plain).then(tls::self_signed);
        let certificate = identity.as_ref().map(|identity| {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &identity.certificate_pem).unwrap();
            file
        });
        let shared = Arc::new(Shared {
            setup,
            identity,
            state: Mutex::new(State::default()),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session::serve(socket, serving.clone()));
            }
        });
        Self {
            port,
            shared,
            certificate,
            task,
        }
    }

    /// `smtp://` or, for implicit TLS, `smtps://`, without credentials.
    pub fn url(&self) -> String {
        let scheme = match self.shared.setup.security {
            Security::Implicit => "smtps",
            Security::Plain | Security::StartTls => "smtp",
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The URL with credentials in it.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        self.url().replacen("://", &format!("://{user}:{password}@"), 1)
    }

    /// The PEM file of the server's self-signed certificate.
    pub fn certificate_file(&self) -> &Path {
        self.certificate
            .as_ref()
            .expect("a server without TLS has no certificate")
            .path()
    }

    /// A TLS client that trusts this server's certificate, for tests that speak SMTP by hand.
    pub fn tls_connector(&self) -> tokio_rustls::TlsConnector {
        let identity = self.shared.identity.as_ref();
        identity.expect("a server without TLS").connector()
    }

    /// The next command with this verb gets `reply` (e.g. "451 4.3.0 try later") instead of
    /// its own, changing nothing else; several calls queue.
    pub fn fail_next(&self, verb: &str, reply: &str) {
        self.state()
            .scripted
            .push_back((verb.to_ascii_uppercase(), reply.to_owned()));
    }

    /// The next messages' data get these replies instead of 250 (e.g. "451 4.3.0 try later").
    pub fn reply_to_next_data(&self, replies: &[&str]) {
        self.state()
            .data_replies
            .extend(replies.iter().map(|r| (*r).to_owned()));
    }

    pub fn messages(&self) -> Vec<Received> {
        self.state().messages.clone()
    }

    /// Every command received so far.
    pub fn commands(&self) -> Vec<Command> {
        self.state().commands.clone()
    }

    /// Every command verb received so far (EHLO, MAIL, AUTH...).
    pub fn verbs(&self) -> Vec<String> {
        self.commands().into_iter().map(|c| c.verb).collect()
    }

    /// Each connection's commands, as (verb, over TLS), in the order connections came.
    pub fn sessions(&self) -> Vec<Vec<(String, bool)>> {
        let mut sessions = vec![Vec::new(); self.state().sessions];
        for command in self.commands() {
            sessions[command.session].push((command.verb, command.tls));
        }
        sessions
    }

    /// Every (user, password) that AUTH received.
    pub fn credentials(&self) -> Vec<(String, String)> {
        self.state().credentials.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }
}
