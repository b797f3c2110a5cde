//! The versioned member set: which members count in a quorum, how one member is added or removed
//! (a signed change, one at a time, joint quorums until it is committed), and which newer sets a
//! node may adopt from a message. Pure data and checks: the node decides when (ring/README.md,
//! "Membership change").

use std::fmt;

use ringbank_domain::keys::Signature;

use crate::config::{Config, MAX_MEMBERS};
use crate::quorum::Keys;
use crate::NodeId;

/// A member's public key as 32 opaque bytes (an Ed25519 point for the bank, a stand-in in the
/// simulators); checked through `Keyring::verify_with_key`.
pub type PublicKeyBytes = [u8; 32];

/// Prefix of every signed membership change, so that no other signed message can pass for one.
pub const CHANGE_CONTEXT: &[u8] = b"ringbank/ring/membership/v1\0";

/// Prefix of every member's approval of a change, apart from the proposer's signature.
pub const APPROVAL_CONTEXT: &[u8] = b"ringbank/ring/membership-approval/v1\0";

/// Longest label an added member may carry (bytes).
pub const LABEL_MAX: usize = 256;

/// One member more or one member fewer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MembershipChange {
    /// A new member, with the public key its confirmations will be checked against.
    Add {
        id: NodeId,
        public_key: PublicKeyBytes,
        /// What the embedding application needs to reach the member (the bank: `ID=URL`),
        /// signed with the change and kept in `Membership::labels`; empty in the simulators.
        #[cfg_attr(feature = "serde", serde(default))]
        label: String,
    },
    Remove {
        id: NodeId,
    },
}

impl MembershipChange {
    pub fn id(&self) -> NodeId {
        match self {
            MembershipChange::Add { id, .. } | MembershipChange::Remove { id } => *id,
        }
    }
}

/// A change as the holder that ordered it signed it: `version` is the version it creates.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SignedChange {
    pub version: u64,
    pub change: MembershipChange,
    pub proposer: NodeId,
    pub signature: Signature,
    /// Members of the set before the change that approved it (`approval_bytes`), besides the
    /// proposer (whose signature is its approval): with the proposer, a quorum of that set
    /// (`Membership::approvals_needed`), so no member alone changes who the members are.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub approvals: Vec<Approval>,
}

/// A member's signature over `approval_bytes(version, change)`: its operator approves the change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Approval {
    pub by: NodeId,
    pub signature: Signature,
}

/// The bytes a member signs to approve the change creating `version` (whoever proposes it).
pub fn approval_bytes(version: u64, change: &MembershipChange) -> Vec<u8> {
    let mut bytes = APPROVAL_CONTEXT.to_vec();
    // The change's own encoding, with no proposer (0): any member may then order it.
    bytes.extend_from_slice(&change_bytes(version, change, 0)[CHANGE_CONTEXT.len()..]);
    bytes
}

/// The bytes a proposer signs for a change creating `version`.
pub fn change_bytes(version: u64, change: &MembershipChange, proposer: NodeId) -> Vec<u8> {
    let mut bytes = CHANGE_CONTEXT.to_vec();
    bytes.extend_from_slice(&version.to_be_bytes());
    bytes.extend_from_slice(&proposer.to_be_bytes());
    match change {
        MembershipChange::Add { id, public_key, label } => {
            bytes.push(1);
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(public_key);
            // Last, and only when there is one: an unlabelled change signs the bytes it did
            // before labels existed.
            if !label.is_empty() {
                bytes.extend_from_slice(&(label.len() as u16).to_be_bytes());
                bytes.extend_from_slice(label.as_bytes());
            }
        }
        MembershipChange::Remove { id } => {
            bytes.push(2);
            bytes.extend_from_slice(&id.to_be_bytes());
        }
    }
    bytes
}

