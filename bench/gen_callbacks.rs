//! Writes distinct, correctly signed status callbacks for `bench/run`, as complete HTTP/1.1
//! requests ready for wrk to send, each after a line giving its length in bytes, one file per wrk thread
//! (`OUT.0`, `OUT.1`, ...). Profiles are grouped so that each moves through pending-review →
//! in-review → a decision (one in ten rejected), and all of a profile's reports go to one
//! thread, in that order.
//!
//! The requests are finished here, and the wrk script reads them as it sends them, rather than
//! building them all in its `init`: wrk starts each thread as soon as its `init` returns and
//! starts its clock only after the last one, so an `init` that parsed 600,000 lines (3.5 s of
//! Lua each) let the first thread send, uncounted in the duration, while the other loaded.
//!
//! Usage: gen_callbacks PUBLIC_URL ACCOUNT_SID AUTH_TOKEN PROFILES THREADS OUT

use std::fs::File;
use std::io::{BufWriter, Write};
use trusthub_hooks::twilio::signature::{compute, signing_string, Algorithm};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [public_url, account, token, profiles, threads, out] = args.as_slice() else {
        eprintln!("usage: gen_callbacks PUBLIC_URL ACCOUNT_SID AUTH_TOKEN PROFILES THREADS OUT");
        std::process::exit(2);
    };
    let profiles: u64 = profiles.parse().expect("PROFILES is a number");
    let threads: u64 = threads.parse().expect("THREADS is a number");
    assert!(threads > 0, "THREADS is at least 1");
    let public_url = public_url.trim_end_matches('/');
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let path = "/twilio/status-callback";
    let url = format!("{public_url}{path}");
    let run = std::process::id();
    let mut files = (0..threads)
        .map(|n| File::create(format!("{out}.{n}")).map(BufWriter::new))
        .collect::<std::io::Result<Vec<_>>>()?;
    for n in 0..profiles {
        let file = &mut files[(n % threads) as usize];
        let sid = format!("BU{:016x}{:016x}", u64::from(run), n);
        let decision = if n % 10 == 9 {
            "twilio-rejected"
        } else {
            "twilio-approved"
        };
        for status in ["pending-review", "in-review", decision] {
            let mut params = vec![
                ("AccountSid".to_owned(), account.clone()),
                ("BundleSid".to_owned(), sid.clone()),
                ("Status".to_owned(), status.to_owned()),
            ];
            if status == "twilio-rejected" {
                params.push((
                    "FailureReason".to_owned(),
                    "Business name does not match EIN".to_owned(),
                ));
            }
            let signature = compute(
                token.as_bytes(),
                Algorithm::HmacSha1,
                &signing_string(&url, &params),
            );
            let body = serde_urlencoded::to_string(&params).expect("strings encode");
            let request = format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 X-Twilio-Signature: {signature}\r\nI-Twilio-Idempotency-Token: {sid}-{status}\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            writeln!(file, "{}", request.len())?;
            file.write_all(request.as_bytes())?;
        }
    }
    for file in &mut files {
        file.flush()?;
    }
    Ok(())
}
