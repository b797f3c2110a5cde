//! The values that cross the node boundary: stamps, messages, persistent state, actions, status.

use ringbank_domain::keys::Signature;

use crate::membership::Membership;
use crate::quorum::Certificate;
use crate::{Millis, NodeId};

/// The fencing token: ordered by epoch, then by sequence number within the epoch.
///
/// An epoch is minted only by a candidate that gathered promises from a majority; a sequence
/// number `s + 1` is minted only by the holder of `s`, when it stops holding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stamp {
    pub epoch: u64,
    pub seq: u64,
}

impl Stamp {
    pub const ZERO: Stamp = Stamp { epoch: 0, seq: 0 };

    pub fn new(epoch: u64, seq: u64) -> Stamp {
        Stamp { epoch, seq }
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.epoch, self.seq)
    }
}

/// What a node must find again after a restart. Written only through `Action::Persist`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PersistentState {
    /// No proposal, claim, token or confirmation with an older epoch is ever accepted.
    pub promised_epoch: u64,
    /// The newest claim this node confirmed, and for whom.
    pub last_confirmed: Option<(Stamp, NodeId)>,
    /// The newest token this node accepted (and claimed) itself.
    pub highest_accepted: Stamp,
    /// The newest quorum certificate this node has seen (written along with every other change,
    /// never on its own): the base from which epoch jumps are judged after a restart.
    #[cfg_attr(feature = "serde", serde(default))]
    pub newest_certificate: Option<Certificate>,
    /// The membership of the claim this node last confirmed (or accepted): the value it reports
    /// in a `Promise`. None: the configured one (`Config::membership`, else version 0 of
    /// `Config::members`), as on every disk written before membership changes existed.
    #[cfg_attr(feature = "serde", serde(default))]
    pub membership: Option<Membership>,
}

/// Every message between nodes. Each one carries the stamp or epoch it is about, so the
/// receiver can refuse anything older than its promise.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Message {
    /// The previous holder hands the token to its successor. `ring` is the live ring in
    /// configured order, the receiver included. `proof` certifies the stamp just held (the
    /// one before `stamp`), so the receiver can tell the token is not made up.
    /// `membership`: the one `stamp` is to be claimed under (None: the founding set, version 0).
    Token {
        stamp: Stamp,
        ring: Vec<NodeId>,
        proof: Option<Certificate>,
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        membership: Option<Membership>,
    },
    /// The successor got the token (or already has something newer): stop retransmitting.
    TokenAck { stamp: Stamp },
    /// Sent to every configured member by a node that accepted a token: "confirm that
    /// `holder` owns `stamp`". The claimer holds once a quorum has confirmed. `proof` is the
    /// newest certificate the claimer knows (of the stamp before, or the old epoch's).
    /// `membership`: the member set(s) whose quorum the claimer counts (both while joint); a
    /// confirmer adopts it and signs it with (stamp, holder).
    Claim {
        stamp: Stamp,
        holder: NodeId,
        ring: Vec<NodeId>,
        proof: Option<Certificate>,
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        membership: Option<Membership>,
    },
    /// A member confirms a claim, signed over (stamp, holder) (`quorum::confirm_bytes`); it will
    /// confirm no other holder for this stamp.
    Confirm { stamp: Stamp, holder: NodeId, signature: Signature },
    /// A candidate asks every member to promise to ignore everything older than `epoch`.
    /// `proof` is the newest certificate the candidate knows: the base the epoch jump is judged from.
    Propose { epoch: u64, proof: Option<Certificate> },
    /// A member's durable promise, with its newest confirmation and how long the lease of that
    /// confirmation may still run on the member's clock, stretched by the drift margin
    /// (`hold_max × (1 + margin)` from the confirmation; the candidate waits exactly that).
    /// `membership`: the membership of that last confirmation (None: the founding set); the
    /// candidate adopts the one reported with the newest confirmation.
    Promise {
        epoch: u64,
        last_confirmed: Option<(Stamp, NodeId)>,
        lease_remaining: Millis,
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        membership: Option<Membership>,
    },
    /// The receiver has promised `promised_epoch`, which is newer than what was sent.
    Reject { promised_epoch: u64 },
    /// A node outside the live ring asks the next holder to take it back in. `epoch` is the
    /// sender's promise.
    Join { epoch: u64 },
    /// Sent to every member by a node that has work while the ring idles: whoever holds the
    /// token idly, or has parked it, passes it on now, and for a token timeout every member
    /// passes the token without an idle pause or a park. It changes no durable state and no
    /// stamp, only how soon a token moves. `epoch` is the sender's promise.
    Wake { epoch: u64 },
    /// Sent by an idle member that has seen no progress for `Config::probe_after` to the last
    /// holder it knows, once per holding seen. The receiver ignores it entirely (no state, no
    /// timer, not progress): its only use is at the transport, where a refused connection tells
    /// the sender's driver that the holder's process is gone (`Node::unreachable`). `epoch` is
    /// the sender's promise.
    Probe { epoch: u64 },
    /// Sent to every member, while it parks the token, by the last holder (`stamp` is the stamp
    /// it held) every `Config::park_beat`: the token is not lost, only parked. A member counts it
    /// as progress only from the last holder it knows, for the newest stamp it has seen, and only
    /// within `hold_max + idle_park` (plus one retransmit) of that holder's claim, so a member
    /// that never passes the token cannot keep the others from regenerating it for longer. It
    /// changes no durable state.
    Parked { stamp: Stamp },
}

