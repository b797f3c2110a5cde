//! `ringbank up`: starts a local consortium of bank processes under a supervisor (each bank with
//! its own key pair, created under the data directory), prints each bank's URL, the admin
//! secret and the member list with the public keys, serves the supervisor's control endpoint, and stops every
//! bank on Ctrl-C or SIGTERM.

use crate::args::UpConfig;
use crate::local_ring::{LocalRing, UpError};
use crate::supervisor::Supervisor;

/// Starts the banks under a supervisor (restart after `--restart-after`; restart on request
/// through the control endpoint on `--control-port`), until Ctrl-C or SIGTERM.
pub async fn run(config: UpConfig) -> Result<(), UpError> {
    let ring = LocalRing::new(config.banks, config.base_port, config.data_dir.clone(), config.admin_secret.clone(), Vec::new())?;
    let supervisor = Supervisor::new(ring, config.restart_after);
    if let Err(error) = supervisor.start_all().await {
        supervisor.stop_all().await;
        return Err(error);
    }
    for (id, url) in supervisor.ids.iter().zip(&supervisor.urls) {
        println!("bank {id}: {url}");
    }
    println!("{} bank(s) running, data in {}; Ctrl-C stops them", config.banks, config.data_dir.display());
    println!("admin secret (ring monitor, audit, faults): {}", supervisor.admin_secret);
    println!("each bank's key: {}/keys/bank-ID.key; the member list (for ringbank verify):", config.data_dir.display());
    println!("RINGBANK_PEERS={}", supervisor.peer_list);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let control_port = config.control_port.unwrap_or(config.base_port.saturating_sub(1));
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], control_port));
    match supervisor.clone().serve_control(address, shutdown.clone()).await {
        Ok(bound) => println!("supervisor control: http://{bound} (ringbank fault --supervisor http://{bound} --bank ID restart)"),
        Err(source) => {
            supervisor.stop_all().await;
            return Err(UpError::Spawn { id: "control".into(), source });
        }
    }
    if config.restart_after.is_zero() {
        println!("crashed banks are not restarted automatically (--restart-after 0)");
    } else {
        println!("crashed banks are restarted after {}", humantime::format_duration(config.restart_after));
    }
    let watcher = tokio::spawn(supervisor.clone().watch(shutdown.clone()));
    wait_for_stop_signal().await;
    shutdown.cancel();
    let _ = watcher.await;
    supervisor.stop_all().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_stop_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
