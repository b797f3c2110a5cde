//! The `ringbank` binary: parse the command line, set up logging, run the command.

use clap::Parser;
use tokio_util::sync::CancellationToken;

use ringbank::app::App;
use ringbank::config::{Cli, Command, LogFormat};

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
        Command::Fault(args) => ringbank_tools::fault_cli::run(args).await,
        Command::Chaos(args) => ringbank_tools::chaos::run(args).await,
        Command::BenchRing(args) => {
            ringbank_tools::bench_ring::run(args).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let report = ringbank_tools::bench::run(args).await.map_err(|e| e.to_string())?;
            Ok(if report { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
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
