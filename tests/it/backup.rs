//! `trusthub-hooks backup --to FILE`: a consistent copy of a SQLite database that `serve` is
//! writing to, refusing to replace a file unasked, and pointing PostgreSQL users elsewhere.

use crate::support::process::{bin, serve_env, ServeProcess};
use crate::support::{self, bundle, callback, Backend, TestDb, TOKEN};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The exit code and everything printed.
fn run(command: &mut std::process::Command) -> (i32, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// `backup` while callbacks keep arriving: the copy opens, `serve` runs on it, and it holds
/// every callback acknowledged (204) before the backup started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_during_writes_holds_every_acknowledged_callback() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut serve = ServeProcess::start(&serve_env(&db.url));
    let url = serve.url("/th/twilio/status-callback");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let poster = {
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let signed_url = format!("{}/twilio/status-callback", support::PUBLIC_URL);
            for n in 0.. {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let sid = bundle(n);
                let fields = callback(&sid, "pending-review");
                let answer = http
                    .post(&url)
                    .header("X-Twilio-Signature", support::sign(&signed_url, &fields, TOKEN))
                    .form(&fields)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 204, "{sid}");
                acked.lock().unwrap().push(sid);
            }
        })
    };
    support::wait_for(60, "acknowledged callbacks", || async {
        (acked.lock().unwrap().len() >= 200).then_some(())
    })
    .await;
    let before: Vec<String> = acked.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let mut command = bin();
    command
        .env("DATABASE_URL", &db.url)
        .args(["backup", "--to"])
        .arg(&copy);
    let (code, out) = tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("integrity ok"), "{out}");
    let during = acked.lock().unwrap().len();
    support::wait_for(60, "callbacks acknowledged after the backup", || async {
        (acked.lock().unwrap().len() > during).then_some(())
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    poster.await.unwrap();
    assert!(!serve.exited(), "serve kept running through the backup");

    let copy_url = format!("sqlite://{}", copy.display());
    let copied: HashSet<String> = {
        use sqlx::Connection as _;
        let mut c = sqlx::SqliteConnection::connect(&copy_url).await.unwrap();
        sqlx::query_scalar("select profile_sid from callbacks")
            .fetch_all(&mut c)
            .await
            .unwrap()
            .into_iter()
            .collect()
    };
    let missing: Vec<&String> = before.iter().filter(|sid| !copied.contains(*sid)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged callbacks missing from the backup, e.g. {:?}",
        missing.len(),
        before.len(),
        missing.first()
    );
    drop(serve);

    // The restore: `serve` on the copy, which answers with what it held.
    let restored = ServeProcess::start(&serve_env(&copy_url));
    let http = reqwest::Client::new();
    let profile = restored
        .api_json(&http, &format!("/v1/profiles/{}", before[before.len() - 1]))
        .await
        .expect("the profile from the backup");
    assert_eq!(profile["status"], "pending-review", "{profile}");
    assert_eq!(restored.terminate(), Some(0));
}

/// An existing FILE is replaced only with `--force`; a PostgreSQL DATABASE_URL is told to use
/// PostgreSQL's own tools.
#[tokio::test]
async fn backup_refuses_to_replace_a_file_unasked_and_names_pg_dump_for_postgresql() {
    let db = TestDb::new(Backend::Sqlite).await;
    db.store().await.close().await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("kept.db");
    std::fs::write(&target, b"an earlier backup").unwrap();
    let backup = |force: bool| {
        let mut command = bin();
        command
            .env("DATABASE_URL", &db.url)
            .args(["backup", "--to"])
            .arg(&target);
        if force {
            command.arg("--force");
        }
        run(&mut command)
    };
    let (code, out) = backup(false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--force"), "{out}");
    assert_eq!(std::fs::read(&target).unwrap(), b"an earlier backup");
    let (code, out) = backup(true);
    assert_eq!(code, 0, "{out}");
    let header = std::fs::read(&target).unwrap();
    assert!(header.starts_with(b"SQLite format 3\0"), "replaced by a database");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["kept.db"], "no partial copy left behind");

    let (code, out) = run(bin()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
        .args(["backup", "--to"])
        .arg(dir.path().join("pg.db")));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("PostgreSQL") && out.contains("pg_dump"), "{out}");
    assert!(!dir.path().join("pg.db").exists());
}
