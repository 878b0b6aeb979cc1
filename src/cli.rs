//! The command line: `serve`, `migrate`, `verify`, `backup` and the Trust Hub commands.

mod backup;
mod create_many;
mod demo;
mod doctor;
mod events;

use crate::app::{self, Application};
use crate::config::{Config, LogFormat};
use crate::domain::{Decision, ProfileSid};
use crate::store;
use crate::submit::create::Created;
use crate::submit::spec::Spec;
use crate::submit::{Submitted, Submitter};
use crate::twilio::signature::Payload;
use crate::twilio::{SignedRequest, Verifier};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Verified, durable Twilio Trust Hub status callbacks, with history, evaluations and alerts.
#[derive(Debug, Parser)]
#[command(name = "trusthub-hooks", version, about)]
pub struct Cli {
    /// TOML configuration file (environment variables override it).
    #[arg(long, global = true, env = "TRUSTHUB_HOOKS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the callback receiver and the query API (migrations applied first).
    Serve,
    /// See the whole product work with nothing configured: the real service with a sandbox of
    /// Twilio, a mail sink and a webhook subscriber on this machine, and a scripted story.
    Demo,
    /// Check the configuration without changing anything: database, Twilio credentials, each
    /// known bundle's StatusCallback, SMTP, webhooks. One line per check; exit 1 if any fails.
    Doctor,
    /// Apply database migrations and exit.
    Migrate,
    /// Check one Twilio signature offline and explain which URL variants and secrets were tried.
    Verify(VerifyArgs),
    /// Set a profile's StatusCallback (default: PUBLIC_URL + /twilio/status-callback).
    SetCallback {
        /// The customer profile (BU...).
        profile_sid: String,
        #[arg(long)]
        url: Option<String>,
        /// Act as this account (AC...): a configured one or a subaccount of the main account.
        #[arg(long, value_name = "AC...")]
        account: Option<String>,
    },
    /// Evaluate a profile and, when compliant (or with --force), submit it for review.
    Submit {
        profile_sid: String,
        /// Submit even when the evaluation is noncompliant.
        #[arg(long)]
        force: bool,
        /// Act as this account (AC...): a configured one or a subaccount of the main account.
        #[arg(long, value_name = "AC...")]
        account: Option<String>,
    },
    /// Create whole secondary customer profiles from declarative files, then submit them.
    Create {
        /// A TOML file (see examples/secondary-profile.toml); repeatable.
        #[arg(long = "file", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Every *.toml file of this folder too.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// How many customers are worked on at once (with several files).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
    },
    /// Record the current Trust Hub status of the named profiles (or of every profile of the
    /// configured accounts) where callbacks missed a change.
    Sync {
        profile_sids: Vec<String>,
        /// Only this account (AC...): a configured one or a subaccount of the main account.
        #[arg(long, value_name = "AC...")]
        account: Option<String>,
    },
    /// Copy the SQLite database to FILE, consistently, while `serve` runs; checked by opening it.
    Backup {
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Event Streams for A2P brands, campaigns and toll-free verifications.
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Send one correctly signed status callback to URL, as Twilio would.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Simulate {
        #[command(subcommand)]
        event: Option<SimulateEvent>,
        #[arg(long, required = true)]
        url: Option<String>,
        #[arg(long = "profile", required = true)]
        profile_sid: Option<String>,
        /// draft, pending-review, in-review, twilio-rejected or twilio-approved.
        #[arg(long, required = true)]
        status: Option<String>,
        #[arg(long)]
        failure_reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum EventsAction {
    /// Create (or reuse) the webhook sink to PUBLIC_URL + /twilio/events and its subscription
    /// to the compliance event types, in every account (or --account), adding missing types.
    Setup {
        #[arg(long, value_name = "AC...")]
        account: Option<String>,
    },
    /// Each account's sink to this service and its subscribed types.
    Status {
        #[arg(long, value_name = "AC...")]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SimulateEvent {
    /// Send one correctly signed Event Streams event (an A2P brand, campaign or toll-free
    /// verification status) to URL (PUBLIC_URL + /twilio/events), as Twilio would.
    Event {
        #[arg(long)]
        url: String,
        /// The event type, e.g. com.twilio.messaging.compliance.brand-registration.brand-failure.
        #[arg(long = "type")]
        event_type: String,
        /// The brand (BN…), campaign (QE…) or toll-free verification (HH…).
        #[arg(long)]
        sid: String,
        /// Twilio's status word (default: the type's last part).
        #[arg(long)]
        status: Option<String>,
        /// A campaign's brand (BN…).
        #[arg(long)]
        brand: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The full URL Twilio called (as in the profile's StatusCallback).
    #[arg(long)]
    url: String,
    /// The X-Twilio-Signature header's value.
    #[arg(long)]
    signature: String,
    /// A POST parameter, repeatable: --param Status=twilio-approved.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// A raw (JSON) body; the URL must then carry bodySHA256.
    #[arg(long, value_name = "FILE", conflicts_with = "params")]
    body_file: Option<PathBuf>,
    /// The X-Twilio-Webhooks-Signature-Settings header, for shared-key signatures.
    #[arg(long, value_name = "HEADER")]
    signature_settings: Option<String>,
    /// Check with this auth token instead of the configured ones.
    #[arg(long, value_name = "T")]
    token: Option<String>,
}

fn parse_param(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{raw:?} is not NAME=VALUE"))
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    if let Command::Verify(args) = &cli.command {
        return verify(&config, args);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(&config).await.map(|()| ExitCode::SUCCESS),
            Command::Demo => demo::run().await.map(|()| ExitCode::SUCCESS),
            Command::Events {
                action: EventsAction::Setup { account },
            } => events::setup(&config, account.as_deref()).await,
            Command::Events {
                action: EventsAction::Status { account },
            } => events::status(&config, account.as_deref()).await,
            Command::Doctor => Ok(doctor::run(&config, cli.config.as_deref()).await),
            Command::Migrate => migrate(&config).await.map(|()| ExitCode::SUCCESS),
            Command::Verify(_) => unreachable!("handled above"),
            Command::SetCallback {
                profile_sid,
                url,
                account,
            } => set_callback(&config, &profile_sid, url.as_deref(), account.as_deref()).await,
            Command::Submit {
                profile_sid,
                force,
                account,
            } => submit(&config, &profile_sid, force, account.as_deref()).await,
            Command::Create {
                files,
                dir,
                concurrency,
            } => {
                let files = create_many::files(&files, dir.as_deref())?;
                if let ([file], None) = (files.as_slice(), &dir) {
                    create(&config, file).await
                } else {
                    use std::io::IsTerminal as _;
                    let submitter = Submitter::from_config(&config, open_store(&config).await?)?;
                    let terminal = std::io::stdout().is_terminal();
                    Ok(create_many::run(submitter, &files, usize::from(concurrency), terminal).await)
                }
            }
            Command::Sync {
                profile_sids,
                account,
            } => sync(&config, &profile_sids, account.as_deref()).await,
            Command::Backup { to, force } => backup::run(&config.database_url, &to, force),
            Command::Simulate {
                event:
                    Some(SimulateEvent::Event {
                        url,
                        event_type,
                        sid,
                        status,
                        brand,
                    }),
                ..
            } => {
                let what = crate::simulate::SimulatedEvent {
                    event_type: &event_type,
                    sid: &sid,
                    status: status.as_deref(),
                    brand: brand.as_deref(),
                };
                simulate_event(&config, &url, &what).await
            }
            Command::Simulate {
                event: None,
                url,
                profile_sid,
                status,
                failure_reason,
            } => {
                // clap requires all three without a subcommand.
                let (Some(url), Some(profile), Some(status)) = (url, profile_sid, status) else {
                    anyhow::bail!("simulate needs --url, --profile and --status (or: simulate event)");
                };
                simulate(&config, &url, &profile, &status, failure_reason.as_deref()).await
            }
        }
    });
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}

async fn open_store(config: &Config) -> anyhow::Result<store::DynStore> {
    let store = store::connect(&config.database_url, config.sqlite_synchronous)
        .await
        .context("DATABASE_URL: cannot open the database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

fn profile_sid(raw: &str) -> anyhow::Result<ProfileSid> {
    ProfileSid::parse(raw).map_err(anyhow::Error::msg)
}

async fn set_callback(
    config: &Config,
    sid: &str,
    url: Option<&str>,
    account: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let sid = profile_sid(sid)?;
    let submitter = Submitter::from_config(config, open_store(config).await?)?.acting_as(account)?;
    let profile = submitter.set_callback(&sid, url).await?;
    println!(
        "{sid}: StatusCallback = {}",
        profile.status_callback.unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

fn print_failures(failures: &[crate::twilio::models::Failure]) {
    for failure in failures {
        let reason = failure.reason.as_deref().unwrap_or("no reason given");
        let code = failure
            .error_code
            .map(|c| format!(" (error {c})"))
            .unwrap_or_default();
        println!("  - {}: {reason}{code}", failure.requirement);
        for field in &failure.invalid_fields {
            println!(
                "      * {}: {}",
                field.field,
                field.reason.as_deref().unwrap_or("invalid")
            );
        }
    }
}

async fn submit(config: &Config, sid: &str, force: bool, account: Option<&str>) -> anyhow::Result<ExitCode> {
    let sid = profile_sid(sid)?;
    let submitter = Submitter::from_config(config, open_store(config).await?)?.acting_as(account)?;
    match submitter.submit(&sid, force).await? {
        Submitted::Submitted { evaluation, forced } => {
            if forced {
                println!(
                    "evaluation {} is {}; submitted anyway (--force):",
                    evaluation.sid, evaluation.status
                );
                print_failures(&evaluation.failures());
            }
            println!("{sid}: submitted for review (pending-review)");
            Ok(ExitCode::SUCCESS)
        }
        Submitted::Refused { evaluation, failures } => {
            println!(
                "{sid}: not submitted: evaluation {} is {}:",
                evaluation.sid, evaluation.status
            );
            print_failures(&failures);
            println!("fix these and run submit again, or pass --force");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn create(config: &Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let text = std::fs::read_to_string(file).with_context(|| format!("--file {}", file.display()))?;
    let spec = match Spec::parse(&text) {
        Ok(spec) => spec,
        Err(problems) => {
            eprintln!("{} is not valid; nothing was sent to Twilio:", file.display());
            for problem in problems {
                eprintln!("  - {problem}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    for warning in spec.warnings() {
        println!("warning: {warning}");
    }
    let submitter = Submitter::from_config(config, open_store(config).await?)?;
    let mut printer = crate::submit::create::Printer {
        terminal: std::io::stdout().is_terminal(),
    };
    match crate::submit::create::create(&submitter, &spec, &mut printer).await? {
        Created::Submitted { profile_sid, .. } => {
            println!("{profile_sid}: created and submitted for review");
            Ok(ExitCode::SUCCESS)
        }
        Created::AlreadyDone { profile_sid } => {
            println!("{profile_sid}: created and submitted by an earlier run; nothing to do");
            Ok(ExitCode::SUCCESS)
        }
        Created::Refused {
            profile_sid,
            submitted,
        } => {
            if let Submitted::Refused { failures, .. } = submitted {
                println!("{profile_sid}: created but not submitted; the evaluation is noncompliant:");
                print_failures(&failures);
            }
            println!("fix the profile, then run create again (it resumes) or submit {profile_sid}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn sync(config: &Config, sids: &[String], account: Option<&str>) -> anyhow::Result<ExitCode> {
    let sids = sids
        .iter()
        .map(|s| profile_sid(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let submitter = Submitter::from_config(config, open_store(config).await?)?.acting_as(account)?;
    let synced = submitter.sync(&sids).await?;
    let mut recorded = 0;
    for profile in &synced {
        let note = match profile.decision {
            Decision::Advance => {
                recorded += 1;
                "recorded (a callback missed it)"
            }
            Decision::Late => "older than the recorded status: kept in history",
            Decision::Unchanged => "unchanged",
        };
        println!("{}: {} - {note}", profile.sid, profile.status);
    }
    println!(
        "{} profiles checked, {recorded} transitions recorded",
        synced.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The account `simulate` signs as: the main one.
fn signing_account(config: &Config) -> anyhow::Result<crate::config::Account> {
    Verifier::from_config(config)
        .accounts()
        .first()
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: required to sign the request")
        })
}

fn answered(url: &str, answer: &crate::simulate::Answer) -> ExitCode {
    println!("{url} answered {} {}", answer.status, answer.body);
    if (200..300).contains(&answer.status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn simulate_event(
    config: &Config,
    url: &str,
    what: &crate::simulate::SimulatedEvent<'_>,
) -> anyhow::Result<ExitCode> {
    let account = signing_account(config)?;
    let event = crate::simulate::event(account.sid.as_str(), what).map_err(anyhow::Error::msg)?;
    let answer = crate::simulate::send_events(url, &account, &serde_json::json!([event]))
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(answered(url, &answer))
}

async fn simulate(
    config: &Config,
    url: &str,
    profile: &str,
    status: &str,
    failure_reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let account = signing_account(config)?;
    let answer = crate::simulate::send(url, &account, profile, status, failure_reason, None)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(answered(url, &answer))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let shutdown = app::shutdown_signal().context("installing signal handlers")?;
    let app = Application::build(config).await?;
    app.run(shutdown).await
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = store::connect(&config.database_url, config.sqlite_synchronous)
        .await
        .context("DATABASE_URL: cannot open the database")?;
    store.migrate().await.context("applying migrations")?;
    store.close().await;
    println!("migrations applied");
    Ok(())
}

/// Exit 0 valid, 1 invalid, 2 usage error.
fn verify(config: &Config, args: &VerifyArgs) -> ExitCode {
    let mut verifier = Verifier::from_config(config);
    if let Some(token) = &args.token {
        verifier = verifier.with_token(SecretString::from(token.clone()));
    }
    if args.token.is_none() && verifier.accounts().is_empty() && config.shared_keys.is_empty() {
        eprintln!("error: no auth token to check with: pass --token, or set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN");
        return ExitCode::from(2);
    }
    let body = match &args.body_file {
        Some(path) => match std::fs::read(path) {
            Ok(body) => Some(body),
            Err(error) => {
                eprintln!("error: --body-file {}: {error}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let payload = match &body {
        Some(body) => Payload::Body(body),
        None => Payload::Form(&args.params),
    };
    let account = args
        .params
        .iter()
        .find(|(name, _)| name == "AccountSid")
        .map(|(_, v)| v.as_str());
    let verdict = verifier.verify(&SignedRequest {
        url: &args.url,
        signature: Some(&args.signature),
        settings: args.signature_settings.as_deref(),
        payload,
        account,
    });
    println!("tried:");
    for attempt in &verdict.attempts {
        println!("  {attempt}");
    }
    match verdict.result {
        Ok(verified) => {
            println!("valid: signed by {} for {}", verified.credential, verified.url);
            ExitCode::SUCCESS
        }
        Err(rejection) => {
            println!("invalid: {rejection}");
            println!(
                "hint: Twilio signs the URL exactly as set in the profile's StatusCallback (scheme, host, port, \
                 path, trailing slash, query string as sent); behind a proxy, PUBLIC_URL must be that URL's \
                 scheme://host[:port][/prefix]. Every POST parameter counts, unchanged."
            );
            ExitCode::from(1)
        }
    }
}
