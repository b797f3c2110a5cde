//! Node configuration: the fixed member list, the timeouts, and their validation.

use std::fmt;

use crate::{Millis, NodeId};

/// The most members a ring may have; confirmation and ring sets are 128-bit masks (`node::Mask`).
/// Members are numbered by their index in `Config::members`, so any `NodeId`s may be used.
pub const MAX_MEMBERS: usize = 128;

/// The longest duration accepted anywhere in the configuration (one hour), so that sums never overflow.
pub const MAX_DURATION: Millis = 3_600_000;

/// Everything a node needs to know, fixed for its lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node.
    pub me: NodeId,
    /// All configured members in a fixed order shared by every node; includes `me`.
    /// A majority always means a majority of this list.
    pub members: Vec<NodeId>,
    /// Idle time without any sign of progress after which a node suspects the token is lost.
    pub token_timeout: Millis,
    /// The lease: the longest a holder keeps the token, counted from when it sent its claims.
    pub hold_max: Millis,
    /// How long a holder with no local work keeps the token before passing it on.
    pub idle_pause: Millis,
    /// After an idle hold, how long the token waits at its last holder (lease given up, no one
    /// holding) before it is sent on: an idle ring passes it less often. 0: never parked. A
    /// member with work wakes it (`Message::Wake`). While it parks, the holder tells every member
    /// so every `park_beat()` (`Message::Parked`), so a parked token is never taken for a lost
    /// one; members count those beats for at most `hold_max + idle_park` after its claim.
    pub idle_park: Millis,
    /// Interval between retransmissions of a token, a claim or a proposal.
    pub retransmit: Millis,
    /// Unacknowledged sends of a token to one successor before it is skipped.
    pub pass_retries: u32,
    /// An idle member that has seen no progress for this long sends one `Message::Probe` to the
    /// last holder it knows (at most one per holding seen). If the driver then reports that
    /// member unreachable (`Node::unreachable`: its process is gone, the connection was refused),
    /// the loss timer is moved up to now plus the usual stagger. 0: never probe (the loss timer
    /// alone, `token_timeout`). Otherwise at least `idle_pause` (an idle hold must not be probed)
    /// and below `token_timeout`; a parked holder beats every four fifths of it (`park_beat`).
    /// Default: `token_timeout / 2`.
    pub probe_after: Millis,
    /// Safety margin for clocks running at different rates: a member that promises a new epoch
    /// reports its last confirmed lease as `hold_max × (1 + margin)` from the confirmation, on
    /// its own clock, and the candidate waits that out on its own clock. Safe while no node's
    /// clock runs more than this much faster than another's (ring/README.md, "Clock rates").
    pub drift_margin_percent: u64,
    /// Confirmations a holder needs; 0 means a majority of `members`. Against one dishonest
    /// member that confirms two claimants, two quorums must share an honest member: with `n`
    /// members and `f` dishonest ones, a quorum of at least `(n + f) / 2 + 1` (3 of 4, 4 of 5).
    pub quorum: usize,
    /// For a bank added by a membership change: the membership it starts from, the current one
    /// before the change (`members` must equal its members, which do not include `me` yet).
    /// None: `members` is the founding list, version 0. A restarted node starts from the newer
    /// membership in its `PersistentState`, if any.
    pub membership: Option<crate::Membership>,
}

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    NoMembers,
    TooManyMembers(usize),
    DuplicateMember(NodeId),
    MeNotAMember(NodeId),
    ZeroDuration(&'static str),
    DurationTooLong(&'static str),
    ZeroPassRetries,
    /// The lease plus its drift margin must end well before a token is suspected lost.
    LeaseNotBelowTokenTimeout {
        hold_max: Millis,
        token_timeout: Millis,
    },
    IdlePauseAboveLease {
        idle_pause: Millis,
        hold_max: Millis,
    },
    RetransmitNotBelowTokenTimeout {
        retransmit: Millis,
        token_timeout: Millis,
    },
    /// A non-zero `probe_after` must come after an idle hold and before the loss timer.
    ProbeAfterOutOfRange {
        probe_after: Millis,
        idle_pause: Millis,
        token_timeout: Millis,
    },
    DriftMarginTooLarge(u64),
    /// `membership` is given but its members are not `members`.
    MembershipNotMembers,
    QuorumAboveMembers {
        quorum: usize,
        members: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoMembers => write!(f, "the member list is empty"),
            ConfigError::TooManyMembers(n) => {
                write!(f, "{n} members configured, at most {MAX_MEMBERS} are supported")
            }
            ConfigError::DuplicateMember(id) => write!(f, "member {id} is listed twice"),
            ConfigError::MeNotAMember(id) => write!(f, "this node ({id}) is not in the member list"),
            ConfigError::ZeroDuration(name) => write!(f, "{name} must be greater than zero"),
            ConfigError::DurationTooLong(name) => {
                write!(f, "{name} must be at most {MAX_DURATION} ms")
            }
            ConfigError::ZeroPassRetries => write!(f, "pass_retries must be at least 1"),
            ConfigError::LeaseNotBelowTokenTimeout { hold_max, token_timeout } => write!(
                f,
                "hold_max ({hold_max} ms) plus its drift margin must be below half of \
                 token_timeout ({token_timeout} ms)"
            ),
            ConfigError::IdlePauseAboveLease { idle_pause, hold_max } => {
                write!(f, "idle_pause ({idle_pause} ms) must not exceed hold_max ({hold_max} ms)")
            }
            ConfigError::RetransmitNotBelowTokenTimeout { retransmit, token_timeout } => {
                write!(f, "retransmit ({retransmit} ms) must be below token_timeout ({token_timeout} ms)")
            }
            ConfigError::ProbeAfterOutOfRange { probe_after, idle_pause, token_timeout } => write!(
                f,
                "probe_after ({probe_after} ms) must be 0 (no probing) or at least idle_pause ({idle_pause} ms) \
                 and below token_timeout ({token_timeout} ms)"
            ),
            ConfigError::QuorumAboveMembers { quorum, members } => {
                write!(f, "a quorum of {quorum} cannot be reached with {members} members")
            }
            ConfigError::MembershipNotMembers => write!(f, "the membership's members are not the configured members"),
            ConfigError::DriftMarginTooLarge(p) => {
                write!(f, "drift_margin_percent ({p}) must be at most 100")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Default timing: token_timeout 1000 ms, hold_max 200 ms, idle_pause 20 ms, idle_park 0
    /// (never parked), retransmit 100 ms, pass_retries 3, probe_after 500 ms (token_timeout / 2),
    /// drift_margin_percent 10. A caller that changes `token_timeout` keeps `probe_after` at
    /// 500 ms unless it changes that too (it must stay below the timeout).
    pub fn with_defaults(me: NodeId, members: Vec<NodeId>) -> Config {
        let token_timeout = 1000;
        Config {
            me,
            members,
            token_timeout,
            hold_max: 200,
            idle_pause: 20,
            idle_park: 0,
            retransmit: 100,
            pass_retries: 3,
            probe_after: token_timeout / 2,
            drift_margin_percent: 10,
            quorum: 0,
            membership: None,
        }
    }

    /// The token timeout we recommend for a ring of `members` members with the other defaults:
    /// 1000 ms up to five members, then 150 ms more per member. The timeout must cover a lease
    /// plus the retries spent skipping a dead successor or two; a larger ring has more of them.
    pub fn recommended_token_timeout(members: usize) -> Millis {
        1000 + 150 * (members.saturating_sub(5) as Millis)
    }

    /// Checks the configuration; `Node::new` panics on a configuration that fails this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.members.is_empty() {
            return Err(ConfigError::NoMembers);
        }
        if self.members.len() > MAX_MEMBERS {
            return Err(ConfigError::TooManyMembers(self.members.len()));
        }
        for (index, id) in self.members.iter().enumerate() {
            if self.members[..index].contains(id) {
                return Err(ConfigError::DuplicateMember(*id));
            }
        }
        // A bank about to be added starts from the current membership, which it is not in yet.
        if !self.members.contains(&self.me) && self.membership.is_none() {
            return Err(ConfigError::MeNotAMember(self.me));
        }
        let durations = [
            ("token_timeout", self.token_timeout),
            ("hold_max", self.hold_max),
            ("idle_pause", self.idle_pause),
            ("retransmit", self.retransmit),
        ];
        for (name, value) in durations {
            if value == 0 {
                return Err(ConfigError::ZeroDuration(name));
            }
            if value > MAX_DURATION {
                return Err(ConfigError::DurationTooLong(name));
            }
        }
        if self.pass_retries == 0 {
            return Err(ConfigError::ZeroPassRetries);
        }
        if self.drift_margin_percent > 100 {
            return Err(ConfigError::DriftMarginTooLarge(self.drift_margin_percent));
        }
        if self.hold_max * (100 + self.drift_margin_percent) / 100 >= self.token_timeout / 2 {
            return Err(ConfigError::LeaseNotBelowTokenTimeout { hold_max: self.hold_max, token_timeout: self.token_timeout });
        }
        if self.idle_pause > self.hold_max {
            return Err(ConfigError::IdlePauseAboveLease { idle_pause: self.idle_pause, hold_max: self.hold_max });
        }
        if self.idle_park > MAX_DURATION {
            return Err(ConfigError::DurationTooLong("idle_park"));
        }
        if self.probe_after != 0 && (self.probe_after >= self.token_timeout || self.probe_after < self.idle_pause) {
            return Err(ConfigError::ProbeAfterOutOfRange {
                probe_after: self.probe_after,
                idle_pause: self.idle_pause,
                token_timeout: self.token_timeout,
            });
        }
        if self.membership.as_ref().is_some_and(|membership| membership.members != self.members) {
            return Err(ConfigError::MembershipNotMembers);
        }
        // With a membership given, its `dishonest` count sizes the quorums, not `quorum`.
        if self.quorum > self.members.len() && self.membership.is_none() {
            return Err(ConfigError::QuorumAboveMembers { quorum: self.quorum, members: self.members.len() });
        }
        if self.retransmit >= self.token_timeout {
            return Err(ConfigError::RetransmitNotBelowTokenTimeout { retransmit: self.retransmit, token_timeout: self.token_timeout });
        }
        Ok(())
    }

    /// While it parks the token, the last holder tells every member so (`Message::Parked`) this
    /// often: four fifths of the silence after which a member probes (`probe_after`, or half the
    /// token timeout without probing), so that a parked ring is neither probed nor suspected. The
    /// first beat comes this long after the holder's claim (at once if its idle hold was longer).
    pub fn park_beat(&self) -> Millis {
        (self.tolerated_silence() * 4 / 5).max(1)
    }

    /// True if an idle hold and a park outlast the silence after which a member probes (or,
    /// without probing, half the token timeout): only then does a parked holder beat.
    pub fn park_needs_beats(&self) -> bool {
        self.idle_park > 0 && self.idle_pause + self.idle_park > self.tolerated_silence()
    }

    /// The silence after which a member acts on a quiet ring: it probes the last holder
    /// (`probe_after`), or, without probing, half the token timeout (a margin before the loss timer).
    fn tolerated_silence(&self) -> Millis {
        if self.probe_after != 0 {
            self.probe_after
        } else {
            self.token_timeout / 2
        }
    }

    /// Number of confirmations (or promises) that make a majority of the configured members.
    pub fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }

    /// Confirmations (or promises) a node needs: the configured quorum, never below a majority.
    pub fn quorum(&self) -> usize {
        self.quorum.max(self.majority())
    }

    /// True if clocks running at these rates (local ms per real ms, in parts per million) stay
    /// within what the drift margin covers: the fastest runs at most `drift_margin_percent`
    /// faster than the slowest (ring/README.md, "Clock rates").
    pub fn covers_clock_rates(&self, slowest_ppm: u64, fastest_ppm: u64) -> bool {
        u128::from(fastest_ppm) * 100 <= u128::from(slowest_ppm) * u128::from(100 + self.drift_margin_percent)
    }

    /// Stretches a duration (the lease a member reports) by the drift margin.
    pub(crate) fn with_drift_margin(&self, duration: Millis) -> Millis {
        duration.saturating_mul(100 + self.drift_margin_percent) / 100
    }
}
