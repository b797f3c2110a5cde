//! `LocalRing`: a local consortium of bank processes on loopback (one `ringbank serve` child per
//! bank, data under one directory, each bank's own key pair in DATA/keys/bank-ID.key, created on
//! first use and kept for restarts, a fresh admin secret), started, killed and restarted one by one, and
//! stopped together (SIGTERM, then SIGKILL after a grace period). `up`, the supervisor, chaos and
//! the benchmarks start their banks with it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringbank_domain::{PublicKey, SecretKey};
use tokio::process::{Child, Command};

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
    #[error("bank {id}'s key file {path}: {reason}")]
    Key { id: String, path: String, reason: String },
}

/// Bank `id`'s key file under `data_dir`: read if it exists, else created (owner-only).
pub fn bank_key(data_dir: &std::path::Path, id: &str) -> Result<(PathBuf, SecretKey), UpError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = data_dir.join("keys");
    let path = dir.join(format!("bank-{id}.key"));
    let failed = |reason: String| UpError::Key { id: id.to_string(), path: path.display().to_string(), reason };
    match std::fs::read_to_string(&path) {
        Ok(text) => return SecretKey::parse_key_file(&text).map(|key| (path.clone(), key)).map_err(|e| failed(e.to_string())),
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(failed(error.to_string())),
        Err(_) => {}
    }
    std::fs::create_dir_all(&dir).map_err(|e| failed(e.to_string()))?;
    let key = SecretKey::from_seed(rand::random());
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(|e| failed(e.to_string()))?;
    file.write_all(key.to_key_file_text().as_bytes()).and_then(|()| file.sync_all()).map_err(|e| failed(e.to_string()))?;
    Ok((path, key))
}

/// A set of bank processes on 127.0.0.1:base_port+i forming one ring.
pub struct LocalRing {
    exe: PathBuf,
    pub ids: Vec<String>,
    pub ports: Vec<u16>,
    data_dir: PathBuf,
    /// Each bank's key file, and the public keys the member list names.
    key_files: Vec<PathBuf>,
    pub public_keys: Vec<PublicKey>,
    pub admin_secret: String,
    extra_args: Vec<String>,
    quiet: bool,
    /// With `logs_to`, each bank's stderr is appended to DIR/bank-ID.log.
    log_dir: Option<PathBuf>,
    /// With `databases`, each bank's database URL: this template with `{bank}` replaced by its id.
    database_template: Option<String>,
    pub children: Vec<Option<Child>>,
    /// The founding members: banks 0..founding. Banks after them are spares (`with_spares`),
    /// started with `serve --join` when asked (`spawn_joining`).
    founding: usize,
    /// Each spare's --join URL once it was first started (kept for its restarts).
    join_urls: Vec<Option<String>>,
}

