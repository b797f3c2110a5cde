//! The Pix key directory's ordering: a log of directory operations (register, delete, move a
//! key) that every member replicates, ordered by whoever holds the ring's token, and applied
//! by every member in log order to the same deterministic state machine ([`Directory`]).
//!
//! Each log position is one instance of single-decree Paxos whose ballots are the ring's stamps
//! `(epoch, seq)`. The holder of stamp `b` is the only proposer of ballot `b` (the ring gives
//! every stamp one holder, and a holder orders only under the stamp it holds):
//!
//! 1. **Prepare.** The holder's [`Orderer`] sends `Prepare { b, from }` (`from` = its own
//!    replica's committed length). A [`Replica`] whose promise is not above `b` raises it to `b`
//!    durably and answers with its committed length and every slot it holds above `from`, each
//!    with the stamp that wrote it.
//! 2. **Recover.** With promises from a quorum (a majority, the ring's quorum), the holder
//!    re-proposes every position from `from + 1` up to the highest reported: a value some
//!    promiser has committed, else the value of the highest stamp reported there, else a no-op.
//!    A bank that was down is caught up this way before it orders anything new.
//! 3. **Accept.** New operations take the following positions. `Accept { b, entries }` is stored
//!    by a replica whose promise is not above `b` (raising it to `b`), and acknowledged after it
//!    is durable. A position is **committed** once a quorum acknowledged it under `b` and every
//!    earlier position is committed: the holder then sends `Commit { b, upto }`.
//! 4. **Learn.** A replica commits position `p` on `Commit { b, upto >= p }` only if the slot it
//!    holds at `p` was written by `b` (the value `b` proposed there); otherwise it fetches the
//!    committed entries from the sender (`Fetch`/`Entries`). Committed entries never change.
//!
//! Why a committed value can never be replaced (the Paxos argument, per position): if a quorum
//! `A` accepted value `v` at `p` under `b`, every later ballot `b' > b` proposing at `p` ran step
//! 2 with a quorum `Q` of promises; `A` and `Q` share a member `m`, which accepted under `b`
//! before promising `b'` (after the promise it would refuse `b`), so `m` reports at `p` either
//! `v` committed or a slot of stamp `>= b`, whose value is `v` by induction on ballots; the
//! highest stamp reported at `p` is therefore `>= b` and carries `v`. A position above every
//! reported one cannot have been accepted by `m`, so `b'` never appends over a chosen value.
//! This holds whatever the ring does (two holders at once, a stale holder waking up, lost tokens,
//! regenerations): only distinct stamps per proposer are needed. Regeneration is step 1 again.
//!
//! Operations are checked again when applied (a register of a key already registered is
//! refused there, deterministically, at every member), so concurrent registrations of one key at
//! two banks end with exactly one winner, the earlier position, and the same answer everywhere.
//!
//! Like the rest of the crate: no I/O, no clock. The driver carries out the actions in order;
//! every `Persist` must be durable before any later `Send` of the same list.

use std::collections::{BTreeMap, BTreeSet};

use crate::{NodeId, Stamp};

/// A position in the directory's log, from 1.
pub type Pos = u64;

/// At most this many entries travel in one message (`Entries`, `Accept`, `Promise`), so that
/// a message stays well under the bank's 64 KiB body limit (an entry is at most about 800 bytes
/// of JSON).
pub const MAX_ENTRIES: usize = 48;
/// At most this many committed entries travel in one `Entries` answer.
pub const MAX_FETCH: usize = MAX_ENTRIES;

/// Who a key points to: what a payer's bank needs to pay, and what a payer sees before paying.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Owner {
    /// The bank's id (as in the member list).
    pub bank: String,
    /// The account number at that bank.
    pub account: String,
    /// The account's kind (`checking`, `savings`, ...), shown to the payer.
    pub account_kind: String,
    /// The holder's name.
    pub name: String,
    /// The holder's document, already masked for payers (a CPF's middle digits only).
    pub masked_document: String,
}

/// One directory operation. `id` is chosen by the bank that asked for it (unique there), so
/// that bank finds its answer among the applied entries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "op", rename_all = "snake_case"))]
pub enum Op {
    /// Register `key` for `owner`, unless the key is taken or the account has `limit` keys.
    Register { id: String, key: String, key_kind: String, owner: Owner, limit: u16 },
    /// Delete `key`, if it names this bank's account.
    Delete { id: String, key: String, bank: String, account: String },
    /// Portability: move `key` from `from_bank`/`from_account` to `to`, if it is there now
    /// and the new account has fewer than `limit` keys.
    Move { id: String, key: String, from_bank: String, from_account: String, to: Owner, limit: u16 },
    /// Fills a position no promiser held (recovery).
    #[default]
    Noop,
}