/// The member set at one version. While the change that made `version` is not known to be
/// committed, `previous` holds the set before it and every quorum counts in both sets (joint).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Membership {
    pub version: u64,
    /// In ring order: the founding order, an added member last.
    pub members: Vec<NodeId>,
    /// The set before the change, while the change is not known committed (joint quorums).
    #[cfg_attr(feature = "serde", serde(default))]
    pub previous: Option<Vec<NodeId>>,
    /// Public keys of members added by changes (the founding members' keys come from the
    /// `Keyring`). A key here wins over the keyring's.
    #[cfg_attr(feature = "serde", serde(default))]
    pub keys: Vec<(NodeId, PublicKeyBytes)>,
    /// The signed change that made `version` (None for the version a node was configured with).
    #[cfg_attr(feature = "serde", serde(default))]
    pub change: Option<SignedChange>,
    /// The label of every member ever added, in the order of the changes that added them, kept
    /// after a removal (so an id is never given twice by an application that numbers new
    /// members after the founding ones and these). Empty labels are not kept.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub labels: Vec<(NodeId, String)>,
    /// Dishonest members every quorum must survive (`f`): a set of `n` counts a quorum of
    /// `min(n, (n + f) / 2 + 1)`. Derived once from the founding `Config::quorum` and carried
    /// unchanged by every change.
    #[cfg_attr(feature = "serde", serde(default))]
    pub dishonest: usize,
}

/// Why a change was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipError {
    /// The previous change is not committed yet, or another one is queued here.
    ChangeInFlight {
        version: u64,
    },
    AlreadyMember(NodeId),
    NotAMember(NodeId),
    TooManyMembers(usize),
    /// Removing the last member would leave nobody to hold the token.
    LastMember(NodeId),
    /// This node is not a member of the current set: it cannot order a change.
    ProposerNotAMember(NodeId),
    /// An added member's label is longer than `LABEL_MAX` bytes.
    LabelTooLong(usize),
    /// Fewer distinct members approved the change (the proposer included, bad signatures and
    /// non-members not counted) than a quorum of the current set.
    NotApproved {
        approved: usize,
        needed: usize,
    },
}

impl fmt::Display for MembershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MembershipError::ChangeInFlight { version } => {
                write!(f, "membership version {version} is not committed yet, or a change is already queued: one change at a time")
            }
            MembershipError::AlreadyMember(id) => write!(f, "{id} is already a member"),
            MembershipError::NotAMember(id) => write!(f, "{id} is not a member"),
            MembershipError::TooManyMembers(n) => write!(f, "{n} members, at most {MAX_MEMBERS} are supported"),
            MembershipError::LastMember(id) => write!(f, "{id} is the last member and cannot be removed"),
            MembershipError::ProposerNotAMember(id) => write!(f, "this node ({id}) is not a member and cannot order a change"),
            MembershipError::LabelTooLong(n) => write!(f, "the label has {n} bytes, at most {LABEL_MAX} are allowed"),
            MembershipError::NotApproved { approved, needed } => write!(
                f,
                "{approved} member(s) approved the change (the proposer included), a quorum of {needed} is needed: ask the members' operators for their approvals"
            ),
        }
    }
}

impl std::error::Error for MembershipError {}

impl Membership {
    /// The set a node is configured with: `Config::membership` for a member added by a change,
    /// otherwise version 0 of `Config::members`, with `f` derived from `Config::quorum`.
    pub fn configured(config: &Config) -> Membership {
        if let Some(membership) = &config.membership {
            return membership.clone();
        }
        let n = config.members.len();
        Membership {
            version: 0,
            members: config.members.clone(),
            previous: None,
            keys: Vec::new(),
            change: None,
            labels: Vec::new(),
            dishonest: (2 * config.quorum()).saturating_sub(n + 2),
        }
    }

    /// The quorum of a set of `n` members: `min(n, (n + f) / 2 + 1)`. Two quorums of sets that
    /// differ by one member share at least `f + 1` members (`q(n) + q(n + 1) = n + f + 2`).
    pub fn quorum_of(&self, n: usize) -> usize {
        n.min((n + self.dishonest) / 2 + 1)
    }

    /// The quorum of the current set.
    pub fn quorum(&self) -> usize {
        self.quorum_of(self.members.len())
    }

    pub fn is_joint(&self) -> bool {
        self.previous.is_some()
    }

    pub fn is_member(&self, id: NodeId) -> bool {
        self.members.contains(&id)
    }

