//! One SMTP session: the state machine that refuses what a real server refuses.

use super::{Command, Received, Security, Shared};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the session is in RFC 5321's order of commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Greeted, or just after STARTTLS: EHLO or HELO is due.
    Greeted,
    /// Between mail transactions.
    Ready,
    Mail,
    Rcpt,
}

struct Session {
    id: usize,
    stream: BufReader<Box<dyn Io>>,
    tls: bool,
    phase: Phase,
    from: String,
    to: Vec<String>,
    user: Option<String>,
    shared: Arc<Shared>,
}

pub(super) async fn serve(socket: TcpStream, shared: Arc<Shared>) {
    let id = {
        let mut state = shared.state.lock().unwrap();
        state.sessions += 1;
        state.sessions - 1
    };
    let mut io: Box<dyn Io> = Box::new(socket);
    let tls = shared.setup.security == Security::Implicit;
    if tls {
        match acceptor(&shared).accept(io).await {
            Ok(stream) => io = Box::new(stream),
            // The client refused the certificate: nothing was said.
            Err(_) => return,
        }
    }
    let mut session = Session {
        id,
        stream: BufReader::new(io),
        tls,
        phase: Phase::Greeted,
        from: String::new(),
        to: Vec::new(),
        user: None,
        shared,
    };
    let _ = session.run().await;
}

fn acceptor(shared: &Shared) -> &tokio_rustls::TlsAcceptor {
    &shared
        .identity
        .as_ref()
        .expect("a TLS server has a certificate")
        .acceptor
}

fn address(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument.rfind('>').unwrap_or(argument.len());
    argument[start..end].to_owned()
}

fn decode(base64: &str) -> Option<String> {
    String::from_utf8(STANDARD.decode(base64.trim()).ok()?).ok()
}

impl Session {
    async fn run(&mut self) -> io::Result<()> {
        self.reply("220 test.smtp ESMTP ready").await?;
        loop {
            let Some(line) = self.read_line().await? else {
                return Ok(());
            };
            let (verb, argument) = line.split_once(' ').unwrap_or((&line, ""));
            let verb = verb.to_ascii_uppercase();
            self.shared.state.lock().unwrap().commands.push(Command {
                session: self.id,
                verb: verb.clone(),
                tls: self.tls,
            });
            match verb.as_str() {
                "QUIT" => return self.reply("221 2.0.0 Bye").await,
                "STARTTLS" => self.starttls().await?,
                _ => {
                    let answer = self.answer(&verb, argument).await?;
                    self.reply(&answer).await?;
                }
            }
        }
    }

    async fn answer(&mut self, verb: &str, argument: &str) -> io::Result<String> {
        if let Some(refusal) = self.refusal(verb) {
            return Ok(refusal.to_owned());
        }
        if let Some(scripted) = self.scripted(verb) {
            return Ok(scripted);
        }
        Ok(match verb {
            "EHLO" => {
                self.reset(Phase::Ready);
                self.capabilities()
            }
            "HELO" => {
                self.reset(Phase::Ready);
                "250 test.smtp".to_owned()
            }
            "AUTH" => return self.auth(argument).await,
            "MAIL" => {
                self.from = address(argument);
                self.phase = Phase::Mail;
                "250 2.1.0 OK".to_owned()
            }
            "RCPT" => {
                self.to.push(address(argument));
                self.phase = Phase::Rcpt;
                "250 2.1.5 OK".to_owned()
            }
            "DATA" => return self.data().await,
            "RSET" => {
                if self.phase != Phase::Greeted {
                    self.reset(Phase::Ready);
                }
                "250 2.0.0 OK".to_owned()
            }
            "NOOP" => "250 2.0.0 OK".to_owned(),
            _ => "500 5.5.2 Command not recognized".to_owned(),
        })
    }

