//! Membership change scenarios: real nodes driven by hand through a tiny network (1 ms latency),
//! with at most one holder asserted after every action.

use ringbank_ring::{
    Action, Config, Keys, Membership, MembershipChange, MembershipError, Message, Millis, Node, NodeId, PersistentState, SimKeyring, Stamp,
    MAX_MEMBERS,
};

const SEED: u64 = 42;
/// Every id a test may use; the founding members are the first ones.
const UNIVERSE: [NodeId; 6] = [0, 1, 2, 3, 4, 5];

struct Cluster {
    nodes: Vec<Option<Node>>,
    configs: Vec<Config>,
    durable: Vec<Option<PersistentState>>,
    /// Cut off: no ticks, and messages to and from it are lost.
    frozen: Vec<bool>,
    now: Millis,
    in_flight: Vec<(Millis, usize, usize, Message)>,
    grants: Vec<(usize, Stamp, Millis)>,
    sent: Vec<(Millis, usize, usize, Message)>,
}

fn keys(id: NodeId) -> Keys {
    Keys::new(SimKeyring::new(id, &UNIVERSE, SEED))
}

/// The approvals of `approvers` for the change creating `version`.
fn approvals(version: u64, change: &MembershipChange, approvers: &[NodeId]) -> Vec<ringbank_ring::Approval> {
    let bytes = ringbank_ring::approval_bytes(version, change);
    approvers.iter().map(|by| ringbank_ring::Approval { by: *by, signature: keys(*by).keyring().sign(&bytes) }).collect()
}

/// `change` creating `version`, signed by `proposer` and approved by `approvers`.
fn signed_change(version: u64, change: &MembershipChange, proposer: NodeId, approvers: &[NodeId]) -> ringbank_ring::SignedChange {
    let signature = keys(proposer).keyring().sign(&ringbank_ring::change_bytes(version, change, proposer));
    ringbank_ring::SignedChange { version, change: change.clone(), proposer, signature, approvals: approvals(version, change, approvers) }
}

fn add(id: NodeId) -> MembershipChange {
    MembershipChange::Add { id, public_key: SimKeyring::public_key(id, SEED), label: String::new() }
}

impl Cluster {
    /// `n` founding members (ids 0..n) and room for the others of `UNIVERSE`, not started.
    fn new(n: usize) -> Cluster {
        let founding: Vec<NodeId> = (0..n as NodeId).collect();
        let configs: Vec<Config> = UNIVERSE.iter().map(|id| Config::with_defaults(*id, founding.clone())).collect();
        let nodes = (0..UNIVERSE.len())
            .map(|index| (index < n).then(|| Node::new(configs[index].clone(), keys(index as NodeId), None, 0)))
            .collect();
        Cluster {
            nodes,
            configs,
            durable: vec![None; UNIVERSE.len()],
            frozen: vec![false; UNIVERSE.len()],
            now: 0,
            in_flight: Vec::new(),
            grants: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn node(&self, index: usize) -> &Node {
        self.nodes[index].as_ref().expect("node is up")
    }

    /// Starts a bank about to be added, as its operator would: with the current membership.
    fn start_new_member(&mut self, index: usize, current: &Membership) {
        let mut config = Config::with_defaults(index as NodeId, current.members.clone());
        config.membership = Some(current.clone());
        self.configs[index] = config.clone();
        self.nodes[index] = Some(Node::new(config, keys(index as NodeId), None, self.now));
    }

    /// Starts new member `index` from `proposer`'s membership and has `proposer` propose it.
    fn add_new_member(&mut self, proposer: usize, index: usize) {
        let current = self.node(proposer).membership().clone();
        self.start_new_member(index, &current);
        self.propose(proposer, add(index as NodeId)).expect("a valid change");
    }

    fn crash(&mut self, index: usize) {
        self.nodes[index] = None;
    }

    fn restart(&mut self, index: usize) {
        let node = Node::new(self.configs[index].clone(), keys(index as NodeId), self.durable[index].clone(), self.now);
        self.nodes[index] = Some(node);
    }

    /// Proposes `change` at `index` with the approvals of every other member of its membership.
    fn propose(&mut self, index: usize, change: MembershipChange) -> Result<(), MembershipError> {
        let view = self.node(index).membership().clone();
        let approvers: Vec<NodeId> = view.members.iter().copied().filter(|id| *id != index as NodeId).collect();
        self.propose_approved(index, change, &approvers)
    }

    /// Proposes `change` at `index` with the approvals of `approvers` only.
    fn propose_approved(&mut self, index: usize, change: MembershipChange, approvers: &[NodeId]) -> Result<(), MembershipError> {
        let version = self.node(index).membership().version + 1;
        let approvals = approvals(version, &change, approvers);
        let now = self.now;
        let actions = self.nodes[index].as_mut().expect("up").propose_membership(change, approvals, now)?;
        self.apply(index, actions);
        Ok(())
    }

    fn apply(&mut self, index: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Persist(state) => self.durable[index] = Some(state),
                Action::Send { to, message } => {
                    self.sent.push((self.now, index, to as usize, message.clone()));
                    self.in_flight.push((self.now + 1, index, to as usize, message));
                }
                Action::Grant { stamp, .. } => self.grants.push((index, stamp, self.now)),
                Action::Revoke { .. } => {}
            }
        }
        let holders = self.holders();
        assert!(holders.len() <= 1, "S1 violated at {}: {holders:?}", self.now);
    }