impl Op {
    pub fn id(&self) -> Option<&str> {
        match self {
            Op::Register { id, .. } | Op::Delete { id, .. } | Op::Move { id, .. } => Some(id),
            Op::Noop => None,
        }
    }

    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Register { key, .. } | Op::Delete { key, .. } | Op::Move { key, .. } => Some(key),
            Op::Noop => None,
        }
    }
}

/// What applying an operation did (the same at every member).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "outcome", rename_all = "snake_case"))]
pub enum Outcome {
    Registered,
    Deleted,
    Moved,
    Noop,
    /// The key already names an account (at `bank`).
    KeyTaken {
        bank: String,
    },
    /// The key does not name the account the operation said it does.
    NotOwner,
    /// The account already has its maximum number of keys.
    LimitReached,
}

impl Outcome {
    pub fn is_refusal(&self) -> bool {
        matches!(self, Outcome::KeyTaken { .. } | Outcome::NotOwner | Outcome::LimitReached)
    }
}

/// The directory's state: key -> owner. Built only by applying committed operations in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    keys: BTreeMap<String, (String, Owner)>,
    per_account: BTreeMap<(String, String), u16>,
    applied: Pos,
}

impl Directory {
    /// Applies the operation at the next position. Deterministic: every member gets the same
    /// outcome for the same log.
    pub fn apply(&mut self, op: &Op) -> Outcome {
        self.applied += 1;
        match op {
            Op::Noop => Outcome::Noop,
            Op::Register { key, key_kind, owner, limit, .. } => {
                if let Some((_, current)) = self.keys.get(key) {
                    return Outcome::KeyTaken { bank: current.bank.clone() };
                }
                let count = self.count(&owner.bank, &owner.account);
                if count >= *limit {
                    return Outcome::LimitReached;
                }
                self.insert(key, key_kind.clone(), owner.clone());
                Outcome::Registered
            }
            Op::Delete { key, bank, account, .. } => match self.keys.get(key) {
                Some((_, current)) if &current.bank == bank && &current.account == account => {
                    self.remove(key);
                    Outcome::Deleted
                }
                _ => Outcome::NotOwner,
            },
            Op::Move { key, from_bank, from_account, to, limit, .. } => match self.keys.get(key) {
                Some((_, current)) if &current.bank == from_bank && &current.account == from_account => {
                    if self.count(&to.bank, &to.account) >= *limit {
                        return Outcome::LimitReached;
                    }
                    let (kind, _) = self.remove(key);
                    self.insert(key, kind, to.clone());
                    Outcome::Moved
                }
                _ => Outcome::NotOwner,
            },
        }
    }

    fn count(&self, bank: &str, account: &str) -> u16 {
        self.per_account.get(&(bank.to_string(), account.to_string())).copied().unwrap_or(0)
    }

    fn insert(&mut self, key: &str, kind: String, owner: Owner) {
        *self.per_account.entry((owner.bank.clone(), owner.account.clone())).or_insert(0) += 1;
        self.keys.insert(key.to_string(), (kind, owner));
    }

    fn remove(&mut self, key: &str) -> (String, Owner) {
        let (kind, owner) = self.keys.remove(key).expect("present");
        let slot = (owner.bank.clone(), owner.account.clone());
        let count = self.per_account.get_mut(&slot).expect("counted");
        *count -= 1;
        if *count == 0 {
            self.per_account.remove(&slot);
        }
        (kind, owner)
    }

    /// The owner of a key (canonical text) and the key's kind.
    pub fn lookup(&self, key: &str) -> Option<(&str, &Owner)> {
        self.keys.get(key).map(|(kind, owner)| (kind.as_str(), owner))
    }

    /// Keys naming one account, in key order.
    pub fn keys_of<'a>(&'a self, bank: &'a str, account: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.keys.iter().filter(move |(_, (_, o))| o.bank == bank && o.account == account).map(|(k, (kind, _))| (k.as_str(), kind.as_str()))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many log positions were applied.
    pub fn applied(&self) -> Pos {
        self.applied
    }

