//! Talking to other banks: the member list (with each member's public key), signed requests
//! over reqwest with explicit timeouts. The message types are in crate::protocol.
//!
//! The one place a bank's keys live at run time: its own secret key is in `PeerClient`
//! (`PeerClient::signing_key`), every member's public key in `Members` (`Members::public_key_of`).

pub mod auth;
pub mod join;

use std::sync::Arc;
use std::time::Duration;

use ringbank_domain::{PublicKey, SecretKey};
use ringbank_ring::NodeId;

use crate::clock::wall_clock_ms;
use crate::faults::Faults;

/// Timeout of one bank-to-bank request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// A member bank: its id, where it is reached, its key and its ring node id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub url: String,
    /// The key its requests, confirmations and decisions are checked against.
    pub public_key: PublicKey,
    /// Its ring node id: a founding member's index in the sorted founding list, an added
    /// member's the one its membership change gave it (never given twice).
    pub node: NodeId,
}

/// The member banks at one membership version: the founding ones (sorted by id, so every bank
/// derives the same order whatever order its flags were given in) and those added by changes,
/// less those removed. While a change is joint, a removed member is still listed (it still
/// counts in the old set's quorum). An immutable snapshot: `MemberRegistry::get` gives the
/// current one.
#[derive(Clone, Debug)]
pub struct Members {
    pub list: Vec<Member>,
    /// This bank's node id (also when it is not, or no longer, a member).
    pub me: NodeId,
    me_id: String,
    me_url: String,
    /// Every bank that ever was a member, by node id (removed ones kept, so that records of
    /// their transfers still name them).
    names: Arc<Vec<String>>,
    /// The membership version and whether its change is still joint.
    pub version: u64,
    pub joint: bool,
    /// Acknowledgements a quorum needs among `list` (the larger set's while a change is joint):
    /// what the directory's orderer and the participant's certificate check count.
    pub quorum: usize,
}

impl Members {
    /// A founding member list (version 0); None if `me` is not in it.
    pub fn new(mut list: Vec<Member>, me: &str) -> Option<Members> {
        list.sort_by(|a, b| a.id.cmp(&b.id));
        for (index, member) in list.iter_mut().enumerate() {
            member.node = NodeId::try_from(index).ok()?;
        }
        let myself = list.iter().find(|m| m.id == me)?;
        let (me_node, me_url) = (myself.node, myself.url.clone());
        let names = Arc::new(list.iter().map(|m| m.id.clone()).collect());
        let quorum = list.len() / 2 + 1;
        Some(Members { list, me: me_node, me_id: me.to_string(), me_url, names, version: 0, joint: false, quorum })
    }

    /// The name of the bank that has (or had) node id `node`.
    pub fn id_of(&self, node: NodeId) -> Option<&str> {
        self.names.get(usize::from(node)).map(String::as_str).filter(|name| !name.is_empty())
    }

    /// The node id of a current member.
    pub fn node_of(&self, id: &str) -> Option<NodeId> {
        self.list.iter().find(|m| m.id == id).map(|m| m.node)
    }

    pub fn url_of(&self, node: NodeId) -> Option<&str> {
        self.list.iter().find(|m| m.node == node).map(|m| m.url.as_str())
    }

    pub fn member(&self, node: NodeId) -> Option<&Member> {
        self.list.iter().find(|m| m.node == node)
    }

    /// The current members' ids.
    pub fn ids(&self) -> Vec<String> {
        self.list.iter().map(|m| m.id.clone()).collect()
    }

    /// Every bank that ever was a member, indexed by node id (see `names`).
    pub fn names(&self) -> Arc<Vec<String>> {
        self.names.clone()
    }

    /// The node id the next added bank gets: after every id ever given.
    pub fn next_node(&self) -> usize {
        self.names.len()
    }

    pub fn nodes(&self) -> Vec<NodeId> {
        self.list.iter().map(|m| m.node).collect()
    }

    pub fn my_id(&self) -> &str {
        &self.me_id
    }

    /// Where this bank is reached, as its membership names it.
    pub fn my_url(&self) -> &str {
        &self.me_url
    }

