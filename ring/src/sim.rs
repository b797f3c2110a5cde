//! A deterministic simulated network for the protocol: seeded message drop, delay, duplication
//! and reordering, partitions, crashes with restart from the persisted state, pauses, and random
//! `want_token`/`release` calls. Every event is followed by a check of the safety properties;
//! `run_seed` adds a liveness check after the final heal. Only the simulator uses randomness.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use crate::{
    Action, Approval, Certificate, Config, Keys, Membership, MembershipChange, Message, Millis, Node, NodeId, PersistentState, SimKeyring,
    Stamp,
};

/// splitmix64: small, fast, and good enough to drive a simulation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What one simulated run did.
#[derive(Clone, Debug, Default)]
pub struct SimStats {
    pub seed: u64,
    pub nodes: usize,
    pub events: u64,
    pub messages: u64,
    pub grants: u64,
    pub crashes: u64,
    pub pauses: u64,
    pub partitions: u64,
    pub sim_ms: Millis,
    /// Time from the final heal to the first grant.
    pub recovery_ms: Option<Millis>,
    /// The Byzantine member's index, if the seed has one, and the quorum the ring used.
    pub byzantine: Option<usize>,
    pub quorum: usize,
    /// Messages the Byzantine member forged, garbled, replayed or sent twice.
    pub forged: u64,
    /// Moments two honest members held at once, and stamps certified for two honest holders
    /// (possible only with a quorum too small for a dishonest member, e.g. 2 of 3).
    pub double_holders: u64,
    pub split_stamps: u64,
    /// Every node's clock rate, local ms per global ms in parts per million (`RATE_ONE_PPM`: exact).
    pub clock_rates_ppm: Vec<u64>,
    /// `Probe`s the nodes sent (the Byzantine member's forged ones not counted).
    pub probes: u64,
    /// Refused connections reported to a sender (`Node::unreachable`): a message reached a
    /// crashed node's host.
    pub refusals: u64,
    /// The `Config::probe_after` of the run (0: no probing).
    pub probe_after: Millis,
    /// Membership changes the simulator proposed (`Node::propose_membership` accepted), that
    /// were refused by the proposer, and that were committed (a grant under the joint sets).
    pub changes_proposed: u64,
    pub changes_refused: u64,
    /// Changes first offered with one approval too few, and refused as they must be.
    pub changes_unapproved: u64,
    pub changes_committed: u64,
    /// The committed membership at the end (version, members).
    pub final_membership: (u64, Vec<NodeId>),
}

/// True if two quorums always share an honest member despite one dishonest member (2q - n >= 2,
/// i.e. q >= (n + 1) / 2 + 1: 3 of 4, 4 of 5): then no two honest members hold at once.
pub fn quorum_survives_one_liar(nodes: usize, quorum: usize) -> bool {
    2 * quorum >= nodes + 2
}

/// The one-line command that replays a seed with a full trace.
pub fn replay_command(seed: u64) -> String {
    format!("RING_SEED={seed} cargo test -p ringbank-ring --release sim_replay -- --nocapture")
}

/// Runs one randomized scenario: a chaos phase with every fault, a final heal, then a liveness
/// phase. Returns the first violated property, with the replay command.
pub fn run_seed(seed: u64, trace: bool) -> Result<SimStats, String> {
    let mut rng = Rng::new(seed ^ 0x005E_ED0F_2140);
    let nodes = 3 + rng.below(5) as usize;
    let byzantine = rng.chance(50).then(|| rng.below(nodes as u64) as usize);
    // With a Byzantine member, half the seeds size the quorum for it ((n + 1) / 2 + 1).
    let quorum = if byzantine.is_some() && rng.chance(50) { nodes.div_ceil(2) + 1 } else { 0 };
    run_seed_with(seed, nodes, byzantine, quorum, trace)
}

/// Runs one scenario with `nodes` members, `quorum` (0: a majority) and, if given, that member
/// Byzantine: besides its honest core it confirms every claim and promises every proposal
/// (equivocation, lying about its leases), hands each token it passes to a second member too,
/// and injects forged, garbled, replayed and far-future messages, until the final heal.
pub fn run_seed_with(seed: u64, nodes: usize, byzantine: Option<usize>, quorum: usize, trace: bool) -> Result<SimStats, String> {
    run_seed_with_rates(seed, nodes, byzantine, quorum, None, trace)
}

/// As `run_seed_with`, with every node's clock rate given (parts per million, one per node)
/// instead of drawn within `CLOCK_RATE_MIN_PPM..=CLOCK_RATE_MAX_PPM` (a quarter of the nodes at
/// each end, the rest in between). Rates outside the drift margin's cover make S1 fail.
pub fn run_seed_with_rates(
    seed: u64,
    nodes: usize,
    byzantine: Option<usize>,
    quorum: usize,
    rates_ppm: Option<&[u64]>,
    trace: bool,
) -> Result<SimStats, String> {
    let mut rng = Rng::new(seed ^ 0x005E_ED0F_2140 ^ 0xB12);
    let chaos_ms = rng.range(4_000, 20_000);
    // Half the seeds park idle tokens (and so exercise wakes), with short and long parks; a
    // long one (from a stream of its own) outlasts the probe and the loss timer, so its holder
    // sends `Parked` beats.
    let idle_park = match [0, 0, 60, 300][rng.below(4) as usize] {
        300 if Rng::new(seed ^ 0x9A4C_BEA7).chance(50) => 2_500,
        park => park,
    };
    // Probing, from a stream of its own (every other choice of a seed stays what it was): off,
    // early (right after an idle hold and a short park, or an idle hold alone before a long one:
    // probes, and beats, in many quiet moments), or the default 500 ms.
    let defaults = Config::with_defaults(0, vec![0]);
    let probe_after = match Rng::new(seed ^ 0x9B0BE).below(3) {
        0 => 0,
        1 if defaults.idle_pause + idle_park < defaults.token_timeout => defaults.idle_pause + idle_park,
        1 => defaults.idle_pause,
        _ => 500,
    };
    let mut sim = Sim::with_config(seed, nodes, trace, |config| {
        config.quorum = quorum;
        config.idle_park = idle_park;
        config.probe_after = probe_after;
    });
    sim.byzantine = byzantine;
    sim.stats.byzantine = byzantine;
    sim.faults = true;
    sim.fault_gap_max = [100, 250, 600, 1_500][rng.below(4) as usize];
    // Drawn last, so every other choice of a seed is what it was before clocks had rates.
    let drawn: Vec<u64> = (0..nodes)
        .map(|_| match rng.below(4) {
            0 => CLOCK_RATE_MIN_PPM,
            1 => CLOCK_RATE_MAX_PPM,
            _ => rng.range(CLOCK_RATE_MIN_PPM, CLOCK_RATE_MAX_PPM),
        })
        .collect();
    let rates = rates_ppm.map_or(drawn, <[u64]>::to_vec);
    assert_eq!(rates.len(), nodes, "one clock rate per node");
    for (index, rate) in rates.iter().enumerate() {
        sim.set_clock_rate(index, *rate);
    }
    // Membership changes in half the seeds, from a stream of their own (the other half runs
    // exactly as before changes existed). With a Byzantine member, only where every quorum
    // survives it (`Membership::dishonest` >= 1): a change alters `n`, and a majority of an odd
    // `n` does not.
    let mut changes = Rng::new(seed ^ 0xC4A9_6E5E);
    if changes.chance(50) && (byzantine.is_none() || sim.newest_view.dishonest >= 1) {
        sim.membership_changes = true;
        sim.spares_left = 3;
        sim.spare_rng = changes;
    }
    let result = sim.run_scenario(chaos_ms);
    sim.stats.sim_ms = sim.now;
    match result {
        Ok(()) => Ok(sim.stats.clone()),
        Err(message) => Err(format!(
            "ring simulation failed: seed {seed}, {nodes} nodes, quorum {}, Byzantine {byzantine:?}, idle park {idle_park} ms, probe after {probe_after} ms, membership changes {} ({} committed), clock rates {:?} ppm, t={} ms: {message}\nreplay: {}",
            sim.stats.quorum,
            sim.membership_changes,
            sim.stats.changes_committed,
            sim.stats.clock_rates_ppm,
            sim.now,
            replay_command(seed)
        )),
    }
}