    fn holders(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|index| self.nodes[*index].as_ref().is_some_and(|node| node.holding(self.now).is_some())).collect()
    }

    fn run(&mut self, until: Millis) {
        while self.now < until {
            self.now += 1;
            let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|(at, ..)| *at <= self.now);
            self.in_flight = later;
            for (_, from, to, message) in due {
                if self.frozen[to] || self.frozen[from] {
                    continue;
                }
                let now = self.now;
                if let Some(node) = self.nodes[to].as_mut() {
                    let actions = node.step(from as NodeId, message, now);
                    self.apply(to, actions);
                }
            }
            for index in 0..self.nodes.len() {
                let now = self.now;
                if self.frozen[index] {
                    continue;
                }
                let Some(node) = self.nodes[index].as_mut() else { continue };
                if node.next_deadline().is_some_and(|deadline| deadline <= now) {
                    let actions = node.tick(now);
                    self.apply(index, actions);
                }
            }
        }
    }

    fn granted_since(&self, index: usize, since: Millis) -> bool {
        self.grants.iter().any(|(node, _, at)| *node == index && *at >= since)
    }

    /// (version, members, joint) as node `index` works with them.
    fn view(&self, index: usize) -> (u64, Vec<NodeId>, bool) {
        let status = self.node(index).status(self.now);
        (status.membership_version, status.members, status.membership_joint)
    }
}

#[test]
fn a_fourth_member_is_added_while_the_token_circulates_and_then_holds() {
    let mut cluster = Cluster::new(3);
    cluster.run(2_000);
    let current = cluster.node(0).membership().clone();
    assert_eq!((current.version, current.is_joint()), (0, false));
    cluster.start_new_member(3, &current);
    assert!(!cluster.node(3).status(cluster.now).member, "not a member before the change");
    let proposed_at = cluster.now;
    cluster.propose(1, add(3)).expect("a valid change");
    assert_eq!(cluster.node(1).status(cluster.now).pending_change, Some(add(3)));
    cluster.run(proposed_at + 4_000);
    for index in 0..4 {
        assert_eq!(cluster.view(index), (1, vec![0, 1, 2, 3], false), "node {index}");
        assert!(cluster.node(index).status(cluster.now).member);
        assert!(cluster.granted_since(index, proposed_at), "node {index} did not hold after the change");
    }
    // The grants kept increasing through the change, and the new member's holdings come with a
    // certificate under the new membership, its own key included.
    let stamps: Vec<Stamp> = cluster.grants.iter().map(|(_, stamp, _)| *stamp).collect();
    assert!(stamps.windows(2).all(|pair| pair[0] < pair[1]));
    let new_member_grants = cluster.grants.iter().filter(|(node, ..)| *node == 3).count();
    assert!(new_member_grants >= 2, "{new_member_grants}");
    // The change was ordered by the token: some claim counted the joint sets (old and new).
    let joint_claims = cluster
        .sent
        .iter()
        .filter(|(_, _, _, message)| matches!(message, Message::Claim { membership: Some(m), .. } if m.is_joint()))
        .count();
    assert!(joint_claims > 0);
}