    /// Every node a quorum may count: the current members, then (while joint) the removed one.
    pub fn union(&self) -> Vec<NodeId> {
        let mut ids = self.members.clone();
        for id in self.previous.iter().flatten() {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
        ids
    }

    /// True if `counted` holds a quorum of the current set and, while joint, of the previous one.
    pub fn is_quorum(&self, counted: impl Fn(NodeId) -> bool) -> bool {
        let enough = |set: &[NodeId]| set.iter().filter(|id| counted(**id)).count() >= self.quorum_of(set.len());
        enough(&self.members) && self.previous.as_deref().is_none_or(enough)
    }

    /// The public key a change gave `id`, if any (otherwise the keyring's applies).
    pub fn key_of(&self, id: NodeId) -> Option<&PublicKeyBytes> {
        self.keys.iter().find(|(member, _)| *member == id).map(|(_, key)| key)
    }

    /// The label a change gave `id`, if any.
    pub fn label_of(&self, id: NodeId) -> Option<&str> {
        self.labels.iter().rev().find(|(member, _)| *member == id).map(|(_, label)| label.as_str())
    }

    /// The configured version 0 set, never changed: sent as `None` on the wire, so a ring that
    /// never changes its members sends what it sent before membership changes existed.
    pub fn is_founding(&self) -> bool {
        self.version == 0 && self.previous.is_none() && self.keys.is_empty() && self.change.is_none()
    }

    /// Checks a change against this set: one at a time (not joint), and it must make sense.
    pub fn check_change(&self, change: &MembershipChange) -> Result<(), MembershipError> {
        if self.is_joint() {
            return Err(MembershipError::ChangeInFlight { version: self.version });
        }
        match change {
            MembershipChange::Add { id, .. } if self.is_member(*id) => Err(MembershipError::AlreadyMember(*id)),
            MembershipChange::Add { .. } if self.members.len() + 1 > MAX_MEMBERS => {
                Err(MembershipError::TooManyMembers(self.members.len() + 1))
            }
            MembershipChange::Add { label, .. } if label.len() > LABEL_MAX => Err(MembershipError::LabelTooLong(label.len())),
            MembershipChange::Remove { id } if !self.is_member(*id) => Err(MembershipError::NotAMember(*id)),
            MembershipChange::Remove { id } if self.members.len() == 1 => Err(MembershipError::LastMember(*id)),
            _ => Ok(()),
        }
    }

    /// The joint set of this (single, checked) set and the change: version + 1.
    pub fn apply(&self, signed: SignedChange) -> Membership {
        debug_assert!(self.check_change(&signed.change).is_ok() && signed.version == self.version + 1);
        let mut members = self.members.clone();
        let mut keys = self.keys.clone();
        let mut labels = self.labels.clone();
        match &signed.change {
            MembershipChange::Add { id, public_key, label } => {
                members.push(*id);
                keys.retain(|(member, _)| member != id);
                keys.push((*id, *public_key));
                if !label.is_empty() {
                    labels.retain(|(member, _)| member != id);
                    labels.push((*id, label.clone()));
                }
            }
            MembershipChange::Remove { id } => members.retain(|member| member != id),
        }
        Membership {
            version: signed.version,
            members,
            previous: Some(self.members.clone()),
            keys,
            change: Some(signed),
            labels,
            dishonest: self.dishonest,
        }
    }

    /// The same version once committed: the current set alone counts. The keys kept are the
    /// members', the proposer's and the approvers' (their signatures on the change must still
    /// verify).
    pub fn committed(&self) -> Membership {
        let mut keys = self.keys.clone();
        let signed =
            |id: NodeId| self.change.as_ref().is_some_and(|change| change.proposer == id || change.approvals.iter().any(|a| a.by == id));
        keys.retain(|(id, _)| self.members.contains(id) || signed(*id));
        Membership { previous: None, keys, ..self.clone() }
    }

    /// How many distinct members of this (single) set approve the change creating the next
    /// version when `proposer` orders it with `approvals`: the proposer, and each approval by
    /// another member whose signature verifies (keys as this set knows them).
    pub fn approvals_of(&self, change: &MembershipChange, proposer: NodeId, approvals: &[Approval], keys: &Keys) -> usize {
        self.count_approvals(&self.members, self.version + 1, change, proposer, approvals, keys)
    }

    /// The approvals a change of a set of `n` members needs: a quorum of that set.
    pub fn approvals_needed(&self, n: usize) -> usize {
        self.quorum_of(n)
    }

    fn count_approvals(
        &self,
        before: &[NodeId],
        version: u64,
        change: &MembershipChange,
        proposer: NodeId,
        approvals: &[Approval],
        keys: &Keys,
    ) -> usize {
        let bytes = approval_bytes(version, change);
        let mut approved: Vec<NodeId> = before.iter().copied().filter(|id| *id == proposer).collect();
        for approval in approvals {
            if before.contains(&approval.by)
                && !approved.contains(&approval.by)
                && keys.verify_member(Some(self), approval.by, &bytes, &approval.signature)
            {
                approved.push(approval.by);
            }
        }
        approved.len()
    }

    /// The set before the change that made this version, as (version, sorted ids), if known.
    fn before_change(&self) -> Option<(u64, Vec<NodeId>)> {
        let change = self.change.as_ref()?;
        let mut ids = self.members.clone();
        match change.change {
            MembershipChange::Add { id, .. } => ids.retain(|member| *member != id),
            MembershipChange::Remove { id } => ids.push(id),
        }
        ids.sort_unstable();
        Some((self.version - 1, ids))
    }

    /// The member sets a quorum of this membership counts in, as (version, sorted ids).
    fn configs(&self) -> Vec<(u64, Vec<NodeId>)> {
        let sorted = |ids: &[NodeId]| {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids
        };
        let mut configs = vec![(self.version, sorted(&self.members))];
        if let Some(previous) = &self.previous {
            configs.push((self.version - 1, sorted(previous)));
        }
        configs
    }

    /// True if `other` contains the member list `members` (in any order) as one of its sets.
    pub fn counts_in(&self, members: &[NodeId]) -> bool {
        let mut wanted = members.to_vec();
        wanted.sort_unstable();
        self.configs().iter().any(|(_, ids)| *ids == wanted)
    }

    /// Whether a node with this membership may adopt `newer` from a message: it is well formed,
    /// its change is signed by a member of the set before it, and it is at most one change away
    /// from us (it shares a member set with us, or its change applies to one of our sets). So
    /// every set a node counts in is within one member of a set it counted in before, and
    /// quorums of sets one member apart share `f + 1` members (see `quorum_of`).
    pub fn may_adopt(&self, newer: &Membership, keys: &Keys) -> bool {
        if newer == self {
            return true;
        }
        if !newer.is_well_formed(keys) {
            return false;
        }
        let mine = self.configs();
        let theirs = newer.configs();
        let shared = theirs.iter().any(|config| mine.contains(config));
        shared || newer.before_change().is_some_and(|before| mine.contains(&before))
    }

    /// The version this membership implies is committed: its own when single, the one before
    /// while joint (a change is put on the token only on top of a committed membership).
    pub fn committed_version(&self) -> u64 {
        if self.is_joint() {
            self.version - 1
        } else {
            self.version
        }
    }

    /// How a candidate ranks the membership a promise reports, before the stamp of the
    /// confirmation: (committed version, version). A joint membership outranks the committed set
    /// before it whatever the stamps: a grant under the joint membership may have committed its
    /// change, and every honest confirmation after that grant is under version `version` or
    /// later, so a report of the previous set with a newer stamp can only come from a failed
    /// attempt or a dishonest member (a forged claim that honest members confirmed). Claiming
    /// under the joint membership is always safe: it counts in the previous set too.
    pub fn report_rank(&self) -> (u64, u64) {
        (self.committed_version(), self.version)
    }

    /// The set known committed, as (version, sorted ids).
    fn committed_config(&self) -> (u64, Vec<NodeId>) {
        let mut ids = self.previous.clone().unwrap_or_else(|| self.members.clone());
        ids.sort_unstable();
        (self.committed_version(), ids)
    }

    /// False if `newer` would undo what this membership knows committed: the set `newer` implies
    /// committed must be ours, our current set (we are joint), or one change on from ours; or
    /// `newer` has our current set as its own (the joint form of our committed version: a
    /// candidate reports the membership of its last confirmation, and the commit was learnt
    /// only by the holder). A joint membership may still give way to its previous set (an
    /// attempt that failed). Honest claims never do otherwise (every claim after a commit counts
    /// in the committed set); a dishonest member replaying an older membership could. A joint
    /// membership also keeps one change on its current set, committed (taking its committed form,
    /// then that change: two steps it keeps one by one). Without it a node taken back to the
    /// joint form of its committed version (a forged claim) that missed the next joint claim
    /// followed no later claim (seed 2022150).
    pub fn keeps(&self, newer: &Membership) -> bool {
        let sorted = |ids: &[NodeId]| {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids
        };
        let mine = self.committed_config();
        let theirs = newer.committed_config();
        let current = (self.version, sorted(&self.members));
        theirs == mine
            || theirs == current
            || (newer.version, sorted(&newer.members)) == current
            || newer.before_change() == Some(mine)
            || newer.before_change() == Some(current)
    }

    /// The set a certificate claimed under this membership proves committed: a grant under a
    /// joint membership commits its change, so its current set either way, as (version, sorted ids).
    pub fn proven_committed(&self) -> (u64, Vec<NodeId>) {
        let mut ids = self.members.clone();
        ids.sort_unstable();
        (self.version, ids)
    }

    /// False if `self` would go back behind `floor`, a set known committed (from a certificate):
    /// it must imply a later committed version, the same set at that version, or have `floor` as
    /// its current set (the joint form of that version).
    pub fn respects(&self, floor: &(u64, Vec<NodeId>)) -> bool {
        let (version, set) = self.committed_config();
        match version.cmp(&floor.0) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => set == floor.1,
            std::cmp::Ordering::Less => {
                let mut current = self.members.clone();
                current.sort_unstable();
                (self.version, current) == *floor
            }
        }
    }