/// A message in flight on a simulated network, delivered at `at` (ties broken by `order`, the
/// order of sending). Generic over the message so the 2PC simulator uses the same one.
pub struct Envelope<M> {
    pub at: Millis,
    pub order: u64,
    pub from: usize,
    pub to: usize,
    pub message: M,
}

impl<M> PartialEq for Envelope<M> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl<M> Eq for Envelope<M> {}
impl<M> PartialOrd for Envelope<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Envelope<M> {
    // Reversed, so that the BinaryHeap pops the earliest delivery first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// One lease as the simulator saw it (global times): granted at `from`, valid until `lease_end`,
/// ended at `until` (the lease end, or an earlier `Revoke`). Recorded when `Sim::record_holds`
/// was called (the scale scenario reads them: `scale::run_scale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    pub index: usize,
    pub stamp: Stamp,
    pub from: Millis,
    pub lease_end: Millis,
    pub until: Millis,
}

/// A clock rate of exactly one local ms per global ms, in parts per million.
pub const RATE_ONE_PPM: u64 = 1_000_000;
/// The slowest and fastest clock rates `run_seed` gives a node (local ms per global ms, in parts
/// per million): the fastest runs 9.96 % faster than the slowest, just inside the 10 % drift
/// margin of the default configuration (`Config::covers_clock_rates`).
pub const CLOCK_RATE_MIN_PPM: u64 = 954_000;
pub const CLOCK_RATE_MAX_PPM: u64 = 1_049_000;

/// One process's monotonic clock in global terms: `local(t) = base_local + (t - base_global) ×
/// rate`, rounded down to whole ms. Monotonic across rate changes (`rebase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SimClock {
    base_global: Millis,
    base_local: Millis,
    rate_ppm: u64,
}

impl SimClock {
    fn new(base_global: Millis, base_local: Millis, rate_ppm: u64) -> SimClock {
        assert!(rate_ppm > 0, "a clock must run");
        SimClock { base_global, base_local, rate_ppm }
    }

    /// The local time at global time `global` (not before the base).
    fn local(&self, global: Millis) -> Millis {
        let elapsed = u128::from(global.saturating_sub(self.base_global));
        let local = elapsed * u128::from(self.rate_ppm) / u128::from(RATE_ONE_PPM);
        self.base_local.saturating_add(u64::try_from(local).unwrap_or(u64::MAX))
    }

    /// The first global time at which the local clock reads at least `local`.
    fn global_at(&self, local: Millis) -> Millis {
        let ahead = u128::from(local.saturating_sub(self.base_local));
        let elapsed = (ahead * u128::from(RATE_ONE_PPM)).div_ceil(u128::from(self.rate_ppm));
        self.base_global.saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    /// How long `local` ms of this clock take in global time (rounded up).
    fn global_duration(&self, local: Millis) -> Millis {
        let elapsed = (u128::from(local) * u128::from(RATE_ONE_PPM)).div_ceil(u128::from(self.rate_ppm));
        u64::try_from(elapsed).unwrap_or(u64::MAX)
    }

    /// The same clock running at `rate_ppm` from global time `now` on, without a jump.
    fn rebase(&self, now: Millis, rate_ppm: u64) -> SimClock {
        SimClock::new(now, self.local(now), rate_ppm)
    }
}

/// One simulated process with its disk and what its driver believes.
struct SimNode {
    id: NodeId,
    config: Config,
    keys: Keys,
    node: Option<Node>,
    durable: Option<PersistentState>,
    /// The process's monotonic clock: its own origin (new after each restart) and rate.
    clock: SimClock,
    paused_until: Option<Millis>,
    restart_at: Option<Millis>,
    /// Which process of this node runs (one more at each restart): a refused connection is
    /// reported only to the process that sent the message.
    incarnation: u64,
    crash_mid_step: bool,
    /// The lease as the driver saw it from Grant/Revoke.
    driver_grant: Option<(Stamp, Millis)>,
    // Histories kept across restarts, for S3.
    last_grant: Option<Stamp>,
    last_confirm: Option<(Stamp, NodeId)>,
    last_claim: Option<Stamp>,
    grants: u64,
    granted_since_heal: bool,
    /// Not started: a node a membership change may add later (`Sim::add_spares`).
    spare: bool,
}

impl SimNode {
    /// A node with no history: running (`node` given) or a spare that a change may add.
    fn fresh(id: NodeId, config: Config, keys: Keys, node: Option<Node>, clock: SimClock) -> SimNode {
        SimNode {
            id,
            config,
            keys,
            spare: node.is_none(),
            node,
            durable: None,
            clock,
            paused_until: None,
            restart_at: None,
            incarnation: 0,
            crash_mid_step: false,
            driver_grant: None,
            last_grant: None,
            last_confirm: None,
            last_claim: None,
            grants: 0,
            granted_since_heal: false,
        }
    }
}

/// The simulated cluster. Tests may drive it by hand (`crash`, `partition`, `run_until`, ...);
/// every method that moves time checks the safety properties after each event.
pub struct Sim {
    rng: Rng,
    now: Millis,
    nodes: Vec<SimNode>,
    queue: BinaryHeap<Envelope<Message>>,
    /// Refused connections on their way back to the sender: `from` is the crashed node, `to`
    /// the sender, the payload the sender's incarnation when it sent.
    refusals: BinaryHeap<Envelope<u64>>,
    order: u64,
    side: Vec<u8>,
    /// One-way link cuts, `cut[from][to]`, on top of the partition.
    cut: Vec<Vec<bool>>,
    cuts_heal_at: Option<Millis>,
    partition_since: Option<Millis>,
    partition_heal_at: Option<Millis>,
    pub drop_percent: u64,
    pub duplicate_percent: u64,
    pub long_delay_percent: u64,
    /// A fixed one-way delay for every message instead of the random 1-5 ms (and the random
    /// long delays); `None` (the default) keeps the random model.
    pub fixed_latency: Option<Millis>,
    /// How long one `Persist` (an fsync) takes: every send that follows a `Persist` in the same
    /// action list leaves that much later per `Persist` before it (0 by default: disks are instant).
    pub persist_delay: Millis,
    /// Every lease granted, when recording (`record_holds`).
    holds: Option<Vec<Hold>>,
    /// Random faults and want/release calls (the scenario of `run_seed`).
    pub faults: bool,
    next_fault: Millis,
    /// Upper bound of the random gap between two faults; chosen per seed.
    pub fault_gap_max: Millis,
    last_global_grant: Option<Stamp>,
    /// The Byzantine member's index, if any (see `run_seed_with`).
    pub byzantine: Option<usize>,
    next_attack: Millis,
    /// What the Byzantine member heard, to replay.
    heard: Vec<Message>,
    /// Every stamp an honest member was granted, with the holder's index.
    honest_grants: BTreeMap<Stamp, usize>,
    healed_at: Option<Millis>,
    trace: bool,
    pub stats: SimStats,
    /// The configuration every node started from (a spare's is made from it).
    template: Config,
    /// The newest committed membership an honest grant showed.
    newest_view: Membership,
    /// Random membership changes during the chaos phase (`run_seed`, half the seeds).
    pub membership_changes: bool,
    /// Banks a change may still add (made when first needed, from `spare_rng`).
    spares_left: usize,
    spare_rng: Rng,
}

impl Sim {
    /// `nodes` members with ids 3, 10, 17, ... (not indexes, to exercise the mapping).
    pub fn new(seed: u64, nodes: usize, trace: bool) -> Sim {
        Sim::with_quorum(seed, nodes, 0, trace)
    }