#[test]
fn removing_a_member_and_then_the_holder_keeps_the_ring_going() {
    let mut cluster = Cluster::new(5);
    cluster.run(2_000);
    let proposed_at = cluster.now;
    cluster.propose(0, MembershipChange::Remove { id: 4 }).expect("a valid change");
    cluster.run(proposed_at + 3_000);
    for index in 0..4 {
        assert_eq!(cluster.view(index), (1, vec![0, 1, 2, 3], false), "node {index}");
    }
    assert!(!cluster.node(4).status(cluster.now).member, "the removed member learns it");
    let committed_at = cluster.now;
    cluster.run(committed_at + 2_000);
    assert!(!cluster.granted_since(4, committed_at), "a removed member no longer receives the token");
    // Now remove whoever holds, while it holds.
    while cluster.holders().is_empty() {
        let next = cluster.now + 1;
        cluster.run(next);
    }
    let holder = cluster.holders()[0];
    let removed_at = cluster.now;
    cluster.propose(holder, MembershipChange::Remove { id: holder as NodeId }).expect("a holder may remove itself");
    cluster.run(removed_at + 3_000);
    let remaining: Vec<NodeId> = (0..4).filter(|index| *index != holder).map(|index| index as NodeId).collect();
    for index in &remaining {
        assert_eq!(cluster.view(*index as usize), (2, remaining.clone(), false), "node {index}");
    }
    assert!(!cluster.node(holder).status(cluster.now).member);
    let after = cluster.now;
    cluster.run(after + 2_000);
    assert!(!cluster.granted_since(holder, after), "the removed holder holds no more");
    for index in &remaining {
        assert!(cluster.granted_since(*index as usize, after), "node {index} stopped holding");
    }
}

#[test]
fn a_member_down_during_a_change_catches_up_when_it_returns() {
    let mut cluster = Cluster::new(3);
    cluster.run(2_000);
    cluster.crash(2);
    cluster.add_new_member(0, 3);
    cluster.run(6_000);
    for index in [0, 1, 3] {
        assert_eq!(cluster.view(index), (1, vec![0, 1, 2, 3], false), "node {index}");
    }
    // Node 2 comes back with the founding membership on its disk, one change behind.
    assert_eq!(cluster.durable[2].as_ref().and_then(|state| state.membership.clone()), None);
    cluster.restart(2);
    assert_eq!(cluster.view(2).0, 0);
    let back_at = cluster.now;
    cluster.run(back_at + 4_000);
    assert_eq!(cluster.view(2), (1, vec![0, 1, 2, 3], false), "it catches up from the claims it confirms");
    assert!(cluster.granted_since(2, back_at), "and holds again");
    // Also through a partition: node 1 is cut off while node 4 is added, then returns.
    cluster.frozen[1] = true;
    cluster.add_new_member(0, 4);
    cluster.run(cluster.now + 4_000);
    assert_eq!(cluster.view(0), (2, vec![0, 1, 2, 3, 4], false));
    assert_eq!(cluster.view(1).0, 1, "node 1 missed it");
    cluster.frozen[1] = false;
    let healed_at = cluster.now;
    cluster.run(healed_at + 5_000);
    assert_eq!(cluster.view(1), (2, vec![0, 1, 2, 3, 4], false));
    for index in 0..5 {
        assert!(cluster.granted_since(index, healed_at), "node {index} did not hold after the heal");
    }
}