    /// What a real server answers to a command out of order, or one its policy refuses.
    fn refusal(&self, verb: &str) -> Option<&'static str> {
        let setup = &self.shared.setup;
        match verb {
            "AUTH" if !self.auth_offered() && setup.security == Security::Plain => {
                Some("502 5.5.1 AUTH not offered")
            }
            "AUTH" if !self.auth_offered() => {
                Some("538 5.7.11 Encryption required for requested authentication mechanism")
            }
            "AUTH" | "MAIL" if self.phase == Phase::Greeted => {
                Some("503 5.5.1 Bad sequence of commands: EHLO or HELO first")
            }
            "AUTH" if self.phase != Phase::Ready => {
                Some("503 5.5.1 Bad sequence of commands: not during a mail transaction")
            }
            "AUTH" if self.user.is_some() => {
                Some("503 5.5.1 Bad sequence of commands: already authenticated")
            }
            "MAIL" if self.phase != Phase::Ready => Some("503 5.5.1 Bad sequence of commands: nested MAIL"),
            "MAIL" if setup.account.is_some() && self.user.is_none() => {
                Some("530 5.7.0 Authentication required")
            }
            "RCPT" if !matches!(self.phase, Phase::Mail | Phase::Rcpt) => {
                Some("503 5.5.1 Bad sequence of commands: MAIL first")
            }
            "DATA" if self.phase != Phase::Rcpt => Some("503 5.5.1 Bad sequence of commands: RCPT first"),
            _ => None,
        }
    }

    fn scripted(&self, verb: &str) -> Option<String> {
        let mut state = self.shared.state.lock().unwrap();
        let index = state.scripted.iter().position(|(v, _)| v == verb)?;
        state.scripted.remove(index).map(|(_, reply)| reply)
    }

    fn auth_offered(&self) -> bool {
        self.tls || self.shared.setup.auth_in_clear
    }

    fn capabilities(&self) -> String {
        let mut lines = vec!["test.smtp", "8BITMIME", "SIZE 10485760"];
        if self.shared.setup.security == Security::StartTls && !self.tls {
            lines.push("STARTTLS");
        }
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN");
        }
        let last = lines.len() - 1;
        let lines: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| format!("250{}{line}", if i == last { ' ' } else { '-' }))
            .collect();
        lines.join("\r\n")
    }

    /// A new mail transaction, or none yet when `phase` is `Greeted`.
    fn reset(&mut self, phase: Phase) {
        self.phase = phase;
        self.from.clear();
        self.to.clear();
    }

    async fn starttls(&mut self) -> io::Result<()> {
        let refusal = if self.shared.setup.security != Security::StartTls {
            Some("502 5.5.1 STARTTLS not offered")
        } else if self.tls {
            Some("503 5.5.1 Bad sequence of commands: TLS already active")
        } else if self.phase == Phase::Greeted {
            Some("503 5.5.1 Bad sequence of commands: EHLO or HELO first")
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return self.reply(refusal).await;
        }
        if let Some(scripted) = self.scripted("STARTTLS") {
            return self.reply(&scripted).await;
        }
        self.reply("220 2.0.0 Ready to start TLS").await?;
        // Commands pipelined behind STARTTLS were sent in the clear and could be a man in the
        // middle's (RFC 3207's warning): a real server drops them, this one the session.
        if !self.stream.buffer().is_empty() {
            return Err(io::Error::other("commands pipelined behind STARTTLS"));
        }
        let placeholder: Box<dyn Io> = Box::new(tokio::io::duplex(1).0);
        let plain = std::mem::replace(&mut self.stream, BufReader::new(placeholder));
        let secured = acceptor(&self.shared).accept(plain.into_inner()).await?;
        self.stream = BufReader::new(Box::new(secured));
        // RFC 3207: the server forgets what the client said before, and EHLO is due again.
        self.tls = true;
        self.user = None;
        self.reset(Phase::Greeted);
        Ok(())
    }

    async fn auth(&mut self, argument: &str) -> io::Result<String> {
        let mut words = argument.split_whitespace();
        let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
        let initial = words.next().map(str::to_owned);
        let credentials = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(response) => response,
                    None => self.challenge("").await?,
                };
                // authorization identity NUL user NUL password
                decode(&response).and_then(|plain| {
                    let mut fields = plain.split('\0').skip(1);
                    Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
                })
            }
            "LOGIN" => {
                let user = match initial {
                    Some(user) => user,
                    None => self.challenge("VXNlcm5hbWU6").await?,
                };
                let password = self.challenge("UGFzc3dvcmQ6").await?;
                decode(&user).zip(decode(&password))
            }
            _ => return Ok("504 5.5.4 Unrecognized authentication type".to_owned()),
        };
        let Some((user, password)) = credentials else {
            return Ok("501 5.5.2 Cannot decode the response".to_owned());
        };
        let accepted = match &self.shared.setup.account {
            Some((expected_user, expected_password)) => {
                (&user, &password) == (expected_user, expected_password)
            }
            None => true,
        };
        self.shared
            .state
            .lock()
            .unwrap()
            .credentials
            .push((user.clone(), password));
        if !accepted {
            return Ok("535 5.7.8 Authentication credentials invalid".to_owned());
        }
        self.user = Some(user);
        Ok("235 2.7.0 Authentication successful".to_owned())
    }

    /// Sends a 334 challenge and returns the client's answer.
    async fn challenge(&mut self, text: &str) -> io::Result<String> {
        self.reply(&format!("334 {text}")).await?;
        self.read_line()
            .await?
            .ok_or_else(|| io::Error::other("closed during AUTH"))
    }

    async fn data(&mut self) -> io::Result<String> {
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let mut data = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(io::Error::other("closed during DATA"));
            }
            if line == ".\r\n" || line == ".\n" {
                break;
            }
            let unstuffed = line.strip_prefix('.').unwrap_or(&line);
            data.extend_from_slice(unstuffed.as_bytes());
        }
        let received = Received {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data,
            tls: self.tls,
            user: self.user.clone(),
        };
        self.reset(Phase::Ready);
        let mut state = self.shared.state.lock().unwrap();
        Ok(match state.data_replies.pop_front() {
            Some(scripted) => scripted,
            None => {
                state.messages.push(received);
                "250 2.0.0 OK queued".to_owned()
            }
        })
    }

    async fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
    }

    async fn reply(&mut self, reply: &str) -> io::Result<()> {
        let stream = self.stream.get_mut();
        stream.write_all(format!("{reply}\r\n").as_bytes()).await?;
        stream.flush().await
    }
}
