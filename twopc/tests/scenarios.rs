//! Targeted cases of the two cores, driven by hand: fencing, validation, durable votes, holds,
//! tombstones, commit only on every yes, presumed abort, delivery, in-doubt resolution.

use std::collections::BTreeMap;

use ringbank_ring::{Confirmation, SimKeyring};
use ringbank_twopc::{
    Accounts, Certificate, Coordinator, CoordinatorAction, CoordinatorConfig, CoordinatorState, CoordinatorWrite, Keys, Message,
    OutcomeItem, Participant, ParticipantAction, ParticipantConfig, ParticipantState, ParticipantWrite, ParticipationStatus,
    PendingTransfer, Prepare, Refusal, Stamp, TransferId, TransferKind, TransferLeg,
};

/// Available balances by account.
struct Book(BTreeMap<String, i64>);

impl Accounts for Book {
    fn available_cents(&self, account: &str) -> Option<i64> {
        self.0.get(account).copied()
    }
}

fn book() -> Book {
    Book([("alice".to_string(), 1_000), ("bob".to_string(), 0)].into_iter().collect())
}

fn id(text: &str) -> TransferId {
    TransferId(text.to_string())
}

/// Bank 0 pays `amount_cents` from its alice to bank 1's bob.
fn transfer(name: &str, amount_cents: i64) -> PendingTransfer {
    PendingTransfer {
        id: id(name),
        kind: TransferKind::Transfer,
        initiated_by: "11144477735".to_string(),
        description: String::new(),
        legs: vec![
            TransferLeg { bank: 0, account: "alice".to_string(), amount_cents: -amount_cents },
            TransferLeg { bank: 1, account: "bob".to_string(), amount_cents },
        ],
    }
}

fn keys(me: u16) -> Keys {
    Keys::new(SimKeyring::new(me, &[0, 1], 7))
}

/// Both members' signed confirmations that `holder` holds `stamp`.
fn certify(stamp: Stamp, holder: u16) -> Certificate {
    let confirmations = (0..2).map(|by| Confirmation { by, signature: keys(by).sign_confirm(stamp, holder) }).collect();
    Certificate { stamp, holder, confirmations }
}

fn participant(me: u16) -> Participant {
    Participant::start(ParticipantConfig::with_defaults(me, vec![0, 1]), keys(me), ParticipantState::default(), 0)
}

/// Coordinator 0 with these transfers submitted and batched under `stamp`; returns the prepares.
fn coordinator_with_batch(transfers: Vec<PendingTransfer>, stamp: Stamp, deadline: u64) -> (Coordinator, BTreeMap<u16, Prepare>) {
    let (mut coordinator, actions) = Coordinator::start(CoordinatorConfig::with_defaults(0), CoordinatorState::default(), 0);
    assert!(actions.is_empty());
    for transfer in &transfers {
        coordinator.submit(transfer.clone());
    }
    let actions = coordinator.start_batch(stamp, Some(certify(stamp, 0)), 0, transfers, deadline, 0);
    assert!(matches!(actions[0], CoordinatorAction::Persist(CoordinatorWrite::Order { .. })), "order is durable before any prepare");
    let prepares = actions
        .into_iter()
        .filter_map(|action| match action {
            CoordinatorAction::Send { to, message: Message::Prepare(prepare) } => Some((to, prepare)),
            _ => None,
        })
        .collect();
    (coordinator, prepares)
}

fn sent(actions: &[ParticipantAction]) -> Vec<&Message> {
    actions.iter().filter_map(|a| if let ParticipantAction::Send { message, .. } = a { Some(message) } else { None }).collect()
}

fn votes_of(actions: &[ParticipantAction]) -> Vec<(TransferId, bool)> {
    match sent(actions).as_slice() {
        [Message::Votes { votes, .. }] => votes.iter().map(|v| (v.id.clone(), v.yes)).collect(),
        other => panic!("expected one Votes message, got {other:?}"),
    }
}