    /// As `new`, with `Config::quorum` set (0: a majority).
    pub fn with_quorum(seed: u64, nodes: usize, quorum: usize, trace: bool) -> Sim {
        Sim::with_config(seed, nodes, trace, |config| config.quorum = quorum)
    }

    /// As `with_quorum`, with `Config::idle_park` set (0: idle tokens are never parked).
    pub fn with_options(seed: u64, nodes: usize, quorum: usize, idle_park: Millis, trace: bool) -> Sim {
        Sim::with_config(seed, nodes, trace, |config| {
            config.quorum = quorum;
            config.idle_park = idle_park;
        })
    }

    /// As `new`, with every node's configuration (defaults, `recommended_token_timeout(nodes)`)
    /// changed by `adjust` before the nodes start.
    pub fn with_config(seed: u64, nodes: usize, trace: bool, adjust: impl Fn(&mut Config)) -> Sim {
        let mut rng = Rng::new(seed);
        let ids: Vec<NodeId> = (0..nodes).map(|index| (3 + 7 * index) as NodeId).collect();
        let mut sim_nodes = Vec::new();
        let mut quorum = 0;
        let mut probe_after = 0;
        let mut template = None;
        for id in &ids {
            let mut config = Config::with_defaults(*id, ids.clone());
            config.token_timeout = Config::recommended_token_timeout(nodes);
            adjust(&mut config);
            quorum = config.quorum;
            probe_after = config.probe_after;
            template = Some(config.clone());
            let clock = SimClock::new(0, rng.below(1_000_000), RATE_ONE_PPM);
            let keys = Keys::new(SimKeyring::new(*id, &ids, seed));
            let node = Node::new(config.clone(), keys.clone(), None, clock.local(0));
            sim_nodes.push(SimNode::fresh(*id, config, keys, Some(node), clock));
        }
        let template = template.expect("at least one node");
        let newest_view = Membership::configured(&template);
        Sim {
            template,
            newest_view,
            membership_changes: false,
            spares_left: 0,
            spare_rng: Rng::new(seed),
            rng,
            now: 0,
            nodes: sim_nodes,
            queue: BinaryHeap::new(),
            refusals: BinaryHeap::new(),
            order: 0,
            side: vec![0; nodes],
            cut: vec![vec![false; nodes]; nodes],
            cuts_heal_at: None,
            partition_since: None,
            partition_heal_at: None,
            drop_percent: 0,
            duplicate_percent: 0,
            long_delay_percent: 0,
            fixed_latency: None,
            persist_delay: 0,
            holds: None,
            faults: false,
            next_fault: 0,
            fault_gap_max: 250,
            last_global_grant: None,
            byzantine: None,
            next_attack: 0,
            heard: Vec::new(),
            honest_grants: BTreeMap::new(),
            healed_at: None,
            trace,
            stats: SimStats {
                seed,
                nodes,
                quorum: quorum.max(nodes / 2 + 1),
                clock_rates_ppm: vec![RATE_ONE_PPM; nodes],
                probe_after,
                final_membership: (0, ids.clone()),
                ..SimStats::default()
            },
        }
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn id(&self, index: usize) -> NodeId {
        self.nodes[index].id
    }

    pub fn node(&self, index: usize) -> Option<&Node> {
        self.nodes[index].node.as_ref()
    }

    pub fn local_now(&self, index: usize) -> Millis {
        self.nodes[index].clock.local(self.now)
    }

    /// Sets a node's clock rate (local ms per global ms, in parts per million) from now on; its
    /// clock does not jump. The rate stays across restarts (it is the machine's).
    pub fn set_clock_rate(&mut self, index: usize, rate_ppm: u64) {
        let now = self.now;
        let sim_node = &mut self.nodes[index];
        sim_node.clock = sim_node.clock.rebase(now, rate_ppm);
        self.stats.clock_rates_ppm = self.nodes.iter().map(|node| node.clock.rate_ppm).collect();
        self.trace_line(format!("n{index} CLOCK RATE {rate_ppm} ppm"));
    }

    pub fn clock_rate(&self, index: usize) -> u64 {
        self.nodes[index].clock.rate_ppm
    }

    pub fn grants(&self, index: usize) -> u64 {
        self.nodes[index].grants
    }

    /// The index of the node holding a live lease now, if any.
    pub fn holder(&self) -> Option<usize> {
        (0..self.nodes.len()).find(|index| self.holding(*index).is_some())
    }

    /// Starts recording every lease granted from now on (see `holds`), forgetting earlier ones.
    pub fn record_holds(&mut self) {
        self.holds = Some(Vec::new());
    }

    /// The leases granted since `record_holds`, in the order granted.
    pub fn holds(&self) -> &[Hold] {
        self.holds.as_deref().unwrap_or(&[])
    }

    /// A node's configuration.
    pub fn config(&self, index: usize) -> &Config {
        &self.nodes[index].config
    }

    pub fn holding(&self, index: usize) -> Option<(Stamp, Millis)> {
        let local = self.local_now(index);
        self.nodes[index].node.as_ref().and_then(|node| node.holding(local))
    }

    /// Runs every event up to and including global time `until`.
    pub fn run_until(&mut self, until: Millis) -> Result<(), String> {
        let mut same_instant = 0u32;
        loop {
            let next = self.next_event_time();
            if next > until {
                self.now = self.now.max(until);
                return Ok(());
            }
            same_instant = if next == self.now { same_instant + 1 } else { 0 };
            if same_instant > 10_000 {
                return Err(format!("livelock: more than 10000 events at t={next}"));
            }
            self.now = next;
            self.process_next()?;
            self.stats.events += 1;
            self.check_after_event()?;
        }
    }

    pub fn crash(&mut self, index: usize) {
        self.trace_line(format!("n{index} CRASH"));
        self.end_hold(index);
        let sim_node = &mut self.nodes[index];
        sim_node.node = None;
        sim_node.driver_grant = None;
        sim_node.paused_until = None;
        sim_node.crash_mid_step = false;
        self.stats.crashes += 1;
    }

    /// Restarts a crashed node from exactly what it last persisted, with a new clock origin.
    pub fn restart(&mut self, index: usize) {
        let origin = self.rng.below(1_000_000);
        let now = self.now;
        let sim_node = &mut self.nodes[index];
        if sim_node.node.is_some() {
            return;
        }
        // A new process: a new clock origin, the same hardware (the same rate).
        sim_node.clock = SimClock::new(now, origin, sim_node.clock.rate_ppm);
        sim_node.restart_at = None;
        sim_node.incarnation += 1;
        let local = sim_node.clock.local(now);
        let node = Node::new(sim_node.config.clone(), sim_node.keys.clone(), sim_node.durable.clone(), local);
        sim_node.node = Some(node);
        self.trace_line(format!("n{index} RESTART from {:?}", self.nodes[index].durable));
    }

    /// Adds `count` nodes that are not members (ids after the founding ones, clocks drawn from
    /// `rng`): a membership change may add them. They run only once added.
    pub fn add_spares(&mut self, count: usize, rng: &mut Rng) {
        let founding: Vec<NodeId> = self.nodes.iter().map(|node| node.id).collect();
        for _ in 0..count {
            let id = (3 + 7 * self.nodes.len()) as NodeId;
            let mut known = founding.clone();
            known.push(id);
            let rate = rng.range(CLOCK_RATE_MIN_PPM, CLOCK_RATE_MAX_PPM);
            let keys = Keys::new(SimKeyring::new(id, &known, self.stats.seed));
            let clock = SimClock::new(0, rng.below(1_000_000), rate);
            self.nodes.push(SimNode::fresh(id, Config { me: id, ..self.template.clone() }, keys, None, clock));
        }
        let n = self.nodes.len();
        self.side.resize(n, 0);
        for row in &mut self.cut {
            row.resize(n, false);
        }
        self.cut.resize(n, vec![false; n]);
        self.stats.clock_rates_ppm = self.nodes.iter().map(|node| node.clock.rate_ppm).collect();
    }

    /// Proposes a membership change at `index` (`Node::propose_membership`), as an operator would
    /// through one bank, with the approvals of the other members' operators of the node's
    /// membership: every one, or (one change in three) just enough for a quorum. One change in
    /// four is first offered with one approval too few, which the node must refuse without
    /// changing anything. Neither draws from the seed's stream (a hash of the seed and version
    /// decides), so a seed replays the history it had before approvals existed. `Ok(false)`: the
    /// node refused it (or is down).
    pub fn propose(&mut self, index: usize, change: MembershipChange) -> Result<bool, String> {
        let local = self.local_now(index);
        if self.nodes[index].paused_until.is_some() {
            return Ok(false);
        }
        let Some(view) = self.nodes[index].node.as_ref().map(|node| node.membership().clone()) else { return Ok(false) };
        let bytes = crate::membership::approval_bytes(view.version + 1, &change);
        let me = self.nodes[index].id;
        let approvals: Vec<Approval> = view
            .members
            .iter()
            .filter(|id| **id != me)
            .filter_map(|id| self.index_of(*id))
            .map(|approver| Approval { by: self.nodes[approver].id, signature: self.nodes[approver].keys.keyring().sign(&bytes) })
            .collect();
        let needed = view.approvals_needed(view.members.len()).saturating_sub(usize::from(view.is_member(me)));
        let pick = Rng::new(self.stats.seed ^ (view.version + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)).below(12);
        if pick < 3 && needed > 0 {
            let node = self.nodes[index].node.as_mut().expect("checked above");
            let before = node.status(local);
            let too_few = approvals[..(needed - 1).min(approvals.len())].to_vec();
            match node.propose_membership(change.clone(), too_few, local) {
                Err(crate::MembershipError::NotApproved { .. }) if node.status(local) == before => self.stats.changes_unapproved += 1,
                other => return Err(format!("n{index} took a change with too few approvals: {other:?}")),
            }
        }
        let approvals = if pick % 3 == 1 { approvals[..needed.min(approvals.len())].to_vec() } else { approvals };
        let Some(node) = self.nodes[index].node.as_mut() else { return Ok(false) };
        match node.propose_membership(change.clone(), approvals, local) {
            Ok(actions) => {
                self.trace_line(format!("n{index} PROPOSE {change:?}"));
                self.stats.changes_proposed += 1;
                self.apply_actions(index, actions)?;
                Ok(true)
            }
            Err(error) => {
                self.trace_line(format!("n{index} PROPOSE {change:?} refused: {error}"));
                self.stats.changes_refused += 1;
                Ok(false)
            }
        }
    }

    /// Starts a spare that a proposed change adds, configured with the current membership
    /// `target` (which it is not in yet).
    pub fn start_spare(&mut self, index: usize, target: Membership) {
        let origin = self.rng.below(1_000_000);
        let now = self.now;
        let sim_node = &mut self.nodes[index];
        sim_node.spare = false;
        sim_node.config.members = target.members.clone();
        sim_node.config.membership = Some(target);
        sim_node.clock = SimClock::new(now, origin, sim_node.clock.rate_ppm);
        let local = sim_node.clock.local(now);
        sim_node.node = Some(Node::new(sim_node.config.clone(), sim_node.keys.clone(), None, local));
        self.trace_line(format!("n{index} STARTS as an added member"));
    }

    /// The newest committed membership an honest grant showed.
    pub fn newest_membership(&self) -> &Membership {
        &self.newest_view
    }

    /// The membership a node last confirmed under (what it would report), as persisted.
    fn durable_membership(&self, index: usize) -> Membership {
        let sim_node = &self.nodes[index];
        sim_node.durable.as_ref().and_then(|durable| durable.membership.clone()).unwrap_or_else(|| Membership::configured(&sim_node.config))
    }

    /// One random change (add a spare or remove a member), proposed at a random member, when the
    /// previous one is done: committed, every member of the newest membership has confirmed
    /// under it (so none is more than one change behind), and nothing is queued or joint.
    fn change_membership(&mut self) -> Result<(), String> {
        let view = self.newest_view.clone();
        let members: Vec<usize> = view.members.iter().filter_map(|id| self.index_of(*id)).collect();
        let settled = members.iter().all(|index| {
            let node = self.nodes[*index].node.as_ref();
            let durable = self.durable_membership(*index);
            durable.version == view.version
                && !durable.is_joint()
                && node.is_none_or(|node| node.status(0).pending_change.is_none() && !node.membership().is_joint())
        });
        if !settled {
            return Ok(());
        }
        let proposer = members[self.rng.below(members.len() as u64) as usize];
        if self.spares_left > 0 && !self.nodes.iter().any(|node| node.spare) {
            self.spares_left -= 1;
            let mut rng = self.spare_rng.clone();
            self.add_spares(1, &mut rng);
            self.spare_rng = rng;
        }
        let spare = (0..self.nodes.len()).find(|index| self.nodes[*index].spare);
        let add = spare.is_some() && members.len() < 7 && (members.len() <= 2 || self.rng.chance(50));
        let change = if let (true, Some(spare)) = (add, spare) {
            let id = self.nodes[spare].id;
            let public_key = SimKeyring::public_key(id, self.stats.seed);
            // The operator starts the new bank first, with the current membership (it is not a
            // member yet: it waits for the claims of the joint membership that adds it).
            let change = MembershipChange::Add { id, public_key, label: String::new() };
            if self.propose(proposer, change)? {
                self.start_spare(spare, view.clone());
            }
            return Ok(());
        } else if members.len() > 2 {
            MembershipChange::Remove { id: view.members[self.rng.below(view.members.len() as u64) as usize] }
        } else {
            return Ok(());
        };
        self.propose(proposer, change)?;
        Ok(())
    }

    /// Freezes a node for `duration`: its clock runs on, messages to it wait or are lost.
    pub fn pause(&mut self, index: usize, duration: Millis) {
        if self.nodes[index].node.is_some() {
            self.nodes[index].paused_until = Some(self.now + duration);
            self.stats.pauses += 1;
            self.trace_line(format!("n{index} PAUSE for {duration} ms"));
        }
    }

    /// Splits the network: nodes talk only to nodes with the same side number.
    pub fn partition(&mut self, sides: &[u8]) {
        self.side = sides.to_vec();
        self.partition_since = Some(self.now);
        self.stats.partitions += 1;
        self.trace_line(format!("PARTITION {sides:?}"));
    }

    /// Cuts the one-way link `from` -> `to`.
    pub fn cut_link(&mut self, from: usize, to: usize) {
        self.cut[from][to] = true;
        self.trace_line(format!("CUT n{from} -> n{to}"));
    }

    pub fn heal_cuts(&mut self) {
        self.cut = vec![vec![false; self.nodes.len()]; self.nodes.len()];
        self.cuts_heal_at = None;
        self.trace_line("HEAL cuts".to_string());
    }

    pub fn heal_partition(&mut self) {
        self.side = vec![0; self.nodes.len()];
        self.partition_since = None;
        self.partition_heal_at = None;
        self.trace_line("HEAL partition".to_string());
    }

    pub fn want(&mut self, index: usize) -> Result<(), String> {
        let local = self.local_now(index);
        if self.nodes[index].paused_until.is_some() {
            return Ok(());
        }
        let Some(node) = self.nodes[index].node.as_mut() else { return Ok(()) };
        let actions = node.want_token(local);
        self.trace_line(format!("n{index} want_token"));
        self.apply_actions(index, actions)
    }

    pub fn release(&mut self, index: usize) -> Result<(), String> {
        let local = self.local_now(index);
        if self.nodes[index].paused_until.is_some() {
            return Ok(());
        }
        let Some(node) = self.nodes[index].node.as_mut() else { return Ok(()) };
        let actions = node.release(local);
        self.trace_line(format!("n{index} release"));
        self.apply_actions(index, actions)
    }

    /// Puts a message on the wire by hand, delivered after `delay`.
    pub fn inject(&mut self, from: usize, to: usize, message: Message, delay: Millis) {
        self.order += 1;
        self.queue.push(Envelope { at: self.now + delay, order: self.order, from, to, message });
    }

    fn run_scenario(&mut self, chaos_ms: Millis) -> Result<(), String> {
        self.run_until(chaos_ms)?;
        self.final_heal();
        let healed_at = self.now;
        let token_timeout = self.nodes[0].config.token_timeout;
        let first_grant_by = healed_at + 10 * token_timeout;
        let all_granted_by = healed_at + 20 * token_timeout;
        while self.now < all_granted_by {
            self.run_until(self.now + 100)?;
            if self.stats.recovery_ms.is_none() && self.now >= first_grant_by {
                return Err(format!("liveness: no grant within {} ms of the final heal", 10 * token_timeout));
            }
            if self.missing_members().is_empty() {
                self.stats.final_membership = (self.newest_view.version, self.newest_view.members.clone());
                return Ok(());
            }
        }
        let missing = self.missing_members();
        Err(format!(
            "liveness: nodes {missing:?} (members of version {}: {:?}) never held within {} ms of the final heal",
            self.newest_view.version,
            self.newest_view.members,
            20 * token_timeout
        ))
    }

    /// Members of the newest committed membership that have not held since the final heal.
    fn missing_members(&self) -> Vec<usize> {
        let members = &self.newest_view.members;
        (0..self.nodes.len()).filter(|index| members.contains(&self.nodes[*index].id) && !self.nodes[*index].granted_since_heal).collect()
    }

    /// Ends every fault: all nodes up and awake, no partition, a clean network.
    fn final_heal(&mut self) {
        self.trace_line("FINAL HEAL".to_string());
        self.heal_partition();
        self.heal_cuts();
        self.drop_percent = 0;
        self.duplicate_percent = 0;
        self.long_delay_percent = 0;
        for index in 0..self.nodes.len() {
            self.nodes[index].paused_until = None;
            self.nodes[index].crash_mid_step = false;
            self.nodes[index].granted_since_heal = false;
            if !self.nodes[index].spare {
                self.restart(index);
            }
        }
        self.healed_at = Some(self.now);
    }

    fn next_event_time(&self) -> Millis {
        let mut next = Millis::MAX;
        if let Some(envelope) = self.queue.peek() {
            next = next.min(envelope.at);
        }
        if let Some(envelope) = self.refusals.peek() {
            next = next.min(envelope.at);
        }
        if let Some(at) = self.partition_heal_at {
            next = next.min(at);
        }
        if let Some(at) = self.cuts_heal_at {
            next = next.min(at);
        }
        if self.faults {
            next = next.min(self.next_fault);
        }
        if self.attacking() {
            next = next.min(self.next_attack);
        }
        for sim_node in &self.nodes {
            if let Some(at) = sim_node.restart_at {
                next = next.min(at);
            }
            if let Some(at) = sim_node.paused_until {
                next = next.min(at);
                continue;
            }
            if let Some(deadline) = sim_node.node.as_ref().and_then(|node| node.next_deadline()) {
                next = next.min(sim_node.clock.global_at(deadline));
            }
        }
        next.max(self.now)
    }

    /// Handles one event due at `self.now`: controls first, then a delivery, then a timer.
    fn process_next(&mut self) -> Result<(), String> {
        let now = self.now;
        if self.partition_heal_at.is_some_and(|at| at <= now) {
            self.heal_partition();
            return Ok(());
        }
        if self.cuts_heal_at.is_some_and(|at| at <= now) {
            self.heal_cuts();
            return Ok(());
        }
        for index in 0..self.nodes.len() {
            if self.nodes[index].restart_at.is_some_and(|at| at <= now) {
                self.restart(index);
                return Ok(());
            }
            if self.nodes[index].paused_until.is_some_and(|at| at <= now) {
                self.nodes[index].paused_until = None;
                self.trace_line(format!("n{index} RESUME"));
                return Ok(());
            }
        }
        if self.faults && self.next_fault <= now {
            return self.random_fault();
        }
        if self.attacking() && self.next_attack <= now {
            self.attack();
            return Ok(());
        }
        if self.queue.peek().is_some_and(|envelope| envelope.at <= now) {
            let envelope = self.queue.pop().expect("peeked");
            return self.deliver(envelope);
        }
        if self.refusals.peek().is_some_and(|envelope| envelope.at <= now) {
            let envelope = self.refusals.pop().expect("peeked");
            return self.deliver_refusal(envelope);
        }
        for index in 0..self.nodes.len() {
            let sim_node = &mut self.nodes[index];
            if sim_node.paused_until.is_some() {
                continue;
            }
            let local = sim_node.clock.local(now);
            let Some(node) = sim_node.node.as_mut() else { continue };
            if node.next_deadline().is_some_and(|deadline| deadline <= local) {
                let actions = node.tick(local);
                if self.trace {
                    self.trace_line(format!("n{index} tick -> {}", describe(&actions)));
                }
                return self.apply_actions(index, actions);
            }
        }
        Ok(())
    }

    fn deliver(&mut self, envelope: Envelope<Message>) -> Result<(), String> {
        let Envelope { from, to, message, .. } = envelope;
        if self.side[from] != self.side[to] || self.cut[from][to] {
            return Ok(());
        }
        if self.nodes[to].node.is_none() {
            // The process is gone but its host is reachable: the connection is refused, and the
            // sender's driver hears it about one network delay later (unless the way back is cut
            // or the reset is lost). A partitioned or frozen peer gives no such signal.
            if !self.cut[to][from] {
                self.refuse(from, to);
            }
            return Ok(());
        }
        if let Some(resume) = self.nodes[to].paused_until {
            // A frozen process: the message waits in the socket buffer, or is lost.
            if self.rng.chance(50) {
                let latency = self.rng.range(1, 5);
                self.order += 1;
                self.queue.push(Envelope { at: resume + latency, order: self.order, from, to, message });
            }
            return Ok(());
        }
        if Some(to) == self.byzantine && self.attacking() {
            self.byzantine_hears(from, &message);
        }
        let local = self.local_now(to);
        let from_id = self.nodes[from].id;
        let trace = self.trace.then(|| format!("n{to} <- n{from} {message:?}"));
        let node = self.nodes[to].node.as_mut().expect("checked above");
        let actions = node.step(from_id, message, local);
        if let Some(line) = trace {
            self.trace_line(format!("{line} -> {}", describe(&actions)));
        }
        self.apply_actions(to, actions)
    }

    /// Sends a refused connection from the crashed `dead` back to `sender`.
    fn refuse(&mut self, sender: usize, dead: usize) {
        if self.rng.chance(self.drop_percent) {
            return;
        }
        let latency = self.fixed_latency.unwrap_or_else(|| self.rng.range(1, 5));
        self.order += 1;
        let incarnation = self.nodes[sender].incarnation;
        self.refusals.push(Envelope { at: self.now + latency, order: self.order, from: dead, to: sender, message: incarnation });
    }

    /// The sender's driver learns that its message to a crashed node was refused.
    fn deliver_refusal(&mut self, envelope: Envelope<u64>) -> Result<(), String> {
        let Envelope { from: dead, to: sender, message: incarnation, .. } = envelope;
        if self.nodes[sender].node.is_none() || self.nodes[sender].incarnation != incarnation {
            return Ok(()); // the process that sent it is gone too
        }
        if let Some(resume) = self.nodes[sender].paused_until {
            // A frozen driver handles the error when it runs again.
            self.order += 1;
            self.refusals.push(Envelope { at: resume, order: self.order, from: dead, to: sender, message: incarnation });
            return Ok(());
        }
        self.stats.refusals += 1;
        let local = self.local_now(sender);
        let peer = self.nodes[dead].id;
        let node = self.nodes[sender].node.as_mut().expect("checked above");
        let actions = node.unreachable(peer, local);
        if self.trace {
            self.trace_line(format!("n{sender} UNREACHABLE n{dead} (connection refused) -> {}", describe(&actions)));
        }
        self.apply_actions(sender, actions)
    }

    fn random_fault(&mut self) -> Result<(), String> {
        let n = self.nodes.len() as u64;
        let index = self.rng.below(n) as usize;
        self.next_fault = self.now + self.rng.range(10, self.fault_gap_max);
        let chaos = self.healed_at.is_none();
        let roll = self.rng.below(100);
        match roll {
            0..=29 => self.want(index)?,
            30..=49 => self.release(index)?,
            _ if !chaos => {}
            50..=56 if self.nodes[index].node.is_some() => {
                self.crash(index);
                self.nodes[index].restart_at = Some(self.now + self.rng.range(50, 3_000));
            }
            57..=60 if self.nodes[index].node.is_some() => self.nodes[index].crash_mid_step = true,
            61..=66 if self.nodes[index].paused_until.is_none() => {
                let duration = self.rng.range(1_600, 4_000);
                self.pause(index, duration);
            }
            67..=74 if self.partition_since.is_none() => {
                let sides: Vec<u8> = (0..n).map(|_| self.rng.below(2) as u8).collect();
                self.partition(&sides);
                self.partition_heal_at = Some(self.now + self.rng.range(200, 4_000));
            }
            75..=79 if self.cuts_heal_at.is_none() => {
                for from in 0..self.nodes.len() {
                    for to in 0..self.nodes.len() {
                        if from != to && self.rng.chance(30) {
                            self.cut_link(from, to);
                        }
                    }
                }
                self.cuts_heal_at = Some(self.now + self.rng.range(200, 4_000));
            }
            80..=84 => {
                self.drop_percent = self.rng.below(25);
                self.duplicate_percent = self.rng.below(10);
                self.long_delay_percent = self.rng.below(5);
            }
            85..=89 if self.membership_changes => self.change_membership()?,
            _ => {}
        }
        Ok(())
    }

    /// Carries out a node's actions in order, as a driver would, checking each one. A node marked
    /// `crash_mid_step` dies part-way through, keeping only what it had persisted so far.
    fn apply_actions(&mut self, index: usize, actions: Vec<Action>) -> Result<(), String> {
        let crash_at = if self.nodes[index].crash_mid_step { Some(self.rng.below(actions.len() as u64 + 1) as usize) } else { None };
        // The fsyncs carried out so far in this list delay every later send (`persist_delay`).
        let mut fsync_wait = 0;
        for (position, action) in actions.into_iter().enumerate() {
            if crash_at == Some(position) {
                self.crash_with_restart(index);
                return Ok(());
            }
            match action {
                Action::Persist(state) => {
                    self.check_persist(index, state)?;
                    fsync_wait += self.persist_delay;
                }
                Action::Send { to, message } => {
                    self.check_send(index, to, &message)?;
                    if matches!(message, Message::Probe { .. }) {
                        self.stats.probes += 1;
                    }
                    let to_index = self.index_of(to).ok_or_else(|| format!("n{index} sent to unknown id {to}"))?;
                    if Some(index) == self.byzantine && self.attacking() && matches!(message, Message::Token { .. }) {
                        // Equivocation: the same token to a second successor.
                        let other = self.rng.below(self.nodes.len() as u64) as usize;
                        if other != index && other != to_index {
                            self.stats.forged += 1;
                            self.send(index, other, message.clone(), fsync_wait);
                        }
                    }
                    self.send(index, to_index, message, fsync_wait);
                }
                Action::Grant { stamp, lease_until, certificate } => {
                    self.check_certified_grant(index, stamp, &certificate)?;
                    self.check_grant(index, stamp, lease_until)?
                }
                Action::Revoke { stamp } => {
                    let sim_node = &mut self.nodes[index];
                    match sim_node.driver_grant {
                        Some((granted, _)) if granted == stamp => sim_node.driver_grant = None,
                        other => return Err(format!("n{index} revoked {stamp} but the driver had {other:?}")),
                    }
                    self.end_hold(index);
                }
            }
        }
        if crash_at.is_some() {
            self.crash_with_restart(index);
        }
        Ok(())
    }

    fn crash_with_restart(&mut self, index: usize) {
        self.crash(index);
        self.nodes[index].restart_at = Some(self.now + self.rng.range(10, 2_000));
    }

    /// Puts a message on the wire `extra` ms from now (the sender's fsyncs before it), plus the latency.
    fn send(&mut self, from: usize, to: usize, message: Message, extra: Millis) {
        self.stats.messages += 1;
        if self.rng.chance(self.drop_percent) {
            return;
        }
        let copies = if self.rng.chance(self.duplicate_percent) { 2 } else { 1 };
        for _ in 0..copies {
            let latency = match self.fixed_latency {
                Some(latency) => latency,
                None if self.rng.chance(self.long_delay_percent) => self.rng.range(50, 2_500),
                None => self.rng.range(1, 5),
            } + extra;
            self.order += 1;
            let envelope = Envelope { at: self.now + latency, order: self.order, from, to, message: message.clone() };
            self.queue.push(envelope);
        }
    }

    /// Ends the recorded hold of `index`, if it still runs (a revoke or a crash).
    fn end_hold(&mut self, index: usize) {
        let now = self.now;
        if let Some(hold) = self.holds.as_mut().and_then(|holds| holds.iter_mut().rev().find(|hold| hold.index == index)) {
            hold.until = hold.until.min(now);
        }
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|node| node.id == id)
    }

