//! `doctor`: checks a configuration without changing anything, one line per check, `ok` or what
//! to fix naming the variable. Exit 0 when every check passes, 1 otherwise.

use crate::config::Config;
use crate::domain::ProfileSid;
use crate::notify::{ssrf, EmailSettings};
use crate::store::{self, ProfileQuery};
use crate::twilio::{BundleApi, CredentialBook, TwilioClient};
use secrecy::ExposeSecret as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Profiles whose `StatusCallback` is compared (the most recently changed).
const PROFILES_CHECKED: u32 = 50;

#[derive(Default)]
struct Report {
    failed: usize,
}

impl Report {
    fn ok(&mut self, what: &str, detail: &str) {
        println!("ok    {what}: {detail}");
    }

    fn fix(&mut self, what: &str, detail: &str) {
        self.failed += 1;
        println!("FIX   {what}: {detail}");
    }
}

pub async fn run(config: &Config, file: Option<&Path>) -> ExitCode {
    let mut report = Report::default();
    match file {
        // Loading refused a file others can read that holds a secret.
        Some(file) => report.ok(
            "configuration",
            &format!("{} read (secrets readable by its owner only)", file.display()),
        ),
        None => report.ok("configuration", "environment variables only"),
    }
    let store = database(config, &mut report).await;
    let callback_url = match config.public_url() {
        Ok(url) => {
            report.ok("PUBLIC_URL", &format!("Twilio must call {}", url.callback_url()));
            Some(url.callback_url())
        }
        Err(error) => {
            report.fix("PUBLIC_URL", &error.to_string());
            None
        }
    };
    let credentials = CredentialBook::from_config(config);
    accounts(config, &credentials, &mut report).await;
    if let (Some(store), Some(expected)) = (&store, &callback_url) {
        callbacks(config, store, &credentials, expected, &mut report).await;
    }
    smtp(config, &mut report).await;
    if let Some(store) = &store {
        webhooks(config, store, &mut report).await;
        store.close().await;
    }
    if report.failed == 0 {
        println!("everything checked is ok");
        ExitCode::SUCCESS
    } else {
        println!("{} to fix", report.failed);
        ExitCode::FAILURE
    }
}

async fn database(config: &Config, report: &mut Report) -> Option<store::DynStore> {
    let url = crate::config::redact_password(&config.database_url);
    if let Some(path) = config.database_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !Path::new(path).exists() {
            report.fix(
                "DATABASE_URL",
                &format!("{url}: no such file yet (serve or migrate creates it)"),
            );
            return None;
        }
    }
    let store = match store::connect(&config.database_url, config.sqlite_synchronous).await {
        Ok(store) => store,
        Err(error) => {
            report.fix("DATABASE_URL", &format!("{url}: cannot open: {error}"));
            return None;
        }
    };
    match store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => {
            report.ok("DATABASE_URL", &format!("{url} reachable, migrations current"))
        }
        Ok(pending) => report.fix(
            "DATABASE_URL",
            &format!(
                "{url}: {} migrations not applied (run `trusthub-hooks migrate`, or start serve)",
                pending.len()
            ),
        ),
        Err(error) => report.fix("DATABASE_URL", &format!("{url}: {error}")),
    }
    Some(store)
}

/// Each configured account's credentials, asked of Twilio (`GET /2010-04-01/Accounts/{sid}.json`).
async fn accounts(config: &Config, credentials: &CredentialBook, report: &mut Report) {
    let accounts = config.accounts();
    if accounts.is_empty() {
        report.fix(
            "TWILIO_ACCOUNT_SID",
            "no account configured (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or [[accounts]])",
        );
        return;
    }
    let api = match TwilioClient::new(
        &config.twilio_api_url,
        Duration::from_secs(config.twilio_timeout_secs.min(15)),
    ) {
        Ok(api) => api,
        Err(error) => return report.fix("TWILIO_API_URL", &error.to_string()),
    };
    let main = config.twilio_account_sid.as_deref();
    for account in accounts {
        let sid = account.sid.to_string();
        let is_main = main == Some(sid.as_str());
        let variable = match (is_main, config.twilio_api_key.is_some()) {
            (true, true) => "TWILIO_API_KEY / TWILIO_API_SECRET".to_owned(),
            (true, false) => "TWILIO_AUTH_TOKEN".to_owned(),
            (false, _) => format!("[[accounts]] {sid}"),
        };
        let Some(creds) = credentials.for_account(Some(&sid)) else {
            continue;
        };
        let answer: Result<serde_json::Value, _> =
            api.get(&creds, &format!("/2010-04-01/Accounts/{sid}.json")).await;
        match answer {
            Ok(_) => report.ok(&variable, &format!("Twilio accepts the credentials of {sid}")),
            Err(error) if matches!(error.status(), Some(401 | 403)) => report.fix(
                &variable,
                &format!("Twilio refused the credentials of {sid} ({error}): copy the current auth token from the console"),
            ),
            Err(error) => report.fix(&variable, &format!("cannot ask Twilio about {sid}: {error}")),
        }
    }
}

