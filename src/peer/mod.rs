//! Talking to other banks: the member list (with each member's public key), signed requests
//! over reqwest with explicit timeouts. The message types are in crate::protocol.
//!
//! The one place a bank's keys live at run time: its own secret key is in `PeerClient`
//! (`PeerClient::signing_key`), every member's public key in `Members` (`Members::public_key_of`).

pub mod auth;

use std::sync::Arc;
use std::time::Duration;

use ringbank_domain::{PublicKey, SecretKey};
use ringbank_ring::NodeId;

use crate::clock::wall_clock_ms;
use crate::faults::Faults;

/// Timeout of one bank-to-bank request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// A configured member bank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub url: String,
    /// The key its requests, confirmations and decisions are checked against.
    pub public_key: PublicKey,
}

/// The configured banks in their fixed order (sorted by id, so every bank derives the same
/// order whatever order its flags were given in). A bank's NodeId is its index here.
#[derive(Clone, Debug)]
pub struct Members {
    pub list: Vec<Member>,
    pub me: NodeId,
}

impl Members {
    pub fn new(mut list: Vec<Member>, me: &str) -> Option<Members> {
        list.sort_by(|a, b| a.id.cmp(&b.id));
        let me = list.iter().position(|m| m.id == me)?;
        Some(Members { list, me: NodeId::try_from(me).ok()? })
    }

    pub fn id_of(&self, node: NodeId) -> Option<&str> {
        self.list.get(usize::from(node)).map(|m| m.id.as_str())
    }

    pub fn node_of(&self, id: &str) -> Option<NodeId> {
        self.list.iter().position(|m| m.id == id).and_then(|i| NodeId::try_from(i).ok())
    }

    pub fn url_of(&self, node: NodeId) -> Option<&str> {
        self.list.get(usize::from(node)).map(|m| m.url.as_str())
    }

    pub fn ids(&self) -> Vec<String> {
        self.list.iter().map(|m| m.id.clone()).collect()
    }

    pub fn my_id(&self) -> &str {
        &self.list[usize::from(self.me)].id
    }

    /// The member's public key, by bank id; None for a bank that is not a member.
    pub fn public_key_of(&self, id: &str) -> Option<PublicKey> {
        self.list.iter().find(|m| m.id == id).map(|m| m.public_key)
    }

    /// Every member's id and public key.
    pub fn public_keys(&self) -> Vec<(String, PublicKey)> {
        self.list.iter().map(|m| (m.id.clone(), m.public_key)).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the peer answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the peer's answer is not understood: {0}")]
    Decode(String),
    #[error("dropped by fault injection (loss)")]
    Dropped,
}

impl PeerError {
    /// The peer's host refused the connection (nothing listens on its port: its process is not
    /// running). Not a timeout, a reset of an open connection or an answer: those say nothing
    /// about whether the peer is alive.
    pub fn connection_refused(&self) -> bool {
        let PeerError::Transport(error) = self else { return false };
        if !error.is_connect() {
            return false;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = source {
            if current.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
                return true;
            }
            source = current.source();
        }
        false
    }
}

/// A client that signs every request with this bank's own secret key.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    key: Arc<SecretKey>,
    me: String,
    /// Delay, loss and duplication injected into every outgoing request (chaos testing).
    faults: Option<Arc<Faults>>,
}

impl PeerClient {
    pub fn new(me: &str, key: SecretKey) -> PeerClient {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            // Straight to the member's URL: no proxy from the environment (a dead proxy's refusal
            // would be taken for the peer's: `connection_refused`), and no redirect (a member
            // must not bounce our signed messages to a third bank).
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client builds");
        PeerClient { http, key: Arc::new(key), me: me.to_string(), faults: None }
    }

    /// This bank's secret key: what it signs requests, ring confirmations and decisions with.
    pub fn signing_key(&self) -> &SecretKey {
        &self.key
    }