    /// A 64-bit FNV-1a digest of the whole state (keys, kinds, owners, applied length): equal
    /// digests at two members mean identical directories (barring a collision). The audit
    /// compares members with it.
    pub fn digest(&self) -> u64 {
        let mut h = Fnv::new();
        h.u64(self.applied);
        for (key, (kind, o)) in &self.keys {
            for part in [key, kind, &o.bank, &o.account, &o.account_kind, &o.name, &o.masked_document] {
                h.str(part);
            }
        }
        h.0
    }
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }
}

/// A value a replica holds at a position, with the stamp of the holder that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Slot {
    pub stamp: Stamp,
    pub op: Op,
}

/// What a replica keeps on disk. Slots at positions `<= committed` are committed and never
/// change; slots above may be replaced by a higher stamp's.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReplicaState {
    pub promised: Stamp,
    pub committed: Pos,
    pub slots: BTreeMap<Pos, Slot>,
}

/// A change to make durable (all of it, atomically) before the actions after it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Write {
    /// The new promise, if it moved.
    pub promised: Option<Stamp>,
    /// Slots written (replacing any slot at the same position).
    pub slots: Vec<(Pos, Slot)>,
    /// The new committed length, if it moved.
    pub committed: Option<Pos>,
}

impl Write {
    fn is_empty(&self) -> bool {
        self.promised.is_none() && self.slots.is_empty() && self.committed.is_none()
    }
}

impl ReplicaState {
    /// Applies a write (what the driver's storage does).
    pub fn apply_write(&mut self, write: &Write) {
        if let Some(p) = write.promised {
            self.promised = p;
        }
        for (pos, slot) in &write.slots {
            self.slots.insert(*pos, slot.clone());
        }
        if let Some(c) = write.committed {
            self.committed = c;
        }
    }
}

/// Directory messages between members (inside signed bank-to-bank calls).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
pub enum DirMessage {
    Prepare {
        stamp: Stamp,
        from: Pos,
    },
    /// `slots`: the slots above the prepare's `from`, in order, at most [`MAX_ENTRIES`]; those at
    /// or below `committed` are committed. `more`: the sender holds slots beyond the last listed.
    Promise {
        stamp: Stamp,
        committed: Pos,
        slots: Vec<(Pos, Slot)>,
        #[cfg_attr(feature = "serde", serde(default))]
        more: bool,
    },
    Accept {
        stamp: Stamp,
        entries: Vec<(Pos, Op)>,
    },
    Accepted {
        stamp: Stamp,
        positions: Vec<Pos>,
    },
    Commit {
        stamp: Stamp,
        upto: Pos,
    },
    /// The sender has promised a newer stamp: the receiver's ballot is over.
    Refuse {
        promised: Stamp,
    },
    Fetch {
        from: Pos,
    },
    /// Committed entries `from + 1 ..` (at most [`MAX_FETCH`]) and the sender's committed length.
    Entries {
        committed: Pos,
        entries: Vec<(Pos, Slot)>,
    },
}

impl DirMessage {
    pub fn name(&self) -> &'static str {
        match self {
            DirMessage::Prepare { .. } => "prepare",
            DirMessage::Promise { .. } => "promise",
            DirMessage::Accept { .. } => "accept",
            DirMessage::Accepted { .. } => "accepted",
            DirMessage::Commit { .. } => "commit",
            DirMessage::Refuse { .. } => "refuse",
            DirMessage::Fetch { .. } => "fetch",
            DirMessage::Entries { .. } => "entries",
        }
    }
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirAction {
    /// Make durable before any later action of the list.
    Persist(Write),
    Send {
        to: NodeId,
        message: DirMessage,
    },
    /// A committed position was applied (at every member, in log order).
    Applied {
        pos: Pos,
        op: Op,
        outcome: Outcome,
    },
}

/// One member's copy of the log (the acceptor and learner of every position) and the
/// directory built from its committed prefix.
#[derive(Clone, Debug)]
pub struct Replica {
    state: ReplicaState,
    directory: Directory,
    /// Entries per message (MAX_ENTRIES; smaller in the simulator, to exercise the limits).
    cap: usize,
}