/// Two changes while node 2 is down: it cannot follow them one at a time, says so in its status
/// (`membership_ahead_seen`), and takes part again once restarted with the membership in force
/// persisted (what the bank's `serve --catch-up` writes), its promise kept.
#[test]
fn a_member_down_through_two_changes_sees_it_is_behind_and_returns_with_the_current_membership() {
    let mut cluster = Cluster::new(3);
    cluster.run(2_000);
    cluster.crash(2);
    cluster.add_new_member(0, 3);
    cluster.run(6_000);
    cluster.propose(0, MembershipChange::Remove { id: 3 }).expect("a valid change");
    cluster.run(10_000);
    assert_eq!(cluster.view(0), (2, vec![0, 1, 2], false));
    cluster.crash(3);
    cluster.restart(2);
    assert_eq!(cluster.node(2).status(cluster.now).membership_ahead_seen, 0);
    let back_at = cluster.now;
    cluster.run(back_at + 4_000);
    let status = cluster.node(2).status(cluster.now);
    assert_eq!((status.membership_version, status.membership_ahead_seen), (0, 2), "it sees it is two changes behind");
    assert!(!cluster.granted_since(2, back_at), "and takes no part");
    // Restarted with the membership in force on its disk, its promise kept.
    let promised = cluster.durable[2].as_ref().map_or(0, |state| state.promised_epoch);
    let mut state = cluster.durable[2].clone().unwrap_or_default();
    state.membership = Some(cluster.node(0).membership().clone());
    cluster.durable[2] = Some(state);
    cluster.crash(2);
    cluster.restart(2);
    assert_eq!(cluster.node(2).status(cluster.now).promised_epoch, promised);
    let caught_up_at = cluster.now;
    cluster.run(caught_up_at + 4_000);
    let status = cluster.node(2).status(cluster.now);
    assert_eq!((status.membership_version, status.members.clone(), status.membership_joint), (2, vec![0, 1, 2], false));
    assert!(cluster.granted_since(2, caught_up_at), "it holds again");
    // And the ring still changes with it.
    cluster.add_new_member(0, 4);
    cluster.run(cluster.now + 5_000);
    assert_eq!(cluster.view(2), (3, vec![0, 1, 2, 4], false));
}

#[test]
fn a_removed_member_that_keeps_proposing_gets_no_quorum() {
    let mut cluster = Cluster::new(4);
    cluster.run(2_000);
    // Node 3 is cut off and never hears that it was removed.
    cluster.frozen[3] = true;
    cluster.propose(0, MembershipChange::Remove { id: 3 }).expect("a valid change");
    // While the change is joint, node 3 still counts in the old set's quorum, but its proposals
    // change nothing: no promise, no reject, no raised epoch (it would end every claim).
    let mut tried_while_joint = false;
    while cluster.now < 5_000 {
        let next = cluster.now + 1;
        cluster.run(next);
        if let Some(index) = (0..3).find(|index| cluster.view(*index).2 && !tried_while_joint) {
            let node = cluster.nodes[index].as_mut().expect("up");
            let promised = node.status(next).promised_epoch;
            let epoch = ((ringbank_ring::epoch_round(promised) + 1) << 16) | 3;
            assert_eq!(node.step(3, Message::Propose { epoch, proof: None }, next), vec![], "node {index} answered");
            assert_eq!(node.status(next).promised_epoch, promised);
            tried_while_joint = true;
        }
    }
    assert!(tried_while_joint);
    assert_eq!(cluster.view(0), (1, vec![0, 1, 2], false));
    assert_eq!(cluster.view(3).0, 0, "node 3 still believes the old membership");
    cluster.frozen[3] = false;
    let back_at = cluster.now;
    cluster.run(back_at + 10_000);
    let proposals =
        cluster.sent.iter().filter(|(at, from, _, message)| *at >= back_at && *from == 3 && matches!(message, Message::Propose { .. }));
    assert!(proposals.count() >= 3, "the removed member keeps proposing");
    let answers = cluster.sent.iter().filter(|(at, _, to, message)| {
        *at >= back_at && *to == 3 && matches!(message, Message::Promise { .. } | Message::Reject { .. } | Message::Confirm { .. })
    });
    assert_eq!(answers.count(), 0, "nobody promises, rejects or confirms for a non-member");
    assert!(!cluster.granted_since(3, back_at));
    for index in 0..3 {
        assert!(cluster.granted_since(index, back_at + 5_000), "node {index}: the ring is not disturbed");
    }
}

