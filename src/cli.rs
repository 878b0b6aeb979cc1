//! The command line: `serve`, `migrate`, `verify`.

use crate::app::{self, Application};
use crate::config::{Config, LogFormat};
use crate::store;
use crate::twilio::signature::Payload;
use crate::twilio::{SignedRequest, Verifier};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Verified, durable Twilio Trust Hub status callbacks.
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
    /// Apply database migrations and exit.
    Migrate,
    /// Check one Twilio signature offline and explain which URL variants and secrets were tried.
    Verify(VerifyArgs),
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
            Command::Serve => serve(&config).await,
            Command::Migrate => migrate(&config).await,
            Command::Verify(_) => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
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