    /// Structure and signature: members distinct, at most `MAX_MEMBERS`, a previous set one
    /// change before, and the change that made the version signed by a member of the set before it.
    pub fn is_well_formed(&self, keys: &Keys) -> bool {
        let distinct = self.members.iter().enumerate().all(|(index, id)| !self.members[..index].contains(id));
        if self.members.is_empty() || self.members.len() > MAX_MEMBERS || !distinct {
            return false;
        }
        let Some(change) = &self.change else {
            // A set with no change is only ever a node's configured one; never adopted from others
            // unless equal to ours (checked by the caller) or the founding set.
            return self.version == 0 && self.previous.is_none() && self.keys.is_empty();
        };
        let Some((_, before)) = self.before_change() else { return false };
        if change.version != self.version || self.version == 0 {
            return false;
        }
        if let Some(previous) = &self.previous {
            let mut sorted = previous.clone();
            sorted.sort_unstable();
            if sorted != before {
                return false;
            }
        }
        if let MembershipChange::Add { id, public_key, label } = &change.change {
            if self.key_of(*id) != Some(public_key) || (!label.is_empty() && self.label_of(*id) != Some(label.as_str())) {
                return false;
            }
        }
        if self.labels.iter().any(|(_, label)| label.is_empty() || label.len() > LABEL_MAX) {
            return false;
        }
        before.contains(&change.proposer)
            && keys.verify_member(
                Some(self),
                change.proposer,
                &change_bytes(change.version, &change.change, change.proposer),
                &change.signature,
            )
            && self.count_approvals(&before, change.version, &change.change, change.proposer, &change.approvals, keys)
                >= self.approvals_needed(before.len())
    }