#[test]
fn one_change_at_a_time_and_nonsense_is_refused() {
    let mut cluster = Cluster::new(3);
    cluster.run(2_000);
    cluster.propose(0, add(3)).expect("a valid change");
    assert_eq!(cluster.propose(0, add(4)), Err(MembershipError::ChangeInFlight { version: 0 }));
    // Run until the change is on the token (some node works with the joint membership), then a
    // second change is refused there too until the first is committed.
    let mut refused_while_joint = false;
    while cluster.now < 6_000 {
        let next = cluster.now + 1;
        cluster.run(next);
        if let Some(index) = (1..3).find(|index| cluster.view(*index).2) {
            assert_eq!(cluster.propose(index, add(4)), Err(MembershipError::ChangeInFlight { version: 1 }));
            refused_while_joint = true;
        }
    }
    assert!(refused_while_joint, "no node was seen with the joint membership");
    assert_eq!(cluster.view(1), (1, vec![0, 1, 2, 3], false));
    cluster.start_new_member(4, &cluster.node(1).membership().clone());
    cluster.propose(1, add(4)).expect("after the commit, the next change is accepted");
    // Typed refusals.
    assert_eq!(cluster.propose(2, add(0)), Err(MembershipError::AlreadyMember(0)));
    assert_eq!(cluster.propose(2, MembershipChange::Remove { id: 5 }), Err(MembershipError::NotAMember(5)));
    let mut alone = Cluster::new(1);
    alone.run(1_000);
    assert_eq!(alone.propose(0, MembershipChange::Remove { id: 0 }), Err(MembershipError::LastMember(0)));
    let full = Membership::configured(&Config::with_defaults(0, (0..MAX_MEMBERS as NodeId).collect()));
    assert_eq!(full.check_change(&add(MAX_MEMBERS as NodeId)), Err(MembershipError::TooManyMembers(MAX_MEMBERS + 1)));
    // A bank that is not a member yet cannot order a change.
    let mut waiting = Cluster::new(3);
    let current = waiting.node(0).membership().clone();
    waiting.start_new_member(3, &current);
    assert_eq!(waiting.propose(3, MembershipChange::Remove { id: 0 }), Err(MembershipError::ProposerNotAMember(3)));
}

#[test]
fn a_restart_after_a_change_keeps_the_new_membership() {
    let mut cluster = Cluster::new(3);
    cluster.run(2_000);
    let current = cluster.node(0).membership().clone();
    cluster.start_new_member(3, &current);
    cluster.propose(2, add(3)).expect("a valid change");
    cluster.run(5_000);
    for index in 0..4 {
        cluster.crash(index);
        cluster.restart(index);
        assert_eq!(cluster.view(index).0, 1, "node {index} forgot the change");
        assert!(cluster.view(index).1.contains(&3));
    }
    let restarted_at = cluster.now;
    cluster.run(restarted_at + 6_000);
    for index in 0..4 {
        assert_eq!(cluster.view(index), (1, vec![0, 1, 2, 3], false));
        assert!(cluster.granted_since(index, restarted_at), "node {index} did not hold after the restart");
    }
}

#[test]
fn a_ring_that_never_changes_sends_no_membership() {
    let mut cluster = Cluster::new(3);
    cluster.run(3_000);
    let carrying = cluster.sent.iter().filter(|(_, _, _, message)| {
        matches!(
            message,
            Message::Token { membership: Some(_), .. }
                | Message::Claim { membership: Some(_), .. }
                | Message::Promise { membership: Some(_), .. }
        )
    });
    assert_eq!(carrying.count(), 0, "the wire is what it was before membership changes");
    assert!(cluster.durable.iter().flatten().all(|state| state.membership.is_none()));
}

