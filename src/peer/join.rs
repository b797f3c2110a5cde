//! A bank joining a running ring: what it learns from a member before the operator's change
//! adds it (`GET /ring/v1/membership`: the founding members and the membership now), kept in
//! `<data-dir>/join-<id>.json` so that a restart starts from the same place without asking again.

use std::path::{Path, PathBuf};

use ringbank_domain::PublicKey;
use ringbank_ring::{Membership, NodeId};
use serde::{Deserialize, Serialize};

use super::{Member, MemberRegistry};

/// What a member tells a bank about to join (`GET /ring/v1/membership`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinDocument {
    /// The founding members, in node order.
    pub founding: Vec<MemberEntry>,
    /// The membership the member works with now.
    pub membership: Membership,
    /// The node id the next bank added gets.
    pub next_node: u16,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    pub id: String,
    pub url: String,
    pub public_key: String,
}

impl JoinDocument {
    pub fn of(registry: &MemberRegistry, membership: &Membership) -> JoinDocument {
        let founding = registry
            .founding_members()
            .iter()
            .map(|m| MemberEntry { id: m.id.clone(), url: m.url.clone(), public_key: m.public_key.to_string() })
            .collect();
        let next_node = u16::try_from(registry.get().next_node()).unwrap_or(u16::MAX);
        JoinDocument { founding, membership: membership.clone(), next_node }
    }

    /// The founding members with their node ids; an error names what is wrong.
    pub fn founding_members(&self) -> Result<Vec<Member>, String> {
        let mut members = Vec::with_capacity(self.founding.len());
        for (index, entry) in self.founding.iter().enumerate() {
            let public_key = PublicKey::parse(&entry.public_key).map_err(|e| format!("member {}'s public key: {e}", entry.id))?;
            let node = NodeId::try_from(index).map_err(|_| "too many founding members".to_string())?;
            members.push(Member { id: entry.id.clone(), url: entry.url.clone(), public_key, node });
        }
        if members.is_empty() {
            return Err("the member named no founding member".into());
        }
        Ok(members)
    }

    /// Checks that a bank `me` may join from this document: not a member or former member by
    /// that name, and no change half done.
    pub fn check_joinable(&self, me: &str) -> Result<(), String> {
        if self.founding.iter().any(|m| m.id == me) {
            return Err(format!("{me} is a founding member: start it with --peer, not --join"));
        }
        let membership = &self.membership;
        if membership.is_joint() {
            return Err(format!("membership version {} is still being changed; try again in a moment", membership.version));
        }
        if membership.labels.iter().any(|(_, label)| label.split_once('=').is_some_and(|(id, _)| id == me)) {
            return Err(format!("a bank named {me} was already added to this ring once; a bank id is never reused"));
        }
        if membership.members.len() != membership.union().len() || membership.members.is_empty() {
            return Err("the membership document is not well formed".into());
        }
        Ok(())
    }
}

/// Where a joining bank keeps the document it joined with.
pub fn document_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join(format!("join-{id}.json"))
}

/// The document kept from an earlier start, if any.
pub fn load(data_dir: &Path, id: &str) -> Result<Option<JoinDocument>, String> {
    let path = document_path(data_dir, id);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{}: {e}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("{}: {error}", path.display())),
    }
}

/// Keeps the document durably (written aside, synced, renamed over).
pub fn store(data_dir: &Path, id: &str, document: &JoinDocument) -> Result<(), String> {
    use std::io::Write;
    let path = document_path(data_dir, id);
    let aside = path.with_extension("json.new");
    let bytes = serde_json::to_vec_pretty(document).map_err(|e| e.to_string())?;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&aside)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&aside, &path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

/// Asks a member for the document (public, unsigned: the operator names the member it trusts).
pub async fn fetch(url: &str) -> Result<JoinDocument, String> {
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).no_proxy().build().map_err(|e| e.to_string())?;
    let url = format!("{}/ring/v1/membership", url.trim_end_matches('/'));
    let response = client.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url} answered {status}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)])));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not a membership document: {e}"))
}

/// `serve --catch-up URL` for a member that was down through two or more membership changes:
/// the membership now in force, read from the member at `url`, when it is newer than `current`
/// (what this bank would start with); None when this bank is already current. Refused (with the
/// reason) unless it is settled (not joint), well formed and signed (`keys`), lists this bank
/// (node `me`), and a quorum of its members other than this one report exactly the same
/// membership: one member alone cannot move a restarted bank onto a membership of its making.
pub async fn catch_up(url: &str, me: NodeId, current: &Membership, keys: &ringbank_ring::Keys) -> Result<Option<Membership>, String> {
    let document = fetch(url).await?;
    let newer = document.membership.clone();
    if newer.is_joint() {
        return Err(format!("membership version {} is still being changed; try again in a moment", newer.version));
    }
    if !newer.is_member(me) {
        return Err(format!("this bank (node {me}) is not a member of membership version {}: removed while it was down?", newer.version));
    }
    if newer.version <= current.version {
        return Ok(None);
    }
    if !newer.is_well_formed(keys) {
        return Err(format!("membership version {} from {url} is not well formed or not signed by a member", newer.version));
    }
    // Every other member's URL: the founding ones from the document, the added ones from labels.
    let founding = document.founding_members()?;
    let url_of = |node: NodeId| {
        newer
            .label_of(node)
            .and_then(|label| label.split_once('=').map(|(_, url)| url.to_string()))
            .or_else(|| founding.iter().find(|m| m.node == node).map(|m| m.url.clone()))
    };
    let mut agreeing = Vec::new();
    let mut other = Vec::new();
    for &node in newer.members.iter().filter(|&&node| node != me) {
        let Some(member_url) = url_of(node) else {
            other.push(format!("node {node}: no URL known"));
            continue;
        };
        match fetch(&member_url).await {
            Ok(theirs) if theirs.membership == newer => agreeing.push(member_url),
            Ok(theirs) => other.push(format!("{member_url}: version {}", theirs.membership.version)),
            Err(error) => other.push(error),
        }
    }
    let quorum = newer.quorum();
    if agreeing.len() < quorum {
        return Err(format!(
            "only {} of the members confirm membership version {} (a quorum is {quorum}): {}",
            agreeing.len(),
            newer.version,
            other.join("; ")
        ));
    }
    Ok(Some(newer))
}
