//! `ringbank up`: starts a local consortium of bank processes on loopback (one `ringbank serve`
//! child per bank, data under one directory), prints each bank's URL, and stops them all
//! (SIGTERM, then SIGKILL after a grace period) on Ctrl-C or SIGTERM.

use std::time::Duration;

use tokio::process::{Child, Command};

use crate::config::UpConfig;

/// Most banks `up` starts.
pub const BANKS_MAX: usize = 16;
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Bank ids used by `up`: A, B, C, ...
pub fn bank_id(index: usize) -> String {
    char::from(b'A' + u8::try_from(index % 26).unwrap_or(0)).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error("--banks must be between 1 and {BANKS_MAX} (got {0})")]
    BadCount(usize),
    #[error("ports {0}..{1} do not fit below 65536")]
    BadPorts(u16, usize),
    #[error("cannot start bank {id}: {source}")]
    Spawn { id: String, source: std::io::Error },
}

pub async fn run(config: UpConfig) -> Result<(), UpError> {
    if !(1..=BANKS_MAX).contains(&config.banks) {
        return Err(UpError::BadCount(config.banks));
    }
    let last_port = usize::from(config.base_port) + config.banks;
    if last_port > 65535 {
        return Err(UpError::BadPorts(config.base_port, last_port));
    }
    let exe = std::env::current_exe().map_err(|source| UpError::Spawn { id: "-".into(), source })?;
    // Fresh secrets for this consortium, never hard-coded; given to the children through
    // the environment (not argv, which other users can read).
    let ring_secret = hex::encode(rand::random::<[u8; 24]>());
    let admin_secret = config.admin_secret.clone().unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let peers: Vec<String> = (0..config.banks)
        .map(|index| format!("{}=http://127.0.0.1:{}", bank_id(index), usize::from(config.base_port) + index))
        .collect();
    let mut children: Vec<(String, Child)> = Vec::with_capacity(config.banks);
    for index in 0..config.banks {
        let id = bank_id(index);
        let port = config.base_port + u16::try_from(index).unwrap_or(0);
        let child = Command::new(&exe)
            .arg("serve")
            .args(["--id", &id])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&config.data_dir)
            .env("RINGBANK_PEERS", peers.join(","))
            .env("RINGBANK_RING_SECRET", &ring_secret)
            .env("RINGBANK_ADMIN_SECRET", &admin_secret)
            .kill_on_drop(true)
            .spawn();
        match child {
            Ok(child) => {
                println!("bank {id}: http://127.0.0.1:{port}");
                children.push((id, child));
            }
            Err(source) => {
                stop_all(&mut children).await;
                return Err(UpError::Spawn { id, source });
            }
        }
    }
    println!("{} bank(s) running, data in {}; Ctrl-C stops them", children.len(), config.data_dir.display());
    println!("admin secret (ring monitor, audit, faults): {admin_secret}");
    wait_for_stop_signal().await;
    stop_all(&mut children).await;
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

async fn stop_all(children: &mut [(String, Child)]) {
    for (_, child) in children.iter() {
        if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    for (id, child) in children.iter_mut() {
        match tokio::time::timeout(STOP_GRACE, child.wait()).await {
            Ok(_) => println!("bank {id} stopped"),
            Err(_) => {
                let _ = child.kill().await;
                println!("bank {id} killed after {} s", STOP_GRACE.as_secs());
            }
        }
    }
}