    /// True while this bank is in the member list.
    pub fn is_member(&self) -> bool {
        self.list.iter().any(|m| m.node == self.me)
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

/// Drains one peer's send queue (one task per peer, so a slow or dead peer delays no one else):
/// nothing goes to a peer partitioned by fault injection, at most `concurrency` requests are in
/// flight (past that a message is dropped: the protocols retransmit), and each request is the
/// future `send` makes of a message, run on its own task.
pub async fn drain_to_peer<M, F, Fut>(
    member: Member,
    mut receiver: tokio::sync::mpsc::Receiver<M>,
    faults: Arc<Faults>,
    concurrency: usize,
    shutdown: tokio_util::sync::CancellationToken,
    send: F,
) where
    M: Send + 'static,
    F: Fn(M) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            message = receiver.recv() => match message { Some(m) => m, None => return },
        };
        if faults.is_partitioned(&member.id) {
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
        let sending = send(message);
        tokio::spawn(async move {
            sending.await;
            drop(permit);
        });
    }
}

/// How a bank names itself in a membership change's label: `ID=URL`.
pub fn member_label(id: &str, url: &str) -> String {
    format!("{id}={url}")
}

/// A public key as the 32 bytes a membership change carries.
pub fn key_bytes(key: &PublicKey) -> [u8; 32] {
    let text = key.to_string();
    let digits = text.strip_prefix("ed25519:").unwrap_or(&text);
    let mut bytes = [0u8; 32];
    if hex::decode_to_slice(digits, &mut bytes).is_err() {
        bytes = [0; 32];
    }
    bytes
}

fn key_from_bytes(bytes: &[u8; 32]) -> Option<PublicKey> {
    PublicKey::parse(&format!("ed25519:{}", hex::encode(bytes))).ok()
}

/// The member list as it changes: the founding members (from the configuration) and the ring's
/// membership, which the ring driver hands over whenever it moves (`apply`). Readers take a
/// snapshot with `get`.
#[derive(Debug)]
pub struct MemberRegistry {
    founding: Vec<Member>,
    me: NodeId,
    me_id: String,
    /// Where this bank is reached while its own change has not named it yet (a joining bank).
    my_url: String,
    my_key: PublicKey,
    current: std::sync::RwLock<Arc<Members>>,
}

impl MemberRegistry {
    /// A registry whose current list is the founding one.
    pub fn founding(founding: Members) -> MemberRegistry {
        let me = founding.member(founding.me).cloned().expect("a founding member list has its own bank");
        MemberRegistry {
            founding: founding.list.clone(),
            me: me.node,
            me_id: me.id.clone(),
            my_url: me.url,
            my_key: me.public_key,
            current: std::sync::RwLock::new(Arc::new(founding)),
        }
    }

    /// A bank joining an existing ring as node `me`: the founding members and the membership it
    /// starts from (`apply` it next).
    pub fn joining(founding: Vec<Member>, me: NodeId, me_id: &str, my_url: &str, my_key: PublicKey) -> MemberRegistry {
        let names = Arc::new(founding.iter().map(|m| m.id.clone()).collect());
        let quorum = founding.len() / 2 + 1;
        let placeholder = Members {
            list: founding.clone(),
            me,
            me_id: me_id.to_string(),
            me_url: my_url.to_string(),
            names,
            version: 0,
            joint: false,
            quorum,
        };
        MemberRegistry {
            founding,
            me,
            me_id: me_id.to_string(),
            my_url: my_url.to_string(),
            my_key,
            current: std::sync::RwLock::new(Arc::new(placeholder)),
        }
    }

    /// The current member list.
    pub fn get(&self) -> Arc<Members> {
        self.current.read().expect("the member list lock is never poisoned").clone()
    }

