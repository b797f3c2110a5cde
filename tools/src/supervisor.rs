//! Supervision of a LocalRing's bank processes (`ringbank up` and `ringbank chaos`): a bank
//! that exits on its own (a crash, an armed crash point, kill -9 from outside) is restarted
//! after `restart_after` (0 = never), and can be restarted on request. `up` exposes the
//! request as a small control endpoint on its own port, since a dead bank cannot answer:
//! POST /control/v1/restart {bank: ID or URL} and GET /control/v1/banks, both with the admin
//! secret as a Bearer token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use warp::Filter;

use crate::local_ring::{LocalRing, UpError};

const WATCH_INTERVAL: Duration = Duration::from_millis(100);

pub struct Supervisor {
    ring: Mutex<LocalRing>,
    restart_after: Duration,
    /// When each bank was seen dead (None: running or never started).
    dead_since: std::sync::Mutex<Vec<Option<Instant>>>,
    restarts: std::sync::Mutex<Vec<u64>>,
    /// Banks started and not retired: only these are restarted.
    active: std::sync::Mutex<Vec<bool>>,
    /// Every bank's id and URL: the founding members first, then the spares.
    pub ids: Vec<String>,
    pub urls: Vec<String>,
    /// Banks 0..founding are founding members; the rest are spares that join when asked.
    pub founding: usize,
    /// The public key of every bank (ed25519:HEX), as an operator gives it when adding one.
    pub public_keys: Vec<String>,
    pub admin_secret: String,
    /// The member list with every bank's public key (ID=URL=ed25519:HEX, comma-separated).
    pub peer_list: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BankState {
    pub id: String,
    pub url: String,
    pub running: bool,
    pub restarts: u64,
}

impl Supervisor {
    pub fn new(ring: LocalRing, restart_after: Duration) -> Arc<Supervisor> {
        let count = ring.ids.len();
        Arc::new(Supervisor {
            ids: ring.ids.clone(),
            urls: (0..count).map(|i| ring.url(i)).collect(),
            admin_secret: ring.admin_secret.clone(),
            peer_list: ring.peer_list(),
            founding: ring.founding(),
            public_keys: ring.public_keys.iter().map(ToString::to_string).collect(),
            ring: Mutex::new(ring),
            restart_after,
            dead_since: std::sync::Mutex::new(vec![None; count]),
            restarts: std::sync::Mutex::new(vec![0; count]),
            active: std::sync::Mutex::new(vec![false; count]),
        })
    }

    /// Starts every founding member.
    pub async fn start_all(&self) -> Result<(), UpError> {
        let mut ring = self.ring.lock().await;
        for index in 0..self.founding {
            ring.spawn(index)?;
            self.active.lock().expect("lock")[index] = true;
        }
        Ok(())
    }

    /// Starts spare `index` with `serve --join join_url`; supervised like the others from then on.
    pub async fn start_joining(&self, index: usize, join_url: &str) -> Result<(), UpError> {
        let mut ring = self.ring.lock().await;
        ring.spawn_joining(index, join_url)?;
        self.dead_since.lock().expect("lock")[index] = None;
        self.active.lock().expect("lock")[index] = true;
        Ok(())
    }

    /// Stops bank `index` for good (kill -9, never restarted): a bank removed from the ring.
    pub async fn retire(&self, index: usize) {
        let mut ring = self.ring.lock().await;
        ring.kill9(index).await;
        self.dead_since.lock().expect("lock")[index] = None;
        self.active.lock().expect("lock")[index] = false;
    }

    /// Whether bank `index` was started and not retired.
    pub fn active(&self, index: usize) -> bool {
        self.active.lock().expect("lock").get(index).copied().unwrap_or(false)
    }