#[test]
fn a_membership_is_adopted_only_signed_by_a_member_and_one_change_away() {
    let founding = Membership::configured(&Config::with_defaults(0, vec![0, 1, 2]));
    let keys_of_1 = keys(1);
    let sign = |version: u64, change: &MembershipChange, proposer: NodeId| {
        keys(proposer).keyring().sign(&ringbank_ring::change_bytes(version, change, proposer))
    };
    let change = add(3);
    let signed = signed_change(1, &change, 0, &[1]);
    let joint = founding.apply(signed.clone());
    assert!(founding.may_adopt(&joint, &keys_of_1));
    assert!(founding.may_adopt(&joint.committed(), &keys_of_1), "one change behind: the committed set");
    // Signed by someone outside the set before the change, or not by the proposer it names.
    let outsider = ringbank_ring::SignedChange { proposer: 3, signature: sign(1, &change, 3), ..signed.clone() };
    assert!(!founding.may_adopt(&founding.apply(outsider), &keys_of_1));
    let forged = ringbank_ring::SignedChange { signature: sign(1, &change, 2), ..signed.clone() };
    assert!(!founding.may_adopt(&founding.apply(forged), &keys_of_1));
    // Two changes away: not adopted (a node that far behind is restarted with the membership).
    let remove = MembershipChange::Remove { id: 1 };
    let second = signed_change(2, &remove, 3, &[0, 2]);
    let two_away = joint.committed().apply(second);
    assert!(joint.committed().may_adopt(&two_away, &keys_of_1), "signed by the added member, with its key from the membership");
    assert!(!founding.may_adopt(&two_away.committed(), &keys_of_1));
    // What a joint membership keeps (seed 2022150): its previous set (a failed attempt), its
    // committed form, the next change on its current set, joint or committed; not two changes on.
    assert!(joint.keeps(&founding) && joint.keeps(&joint.committed()));
    assert!(joint.keeps(&two_away) && joint.keeps(&two_away.committed()));
    assert!(joint.may_adopt(&two_away.committed(), &keys_of_1));
    let third = signed_change(3, &add(4), 0, &[2]);
    let three_on = two_away.committed().apply(third);
    assert!(!founding.keeps(&two_away.committed()) && !joint.keeps(&three_on) && !joint.keeps(&three_on.committed()));
    let from_previous = founding.apply(signed_change(1, &add(5), 0, &[2]));
    assert!(!joint.committed().keeps(&from_previous.committed()), "a committed set does not go back to a sibling of itself");
    // The quorum rule keeps the founding `f`: 4 of 5 stays (n + f) / 2 + 1 as n changes.
    let mut config = Config::with_defaults(0, vec![0, 1, 2, 3, 4]);
    config.quorum = 4;
    let byzantine = Membership::configured(&config);
    assert_eq!((byzantine.dishonest, byzantine.quorum()), (1, 4));
    assert_eq!((byzantine.quorum_of(4), byzantine.quorum_of(6), byzantine.quorum_of(7), byzantine.quorum_of(3)), (3, 4, 5, 3));
    assert_eq!(founding.quorum_of(4), 3);
    // Two quorums of sets one member apart share f + 1 members: q(n) + q(n + 1) - (n + 1) = f + 1.
    for n in 1..20 {
        assert_eq!(founding.quorum_of(n) + founding.quorum_of(n + 1) - (n + 1), 1, "n = {n}");
        assert_eq!(byzantine.quorum_of(n + 2) + byzantine.quorum_of(n + 3) - (n + 3), 2, "n = {n}");
    }
}