    pub fn founding_members(&self) -> &[Member] {
        &self.founding
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    pub fn my_id(&self) -> &str {
        &self.me_id
    }

    /// This bank's own entry: its URL and key as its change named them, or as configured.
    pub fn myself(&self) -> Member {
        Member { id: self.me_id.clone(), url: self.my_url.clone(), public_key: self.my_key, node: self.me }
    }

    /// The list a ring membership implies; true if it differs from the current one.
    pub fn apply(&self, membership: &ringbank_ring::Membership) -> bool {
        let next = self.members_of(membership);
        let mut current = self.current.write().expect("the member list lock is never poisoned");
        let changed = current.version != next.version || current.joint != next.joint || current.list != next.list;
        if changed {
            *current = Arc::new(next);
        }
        changed
    }

    fn members_of(&self, membership: &ringbank_ring::Membership) -> Members {
        let mut names: Vec<String> = self.founding.iter().map(|m| m.id.clone()).collect();
        let mut added = Vec::new();
        for (node, label) in &membership.labels {
            let Ok(peer) = ringbank_tools::args::parse_peer(label) else { continue };
            let index = usize::from(*node);
            if names.len() <= index {
                names.resize(index + 1, String::new());
            }
            names[index] = peer.id.clone();
            added.push((*node, peer));
        }
        let mut list = Vec::new();
        for node in membership.union() {
            let member = if let Some(founding) = self.founding.iter().find(|m| m.node == node) {
                Some(founding.clone())
            } else if let Some((_, peer)) = added.iter().rev().find(|(id, _)| *id == node) {
                let key = membership.key_of(node).and_then(key_from_bytes);
                key.map(|public_key| Member { id: peer.id.clone(), url: peer.url.clone(), public_key, node })
            } else if node == self.me {
                Some(self.myself())
            } else {
                None
            };
            list.extend(member);
        }
        list.sort_by_key(|m| m.node);
        let list_len = membership.union().len();
        let me_url = list.iter().find(|m| m.node == self.me).map_or_else(|| self.my_url.clone(), |m| m.url.clone());
        Members {
            list,
            me: self.me,
            me_id: self.me_id.clone(),
            me_url,
            names: Arc::new(names),
            version: membership.version,
            joint: membership.is_joint(),
            // Counted among `list` (both sets while joint): the larger set's quorum.
            quorum: membership.quorum_of(list_len),
        }
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

    fn founding() -> Members {
        let member = |id: &str, seed: u8| Member {
            id: id.into(),
            url: format!("http://{id}.example"),
            public_key: SecretKey::from_seed([seed; 32]).public(),
            node: 0,
        };
        Members::new(vec![member("C", 3), member("A", 1), member("B", 2)], "B").expect("B is a member")
    }

    fn signed(version: u64, change: ringbank_ring::MembershipChange) -> ringbank_ring::SignedChange {
        ringbank_ring::SignedChange {
            version,
            change,
            proposer: 0,
            signature: ringbank_domain::Signature::from_bytes([0; 64]),
            approvals: Vec::new(),
        }
    }

    /// The member list follows the ring's membership: an added bank (its id and URL from the
    /// change's label, its key from the membership) while joint and once committed; a removed one
    /// is still listed while the change is joint, then gone, its id kept so that no later bank gets
    /// its node id and old records still name it.
    #[test]
    fn the_member_list_follows_the_rings_membership() {
        let registry = MemberRegistry::founding(founding());
        let now = registry.get();
        assert_eq!((now.ids(), now.me, now.my_id(), now.next_node()), (vec!["A".into(), "B".into(), "C".into()], 1, "B", 3));
        let mut config = ringbank_ring::Config::with_defaults(1, vec![0, 1, 2]);
        config.quorum = 0;
        let v0 = ringbank_ring::Membership::configured(&config);
        assert!(!registry.apply(&v0), "the founding membership changes nothing");
        let d_key = SecretKey::from_seed([4; 32]).public();
        let add =
            ringbank_ring::MembershipChange::Add { id: 3, public_key: key_bytes(&d_key), label: member_label("D", "http://d.example") };
        let joint = v0.apply(signed(1, add));
        assert!(registry.apply(&joint));
        let now = registry.get();
        assert_eq!((now.version, now.joint, now.ids(), now.quorum), (1, true, vec!["A".into(), "B".into(), "C".into(), "D".into()], 3));
        assert_eq!((now.url_of(3), now.public_key_of("D"), now.node_of("D")), (Some("http://d.example"), Some(d_key), Some(3)));
        assert!(registry.apply(&joint.committed()));
        assert!(!registry.get().joint);
        let removed = joint.committed().apply(signed(2, ringbank_ring::MembershipChange::Remove { id: 3 }));
        registry.apply(&removed);
        assert_eq!(registry.get().node_of("D"), Some(3), "still counted while the removal is joint");
        registry.apply(&removed.committed());
        let now = registry.get();
        assert_eq!((now.ids(), now.node_of("D"), now.public_key_of("D")), (vec!["A".into(), "B".into(), "C".into()], None, None));
        assert_eq!((now.id_of(3), now.next_node(), now.names().len()), (Some("D"), 4, 4));
        // A bank joining as node 4 lists itself only once its own change names it.
        let joining = MemberRegistry::joining(registry.founding_members().to_vec(), 4, "E", "http://e.example", d_key);
        joining.apply(&removed.committed());
        assert!(!joining.get().is_member());
        assert_eq!((joining.get().my_url(), joining.get().my_id()), ("http://e.example", "E"));
    }

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