    fn trace_line(&self, line: String) {
        if self.trace {
            println!("t={:>6} {line}", self.now);
        }
    }
}

// The Byzantine member.
impl Sim {
    /// The Byzantine member misbehaves until the final heal, then runs its honest core only.
    fn attacking(&self) -> bool {
        self.byzantine.is_some() && self.healed_at.is_none()
    }

    /// Delivers a forged message from the Byzantine member, after a short random delay.
    fn forge(&mut self, to: usize, message: Message) {
        let byzantine = self.byzantine.expect("only while attacking");
        self.stats.forged += 1;
        self.trace_line(format!("n{byzantine} FORGES to n{to}: {message:?}"));
        let delay = self.rng.range(0, 5);
        self.inject(byzantine, to, message, delay);
    }

    /// Besides what its honest core answers: it confirms every claimant (two for one stamp, if
    /// asked) and promises every candidate, saying no lease of its own runs.
    fn byzantine_hears(&mut self, from: usize, message: &Message) {
        let byzantine = self.byzantine.expect("only while attacking");
        self.heard.push(message.clone());
        if self.heard.len() > 64 {
            self.heard.remove(0);
        }
        match message {
            Message::Claim { stamp, holder, membership, .. } if *holder == self.nodes[from].id => {
                let signature = self.nodes[byzantine].keys.sign_confirm_in(*stamp, *holder, membership.as_ref());
                self.forge(from, Message::Confirm { stamp: *stamp, holder: *holder, signature });
            }
            Message::Propose { epoch, .. } => {
                self.forge(from, Message::Promise { epoch: *epoch, last_confirmed: None, lease_remaining: 0, membership: None });
            }
            _ => {}
        }
    }