#[test]
fn votes_are_durable_before_the_answer_and_a_yes_holds_the_debit() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 1), 100);
    let mut bank0 = participant(0);
    let actions = bank0.on_prepare(0, prepares[&0].clone(), 1 << 16, &book(), 5);
    let persist = actions.iter().position(|a| matches!(a, ParticipantAction::Persist(ParticipantWrite::Prepare { .. })));
    let send = actions.iter().position(|a| matches!(a, ParticipantAction::Send { .. }));
    assert!(persist.unwrap() < send.unwrap());
    assert_eq!(votes_of(&actions), vec![(id("t1"), true)]);
    let record = &bank0.state().participations[&id("t1")];
    assert_eq!(record.status, ParticipationStatus::Prepared);
    assert_eq!(record.holds.len(), 1);
    assert_eq!(record.holds[0].amount_cents, 300);
    assert_eq!(record.postings.iter().map(|p| p.amount_cents).sum::<i64>(), 0, "postings balance at each bank");
}

#[test]
fn a_stale_stamp_or_one_below_the_ring_promise_is_refused_and_changes_nothing() {
    let (_, newer) = coordinator_with_batch(vec![transfer("t1", 10)], Stamp::new(2 << 16, 7), 100);
    let (_, older) = coordinator_with_batch(vec![transfer("t2", 10)], Stamp::new(2 << 16, 6), 100);
    let mut bank1 = participant(1);
    bank1.on_prepare(0, newer[&1].clone(), 2 << 16, &book(), 0);
    let before = bank1.state().clone();
    let actions = bank1.on_prepare(0, older[&1].clone(), 2 << 16, &book(), 1);
    assert!(matches!(sent(&actions)[..], [Message::Refused { refusal: Refusal::StaleStamp { .. }, .. }]));
    assert!(!actions.iter().any(|a| matches!(a, ParticipantAction::Persist(_))));
    let (_, next_epoch) = coordinator_with_batch(vec![transfer("t3", 10)], Stamp::new(2 << 16, 8), 100);
    let actions = bank1.on_prepare(0, next_epoch[&1].clone(), 3 << 16, &book(), 2);
    assert!(matches!(sent(&actions)[..], [Message::Refused { refusal: Refusal::BelowRingPromise { .. }, .. }]));
    assert_eq!(*bank1.state(), before);
}

#[test]
fn a_prepare_from_another_bank_or_one_that_does_not_balance_is_refused() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 10)], Stamp::new(1 << 16, 1), 100);
    let mut bank1 = participant(1);
    let actions = bank1.on_prepare(1, prepares[&1].clone(), 0, &book(), 0);
    assert!(matches!(sent(&actions)[..], [Message::Refused { refusal: Refusal::NotTheCoordinator { .. }, .. }]));
    let mut unbalanced = prepares[&1].clone();
    unbalanced.transfers[0].legs[0].amount_cents += 1;
    let actions = bank1.on_prepare(0, unbalanced, 0, &book(), 0);
    assert!(matches!(sent(&actions)[..], [Message::Refused { refusal: Refusal::Malformed(_), .. }]));
    assert!(bank1.state().participations.is_empty());
}

#[test]
fn holds_of_the_same_batch_count_against_the_available_balance() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 700), transfer("t2", 700)], Stamp::new(1 << 16, 1), 100);
    let mut bank0 = participant(0);
    let actions = bank0.on_prepare(0, prepares[&0].clone(), 0, &book(), 0);
    assert_eq!(votes_of(&actions), vec![(id("t1"), true), (id("t2"), false)]);
}

#[test]
fn a_repeated_prepare_gets_the_same_vote_and_no_second_hold() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 1), 100);
    let mut bank0 = participant(0);
    bank0.on_prepare(0, prepares[&0].clone(), 0, &book(), 0);
    let actions = bank0.on_prepare(0, prepares[&0].clone(), 0, &book(), 1);
    assert_eq!(votes_of(&actions), vec![(id("t1"), true)]);
    assert!(actions.iter().all(|a| !matches!(a, ParticipantAction::Persist(ParticipantWrite::Prepare { votes, .. }) if !votes.is_empty())));
}