    /// The bytes a confirmation signs besides (stamp, holder): everything that decides what a
    /// quorum is, so a certificate cannot be relabelled with another membership.
    pub fn confirm_suffix(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(32 + 2 * self.members.len() + 34 * self.keys.len());
        bytes.extend_from_slice(&self.version.to_be_bytes());
        bytes.extend_from_slice(&(self.dishonest as u64).to_be_bytes());
        let list = |bytes: &mut Vec<u8>, ids: &[NodeId]| {
            bytes.extend_from_slice(&(ids.len() as u16).to_be_bytes());
            for id in ids {
                bytes.extend_from_slice(&id.to_be_bytes());
            }
        };
        list(&mut bytes, &self.members);
        match &self.previous {
            Some(previous) => {
                bytes.push(1);
                list(&mut bytes, previous);
            }
            None => bytes.push(0),
        }
        bytes.extend_from_slice(&(self.keys.len() as u16).to_be_bytes());
        for (id, key) in &self.keys {
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(key);
        }
        // Labels last and only when there are some: a ring whose changes carry none signs what
        // it signed before labels existed.
        if !self.labels.is_empty() {
            bytes.extend_from_slice(&(self.labels.len() as u16).to_be_bytes());
            for (id, label) in &self.labels {
                bytes.extend_from_slice(&id.to_be_bytes());
                bytes.extend_from_slice(&(label.len() as u16).to_be_bytes());
                bytes.extend_from_slice(label.as_bytes());
            }
        }
        bytes
    }
}