    /// One forged, garbled, far-future or replayed message to a random honest member.
    fn attack(&mut self) {
        let byzantine = self.byzantine.expect("only while attacking");
        self.next_attack = self.now + self.rng.range(5, 200);
        let n = self.nodes.len() as u64;
        let to = ((byzantine as u64 + 1 + self.rng.below(n - 1)) % n) as usize;
        let me = self.nodes[byzantine].id;
        let ring: Vec<NodeId> = self.nodes.iter().map(|node| node.id).collect();
        let newest = self.last_global_grant.unwrap_or_default();
        let far = Stamp::new((1 << 63) + 5, 1);
        let proof = self.replayed_certificate();
        // Its forgeries carry the membership its honest core works with (it signs no change).
        let membership =
            self.nodes[byzantine].node.as_ref().map(|node| node.membership().clone()).filter(|membership| !membership.is_founding());
        let stamp = match self.rng.below(4) {
            0 => far,
            1 => Stamp::new(newest.epoch, newest.seq + self.rng.range(1, 3)),
            2 => Stamp::new(((crate::epoch_round(newest.epoch) + self.rng.range(1, 3)) << 16) | u64::from(me), 1),
            _ => Stamp::new(self.rng.next_u64(), self.rng.next_u64()),
        };
        let message = match self.rng.below(10) {
            0 => Message::Propose { epoch: far.epoch, proof },
            1 => Message::Propose { epoch: ((crate::epoch_round(newest.epoch) + self.rng.range(1, 3)) << 16) | u64::from(me), proof },
            2 => Message::Token { stamp, ring, proof, membership },
            3 => Message::Claim { stamp, holder: me, ring, proof, membership },
            4 => {
                let mut bytes = [0u8; 64];
                bytes[0] = self.rng.below(256) as u8;
                let signature = ringbank_domain::keys::Signature::from_bytes(bytes);
                Message::Confirm { stamp, holder: self.nodes[to].id, signature }
            }
            5 => Message::Promise {
                epoch: stamp.epoch,
                last_confirmed: Some((stamp, self.nodes[to].id)),
                lease_remaining: self.rng.below(1_000_000_000),
                membership,
            },
            6 => Message::Reject { promised_epoch: if self.rng.chance(50) { far.epoch } else { stamp.epoch } },
            7 if self.rng.chance(50) => Message::Join { epoch: far.epoch },
            7 => Message::Wake { epoch: far.epoch },
            8 if self.rng.chance(30) => Message::Probe { epoch: if self.rng.chance(50) { far.epoch } else { stamp.epoch } },
            _ if !self.heard.is_empty() => self.heard[self.rng.below(self.heard.len() as u64) as usize].clone(),
            _ => Message::TokenAck { stamp },
        };
        self.forge(to, message);
    }