impl Replica {
    /// A replica from what is on disk (empty for a new member): the directory is rebuilt by
    /// applying the committed prefix.
    pub fn new(state: ReplicaState) -> Replica {
        let mut directory = Directory::default();
        for pos in 1..=state.committed {
            directory.apply(&state.slots.get(&pos).expect("a committed prefix has no holes").op);
        }
        Replica { state, directory, cap: MAX_ENTRIES }
    }

    /// The same replica sending at most `cap` entries per message (the simulator uses small
    /// caps so that truncated promises and multi-round catch-ups happen).
    pub fn with_message_cap(mut self, cap: usize) -> Replica {
        self.cap = cap.max(1);
        self
    }

    pub fn state(&self) -> &ReplicaState {
        &self.state
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn committed(&self) -> Pos {
        self.state.committed
    }

    /// The committed log (positions 1..=committed).
    pub fn committed_log(&self) -> impl Iterator<Item = (Pos, &Slot)> {
        self.state.slots.range(..=self.state.committed).map(|(p, s)| (*p, s))
    }

    /// Asks `peers` for the committed entries this replica lacks (after a restart, or on
    /// joining): answers arrive as `Entries`.
    pub fn catch_up(&self, peers: &[NodeId]) -> Vec<DirAction> {
        peers.iter().map(|to| DirAction::Send { to: *to, message: DirMessage::Fetch { from: self.state.committed } }).collect()
    }

    pub fn step(&mut self, from: NodeId, message: DirMessage) -> Vec<DirAction> {
        let mut actions = Vec::new();
        match message {
            DirMessage::Prepare { stamp, from: after } => {
                if stamp < self.state.promised {
                    actions.push(self.refuse(from));
                } else {
                    if stamp > self.state.promised {
                        self.state.promised = stamp;
                        actions.push(DirAction::Persist(Write { promised: Some(stamp), ..Write::default() }));
                    }
                    let mut slots: Vec<(Pos, Slot)> =
                        self.state.slots.range(after.saturating_add(1)..).take(self.cap + 1).map(|(p, s)| (*p, s.clone())).collect();
                    let more = slots.len() > self.cap;
                    slots.truncate(self.cap);
                    actions.push(DirAction::Send {
                        to: from,
                        message: DirMessage::Promise { stamp, committed: self.state.committed, slots, more },
                    });
                }
            }
            DirMessage::Accept { stamp, entries } => {
                if stamp < self.state.promised {
                    actions.push(self.refuse(from));
                } else {
                    let mut write = Write::default();
                    if stamp > self.state.promised {
                        self.state.promised = stamp;
                        write.promised = Some(stamp);
                    }
                    let mut positions = Vec::with_capacity(entries.len());
                    for (pos, op) in entries {
                        positions.push(pos);
                        if pos <= self.state.committed || pos == 0 {
                            // Committed here already: by the Paxos argument `op` is that value.
                            continue;
                        }
                        let slot = Slot { stamp, op };
                        if self.state.slots.get(&pos) != Some(&slot) {
                            self.state.slots.insert(pos, slot.clone());
                            write.slots.push((pos, slot));
                        }
                    }
                    if !write.is_empty() {
                        actions.push(DirAction::Persist(write));
                    }
                    actions.push(DirAction::Send { to: from, message: DirMessage::Accepted { stamp, positions } });
                }
            }
            DirMessage::Commit { stamp, upto } => {
                let before = self.state.committed;
                let mut pos = before + 1;
                while pos <= upto && self.state.slots.get(&pos).is_some_and(|s| s.stamp == stamp) {
                    pos += 1;
                }
                let reached = pos - 1;
                if reached > before {
                    self.commit_through(reached, Write::default(), &mut actions);
                }
                if reached < upto {
                    actions.push(DirAction::Send { to: from, message: DirMessage::Fetch { from: reached } });
                }
            }
            DirMessage::Fetch { from: after } => {
                let entries: Vec<(Pos, Slot)> = if after < self.state.committed {
                    self.state.slots.range(after + 1..=self.state.committed).take(self.cap).map(|(p, s)| (*p, s.clone())).collect()
                } else {
                    Vec::new()
                };
                actions.push(DirAction::Send { to: from, message: DirMessage::Entries { committed: self.state.committed, entries } });
            }
            DirMessage::Entries { committed, entries } => {
                let before = self.state.committed;
                let mut write = Write::default();
                let mut next = before + 1;
                for (pos, slot) in entries {
                    if pos != next || pos > committed {
                        continue;
                    }
                    self.state.slots.insert(pos, slot.clone());
                    write.slots.push((pos, slot));
                    next += 1;
                }
                let reached = next - 1;
                if reached > before {
                    self.commit_through(reached, write, &mut actions);
                    if committed > reached {
                        actions.push(DirAction::Send { to: from, message: DirMessage::Fetch { from: reached } });
                    }
                }
            }
            // Answers meant for an orderer: the driver routes them there.
            DirMessage::Promise { .. } | DirMessage::Accepted { .. } | DirMessage::Refuse { .. } => {}
        }
        actions
    }

    fn refuse(&self, to: NodeId) -> DirAction {
        DirAction::Send { to, message: DirMessage::Refuse { promised: self.state.promised } }
    }

    /// Marks positions up to `reached` committed (their slots are in place), persists, applies.
    fn commit_through(&mut self, reached: Pos, mut write: Write, actions: &mut Vec<DirAction>) {
        let before = self.state.committed;
        self.state.committed = reached;
        write.committed = Some(reached);
        actions.push(DirAction::Persist(write));
        for pos in before + 1..=reached {
            let op = self.state.slots[&pos].op.clone();
            let outcome = self.directory.apply(&op);
            actions.push(DirAction::Applied { pos, op, outcome });
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Preparing {
        promises: BTreeMap<NodeId, (Pos, Vec<(Pos, Slot)>, bool)>,
    },
    Accepting,
    /// A member promised a newer stamp: this ballot orders nothing more.
    Superseded,
}

/// The holder's side: orders directory operations under the one stamp it holds. Create one per
/// holding; feed it the answers to its messages (`Promise`, `Accepted`, `Refuse`).
#[derive(Clone, Debug)]
pub struct Orderer {
    stamp: Stamp,
    members: Vec<NodeId>,
    quorum: usize,
    from: Pos,
    phase: Phase,
    /// Operations waiting for the prepare phase to end.
    queued: Vec<Op>,
    /// What this ballot proposed, by position.
    proposals: BTreeMap<Pos, Op>,
    acks: BTreeMap<Pos, BTreeSet<NodeId>>,
    committed: Pos,
    /// Simulator self-test only: skip recovery (ignore what the promises report).
    deliberate_bug: bool,
    /// A promise was truncated: this round re-proposes only what it fully knows and appends
    /// nothing; once that is committed, a new round (`needs_new_round`) continues.
    limited: bool,
}

impl Orderer {
    /// Starts ordering under `stamp`: `from` is the local replica's committed length, `quorum`
    /// the ring's (a majority of `members`, the configured members, this bank included).
    pub fn new(stamp: Stamp, members: Vec<NodeId>, quorum: usize, from: Pos) -> (Orderer, Vec<DirAction>) {
        assert!(quorum > members.len() / 2 && quorum <= members.len(), "the quorum must be a majority");
        let orderer = Orderer {
            stamp,
            members,
            quorum,
            from,
            phase: Phase::Preparing { promises: BTreeMap::new() },
            queued: Vec::new(),
            proposals: BTreeMap::new(),
            acks: BTreeMap::new(),
            committed: from,
            deliberate_bug: false,
            limited: false,
        };
        let actions = orderer.prepare_to(orderer.members.iter().copied());
        (orderer, actions)
    }

    pub fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// For the simulator's self-test only: an orderer that skips recovery (it ignores the
    /// slots the promises report and appends right after its own committed length), which the
    /// simulator must catch as an agreement violation.
    #[doc(hidden)]
    pub fn with_deliberate_bug(mut self) -> Orderer {
        self.deliberate_bug = true;
        self
    }

    /// Whether the prepare phase is over (new operations go straight to `Accept`).
    pub fn ready(&self) -> bool {
        self.phase == Phase::Accepting
    }

    pub fn superseded(&self) -> bool {
        self.phase == Phase::Superseded
    }

    /// The committed length this ballot has reached.
    pub fn committed(&self) -> Pos {
        self.committed
    }

    /// The last position this ballot proposed (0 before it proposed anything).
    pub fn last_proposed(&self) -> Pos {
        self.proposals.keys().next_back().copied().unwrap_or(self.from)
    }

    /// A limited round (a promise was truncated) has committed all it could: start a new
    /// `Orderer` under the same stamp from the new committed length, with `take_queued()`.
    pub fn needs_new_round(&self) -> bool {
        self.limited && self.phase == Phase::Accepting && self.committed >= self.last_proposed()
    }

    /// The operations still waiting (for a new round).
    pub fn take_queued(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.queued)
    }

    /// True when everything proposed is committed and nothing waits.
    pub fn idle(&self) -> bool {
        self.phase == Phase::Accepting && self.queued.is_empty() && self.committed >= self.last_proposed()
    }

    /// Asks to order `ops`; returns the positions they will take once the prepare phase is
    /// over (their outcome comes with `Applied` at the local replica).
    pub fn propose(&mut self, ops: Vec<Op>) -> Vec<DirAction> {
        match self.phase {
            Phase::Preparing { .. } => {
                self.queued.extend(ops);
                Vec::new()
            }
            Phase::Accepting if self.limited => {
                self.queued.extend(ops);
                Vec::new()
            }
            Phase::Accepting => {
                let mut entries = Vec::with_capacity(ops.len());
                let mut pos = self.last_proposed();
                for op in ops {
                    pos += 1;
                    self.proposals.insert(pos, op.clone());
                    entries.push((pos, op));
                }
                self.accept_to_all(entries)
            }
            Phase::Superseded => Vec::new(),
        }
    }

    pub fn step(&mut self, from: NodeId, message: DirMessage) -> Vec<DirAction> {
        if !self.members.contains(&from) {
            return Vec::new();
        }
        match message {
            DirMessage::Refuse { promised } if promised > self.stamp => {
                self.phase = Phase::Superseded;
                Vec::new()
            }
            DirMessage::Promise { stamp, committed, slots, more } if stamp == self.stamp => {
                let Phase::Preparing { promises } = &mut self.phase else { return Vec::new() };
                promises.insert(from, (committed, slots, more));
                if promises.len() < self.quorum {
                    return Vec::new();
                }
                let mut promises = std::mem::take(promises);
                self.phase = Phase::Accepting;
                if self.deliberate_bug {
                    promises.clear();
                }
                // A truncated promise tells everything only up to its last listed slot: this
                // round knows every promiser's slots up to `window`.
                let window = promises.values().filter(|(_, _, more)| *more).filter_map(|(_, slots, _)| slots.last().map(|(p, _)| *p)).min();
                self.limited = window.is_some();
                let known = |pos: &Pos| window.is_none_or(|w| *pos <= w);
                let mut entries = Vec::new();
                let top = promises
                    .values()
                    .flat_map(|(_, slots, _)| slots.iter().map(|(p, _)| *p))
                    .filter(known)
                    .max()
                    .unwrap_or(self.from)
                    .max(self.from);
                for pos in self.from + 1..=top {
                    let committed_value = promises
                        .values()
                        .find(|(c, slots, _)| *c >= pos && slots.iter().any(|(p, _)| *p == pos))
                        .and_then(|(_, slots, _)| slots.iter().find(|(p, _)| *p == pos))
                        .map(|(_, s)| s.op.clone());
                    let op = committed_value.unwrap_or_else(|| {
                        promises
                            .values()
                            .flat_map(|(_, slots, _)| slots.iter().filter(|(p, _)| *p == pos))
                            .max_by_key(|(_, s)| s.stamp)
                            .map(|(_, s)| s.op.clone())
                            .unwrap_or(Op::Noop)
                    });
                    self.proposals.insert(pos, op.clone());
                    entries.push((pos, op));
                }
                let queued = if self.limited { Vec::new() } else { std::mem::take(&mut self.queued) };
                let mut pos = top;
                for op in queued {
                    pos += 1;
                    self.proposals.insert(pos, op.clone());
                    entries.push((pos, op));
                }
                if entries.is_empty() {
                    return Vec::new();
                }
                self.accept_to_all(entries)
            }
            DirMessage::Accepted { stamp, positions } if stamp == self.stamp && self.phase == Phase::Accepting => {
                for pos in positions {
                    if self.proposals.contains_key(&pos) {
                        self.acks.entry(pos).or_default().insert(from);
                    }
                }
                let before = self.committed;
                while self.acks.get(&(self.committed + 1)).is_some_and(|a| a.len() >= self.quorum) {
                    self.committed += 1;
                }
                if self.committed > before {
                    self.commit_to_all()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    /// Resends what is not yet answered: the prepare to members that did not promise, the
    /// unacknowledged accepts, and the commit point. Call it every retransmission interval.
    pub fn retransmit(&self) -> Vec<DirAction> {
        match &self.phase {
            Phase::Preparing { promises } => self.prepare_to(self.members.iter().copied().filter(|m| !promises.contains_key(m))),
            Phase::Accepting => {
                let mut actions = Vec::new();
                for to in &self.members {
                    let entries: Vec<(Pos, Op)> = self
                        .proposals
                        .iter()
                        .filter(|(p, _)| !self.acks.get(*p).is_some_and(|a| a.contains(to)))
                        .map(|(p, op)| (*p, op.clone()))
                        .collect();
                    for chunk in entries.chunks(MAX_ENTRIES) {
                        actions
                            .push(DirAction::Send { to: *to, message: DirMessage::Accept { stamp: self.stamp, entries: chunk.to_vec() } });
                    }
                }
                actions.extend(self.commit_to_all());
                actions
            }
            Phase::Superseded => Vec::new(),
        }
    }

    fn prepare_to(&self, to: impl Iterator<Item = NodeId>) -> Vec<DirAction> {
        to.map(|to| DirAction::Send { to, message: DirMessage::Prepare { stamp: self.stamp, from: self.from } }).collect()
    }

    fn accept_to_all(&self, entries: Vec<(Pos, Op)>) -> Vec<DirAction> {
        let mut actions = Vec::new();
        for chunk in entries.chunks(MAX_ENTRIES) {
            for to in &self.members {
                actions.push(DirAction::Send { to: *to, message: DirMessage::Accept { stamp: self.stamp, entries: chunk.to_vec() } });
            }
        }
        actions
    }

    fn commit_to_all(&self) -> Vec<DirAction> {
        if self.committed == 0 {
            return Vec::new();
        }
        self.members
            .iter()
            .map(|to| DirAction::Send { to: *to, message: DirMessage::Commit { stamp: self.stamp, upto: self.committed } })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(bank: &str, account: &str) -> Owner {
        Owner {
            bank: bank.into(),
            account: account.into(),
            account_kind: "checking".into(),
            name: "Maria".into(),
            masked_document: "***.444.777-**".into(),
        }
    }

    fn register(id: &str, key: &str, bank: &str, account: &str) -> Op {
        Op::Register { id: id.into(), key: key.into(), key_kind: "email".into(), owner: owner(bank, account), limit: 2 }
    }

    #[test]
    fn apply_refuses_a_taken_key_a_foreign_delete_and_the_limit() {
        let mut d = Directory::default();
        assert_eq!(d.apply(&register("1", "a@x.com", "A", "1")), Outcome::Registered);
        assert_eq!(d.apply(&register("2", "a@x.com", "B", "9")), Outcome::KeyTaken { bank: "A".into() });
        assert_eq!(d.apply(&register("3", "b@x.com", "A", "1")), Outcome::Registered);
        assert_eq!(d.apply(&register("4", "c@x.com", "A", "1")), Outcome::LimitReached);
        assert_eq!(
            d.apply(&Op::Delete { id: "5".into(), key: "a@x.com".into(), bank: "B".into(), account: "9".into() }),
            Outcome::NotOwner
        );
        let to = owner("B", "9");
        assert_eq!(
            d.apply(&Op::Move { id: "6".into(), key: "a@x.com".into(), from_bank: "A".into(), from_account: "1".into(), to, limit: 2 }),
            Outcome::Moved
        );
        assert_eq!(d.lookup("a@x.com").unwrap().1.bank, "B");
        assert_eq!(d.apply(&register("7", "c@x.com", "A", "1")), Outcome::Registered);
        assert_eq!(d.apply(&Op::Delete { id: "8".into(), key: "a@x.com".into(), bank: "B".into(), account: "9".into() }), Outcome::Deleted);
        assert_eq!(d.lookup("a@x.com"), None);
        assert_eq!(d.len(), 2);
        assert_eq!(d.applied(), 8);
    }

    /// Three members, messages delivered at once in order; returns the replicas.
    fn deliver(replicas: &mut [Replica], orderers: &mut BTreeMap<NodeId, Orderer>, from: NodeId, actions: Vec<DirAction>) {
        let mut queue: Vec<(NodeId, DirAction)> = actions.into_iter().map(|a| (from, a)).collect();
        while !queue.is_empty() {
            let (sender, action) = queue.remove(0);
            if let DirAction::Send { to, message } = action {
                let more = match message {
                    DirMessage::Promise { .. } | DirMessage::Accepted { .. } | DirMessage::Refuse { .. } => {
                        orderers.get_mut(&to).map(|o| o.step(sender, message)).unwrap_or_default()
                    }
                    _ => replicas[to as usize].step(sender, message),
                };
                queue.extend(more.into_iter().map(|a| (to, a)));
            }
        }
    }

    #[test]
    fn two_holders_registering_one_key_one_wins_everywhere() {
        let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::new(ReplicaState::default())).collect();
        let mut orderers = BTreeMap::new();
        let (o, actions) = Orderer::new(Stamp::new(1, 1), vec![0, 1, 2], 2, 0);
        orderers.insert(0, o);
        deliver(&mut replicas, &mut orderers, 0, actions);
        let actions = orderers.get_mut(&0).unwrap().propose(vec![register("a1", "k@x.com", "A", "1")]);
        deliver(&mut replicas, &mut orderers, 0, actions);
        let (o, actions) = Orderer::new(Stamp::new(1, 2), vec![0, 1, 2], 2, replicas[1].committed());
        orderers.insert(1, o);
        deliver(&mut replicas, &mut orderers, 1, actions);
        let actions = orderers.get_mut(&1).unwrap().propose(vec![register("b1", "k@x.com", "B", "7")]);
        deliver(&mut replicas, &mut orderers, 1, actions);
        for r in &replicas {
            assert_eq!(r.committed(), 2);
            assert_eq!(r.directory().lookup("k@x.com").unwrap().1.bank, "A");
        }
        assert_eq!(replicas[0].directory().digest(), replicas[2].directory().digest());
        // The old holder is refused after the newer prepare.
        let actions = orderers.get_mut(&0).unwrap().propose(vec![register("a2", "z@x.com", "A", "1")]);
        deliver(&mut replicas, &mut orderers, 0, actions);
        assert!(orderers[&0].superseded());
        assert!(replicas.iter().all(|r| r.directory().lookup("z@x.com").is_none()));
    }

    #[test]
    fn a_new_ballot_recovers_an_accepted_but_uncommitted_value() {
        let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::new(ReplicaState::default())).collect();
        // Ballot (1,1) got its accept durable at members 0 and 1 only, and no commit went out.
        for i in [0usize, 1] {
            replicas[i].step(0, DirMessage::Accept { stamp: Stamp::new(1, 1), entries: vec![(1, register("a1", "k@x.com", "A", "1"))] });
        }
        // A holder in a regenerated epoch, from member 2 (which never saw it), orders B's key.
        let mut orderers = BTreeMap::new();
        let (o, actions) = Orderer::new(Stamp::new(2, 1), vec![0, 1, 2], 2, 0);
        orderers.insert(2, o);
        let _ = orderers.get_mut(&2).unwrap().propose(vec![register("b1", "k@x.com", "B", "7")]);
        deliver(&mut replicas, &mut orderers, 2, actions);
        for r in &replicas {
            assert_eq!(r.committed(), 2);
            assert_eq!(r.directory().lookup("k@x.com").unwrap().1.bank, "A", "the possibly chosen value is kept");
        }
    }

    #[test]
    fn a_restarted_replica_rebuilds_and_catches_up() {
        let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::new(ReplicaState::default())).collect();
        let mut orderers = BTreeMap::new();
        let (o, actions) = Orderer::new(Stamp::new(1, 1), vec![0, 1, 2], 2, 0);
        orderers.insert(0, o);
        deliver(&mut replicas, &mut orderers, 0, actions);
        let actions = orderers
            .get_mut(&0)
            .unwrap()
            .propose((0..700).map(|i| register(&format!("{i}"), &format!("k{i}@x.com"), "A", &format!("{i}"))).collect());
        deliver(&mut replicas, &mut orderers, 0, actions);
        let rebuilt = Replica::new(replicas[1].state().clone());
        assert_eq!(rebuilt.directory(), replicas[1].directory());
        replicas[2] = Replica::new(ReplicaState::default());
        let actions = replicas[2].catch_up(&[0]);
        deliver(&mut replicas, &mut orderers, 2, actions);
        assert_eq!(replicas[2].committed(), 700, "fetches of at most {MAX_FETCH}");
        assert_eq!(replicas[2].directory().digest(), replicas[0].directory().digest());
    }
}