impl LocalRing {
    pub fn new(
        banks: usize,
        base_port: u16,
        data_dir: PathBuf,
        admin_secret: Option<String>,
        extra_args: Vec<String>,
    ) -> Result<LocalRing, UpError> {
        if !(1..=BANKS_MAX).contains(&banks) {
            return Err(UpError::BadCount(banks));
        }
        let last_port = usize::from(base_port) + banks;
        if last_port > 65535 {
            return Err(UpError::BadPorts(base_port, last_port));
        }
        let exe = std::env::current_exe().map_err(|source| UpError::Spawn { id: "-".into(), source })?;
        let ids: Vec<String> = (0..banks).map(bank_id).collect();
        let mut key_files = Vec::with_capacity(banks);
        let mut public_keys = Vec::with_capacity(banks);
        for id in &ids {
            let (path, key) = bank_key(&data_dir, id)?;
            key_files.push(path);
            public_keys.push(key.public());
        }
        Ok(LocalRing {
            exe,
            ids,
            ports: (0..banks).map(|i| base_port + u16::try_from(i).unwrap_or(0)).collect(),
            data_dir,
            key_files,
            public_keys,
            // A fresh admin secret, never hard-coded; given to the children through the
            // environment (not argv, which other users can read).
            admin_secret: admin_secret.unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>())),
            extra_args,
            quiet: false,
            log_dir: None,
            database_template: None,
            children: (0..banks).map(|_| None).collect(),
            founding: banks,
            join_urls: vec![None; banks],
        })
    }

    /// Adds `spares` banks after the founding members, with their own ids, ports and keys but
    /// outside the member list every founding bank is given: each joins the running ring when
    /// started with `spawn_joining` (and an operator adds it). The total stays within BANKS_MAX.
    pub fn with_spares(mut self, spares: usize) -> Result<LocalRing, UpError> {
        let total = self.ids.len() + spares;
        if total > BANKS_MAX {
            return Err(UpError::BadCount(total));
        }
        let base_port = self.ports.first().copied().unwrap_or(0);
        if usize::from(base_port) + total > 65535 {
            return Err(UpError::BadPorts(base_port, usize::from(base_port) + total));
        }
        for index in self.ids.len()..total {
            let id = bank_id(index);
            let (path, key) = bank_key(&self.data_dir, &id)?;
            self.key_files.push(path);
            self.public_keys.push(key.public());
            self.ids.push(id);
            self.ports.push(base_port + u16::try_from(index).unwrap_or(0));
            self.children.push(None);
            self.join_urls.push(None);
        }
        Ok(self)
    }

    /// How many founding members (the rest are spares).
    pub fn founding(&self) -> usize {
        self.founding
    }

    /// Sends the children's output to /dev/null (for benchmarks).
    pub fn quiet(mut self) -> LocalRing {
        self.quiet = true;
        self
    }

    /// Gives each bank the database `template` names with `{bank}` replaced by its id (a
    /// PostgreSQL database or schema per bank) instead of a SQLite file in the data directory.
    pub fn databases(mut self, template: String) -> LocalRing {
        self.database_template = Some(template);
        self
    }

    /// Silences stdout and appends each bank's log (stderr) to DIR/bank-ID.log.
    pub fn logs_to(mut self, dir: PathBuf) -> LocalRing {
        self.quiet = true;
        self.log_dir = Some(dir);
        self
    }

    pub fn url(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[index])
    }

    /// The member list as every bank is given it: ID=URL=ed25519:HEX, comma-separated.
    pub fn peer_list(&self) -> String {
        let entries: Vec<String> = (0..self.founding).map(|i| format!("{}={}={}", self.ids[i], self.url(i), self.public_keys[i])).collect();
        entries.join(",")
    }

    /// Starts spare `index` with `serve --join join_url` (a member's URL); its restarts keep
    /// that URL (a bank that joined once reads the ring from its data directory instead).
    pub fn spawn_joining(&mut self, index: usize, join_url: &str) -> Result<(), UpError> {
        if index < self.founding {
            return Err(UpError::Spawn { id: self.ids[index].clone(), source: std::io::Error::other("a founding member does not join") });
        }
        self.join_urls[index] = Some(join_url.to_string());
        self.spawn(index)
    }

    pub fn spawn(&mut self, index: usize) -> Result<(), UpError> {
        let id = self.ids[index].clone();
        let mut command = Command::new(&self.exe);
        command
            .arg("serve")
            .args(["--id", &id])
            .args(["--listen", &format!("127.0.0.1:{}", self.ports[index])])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args);
        match &self.join_urls[index] {
            Some(url) => command.args(["--join", url]).env_remove("RINGBANK_PEERS"),
            None if index >= self.founding => {
                return Err(UpError::Spawn { id, source: std::io::Error::other("a spare starts with spawn_joining") })
            }
            None => command.env("RINGBANK_PEERS", self.peer_list()).env_remove("RINGBANK_JOIN"),
        };
        command
            .env("RINGBANK_KEY_FILE", &self.key_files[index])
            .env_remove("RINGBANK_SECRET_KEY")
            .env("RINGBANK_ADMIN_SECRET", &self.admin_secret)
            // Each bank needs its own database: one URL inherited by all would be shared.
            .env_remove("RINGBANK_DATABASE_URL")
            .kill_on_drop(true);
        if let Some(template) = &self.database_template {
            command.env("RINGBANK_DATABASE_URL", template.replace("{bank}", &id));
        }
        if self.quiet {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        if let Some(dir) = &self.log_dir {
            let path = dir.join(format!("bank-{id}.log"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| UpError::Spawn { id: id.clone(), source })?;
            command.stderr(Stdio::from(file));
        }
        let child = command.spawn().map_err(|source| UpError::Spawn { id, source })?;
        self.children[index] = Some(child);
        Ok(())
    }

    /// Runs `ringbank seed` for bank `index` before its first start (its database must be
    /// new); returns what the command printed.
    pub async fn seed(&self, index: usize, accounts: u64, entries: u64) -> Result<String, String> {
        let id = &self.ids[index];
        let mut command = Command::new(&self.exe);
        command
            .arg("seed")
            .args(["--id", id])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--accounts", &accounts.to_string(), "--entries", &entries.to_string()])
            .env_remove("RINGBANK_DATABASE_URL")
            .kill_on_drop(true);
        if let Some(template) = &self.database_template {
            command.env("RINGBANK_DATABASE_URL", template.replace("{bank}", id));
        }
        let output = command.output().await.map_err(|e| format!("cannot run ringbank seed for bank {id}: {e}"))?;
        if !output.status.success() {
            return Err(format!("ringbank seed for bank {id} failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    pub fn pid(&self, index: usize) -> Option<u32> {
        self.children[index].as_ref().and_then(Child::id)
    }

    /// kill -9 of one bank.
    pub async fn kill9(&mut self, index: usize) {
        if let Some(mut child) = self.children[index].take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM to every bank, then SIGKILL for those still running after a grace period.
    pub async fn stop_all(&mut self) {
        for child in self.children.iter().flatten() {
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
        for (id, slot) in self.ids.iter().zip(self.children.iter_mut()) {
            let Some(child) = slot.as_mut() else { continue };
            match tokio::time::timeout(STOP_GRACE, child.wait()).await {
                Ok(_) => {
                    if !self.quiet {
                        println!("bank {id} stopped");
                    }
                }
                Err(_) => {
                    let _ = child.kill().await;
                    println!("bank {id} killed after {} s", STOP_GRACE.as_secs());
                }
            }
            *slot = None;
        }
    }
}

/// The fixed UTC offset, in whole hours, at which it is about noon at `now`: the banks of a chaos
/// run or a benchmark run in it, so that what their load does does not depend on the hour of the
/// run (at night, 20:00-06:00 local, the Pix night limit refuses most transfers). A run of up to
/// 7 hours stays by day.
pub fn midday_zone(now: SystemTime) -> String {
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let utc_hour = i64::try_from((seconds / 3600) % 24).unwrap_or(0);
    let offset = (12 - utc_hour + 36).rem_euclid(24) - 12;
    format!("{}{:02}:00", if offset < 0 { '-' } else { '+' }, offset.abs())
}

/// The bank's `--time-zone` argument for `zone`, as one `--time-zone=ZONE` word: a zone west of
/// UTC starts with '-' ("-05:00"), and given as a separate word after `--time-zone` the bank's
/// argument parser takes it for an unknown flag and refuses to start (every benchmark between
/// 13:00 and 23:59 UTC failed so: "unexpected argument '-0' found").
pub fn zone_arg(zone: &str) -> String {
    format!("--time-zone={zone}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banks_run_where_it_is_about_noon() {
        for hour in 0..24u64 {
            let now = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + hour * 3600 + 1800);
            let zone = midday_zone(now);
            let parsed = ringbank_domain::display::LocalZone::parse(&zone).expect("a zone the banks accept");
            let offset_hours = i64::from(parsed.offset_at(0).minutes()) / 60;
            assert_eq!((hour as i64 + offset_hours).rem_euclid(24), 12, "{hour}:30 UTC in {zone}");
        }
    }

    /// The argument reaches the bank's parser whole at every hour, west of UTC too (the form
    /// `--time-zone -05:00` is refused as an unknown flag '-0').
    #[test]
    fn the_zone_argument_parses_at_every_hour() {
        let serve = || clap::Command::new("serve").arg(clap::Arg::new("time-zone").long("time-zone"));
        for hour in 0..24u64 {
            let now = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + hour * 3600 + 1800);
            let matches = serve().try_get_matches_from(["serve".to_string(), zone_arg(&midday_zone(now))]).expect("parses");
            assert_eq!(matches.get_one::<String>("time-zone"), Some(&midday_zone(now)), "{hour}:30 UTC");
        }
        // The old form fails west of UTC: this is what the test guards.
        let west = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 15 * 3600);
        assert!(serve().try_get_matches_from(["serve".to_string(), "--time-zone".into(), midday_zone(west)]).is_err());
    }
}