    /// A genuine certificate the Byzantine member heard (the base it may jump from), or none.
    fn replayed_certificate(&mut self) -> Option<Certificate> {
        let proofs: Vec<&Certificate> = self.heard.iter().filter_map(Message::proof).collect();
        if proofs.is_empty() || self.rng.chance(30) {
            return None;
        }
        Some(proofs[self.rng.below(proofs.len() as u64) as usize].clone())
    }

    /// A grant under `under` commits its change, if joint.
    fn learn_committed(&mut self, under: &Membership) {
        let committed = under.committed();
        if committed.version > self.newest_view.version {
            if under.is_joint() {
                self.stats.changes_committed += 1;
            }
            self.trace_line(format!("COMMITTED membership {} {:?}", committed.version, committed.members));
            self.newest_view = committed;
        }
    }

    /// An honest grant comes with a certificate any member believes; and no stamp is certified
    /// for two honest holders, unless the quorum is too small for a dishonest member (counted).
    fn check_certified_grant(&mut self, index: usize, stamp: Stamp, certificate: &Certificate) -> Result<(), String> {
        if Some(index) == self.byzantine {
            return Ok(());
        }
        let sim_node = &self.nodes[index];
        if certificate.stamp != stamp || certificate.holder != sim_node.id {
            return Err(format!("n{index} granted {stamp} with a certificate for {}/{}", certificate.stamp, certificate.holder));
        }
        // Epoch 0 is the bootstrap epoch, minted by nobody; its owner bits name member 0, which
        // the simulator's member ids (3, 10, ...) do not include, so only later epochs are verified.
        // Checked against the membership it was claimed under, as every member would.
        let under = certificate.membership.clone().unwrap_or_else(|| Membership::configured(&self.template));
        let verified = if stamp.epoch == 0 { Ok(()) } else { certificate.verify_in(&under, &sim_node.keys) };
        if let Err(error) = verified {
            return Err(format!("n{index} granted {stamp} with a certificate others refuse: {error}"));
        }
        self.learn_committed(&under);
        if let Some(other) = self.honest_grants.insert(stamp, index).filter(|other| *other != index) {
            if quorum_survives_one_liar(self.stats.nodes, self.stats.quorum) || self.byzantine.is_none() {
                return Err(format!("fence: stamp {stamp} certified for two honest holders, n{other} and n{index}"));
            }
            self.stats.split_stamps += 1;
        }
        Ok(())
    }
}

// Property checks.
impl Sim {
    fn check_persist(&mut self, index: usize, state: PersistentState) -> Result<(), String> {
        let sim_node = &mut self.nodes[index];
        let old = sim_node.durable.clone().unwrap_or_default();
        if state.promised_epoch < old.promised_epoch || state.highest_accepted < old.highest_accepted {
            return Err(format!("n{index} persisted a regression: {old:?} -> {state:?}"));
        }
        match (old.last_confirmed, state.last_confirmed) {
            (Some(_), None) => return Err(format!("n{index} forgot its last confirmation")),
            (Some((a, ha)), Some((b, hb))) if b < a || (a == b && ha != hb) => {
                return Err(format!("S3: n{index} persisted confirmation {b}/{hb} after {a}/{ha}"))
            }
            _ => {}
        }
        sim_node.durable = Some(state);
        Ok(())
    }