#[test]
fn an_abort_before_the_prepare_leaves_a_tombstone_so_the_late_prepare_votes_no() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 1), 100);
    let mut bank1 = participant(1);
    let actions = bank1.on_outcome(0, 0, vec![OutcomeItem { id: id("t1"), commit: false }]);
    assert!(actions
        .iter()
        .any(|a| matches!(a, ParticipantAction::Persist(ParticipantWrite::Apply { tombstones, .. }) if tombstones.len() == 1)));
    assert!(matches!(sent(&actions)[..], [Message::Final { .. }]));
    let actions = bank1.on_prepare(0, prepares[&1].clone(), 0, &book(), 5);
    assert_eq!(votes_of(&actions), vec![(id("t1"), false)]);
}

#[test]
fn commit_only_when_every_participant_voted_yes_and_a_missing_vote_aborts_at_the_deadline() {
    let stamp = Stamp::new(1 << 16, 1);
    let (mut coordinator, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], stamp, 100);
    let (mut bank0, mut bank1) = (participant(0), participant(1));
    let answer0 = bank0.on_prepare(0, prepares[&0].clone(), 0, &book(), 1);
    let answer1 = bank1.on_prepare(0, prepares[&1].clone(), 0, &book(), 1);
    let message0 = sent(&answer0)[0].clone();
    assert!(coordinator.step(0, message0, 2).is_empty(), "one vote of two: wait");
    let actions = coordinator.step(1, sent(&answer1)[0].clone(), 3);
    assert!(actions.contains(&CoordinatorAction::Decided { id: id("t1"), commit: true }));
    let logged = actions.iter().position(|a| matches!(a, CoordinatorAction::Persist(CoordinatorWrite::Decide(_))));
    let delivered = actions.iter().position(|a| matches!(a, CoordinatorAction::Send { message: Message::Outcome { .. }, .. }));
    assert!(logged.unwrap() < delivered.unwrap(), "the decision is durable before anyone is told");

    let (mut coordinator, prepares) = coordinator_with_batch(vec![transfer("t2", 300)], stamp, 100);
    let answer0 = participant(0).on_prepare(0, prepares[&0].clone(), 0, &book(), 1);
    coordinator.step(0, sent(&answer0)[0].clone(), 2);
    assert!(coordinator.tick(99).iter().all(|a| !matches!(a, CoordinatorAction::Decided { .. })));
    assert!(coordinator.tick(100).contains(&CoordinatorAction::Decided { id: id("t2"), commit: false }));
}

#[test]
fn a_restarted_coordinator_presumes_abort_for_ordered_undecided_transfers_only() {
    let (coordinator, _) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 1), 100);
    let mut durable = coordinator.state().clone();
    durable.submit(transfer("t2", 5));
    let (restarted, actions) = Coordinator::start(CoordinatorConfig::with_defaults(0), durable, 1_000);
    assert!(matches!(&actions[0], CoordinatorAction::Persist(CoordinatorWrite::PresumeAbort(d)) if d.len() == 1 && !d[0].commit));
    assert!(actions.contains(&CoordinatorAction::Decided { id: id("t1"), commit: false }));
    let outcomes = actions.iter().filter(|a| matches!(a, CoordinatorAction::Send { message: Message::Outcome { .. }, .. })).count();
    assert_eq!(outcomes, 2, "the abort goes to both participants");
    assert_eq!(restarted.state().unordered(10).len(), 1, "an unordered transfer stays pending");
}

#[test]
fn outcomes_are_retransmitted_until_acknowledged() {
    let (coordinator, _) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 1), 100);
    let (mut coordinator, _) = Coordinator::start(CoordinatorConfig::with_defaults(0), coordinator.state().clone(), 0);
    let resent = coordinator.tick(coordinator.next_deadline().unwrap());
    assert_eq!(resent.iter().filter(|a| matches!(a, CoordinatorAction::Send { .. })).count(), 2);
    coordinator.step(0, Message::Final { ids: vec![id("t1")] }, 400);
    let actions = coordinator.step(1, Message::Final { ids: vec![id("t1")] }, 401);
    assert!(matches!(&actions[0], CoordinatorAction::Persist(CoordinatorWrite::MarkDelivered { bank: 1, .. })));
    assert_eq!(coordinator.next_deadline(), None, "nothing owed, nothing to retransmit");
}

