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
/// reason) unless it is settled (not joint), well formed and signed (`keys`), and lists this
/// bank (node `me`); and unless a quorum of `current`'s other members, asked at the URLs this
/// bank itself knows (`founding`: its --peer list or the document it joined with; labels of
/// `current`), report exactly the same membership, as do a quorum of the new set's other members.
/// The first member's document names no URL that counts: a dishonest member cannot vouch for a
/// membership of its making through servers of its own.
pub async fn catch_up(
    url: &str,
    me: NodeId,
    current: &Membership,
    founding: &[Member],
    keys: &ringbank_ring::Keys,
) -> Result<Option<Membership>, String> {
    let newer = fetch(url).await?.membership;
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
    let label_url = |membership: &Membership, node: NodeId| {
        membership.label_of(node).and_then(|label| label.split_once('=').map(|(_, url)| url.to_string()))
    };
    let known_url = |node: NodeId| label_url(current, node).or_else(|| founding.iter().find(|m| m.node == node).map(|m| m.url.clone()));
    // What each member says, asked once per URL.
    let mut answers: std::collections::HashMap<String, Result<Membership, String>> = std::collections::HashMap::new();
    // Each set's other members with the URL they are asked at.
    let others = |set: &[NodeId], url_of: &dyn Fn(NodeId) -> Option<String>| -> Vec<(NodeId, Option<String>)> {
        set.iter().filter(|&&node| node != me).map(|&node| (node, url_of(node))).collect()
    };
    let old_set = others(&current.members, &known_url);
    let new_set = others(&newer.members, &|node| known_url(node).or_else(|| label_url(&newer, node)));
    for (_, member_url) in old_set.iter().chain(&new_set) {
        if let Some(member_url) = member_url {
            if !answers.contains_key(member_url) {
                let answer = fetch(member_url).await.map(|document| document.membership);
                answers.insert(member_url.clone(), answer);
            }
        }
    }
    let agreeing = |set: &[(NodeId, Option<String>)]| {
        set.iter()
            .filter(|(_, member_url)| member_url.as_ref().and_then(|u| answers.get(u)).is_some_and(|a| a.as_ref() == Ok(&newer)))
            .count()
    };
    let disagreeing = |set: &[(NodeId, Option<String>)]| -> Vec<String> {
        set.iter()
            .filter_map(|(node, member_url)| match member_url.as_ref().map(|u| (u, answers.get(u))) {
                None => Some(format!("node {node}: no URL known here")),
                Some((u, Some(Ok(theirs)))) if *theirs != newer => Some(format!("{u}: version {}", theirs.version)),
                Some((_, Some(Err(error)))) => Some(error.clone()),
                _ => None,
            })
            .collect()
    };
    for (name, set, quorum) in [
        ("the members this bank knew", &old_set, current.quorum_of(current.members.len())),
        ("the members of the new set", &new_set, newer.quorum()),
    ] {
        if agreeing(set) < quorum {
            return Err(format!(
                "only {} of {name} confirm membership version {} (a quorum is {quorum}): {}",
                agreeing(set),
                newer.version,
                disagreeing(set).join("; ")
            ));
        }
    }
    Ok(Some(newer))
}