    /// S2 and persist-before-send: what a message claims must already be durable.
    fn check_send(&mut self, index: usize, to: NodeId, message: &Message) -> Result<(), String> {
        let sim_node = &mut self.nodes[index];
        let me = sim_node.id;
        if to == me {
            return Err(format!("n{index} sent {message:?} to itself"));
        }
        let durable = sim_node.durable.clone().unwrap_or_default();
        let promised = durable.promised_epoch;
        match message {
            Message::Token { stamp, .. } | Message::TokenAck { stamp } if stamp.epoch < promised => {
                return Err(format!("S2: n{index} sent {message:?} below its promise {promised}"));
            }
            Message::Propose { epoch, .. } | Message::Promise { epoch, .. } if *epoch != promised => {
                return Err(format!("persist-before-send: n{index} sent {message:?} with durable promise {promised}"));
            }
            Message::Claim { stamp, holder, .. } => {
                if *holder != me || durable.highest_accepted != *stamp || durable.last_confirmed != Some((*stamp, me)) {
                    return Err(format!("persist-before-send: n{index} sent {message:?} with durable {durable:?}"));
                }
                if stamp.epoch < promised {
                    return Err(format!("S2: n{index} claimed {stamp} below its promise {promised}"));
                }
                if sim_node.last_claim.is_some_and(|last| last > *stamp) {
                    return Err(format!("S3: n{index} claimed {stamp} after {:?}", sim_node.last_claim));
                }
                sim_node.last_claim = Some(*stamp);
            }
            Message::Confirm { stamp, holder, .. } => {
                if durable.last_confirmed != Some((*stamp, *holder)) {
                    return Err(format!("persist-before-send: n{index} sent {message:?} with durable {durable:?}"));
                }
                if stamp.epoch < promised {
                    return Err(format!("S2: n{index} confirmed {stamp} below its promise {promised}"));
                }
                if let Some((last, last_holder)) = sim_node.last_confirm {
                    if *stamp < last || (*stamp == last && *holder != last_holder) {
                        return Err(format!("S3: n{index} confirmed {stamp}/{holder} after {last}/{last_holder}"));
                    }
                }
                sim_node.last_confirm = Some((*stamp, *holder));
            }
            _ => {}
        }
        Ok(())
    }