    /// Watches the children until `shutdown`; restarts dead ones after `restart_after`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(WATCH_INTERVAL) => {}
            }
            let mut ring = self.ring.lock().await;
            for index in 0..self.ids.len() {
                let exited = match ring.children[index].as_mut() {
                    Some(child) => child.try_wait().ok().flatten(),
                    None => None,
                };
                if let Some(status) = exited {
                    ring.children[index] = None;
                    tracing::warn!(bank = %self.ids[index], %status, "bank exited");
                    self.dead_since.lock().expect("lock")[index] = Some(Instant::now());
                }
                let since = self.dead_since.lock().expect("lock")[index];
                let due = since.is_some_and(|at| !self.restart_after.is_zero() && at.elapsed() >= self.restart_after) && self.active(index);
                if due && ring.children[index].is_none() {
                    self.spawn_locked(&mut ring, index);
                }
            }
        }
    }

    fn spawn_locked(&self, ring: &mut LocalRing, index: usize) {
        match ring.spawn(index) {
            Ok(()) => {
                tracing::warn!(bank = %self.ids[index], "bank restarted");
                self.dead_since.lock().expect("lock")[index] = None;
                self.restarts.lock().expect("lock")[index] += 1;
            }
            Err(error) => tracing::error!(%error, "restart failed"),
        }
    }

    /// Restarts a bank now (kill -9 first if it still runs). `bank` is an id or a URL.
    pub async fn restart(&self, bank: &str) -> Result<(), String> {
        let bank = bank.trim_end_matches('/');
        let index =
            (0..self.ids.len()).find(|&i| self.ids[i] == bank || self.urls[i] == bank).ok_or_else(|| format!("no bank {bank:?} here"))?;
        if !self.active(index) {
            return Err(format!("bank {bank} is not in service here (a spare never started, or one removed from the ring)"));
        }
        let mut ring = self.ring.lock().await;
        ring.kill9(index).await;
        self.spawn_locked(&mut ring, index);
        Ok(())
    }

    pub async fn running(&self, index: usize) -> bool {
        let mut ring = self.ring.lock().await;
        ring.children[index].as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub async fn banks(&self) -> Vec<BankState> {
        let restarts = self.restarts.lock().expect("lock").clone();
        let mut out = Vec::new();
        for index in 0..self.ids.len() {
            out.push(BankState {
                id: self.ids[index].clone(),
                url: self.urls[index].clone(),
                running: self.running(index).await,
                restarts: restarts[index],
            });
        }
        out
    }

    pub fn restarts_total(&self) -> u64 {
        self.restarts.lock().expect("lock").iter().sum()
    }

    pub async fn stop_all(&self) {
        self.ring.lock().await.stop_all().await;
    }

    /// Serves the control endpoint until `shutdown`; returns the bound address.
    pub async fn serve_control(self: Arc<Self>, address: SocketAddr, shutdown: CancellationToken) -> Result<SocketAddr, std::io::Error> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        let auth = {
            let secret = self.admin_secret.clone();
            warp::header::optional::<String>("authorization").and_then(move |value: Option<String>| {
                let ok = value
                    .as_deref()
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .is_some_and(|v| bool::from(v.as_bytes().ct_eq(secret.as_bytes())));
                async move {
                    if ok {
                        Ok(())
                    } else {
                        Err(warp::reject::custom(Unauthorized))
                    }
                }
            })
        };
        let me = self.clone();
        let restart = warp::path!("control" / "v1" / "restart")
            .and(warp::post())
            .and(auth.clone())
            .and(warp::body::content_length_limit(4096))
            .and(warp::body::json())
            .then(move |(), body: serde_json::Value| {
                let me = me.clone();
                async move {
                    let bank = body["bank"].as_str().unwrap_or("").to_string();
                    match me.restart(&bank).await {
                        Ok(()) => {
                            warp::reply::with_status(warp::reply::json(&serde_json::json!({"restarted": bank})), warp::http::StatusCode::OK)
                        }
                        Err(error) => warp::reply::with_status(
                            warp::reply::json(&serde_json::json!({"detail": error})),
                            warp::http::StatusCode::NOT_FOUND,
                        ),
                    }
                }
            });
        let me = self.clone();
        let banks = warp::path!("control" / "v1" / "banks").and(warp::get()).and(auth).then(move |()| {
            let me = me.clone();
            async move { warp::reply::json(&me.banks().await) }
        });
        let routes = restart.map(warp::Reply::into_response).or(banks.map(warp::Reply::into_response)).unify().recover(
            |rejection: warp::Rejection| async move {
                let status = if rejection.find::<Unauthorized>().is_some() {
                    warp::http::StatusCode::FORBIDDEN
                } else {
                    warp::http::StatusCode::NOT_FOUND
                };
                Ok::<_, std::convert::Infallible>(warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({"status": status.as_u16()})),
                    status,
                ))
            },
        );
        tokio::spawn(warp::serve(routes).incoming(listener).graceful(shutdown.cancelled_owned()).run());
        Ok(bound)
    }
}

#[derive(Debug)]
struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}