#[test]
fn a_participant_in_doubt_asks_everyone_and_never_aborts_on_its_own() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 1), 100);
    let mut bank1 = participant(1);
    bank1.on_prepare(0, prepares[&1].clone(), 0, &book(), 0);
    for now in (0..60_000).step_by(500) {
        for action in bank1.tick(now) {
            assert!(matches!(action, ParticipantAction::Send { to: 0, message: Message::Query { .. } }), "{action:?}");
        }
    }
    assert_eq!(bank1.state().participations[&id("t1")].status, ParticipationStatus::Prepared);
    let actions = bank1.on_known(0, 0, vec![OutcomeItem { id: id("t1"), commit: true }], |_| false);
    assert!(actions.contains(&ParticipantAction::Final { id: id("t1"), commit: true }));
    let again = bank1.on_outcome(0, 0, vec![OutcomeItem { id: id("t1"), commit: true }]);
    assert!(!again.iter().any(|a| matches!(a, ParticipantAction::Persist(_))), "applying twice changes nothing");
    assert_eq!(bank1.next_deadline(), None);
}

#[test]
fn a_driver_closes_the_vote_after_the_token_and_decides_every_batch_in_one_write() {
    let stamp = Stamp::new(1, 1);
    let (mut coordinator, _) = Coordinator::start(CoordinatorConfig::with_defaults(0), CoordinatorState::default(), 0);
    // Transfers stored by the service layer are adopted, not written again.
    for name in ["t1", "t2"] {
        coordinator.adopt(transfer(name, 300));
    }
    let first = coordinator.start_batch(stamp, Some(certify(stamp, 0)), 0, vec![transfer("t1", 300)], 100, 0);
    let second = coordinator.start_batch(stamp, Some(certify(stamp, 0)), 1, vec![transfer("t2", 300)], 100, 1);
    let prepare = |actions: &[CoordinatorAction], to: u16| {
        actions.iter().find_map(|a| match a {
            CoordinatorAction::Send { to: bank, message: Message::Prepare(prepare) } if *bank == to => Some(prepare.clone()),
            _ => None,
        })
    };
    let (mut bank0, mut bank1) = (participant(0), participant(1));
    let mut answers = Vec::new();
    for (arrived, actions) in [(2, &first), (3, &second)] {
        answers.push((0, sent(&bank0.on_prepare(0, prepare(actions, 0).unwrap(), 0, &book(), arrived))[0].clone(), arrived));
    }
    // Bank 1 answers t1 in time, t2 after the deadline (not counted); nothing is decided before the close.
    answers.push((1, sent(&bank1.on_prepare(0, prepare(&first, 1).unwrap(), 0, &book(), 4))[0].clone(), 4));
    answers.push((1, sent(&bank1.on_prepare(0, prepare(&second, 1).unwrap(), 0, &book(), 150))[0].clone(), 150));
    let actions = coordinator.votes_closed(stamp, answers, 20);
    let writes: Vec<&CoordinatorWrite> =
        actions.iter().filter_map(|a| if let CoordinatorAction::Persist(w) = a { Some(w) } else { None }).collect();
    match writes.as_slice() {
        [CoordinatorWrite::Decide(decisions)] => {
            let by_id: BTreeMap<&str, bool> = decisions.iter().map(|d| (d.id.0.as_str(), d.commit)).collect();
            assert_eq!(by_id, [("t1", true), ("t2", false)].into_iter().collect());
            let late = decisions.iter().find(|d| d.id == id("t2")).unwrap();
            assert_eq!(late.reason.as_ref().unwrap().describe(|bank| format!("B{bank}")), "bank B1 did not answer in time");
        }
        other => panic!("expected one Decide, got {other:?}"),
    }
    assert!(coordinator.next_deadline().is_some(), "outcomes are owed");
    // The origin's own outcomes were applied with the decision: only bank 1 is still owed them.
    coordinator.delivered_durably(0, vec![id("t1"), id("t2")]);
    let resent = coordinator.tick(coordinator.next_deadline().unwrap());
    assert!(resent.iter().all(|a| !matches!(a, CoordinatorAction::Send { to: 0, .. })), "{resent:?}");
    // Bank 1 acknowledges t1 and refuses t2: neither is owed any more, and both can be forgotten.
    coordinator.step(1, Message::Final { ids: vec![id("t1")] }, 30);
    let actions = coordinator.outcomes_refused(1, vec![id("t2"), id("unknown")]);
    assert!(matches!(&actions[..], [CoordinatorAction::Persist(CoordinatorWrite::MarkRefused { bank: 1, ids })] if *ids == vec![id("t2")]));
    assert_eq!(coordinator.next_deadline(), None);
    assert_eq!(coordinator.prune_delivered(), 2);
    assert!(coordinator.state().transfers.is_empty());
}