    fn check_grant(&mut self, index: usize, stamp: Stamp, lease_until: Millis) -> Result<(), String> {
        let local = self.local_now(index);
        let healed = self.healed_at.is_some();
        let protected = self.byzantine.is_none() || quorum_survives_one_liar(self.stats.nodes, self.stats.quorum);
        let sim_node = &mut self.nodes[index];
        let hold_max = sim_node.config.hold_max;
        let promised = sim_node.durable.as_ref().map_or(0, |durable| durable.promised_epoch);
        if stamp.epoch < promised {
            return Err(format!("S2: n{index} granted {stamp} below its promise {promised}"));
        }
        if sim_node.last_grant.is_some_and(|last| last >= stamp) {
            return Err(format!("S3: n{index} granted {stamp} after {:?}", sim_node.last_grant));
        }
        if protected && self.last_global_grant.is_some_and(|last| last >= stamp) {
            return Err(format!("fencing: n{index} granted {stamp} after {:?} was granted", self.last_global_grant));
        }
        if lease_until <= local || lease_until > local + hold_max {
            return Err(format!("n{index} granted a lease until {lease_until} at local time {local}"));
        }
        sim_node.last_grant = Some(stamp);
        sim_node.driver_grant = Some((stamp, lease_until));
        sim_node.grants += 1;
        self.last_global_grant = self.last_global_grant.max(Some(stamp));
        self.stats.grants += 1;
        if healed {
            sim_node.granted_since_heal = true;
            if self.stats.recovery_ms.is_none() {
                self.stats.recovery_ms = Some(self.now - self.healed_at.unwrap_or(0));
            }
        }
        let lease_end = self.nodes[index].clock.global_at(lease_until);
        if let Some(holds) = self.holds.as_mut() {
            holds.push(Hold { index, stamp, from: self.now, lease_end, until: lease_end });
        }
        self.trace_line(format!("n{index} GRANT {stamp} until local {lease_until}"));
        Ok(())
    }

    /// S1, the driver's view agreeing with the node, and S4.
    fn check_after_event(&mut self) -> Result<(), String> {
        let mut holders = Vec::new();
        for (index, sim_node) in self.nodes.iter().enumerate() {
            let local = sim_node.clock.local(self.now);
            let holding = sim_node.node.as_ref().and_then(|node| node.holding(local));
            let driver = sim_node.driver_grant.filter(|(_, until)| local < *until);
            if holding != driver {
                return Err(format!("n{index}: node says holding {holding:?}, driver has {driver:?}"));
            }
            if let Some((stamp, _)) = holding {
                holders.push((index, stamp));
            }
        }
        // With a dishonest member and a quorum too small for it, two honest members can hold at
        // once: counted, not refused (the 2PC fences and holds keep money safe then).
        holders.retain(|(index, _)| Some(*index) != self.byzantine);
        let protected = self.byzantine.is_none() || quorum_survives_one_liar(self.stats.nodes, self.stats.quorum);
        if holders.len() > 1 && protected {
            return Err(format!("S1: several honest holders at once (quorum {}): {holders:?}", self.stats.quorum));
        }
        if holders.len() > 1 {
            self.stats.double_holders += 1;
        }
        if let (Some((holder, stamp)), Some(since)) = (holders.first(), self.partition_since) {
            // A lease of hold_max on the holder's clock, in global time (longer on a slow clock).
            let hold_max = self.nodes[*holder].clock.global_duration(self.nodes[*holder].config.hold_max);
            // Its quorum counts in the members it holds under (the committed set after a change).
            let view = self.nodes[*holder].node.as_ref().map(|node| node.membership().clone()).expect("a holder runs");
            let side = self.side[*holder];
            let side_size = view.members.iter().filter(|id| self.index_of(**id).is_some_and(|index| self.side[index] == side)).count();
            if self.now >= since + hold_max && side_size < view.quorum() {
                return Err(format!(
                    "S4: n{holder} holds {stamp} on a side of {side_size} of {} members, partitioned since {since}",
                    view.members.len()
                ));
            }
        }
        Ok(())
    }
}

fn describe(actions: &[Action]) -> String {
    let parts: Vec<String> = actions
        .iter()
        .map(|action| match action {
            Action::Persist(state) => format!("persist{state:?}"),
            Action::Send { to, message } => format!("send {to} {message:?}"),
            Action::Grant { stamp, lease_until, .. } => format!("GRANT {stamp} until {lease_until}"),
            Action::Revoke { stamp } => format!("REVOKE {stamp}"),
        })
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join("; ")
    }
}