/// A label (what the bank needs to reach an added member) is signed with the change and kept
/// after the member's removal; a relabelled membership is not adopted, and the label counts in
/// the bytes a confirmation signs.
#[test]
fn an_added_members_label_is_signed_and_kept() {
    let founding = Membership::configured(&Config::with_defaults(0, vec![0, 1, 2]));
    let keys_of_1 = keys(1);
    let change = MembershipChange::Add { id: 3, public_key: SimKeyring::public_key(3, SEED), label: "D=http://127.0.0.4:80".into() };
    let unlabelled = add(3);
    assert_ne!(ringbank_ring::change_bytes(1, &change, 0), ringbank_ring::change_bytes(1, &unlabelled, 0));
    let signed = signed_change(1, &change, 0, &[2]);
    let joint = founding.apply(signed);
    assert_eq!(joint.label_of(3), Some("D=http://127.0.0.4:80"));
    assert!(founding.may_adopt(&joint, &keys_of_1));
    assert_ne!(joint.confirm_suffix(), Membership { labels: Vec::new(), ..joint.clone() }.confirm_suffix());
    let mut relabelled = joint.clone();
    relabelled.labels[0].1 = "D=http://attacker".into();
    assert!(!founding.may_adopt(&relabelled, &keys_of_1), "a label the change did not sign");
    // Removed, the member keeps its label (its id is never given again); its key goes.
    let remove = MembershipChange::Remove { id: 3 };
    let removed = joint.committed().apply(signed_change(2, &remove, 1, &[0, 2])).committed();
    assert_eq!((removed.label_of(3), removed.key_of(3)), (Some("D=http://127.0.0.4:80"), None));
    let long = MembershipChange::Add { id: 4, public_key: [0; 32], label: "x".repeat(ringbank_ring::LABEL_MAX + 1) };
    assert_eq!(removed.check_change(&long), Err(MembershipError::LabelTooLong(ringbank_ring::LABEL_MAX + 1)));
}

/// Seed 1014291 of the ring simulator, by hand. A joint claim adding node 3 is granted to a
/// founding member `H`, which is then cut off before its certificate leaves it (it alone knows the
/// change committed). Forged claims in a new epoch under the founding membership (what a dishonest
/// member sends; injected here) reach the founding members `victims(H)`, which had confirmed the
/// joint claim: a joint membership may fall back to its previous set, so they confirm them. Before
/// candidates ranked a joint report above the set before it, a victim's report of the founding set,
/// newer by stamp, won: the ring went back to the founding set without node 3, and `H`, which
/// refuses to go behind the commit its certificate proves, could not lead it forward again either
/// (it did not count promises of the founding set).
fn a_granted_change_survives_forged_claims_to(victims: impl Fn(usize) -> Vec<usize>) {
    let mut cluster = Cluster::new(3);
    cluster.run(2_000);
    let current = cluster.node(0).membership().clone();
    cluster.start_new_member(3, &current);
    cluster.propose(0, add(3)).expect("a valid change");
    // The holder of the joint grant passes the token under the committed membership, with the
    // certificate: it is cut off at that moment, so the token (1 ms away) is lost with it.
    let holder = loop {
        assert!(cluster.now < 6_000, "the joint claim was never granted");
        let next = cluster.now + 1;
        cluster.run(next);
        let committing = cluster.sent.iter().find(|(at, _, _, message)| {
            *at == next && matches!(message, Message::Token { membership: Some(m), .. } if m.version == 1 && !m.is_joint())
        });
        if let Some((_, from, ..)) = committing {
            break *from;
        }
    };
    assert!(holder < 3, "the joint claim went to the added member");
    cluster.frozen[holder] = true;
    let cut_at = cluster.now;
    let victims = victims(holder);
    for victim in victims.iter().copied() {
        assert!(victim != holder && cluster.view(victim).2, "node {victim} confirmed the joint claim");
        let forger = (0..3).find(|index| *index != victim && *index != holder).expect("a third founding member") as NodeId;
        let node = cluster.nodes[victim].as_mut().expect("up");
        let promised = node.status(cut_at).promised_epoch;
        let epoch = ((ringbank_ring::epoch_round(promised) + 1) << 16) | u64::from(forger);
        let claim = Message::Claim { stamp: Stamp::new(epoch, 1), holder: forger, ring: vec![0, 1, 2], proof: None, membership: None };
        let actions = node.step(forger, claim, cut_at);
        assert!(actions.iter().any(|action| matches!(action, Action::Send { message: Message::Confirm { .. }, .. })));
        cluster.apply(victim, actions);
        assert_eq!(cluster.view(victim), (0, vec![0, 1, 2], false), "node {victim} fell back to the founding set");
    }
    cluster.run(cut_at + 3_000);
    cluster.frozen[holder] = false;
    let healed_at = cluster.now;
    cluster.run(healed_at + 8_000);
    for index in 0..4 {
        assert_eq!(cluster.view(index), (1, vec![0, 1, 2, 3], false), "node {index} (holder {holder}, victims {victims:?})");
        assert!(cluster.granted_since(index, healed_at + 4_000), "node {index} did not hold (holder {holder}, victims {victims:?})");
    }
}