impl Message {
    /// The certificate the message carries, if any.
    pub fn proof(&self) -> Option<&Certificate> {
        match self {
            Message::Token { proof, .. } | Message::Claim { proof, .. } | Message::Propose { proof, .. } => proof.as_ref(),
            _ => None,
        }
    }

    /// The epoch the message is about (for `Reject` and `Join`, the sender's promise).
    pub fn epoch(&self) -> u64 {
        match self {
            Message::Token { stamp, .. }
            | Message::TokenAck { stamp }
            | Message::Claim { stamp, .. }
            | Message::Confirm { stamp, .. }
            | Message::Parked { stamp } => stamp.epoch,
            Message::Propose { epoch, .. }
            | Message::Promise { epoch, .. }
            | Message::Join { epoch }
            | Message::Wake { epoch }
            | Message::Probe { epoch } => *epoch,
            Message::Reject { promised_epoch } => *promised_epoch,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Token { .. } => "token",
            Message::TokenAck { .. } => "token_ack",
            Message::Claim { .. } => "claim",
            Message::Confirm { .. } => "confirm",
            Message::Propose { .. } => "propose",
            Message::Promise { .. } => "promise",
            Message::Reject { .. } => "reject",
            Message::Join { .. } => "join",
            Message::Wake { .. } => "wake",
            Message::Probe { .. } => "probe",
            Message::Parked { .. } => "parked",
        }
    }
}

/// What the driver must do, in the order given. A `Persist` must be durable before any later
/// action in the same list is carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write this state durably (fsync) before executing the next action.
    Persist(PersistentState),
    /// Send a message to a member (best effort: loss is tolerated, ordering is not assumed).
    Send { to: NodeId, message: Message },
    /// This node now holds the token with this stamp until `lease_until` on its own clock
    /// (the `now` domain). Start no work at or after `lease_until`. `certificate` proves the
    /// grant to anyone with the member list: present it with the prepares stamped `stamp`.
    Grant { stamp: Stamp, lease_until: Millis, certificate: Certificate },
    /// Stop using the token with this stamp now (it may be before `lease_until`).
    Revoke { stamp: Stamp },
}

/// A snapshot for status pages and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Status {
    pub me: NodeId,
    /// Newest stamp seen anywhere (epoch and seq of the token as far as this node knows).
    pub epoch: u64,
    pub seq: u64,
    /// True while this node holds a live lease.
    pub holding: bool,
    pub lease_until: Option<Millis>,
    /// One of "idle", "claiming", "holding", "passing", "candidate".
    pub state: &'static str,
    /// The live ring as last seen in a token or claim, in configured order.
    pub live_ring: Vec<NodeId>,
    pub promised_epoch: u64,
    /// The holder named by the newest claim seen.
    pub last_holder: Option<NodeId>,
    /// The membership this node works with: its version, its members, and whether the change
    /// that made it is not known committed yet (joint quorums).
    pub membership_version: u64,
    pub members: Vec<NodeId>,
    pub membership_joint: bool,
    /// False once this node is not in that membership (removed): the driver may stop it.
    pub member: bool,
    /// A change `Node::propose_membership` queued here, not yet put on the token.
    pub pending_change: Option<crate::MembershipChange>,
    /// The newest membership version seen on a well-formed claim or token from one of its
    /// members that this node could not adopt because it is more than one change ahead of its
    /// own (0: none): it was down through several changes and must be brought to the current
    /// membership from outside (the bank's `serve --catch-up`). A hint: a dishonest member can
    /// send such a claim too.
    pub membership_ahead_seen: u64,
}
