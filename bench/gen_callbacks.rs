//! Writes distinct, correctly signed status callbacks for `bench/run`: one line per request,
//! `path|signature|idempotency token|form body`, profiles grouped so that each moves through
//! pending-review → in-review → a decision (one in ten rejected).
//!
//! Usage: gen_callbacks PUBLIC_URL ACCOUNT_SID AUTH_TOKEN PROFILES > callbacks.txt

use std::io::{BufWriter, Write};
use trusthub_hooks::twilio::signature::{compute, signing_string, Algorithm};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [public_url, account, token, profiles] = args.as_slice() else {
        eprintln!("usage: gen_callbacks PUBLIC_URL ACCOUNT_SID AUTH_TOKEN PROFILES");
        std::process::exit(2);
    };
    let profiles: u64 = profiles.parse().expect("PROFILES is a number");
    let path = "/twilio/status-callback";
    let url = format!("{}{path}", public_url.trim_end_matches('/'));
    let run = std::process::id();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for n in 0..profiles {
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
            writeln!(out, "{path}|{signature}|{sid}-{status}|{body}")?;
        }
    }
    out.flush()
}
