//! `create --file A --file B …` / `create --dir DIR`: many customers onboarded at once, up to
//! `--concurrency` at a time. On a terminal a live board shows one line per customer (the step
//! it is on, or how it ended), redrawn in place; otherwise each step is one plain line, prefixed
//! with its file. A summary table follows; the exit code is 0 only when every file ended
//! submitted or already done.

use crate::submit::create::{create, Created, Progress};
use crate::submit::spec::Spec;
use crate::submit::{Submitted, Submitter};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// One customer's line.
#[derive(Debug, Clone)]
struct Line {
    file: String,
    customer: String,
    now: String,
    profile: Option<String>,
    outcome: Option<Result<String, String>>,
}

/// Every customer's line, and how the board is drawn.
struct Board {
    lines: Vec<Line>,
    terminal: bool,
    /// Lines drawn last time (to move back over them).
    drawn: usize,
}

impl Board {
    fn redraw(&mut self) {
        if !self.terminal {
            return;
        }
        let mut out = std::io::stdout().lock();
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for line in &self.lines {
            let state = match &line.outcome {
                None => format!("\x1b[33m…\x1b[0m {}", line.now),
                Some(Ok(done)) => format!("\x1b[32m✓\x1b[0m {done}"),
                Some(Err(error)) => format!("\x1b[31m✗\x1b[0m {error}"),
            };
            let text: String = format!("{:<28} {state}", line.customer)
                .chars()
                .take(160)
                .collect();
            let _ = writeln!(out, "\x1b[2K{text}");
        }
        self.drawn = self.lines.len();
        let _ = out.flush();
    }

    fn plain(&self, index: usize, text: &str) {
        if !self.terminal {
            println!("{}: {text}", self.lines[index].file);
        }
    }
}

struct Reporter {
    board: Arc<Mutex<Board>>,
    index: usize,
}

impl Reporter {
    fn update(&self, f: impl FnOnce(&mut Line) -> String) {
        let mut board = self.board.lock().expect("the board lock is never poisoned");
        let text = f(&mut board.lines[self.index]);
        board.plain(self.index, &text);
        board.redraw();
    }
}

impl Progress for Reporter {
    fn step(&mut self, index: usize, total: usize, label: &str) {
        self.update(|line| {
            line.now = format!("[{index}/{total}] {label}");
            line.now.clone()
        });
    }

    fn done(&mut self, detail: &str) {
        self.update(|line| format!("{} ... ok: {detail}", line.now));
    }

    fn failed(&mut self, error: &str) {
        self.update(|line| format!("{} ... failed: {error}", line.now));
    }
}

/// The files `--file` and `--dir` name: the files as given, then every `*.toml` of the folder
/// in name order.
pub fn files(given: &[PathBuf], dir: Option<&Path>) -> anyhow::Result<Vec<PathBuf>> {
    let mut all = given.to_vec();
    if let Some(dir) = dir {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("--dir {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|x| x == "toml") && path.is_file())
            .collect();
        found.sort();
        if found.is_empty() {
            anyhow::bail!("--dir {}: no *.toml file in it", dir.display());
        }
        all.extend(found);
    }
    if all.is_empty() {
        anyhow::bail!("create needs --file FILE (repeatable) or --dir DIR");
    }
    Ok(all)
}

/// Runs every file, at most `concurrency` at once, and prints the summary.
pub async fn run(submitter: Submitter, files: &[PathBuf], concurrency: usize, terminal: bool) -> ExitCode {
    let mut lines = Vec::new();
    let mut specs = Vec::new();
    for path in files {
        let file = path.display().to_string();
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| vec![e.to_string()])
            .and_then(|text| Spec::parse(&text));
        let customer = parsed
            .as_ref()
            .map(|s| s.business.name.clone())
            .unwrap_or_else(|_| "(invalid file)".to_owned());
        let outcome = match &parsed {
            Ok(_) => None,
            Err(problems) => Some(Err(format!("invalid, nothing sent: {}", problems.join("; ")))),
        };
        lines.push(Line {
            file,
            customer,
            now: "waiting".into(),
            profile: None,
            outcome,
        });
        specs.push(parsed.ok());
    }
    for (line, spec) in lines.iter().zip(&specs) {
        for warning in spec.iter().flat_map(|s| s.warnings()) {
            println!("{}: warning: {warning}", line.file);
        }
        if let Some(Err(error)) = &line.outcome {
            println!("{}: {error}", line.file);
        }
    }
    let board = Arc::new(Mutex::new(Board {
        lines,
        terminal,
        drawn: 0,
    }));
    board.lock().expect("the board lock is never poisoned").redraw();
    let submitter = Arc::new(submitter);
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, spec) in specs.into_iter().enumerate() {
        let Some(spec) = spec else { continue };
        let (submitter, slots, board) = (submitter.clone(), slots.clone(), board.clone());
        tasks.spawn(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let mut reporter = Reporter {
                board: board.clone(),
                index,
            };
            let ended = create(&submitter, &spec, &mut reporter).await;
            let (profile, outcome) = match ended {
                Ok(Created::Submitted { profile_sid, .. }) => (Some(profile_sid), Ok("submitted".to_owned())),
                Ok(Created::AlreadyDone { profile_sid }) => {
                    (Some(profile_sid), Ok("already done".to_owned()))
                }
                Ok(Created::Refused {
                    profile_sid,
                    submitted,
                }) => {
                    let why = match submitted {
                        Submitted::Refused { failures, .. } => failures
                            .iter()
                            .map(|f| f.requirement.clone())
                            .collect::<Vec<_>>()
                            .join(", "),
                        Submitted::Submitted { .. } => String::new(),
                    };
                    (
                        Some(profile_sid),
                        Err(format!("created, not submitted: noncompliant ({why})")),
                    )
                }
                Err(error) => (None, Err(error.to_string())),
            };
            let mut board = board.lock().expect("the board lock is never poisoned");
            let line = &mut board.lines[index];
            line.profile = profile;
            line.outcome = Some(outcome);
            board.redraw();
        });
    }
    while tasks.join_next().await.is_some() {}
    let board = board.lock().expect("the board lock is never poisoned");
    println!();
    println!("{:<40} {:<28} {:<34} outcome", "file", "customer", "profile");
    let mut ok = 0;
    for line in &board.lines {
        let (mark, text) = match &line.outcome {
            Some(Ok(done)) => {
                ok += 1;
                ("ok", done.clone())
            }
            Some(Err(error)) => ("FAILED", error.clone()),
            None => ("FAILED", "did not run".to_owned()),
        };
        println!(
            "{:<40} {:<28} {:<34} {mark}: {text}",
            line.file,
            line.customer,
            line.profile.as_deref().unwrap_or("-")
        );
    }
    println!("{ok} of {} submitted or already done", board.lines.len());
    if ok == board.lines.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
