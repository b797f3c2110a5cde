//! The `ringbank` binary: parse the command line, set up logging, run the command.

use clap::Parser;
use tokio_util::sync::CancellationToken;

use ringbank::app::App;
use ringbank::config::{Cli, Command, KeygenArgs, LogFormat, VerifyArgs};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match run(cli.command).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("ringbank: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> Result<std::process::ExitCode, String> {
    match command {
        Command::Serve(config) if config.check_config => {
            if let Err(error) = config.validate() {
                eprintln!("ringbank: invalid configuration: {error}");
                return Ok(std::process::ExitCode::from(2));
            }
            let effective = serde_json::to_string_pretty(&config.effective()).unwrap_or_default();
            println!("configuration is valid:\n{effective}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Serve(config) => {
            let app = App::build(config).await.map_err(|e| e.to_string())?;
            println!("ringbank bank listening on {}", app.url());
            let shutdown = CancellationToken::new();
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                ringbank_tools::up::wait_for_stop_signal().await;
                tracing::info!("stop signal received; shutting down");
                trigger.cancel();
            });
            app.run_until_stopped(shutdown).await;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Up(config) => {
            ringbank_tools::up::run(config).await.map_err(|e| e.to_string())?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Audit(args) => {
            if let Some(url) = &args.database_url {
                let report = ringbank::ledger::audit::audit_database_url(url).await.map_err(|e| e.to_string())?;
                print!("{}", report.render());
                return Ok(if report.passed { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) });
            }
            let Some(data_dir) = args.data_dir else {
                let secret = args.admin_secret.ok_or("the live audit needs --admin-secret (env RINGBANK_ADMIN_SECRET)")?;
                let urls: Vec<(String, String)> = args.peers.iter().map(|p| (p.id.clone(), p.url.clone())).collect();
                let summaries = ringbank_tools::consortium_audit::fetch(&urls, &secret).await?;
                let report = ringbank_tools::consortium_audit::check(&summaries);
                print!("{}", report.render());
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                }
                return Ok(if report.passed { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) });
            };
            let reports = ringbank::ledger::audit::audit_data_dir(&data_dir).await.map_err(|e| e.to_string())?;
            if reports.is_empty() {
                return Err(format!("no bank database (bank-*.sqlite3) in {}", data_dir.display()));
            }
            for report in &reports {
                print!("{}", report.render());
            }
            let passed = reports.iter().all(|r| r.passed);
            Ok(if passed { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
        }
        Command::Probe(args) => {
            let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build().map_err(|e| e.to_string())?;
            let healthy = client.get(&args.url).send().await.is_ok_and(|r| r.status().is_success());
            Ok(if healthy { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
        }
        Command::Keygen(args) => keygen(&args),
        Command::Verify(args) => verify(&args),
        Command::Fault(args) => ringbank_tools::fault_cli::run(args).await,
        Command::Members(args) => ringbank_tools::members_cli::run(args).await,
        Command::Chaos(args) => ringbank_tools::chaos::run(args).await,
        Command::BenchRing(args) => {
            ringbank_tools::bench_ring::run(args).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Seed(args) => seed(args).await,
        Command::Bench(args) => {
            let report = ringbank_tools::bench::run(args).await.map_err(|e| e.to_string())?;
            Ok(if report { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
        }
    }
}

/// `ringbank seed`: synthetic history in a new bank's database (see `ledger::seed`).
async fn seed(args: ringbank_tools::args::SeedArgs) -> Result<std::process::ExitCode, String> {
    use ringbank_tools::args::{SEED_ACCOUNT_BASE, SEED_DOCUMENT_BASE};
    ringbank::config::validate_bank_id(&args.id).map_err(|e| e.to_string())?;
    let plan = ringbank::ledger::seed::SeedPlan::new(args.accounts, args.entries, SEED_DOCUMENT_BASE, SEED_ACCOUNT_BASE)?;
    let hash = ringbank::service::hash_password(&args.password).map_err(|e| e.to_string())?;
    let location = ringbank::ledger::DatabaseLocation::new(args.database_url.as_deref(), &args.data_dir);
    let report = ringbank::ledger::seed::seed(&location, &args.id, plan, &hash).await.map_err(|e| e.to_string())?;
    println!(
        "seeded bank {}: {} customers with an account each, {} journal entries, {} legs, in {:.1} s; customer k has CPF {} + k (check digits added), account {} + k, password as given",
        args.id, report.accounts, report.entries, report.legs, report.seconds, SEED_DOCUMENT_BASE, SEED_ACCOUNT_BASE
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// `ringbank keygen`: a new key file (never overwriting one), and the public key to register.
fn keygen(args: &KeygenArgs) -> Result<std::process::ExitCode, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(id) = &args.id {
        ringbank::config::validate_bank_id(id).map_err(|e| e.to_string())?;
    }
    let key = ringbank_domain::SecretKey::from_seed(rand::random());
    let path = &args.key_file;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create the key file {}: {e} (an existing key file is never overwritten)", path.display()))?;
    file.write_all(key.to_key_file_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write the key file {}: {e}", path.display()))?;
    println!("wrote a new secret key to {} (keep it secret; give it to the bank as --key-file)", path.display());
    println!("public key: {}", key.public());
    if let (Some(id), Some(url)) = (&args.id, &args.url) {
        let entry = ringbank::config::parse_peer(&format!("{id}={url}={}", key.public()))?;
        println!("register this bank at every member (this one too) as: --peer {}", entry.to_entry());
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `ringbank verify`: 0 if the receipt's coordinator signature is valid, 1 if not.
fn verify(args: &VerifyArgs) -> Result<std::process::ExitCode, String> {
    use std::io::Read;
    let mut keys = std::collections::HashMap::new();
    for peer in &args.peers {
        let key = peer.public_key.ok_or_else(|| format!("--peer {} has no public key: write ID=URL=ed25519:HEX", peer.id))?;
        keys.insert(peer.id.clone(), key);
    }
    let limit = ringbank::service::receipts::RECEIPT_TEXT_MAX as u64 + 1;
    let mut text = String::new();
    let read = match args.receipt.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(path) => std::fs::File::open(path).and_then(|f| f.take(limit).read_to_string(&mut text)),
        None => std::io::stdin().take(limit).read_to_string(&mut text),
    };
    read.map_err(|e| format!("cannot read the receipt: {e}"))?;
    match ringbank::service::receipts::check_receipt(&text, |bank| keys.get(bank).copied()) {
        Ok(receipt) => {
            println!("valid: {}", ringbank::service::receipts::describe(&receipt));
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("invalid: {reason}");
            Ok(std::process::ExitCode::from(1))
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RINGBANK_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