#[test]
fn attack_4_an_uncertified_forged_or_far_future_stamp_is_refused_and_changes_nothing() {
    let honest_stamp = Stamp::new(3 << 16, 4);
    let (_, honest) = coordinator_with_batch(vec![transfer("t1", 10)], honest_stamp, 100);
    let mut bank1 = participant(1);
    let far = Stamp::new((1 << 63) + 5, 1);
    let mut attacks = Vec::new();
    let mut uncertified = honest[&1].clone();
    uncertified.stamp = far;
    uncertified.certificate = None;
    attacks.push(uncertified.clone());
    // A certificate for another stamp, or for another holder, proves nothing about this one.
    attacks.push(Prepare { certificate: Some(certify(honest_stamp, 0)), ..uncertified.clone() });
    let far_owned = Stamp::new((1 << 63) | 1, 1);
    attacks.push(Prepare { stamp: far_owned, certificate: Some(certify(far_owned, 1)), ..uncertified.clone() });
    // Signed by the attacker alone, with the other signature forged.
    let mut forged = certify(far_owned, 0);
    forged.confirmations[1].signature = ringbank_domain::keys::Signature::from_bytes([9; 64]);
    attacks.push(Prepare { stamp: far_owned, certificate: Some(forged), ..uncertified.clone() });
    // The impossible epoch (its low bits name no member), even with every signature.
    attacks.push(Prepare { certificate: Some(certify(far, 0)), ..uncertified });
    for attack in attacks {
        let actions = bank1.on_prepare(0, attack, 0, &book(), 0);
        assert!(matches!(sent(&actions)[..], [Message::Refused { refusal: Refusal::Uncertified(_), .. }]), "{actions:?}");
        assert!(!actions.iter().any(|a| matches!(a, ParticipantAction::Persist(_))));
        assert_eq!(*bank1.state(), ParticipantState::default(), "nothing changed");
    }
    let actions = bank1.on_prepare(0, honest[&1].clone(), 0, &book(), 1);
    assert!(matches!(sent(&actions)[..], [Message::Votes { .. }]), "the honest prepare still goes through: {actions:?}");
    assert_eq!(bank1.state().newest_stamp, honest_stamp);
}

#[test]
fn attack_3_an_outcome_from_a_bank_that_is_not_the_coordinator_is_ignored() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 1), 100);
    let mut bank1 = participant(1);
    bank1.on_prepare(0, prepares[&1].clone(), 0, &book(), 0);
    let before = bank1.state().clone();
    // Delivered by a member that names itself as coordinator, or answered by another participant.
    assert!(!bank1
        .on_outcome(1, 1, vec![OutcomeItem { id: id("t1"), commit: false }])
        .iter()
        .any(|a| matches!(a, ParticipantAction::Persist(_))));
    assert!(bank1.on_known(1, 0, vec![OutcomeItem { id: id("t1"), commit: false }], |_| false).is_empty());
    assert_eq!(*bank1.state(), before);
    // A proven outcome (the coordinator's signature, checked by the driver's hook) is applied.
    let actions = bank1.on_known(1, 0, vec![OutcomeItem { id: id("t1"), commit: true }], |_| true);
    assert!(actions.contains(&ParticipantAction::Final { id: id("t1"), commit: true }));
}