/// Each locally known bundle's `StatusCallback`, as its kind's API gives it, against
/// `PUBLIC_URL`: a mismatch is the first cause of "no callbacks arrive".
async fn callbacks(
    config: &Config,
    store: &store::DynStore,
    credentials: &CredentialBook,
    expected: &str,
    report: &mut Report,
) {
    let Ok(bundles) = BundleApi::from_config(config) else {
        return;
    };
    let query = ProfileQuery {
        limit: PROFILES_CHECKED,
        ..ProfileQuery::default()
    };
    let Ok(page) = store.list_profiles(&query).await else {
        return;
    };
    let mut checked = 0;
    for profile in page.items {
        let Ok(sid) = ProfileSid::parse(&profile.sid) else {
            continue;
        };
        let Some(creds) = credentials.for_account(profile.account_sid.as_deref()) else {
            continue;
        };
        let found = match profile.kind {
            Some(kind) => bundles.fetch(&creds, kind, sid.as_str()).await.map(Some),
            None => bundles
                .discover(&creds, sid.as_str())
                .await
                .map(|f| f.map(|(_, b)| b)),
        };
        match found {
            Ok(Some(bundle)) => {
                checked += 1;
                let actual = bundle.status_callback.unwrap_or_default();
                if actual != expected {
                    report.fix(
                        &format!("StatusCallback of {sid}"),
                        &format!(
                            "is {actual:?}, not PUBLIC_URL's {expected}: Twilio reports its changes elsewhere; run `trusthub-hooks set-callback {sid}`"
                        ),
                    );
                }
            }
            Ok(None) => report.fix(&format!("bundle {sid}"), "Twilio does not know it in its account"),
            Err(error) => report.fix(&format!("bundle {sid}"), &format!("cannot fetch it: {error}")),
        }
    }
    if checked > 0 {
        report.ok(
            "StatusCallback",
            &format!("{checked} known bundles checked against PUBLIC_URL"),
        );
    }
}

async fn smtp(config: &Config, report: &mut Report) {
    let settings = match EmailSettings::from_config(config) {
        Ok(Some(settings)) => settings,
        Ok(None) => return report.ok("SMTP_URL", "not set: no alert emails"),
        Err(error) => return report.fix("SMTP_URL", &error.to_string()),
    };
    let host = config
        .smtp_url
        .as_ref()
        .and_then(|u| url::Url::parse(u.expose_secret()).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    match settings.mailer.check().await {
        Ok(()) => report.ok(
            "SMTP_URL",
            &format!("{host} answers (greeting, TLS and login as configured)"),
        ),
        Err(error) => report.fix("SMTP_URL", &format!("{host}: {error}")),
    }
}

async fn webhooks(config: &Config, store: &store::DynStore, report: &mut Report) {
    let Ok(webhooks) = store.list_webhooks().await else {
        return;
    };
    for webhook in webhooks.iter().filter(|w| w.enabled) {
        let shown = format!("webhook {}", webhook.id);
        let Ok(url) = url::Url::parse(&webhook.url) else {
            report.fix(&shown, "its URL does not parse");
            continue;
        };
        if let Err(why) = ssrf::check_url(&url, config.webhook_allow_private) {
            report.fix(&shown, &why);
            continue;
        }
        let resolver = ssrf::GuardedResolver {
            allow_private: config.webhook_allow_private,
        };
        match resolver.lookup(url.host_str().unwrap_or_default()).await {
            Ok(_) => report.ok(
                &shown,
                &format!(
                    "{} resolves to an address deliveries may use",
                    url.host_str().unwrap_or_default()
                ),
            ),
            Err(why) => report.fix(&shown, &format!("{why} (WEBHOOK_ALLOW_PRIVATE)")),
        }
    }
}