/// As in the seed: one member taken back; the candidate hears the joint membership from another
/// and claims under it.
#[test]
fn a_forged_claim_to_one_member_does_not_take_back_a_granted_change() {
    a_granted_change_survives_forged_claims_to(|holder| vec![(holder + 1) % 3]);
}

/// Every founding member but the holder taken back: the ring runs on the founding set while the
/// holder is cut off; once back, the holder's loss timer fires (it confirms no claim behind the
/// commit), and as a candidate it keeps the joint membership it confirmed, counts the promises
/// that report the founding set (ranked below it), claims under the joint membership (a quorum of
/// both sets) and the next grant commits the change everywhere.
#[test]
fn forged_claims_to_every_other_member_do_not_take_back_a_granted_change() {
    a_granted_change_survives_forged_claims_to(|holder| (0..3).filter(|index| *index != holder).collect());
}

/// No member alone changes who the members are: a change counts only with the approvals of a
/// quorum of the set before it (the proposer's signature is its own), each a member of that set
/// signing exactly that change for exactly that version; a node refuses to order one without.
#[test]
fn a_change_needs_the_approval_of_a_quorum_of_the_members_before_it() {
    let founding = Membership::configured(&Config::with_defaults(0, vec![0, 1, 2]));
    let keys_of_1 = keys(1);
    let change = add(3);
    let adopted = |approvals: Vec<ringbank_ring::Approval>| {
        let mut signed = signed_change(1, &change, 0, &[]);
        signed.approvals = approvals;
        founding.may_adopt(&founding.apply(signed), &keys_of_1)
    };
    assert!(!adopted(Vec::new()), "the proposer alone is 1 of the 2 needed");
    assert!(adopted(approvals(1, &change, &[1])));
    assert!(!adopted(approvals(1, &change, &[3])), "the bank being added does not approve itself in");
    assert!(!adopted(approvals(2, &change, &[1])), "an approval of another version");
    assert!(!adopted(approvals(1, &add(4), &[1])), "an approval of another change");
    let mut forged = approvals(1, &change, &[2]);
    forged[0].by = 1;
    assert!(!adopted(forged), "an approval signed by another member than the one it names");
    // Four members need three: the same approver twice counts once.
    let four = founding.apply(signed_change(1, &change, 0, &[1])).committed();
    let remove = MembershipChange::Remove { id: 2 };
    let with = |approvers: &[NodeId]| four.may_adopt(&four.apply(signed_change(2, &remove, 0, approvers)), &keys_of_1);
    assert!(!with(&[1, 1]) && with(&[1, 3]) && with(&[2, 3]));
    // A removed approver's key stays with the committed membership, which still verifies.
    let removed = four.apply(signed_change(2, &remove, 0, &[2, 3])).committed();
    assert!(removed.key_of(3).is_some() && four.may_adopt(&removed, &keys_of_1));

    // A node refuses to order a change without enough approvals, and orders it with them.
    let mut cluster = Cluster::new(3);
    cluster.run(2_000);
    assert_eq!(cluster.propose_approved(0, add(3), &[]), Err(MembershipError::NotApproved { approved: 1, needed: 2 }));
    assert_eq!(cluster.propose_approved(0, add(3), &[5]), Err(MembershipError::NotApproved { approved: 1, needed: 2 }));
    let current = cluster.node(0).membership().clone();
    cluster.start_new_member(3, &current);
    cluster.propose_approved(0, add(3), &[2]).expect("a quorum approved");
    cluster.run(3_000);
    for index in 0..4 {
        let view = cluster.node(index).membership();
        assert_eq!((view.version, view.is_joint(), view.members.len()), (1, false, 4), "node {index}");
    }
}