    /// The same client, subject to this bank's injected network faults.
    pub fn with_faults(mut self, faults: Arc<Faults>) -> PeerClient {
        self.faults = Some(faults);
        self
    }

    /// POSTs a signed JSON request and decodes a JSON answer (any non-2xx is an error).
    pub async fn call<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
        &self,
        base_url: &str,
        path: &str,
        request: &Q,
    ) -> Result<A, PeerError> {
        let body = serde_json::to_vec(request).map_err(|e| PeerError::Decode(e.to_string()))?;
        let response = self.send(base_url, path, body).await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_string();
            return Err(PeerError::Refused { status: status.as_u16(), body });
        }
        serde_json::from_slice(&bytes).map_err(|e| PeerError::Decode(e.to_string()))
    }

    /// GETs a member's public JSON document (unsigned: what anyone may read there, such as a
    /// Pix charge's status); any non-2xx is an error. Callers build `url` from the member
    /// list only, never from input.
    pub async fn get_public<A: serde::de::DeserializeOwned>(&self, url: &str) -> Result<A, PeerError> {
        let response = self.http.get(url).send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_string();
            return Err(PeerError::Refused { status: status.as_u16(), body });
        }
        serde_json::from_slice(&bytes).map_err(|e| PeerError::Decode(e.to_string()))
    }

    /// POSTs a signed JSON body to `base_url` + `path`; returns the status code.
    pub async fn post(&self, base_url: &str, path: &str, body: Vec<u8>) -> Result<reqwest::StatusCode, PeerError> {
        Ok(self.send(base_url, path, body).await?.status())
    }

    /// Sends once, after applying injected faults: a delay, a loss (the request is never
    /// sent), or a duplicate (a second, separately signed copy is sent alongside).
    async fn send(&self, base_url: &str, path: &str, body: Vec<u8>) -> Result<reqwest::Response, PeerError> {
        if let Some(faults) = &self.faults {
            let plan = faults.outgoing();
            if !plan.delay.is_zero() {
                tokio::time::sleep(plan.delay).await;
            }
            if plan.drop {
                return Err(PeerError::Dropped);
            }
            if plan.duplicate {
                let (copy, base_url, path, body) = (self.clone(), base_url.to_string(), path.to_string(), body.clone());
                tokio::spawn(async move {
                    let _ = copy.send_signed(&base_url, &path, body).await;
                });
            }
        }
        Ok(self.send_signed(base_url, path, body).await?)
    }

    async fn send_signed(&self, base_url: &str, path: &str, body: Vec<u8>) -> Result<reqwest::Response, reqwest::Error> {
        let signed = auth::sign(&self.key, "POST", path, &body, &self.me, wall_clock_ms());
        self.http
            .post(format!("{base_url}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(auth::HEADER_BANK, &signed.bank)
            .header(auth::HEADER_TIMESTAMP, signed.timestamp_ms.to_string())
            .header(auth::HEADER_NONCE, &signed.nonce)
            .header(auth::HEADER_SIGNATURE, &signed.signature)
            .body(body)
            .send()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a refused connection counts as "the peer's process is gone": a peer that accepts
    /// and never answers (paused, overloaded) is a timeout, and an answer is an answer.
    #[tokio::test]
    async fn only_a_refused_connection_is_reported_as_refused() {
        let client = PeerClient::new("A", SecretKey::from_seed([3; 32]));
        // A port that was just free: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let error = client.post(&format!("http://{closed}"), "/ring/v1/probe", b"{}".to_vec()).await.unwrap_err();
        assert!(error.connection_refused(), "{error}");
        // A listener that never answers: the connection is accepted by the kernel, then times out.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let error = client.post(&format!("http://{}", silent.local_addr().unwrap()), "/ring/v1/probe", b"{}".to_vec()).await.unwrap_err();
        assert!(!error.connection_refused(), "{error}");
        assert!(!PeerError::Dropped.connection_refused());
        assert!(!PeerError::Refused { status: 503, body: String::new() }.connection_refused());
    }
}
