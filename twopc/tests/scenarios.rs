//! Targeted cases of the two cores, driven by hand: fencing, validation, durable votes, holds,
//! tombstones, commit only on every yes, presumed abort, delivery, in-doubt resolution.

use std::collections::BTreeMap;

use ringbank_domain::{LimitUsage, LimitWindow, Limits, UtcOffset};
use ringbank_ring::{Confirmation, SimKeyring};
use ringbank_twopc::{
    Account, AccountLimits, Accounts, Certificate, ConsentView, Coordinator, CoordinatorAction, CoordinatorConfig, CoordinatorState,
    CoordinatorWrite, Keys, Message, OutcomeItem, Participant, ParticipantAction, ParticipantConfig, ParticipantState, ParticipantWrite,
    ParticipationStatus, Payer, PendingTransfer, Position, Prepare, Refusal, Stamp, TransferId, TransferKind, TransferLeg,
    RESERVES_ACCOUNT, SETTLEMENT_INITIATOR,
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
            TransferLeg { bank: 0, account: "alice".to_string(), amount_cents: -amount_cents, consent: None },
            TransferLeg { bank: 1, account: "bob".to_string(), amount_cents, consent: None },
        ],
        refund_of: None,
    }
}

fn keys(me: u16) -> Keys {
    Keys::new(SimKeyring::new(me, &[0, 1], 7))
}

/// Both members' signed confirmations that `holder` holds `stamp`.
fn certify(stamp: Stamp, holder: u16) -> Certificate {
    let confirmations = (0..2).map(|by| Confirmation { by, signature: keys(by).sign_confirm(stamp, holder) }).collect();
    Certificate { stamp, holder, confirmations, membership: None }
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

/// Bank 1's view for consent cases: carol (bank 1) has 10_000 available and granted bank 0
/// consent "c-ok" (at most 3_000 per transfer, 5_000 in total); "c-revoked", "c-expired" and
/// "c-bank2" (granted to bank 2) cover the same account.
struct ConsentBook;

impl Accounts for ConsentBook {
    fn available_cents(&self, account: &str) -> Option<i64> {
        (account == "carol").then_some(10_000)
    }

    fn check_leg(&self, _item: &ringbank_twopc::PrepareItem, _account: &str, amount_cents: i64) -> Result<(), String> {
        // The ledger's holder check: the initiator named by bank 0 holds nothing here.
        if amount_cents < 0 {
            Err("account carol not found".into())
        } else {
            Ok(())
        }
    }

    fn consent(&self, id: &str) -> Option<ConsentView> {
        let view = ConsentView {
            grantee: 0,
            account: "carol".into(),
            per_transfer_max_cents: 3_000,
            total_max_cents: 5_000,
            used_cents: 0,
            revoked: false,
            expired: false,
            usable: true,
        };
        match id {
            "c-ok" => Some(view),
            "c-revoked" => Some(ConsentView { revoked: true, ..view }),
            "c-expired" => Some(ConsentView { expired: true, ..view }),
            "c-bank2" => Some(ConsentView { grantee: 2, ..view }),
            _ => None,
        }
    }
}

/// Coordinator 0 debits carol at bank 1 with `consent`, crediting alice at bank 0.
fn debit_at_bank1(name: &str, amount_cents: i64, consent: Option<&str>) -> PendingTransfer {
    PendingTransfer {
        id: id(name),
        kind: TransferKind::Transfer,
        initiated_by: "11144477735".to_string(),
        description: String::new(),
        legs: vec![
            TransferLeg { bank: 1, account: "carol".to_string(), amount_cents: -amount_cents, consent: consent.map(str::to_string) },
            TransferLeg { bank: 0, account: "alice".to_string(), amount_cents, consent: None },
        ],
        refund_of: None,
    }
}

/// Bank 1's votes on a batch of coordinator 0: (id, yes), the reasons, and every action.
type Voted = (Vec<(TransferId, bool)>, Vec<Option<String>>, Vec<ParticipantAction>);

fn bank1_votes(transfers: Vec<PendingTransfer>) -> Voted {
    let (_, mut prepares) = coordinator_with_batch(transfers, Stamp::new(1, 1), 100);
    let mut bank1 = participant(1);
    let actions = bank1.on_prepare(0, prepares.remove(&1).unwrap(), 0, &ConsentBook, 0);
    let reasons = match sent(&actions).as_slice() {
        [Message::Votes { votes, .. }] => votes.iter().map(|v| v.reason.clone()).collect(),
        other => panic!("expected votes, got {other:?}"),
    };
    (votes_of(&actions), reasons, actions)
}

#[test]
fn a_debit_asked_by_another_bank_needs_a_consent_granted_to_it_within_its_limits() {
    let cases = [
        (None, 1_000, "no consent"),
        (Some("c-missing"), 1_000, "does not exist"),
        (Some("c-revoked"), 1_000, "was revoked"),
        (Some("c-expired"), 1_000, "has expired"),
        (Some("c-bank2"), 1_000, "was not granted to the bank asking"),
        (Some("c-ok"), 3_001, "at most 3000 centavos per transfer"),
    ];
    for (consent, amount, why) in cases {
        let (votes, reasons, actions) = bank1_votes(vec![debit_at_bank1("t1", amount, consent)]);
        assert_eq!(votes, vec![(id("t1"), false)], "{consent:?}");
        let reason = reasons[0].clone().unwrap_or_default();
        assert!(reason.contains(why), "{consent:?}: {reason}");
        let holds: usize = actions
            .iter()
            .map(|a| match a {
                ParticipantAction::Persist(ParticipantWrite::Prepare { votes, .. }) => {
                    votes.iter().map(|v| v.participation.holds.len()).sum()
                }
                _ => 0,
            })
            .sum();
        assert_eq!(holds, 0, "a refused debit holds nothing");
    }
}

#[test]
fn a_consented_debit_holds_and_records_its_use_and_the_total_counts_the_whole_batch() {
    let (votes, reasons, actions) = bank1_votes(vec![debit_at_bank1("t1", 3_000, Some("c-ok")), debit_at_bank1("t2", 2_500, Some("c-ok"))]);
    assert_eq!(votes, vec![(id("t1"), true), (id("t2"), false)]);
    assert!(reasons[1].as_deref().unwrap_or_default().contains("2000 centavos left of its total of 5000"), "{reasons:?}");
    let written = actions.iter().find_map(|a| match a {
        ParticipantAction::Persist(ParticipantWrite::Prepare { votes, .. }) => Some(votes.clone()),
        _ => None,
    });
    let written = written.expect("the votes are persisted");
    let uses = &written[0].participation.consent_uses;
    assert_eq!(uses.len(), 1);
    assert_eq!((uses[0].consent.as_str(), uses[0].amount_cents), ("c-ok", 3_000));
    assert!(written[1].participation.consent_uses.is_empty());
}

#[test]
fn a_consent_on_a_credit_is_malformed_and_the_coordinator_own_debits_need_none() {
    let mut transfer = debit_at_bank1("t1", 1_000, Some("c-ok"));
    transfer.legs[1].consent = Some("c-ok".into());
    let (_, mut prepares) = coordinator_with_batch(vec![transfer], Stamp::new(1, 1), 100);
    let actions = participant(0).on_prepare(0, prepares.remove(&0).unwrap(), 0, &book(), 0);
    assert!(matches!(sent(&actions).as_slice(), [Message::Refused { refusal: Refusal::Malformed(_), .. }]), "{actions:?}");
}

/// Bank 1's votes (yes or no) and reasons on a batch of coordinator 0 debiting carol under
/// consent "c-ok" once per amount.
fn consented_debits_voted(book: &impl Accounts, amounts: &[i64]) -> (Vec<bool>, Vec<Option<String>>) {
    let transfers = amounts.iter().enumerate().map(|(i, a)| debit_at_bank1(&format!("t{i}"), *a, Some("c-ok"))).collect();
    let (_, mut prepares) = coordinator_with_batch(transfers, Stamp::new(1, 1), 100);
    let actions = participant(1).on_prepare(0, prepares.remove(&1).unwrap(), 0, book, 0);
    let reasons: Vec<Option<String>> = match sent(&actions).as_slice() {
        [Message::Votes { votes, .. }] => votes.iter().map(|v| v.reason.clone()).collect(),
        other => panic!("expected votes, got {other:?}"),
    };
    (votes_of(&actions).into_iter().map(|(_, yes)| yes).collect::<Vec<_>>(), reasons)
}

/// ConsentBook with transfer limits on carol: 4_000 a day, 1_500 of it already debited today.
struct LimitedBook {
    night: bool,
}

impl Accounts for LimitedBook {
    fn available_cents(&self, account: &str) -> Option<i64> {
        ConsentBook.available_cents(account)
    }

    fn check_leg(&self, item: &ringbank_twopc::PrepareItem, account: &str, amount_cents: i64) -> Result<(), String> {
        ConsentBook.check_leg(item, account, amount_cents)
    }

    fn consent(&self, id: &str) -> Option<ConsentView> {
        ConsentBook.consent(id).map(|view| ConsentView { per_transfer_max_cents: 10_000, total_max_cents: 10_000, ..view })
    }

    fn limits(&self, account: &str) -> Option<AccountLimits> {
        (account == "carol").then(|| AccountLimits {
            limits: Limits { per_transfer_cents: Some(2_000), daily_cents: Some(4_000), night_cents: Some(1_000) },
            // 2026-11-30 15:00 or 23:30 UTC (12:00 or 20:30 in Sao Paulo).
            window: LimitWindow::at(if self.night { 1_796_081_400_000 } else { 1_796_050_800_000 }, UtcOffset::SAO_PAULO),
            used: LimitUsage { today_cents: 1_500, tonight_cents: 200 },
        })
    }
}

/// Every debit is checked against the account's limits, whichever bank asks (here through a
/// consent), counting what earlier votes used and what this prepare already holds; the "no"
/// says which limit and what is left.
#[test]
fn limits_count_earlier_debits_and_the_whole_batch_and_say_what_is_left() {
    let vote = consented_debits_voted;
    let day = LimitedBook { night: false };
    let (yes, reasons) = vote(&day, &[2_001]);
    assert_eq!(yes, vec![false]);
    assert!(reasons[0].as_deref().unwrap().contains("limit per transfer of account carol is R$ 20,00"), "{reasons:?}");
    // 1_500 used + 2_000 + 500 = 4_000: the third debit of the batch finds nothing left.
    let (yes, reasons) = vote(&day, &[2_000, 500, 1]);
    assert_eq!(yes, vec![true, true, false]);
    assert!(reasons[2].as_deref().unwrap().contains("daily limit of account carol is R$ 40,00; R$ 0,00 left"), "{reasons:?}");
    // At night: 200 used of 1_000.
    let night = LimitedBook { night: true };
    let (yes, reasons) = vote(&night, &[700, 101]);
    assert_eq!(yes, vec![true, false]);
    assert!(reasons[1].as_deref().unwrap().contains("night limit (20:00-06:00) of account carol is R$ 10,00; R$ 1,00 left"), "{reasons:?}");
}

/// LimitedBook's account limits, and the initiator's own limits over all their accounts here:
/// 3_000 a day, 1_000 of it used by their earlier debits (from any account).
struct CustomerLimitedBook {
    initiator: &'static str,
}

impl Accounts for CustomerLimitedBook {
    fn available_cents(&self, account: &str) -> Option<i64> {
        LimitedBook { night: false }.available_cents(account)
    }

    fn check_leg(&self, item: &ringbank_twopc::PrepareItem, account: &str, amount_cents: i64) -> Result<(), String> {
        LimitedBook { night: false }.check_leg(item, account, amount_cents)
    }

    fn consent(&self, id: &str) -> Option<ConsentView> {
        LimitedBook { night: false }.consent(id)
    }

    fn limits(&self, account: &str) -> Option<AccountLimits> {
        LimitedBook { night: false }.limits(account)
    }

    fn customer_limits(&self, document: &str) -> Option<AccountLimits> {
        (document == self.initiator).then(|| AccountLimits {
            limits: Limits { per_transfer_cents: None, daily_cents: Some(3_000), night_cents: None },
            window: LimitWindow::at(1_796_050_800_000, UtcOffset::SAO_PAULO),
            used: LimitUsage { today_cents: 1_000, tonight_cents: 0 },
        })
    }
}

/// A customer's own limits count what they initiated here in all, across the prepare's
/// transfers, besides each account's limits; the "no" names the customer's limit, and another
/// initiator's debits count nothing against it.
#[test]
fn customer_limits_count_every_debit_the_customer_initiated_here() {
    let vote = consented_debits_voted;
    // 1_000 used + 1_500 + 500 = 3_000 (carol's own daily 4_000 - 1_500 is not reached).
    let (yes, reasons) = vote(&CustomerLimitedBook { initiator: "11144477735" }, &[1_500, 500, 1]);
    assert_eq!(yes, vec![true, true, false]);
    let reason = reasons[2].as_deref().unwrap();
    assert!(reason.contains("daily limit of customer 11144477735 is R$ 30,00; R$ 0,00 left; R$ 0,01 requested"), "{reason}");
    let refusal = ringbank_domain::LimitRefusal::parse(reason).expect("a limit refusal reads back");
    assert!(refusal.customer);
    // The same debits initiated by someone else: only carol's account limits apply.
    let (yes, _) = vote(&CustomerLimitedBook { initiator: "52998224725" }, &[1_500, 500, 1]);
    assert_eq!(yes, vec![true, true, true]);
}

/// Outcomes an honest coordinator never sends (a commit of a transfer never prepared here or
/// voted no here, the opposite of an outcome applied, two outcomes for one transfer in one
/// batch) are ignored: a dishonest member cannot stop an honest participant with them, nor
/// change what it applied.
#[test]
fn a_dishonest_coordinators_impossible_outcomes_are_ignored_and_stop_nothing() {
    let mut nobody = transfer("t2", 50);
    nobody.legs[1].account = "nobody".to_string();
    let batch = vec![transfer("t1", 300), nobody, transfer("t3", 10)];
    let (_, prepares) = coordinator_with_batch(batch, Stamp::new(1 << 16, 1), 100);
    let mut bank1 = participant(1);
    assert_eq!(
        votes_of(&bank1.on_prepare(0, prepares[&1].clone(), 0, &book(), 0)),
        vec![(id("t1"), true), (id("t2"), false), (id("t3"), true)]
    );
    let commit = |name: &str| OutcomeItem { id: id(name), commit: true };
    let abort = |name: &str| OutcomeItem { id: id(name), commit: false };
    let before = bank1.state().clone();
    for outcomes in [vec![commit("never-prepared")], vec![commit("t2")]] {
        let actions = bank1.on_outcome(0, 0, outcomes);
        assert!(!actions.iter().any(|a| matches!(a, ParticipantAction::Persist(_) | ParticipantAction::Final { .. })), "{actions:?}");
        assert_eq!(*bank1.state(), before);
    }
    bank1.on_outcome(0, 0, vec![commit("t1"), abort("t1"), abort("t3"), commit("t3")]);
    assert_eq!(bank1.state().participations[&id("t1")].status, ParticipationStatus::Committed, "the first of two wins");
    assert_eq!(bank1.state().participations[&id("t3")].status, ParticipationStatus::Aborted);
    let applied = bank1.state().clone();
    let actions = bank1.on_outcome(0, 0, vec![abort("t1"), commit("t3")]);
    assert!(!actions.iter().any(|a| matches!(a, ParticipantAction::Persist(_))), "{actions:?}");
    assert_eq!(*bank1.state(), applied, "an outcome applied here is never undone");
}

fn keys3(me: u16) -> Keys {
    Keys::new(SimKeyring::new(me, &[0, 1, 2], 7))
}

/// A transfer id another coordinator took first at a participant gets a no from there: the yes
/// (and holds) recorded are that other bank's transfer's, and this coordinator's outcome would
/// never be applied to it. Found by the simulator with a Byzantine bank (before, bank 1 answered
/// bank 0 with bank 2's yes, so bank 0 could commit a transfer bank 1 never booked).
#[test]
fn a_transfer_id_taken_first_by_another_coordinator_gets_a_no() {
    let mut bank1 = Participant::start(ParticipantConfig::with_defaults(1, vec![0, 1, 2]), keys3(1), ParticipantState::default(), 0);
    // Bank 2 held the token first and prepared its own "t1" at bank 1 (bob is credited).
    let stamp2 = Stamp::new(1 << 16, 1);
    let confirmations = (0..2).map(|by| Confirmation { by, signature: keys3(by).sign_confirm(stamp2, 2) }).collect();
    let (_, from0) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 2), 100);
    let mut item = from0[&1].transfers[0].clone();
    item.participants = vec![1, 2];
    item.settlement[0].bank = 2;
    let prepare2 = Prepare {
        coordinator: 2,
        stamp: stamp2,
        certificate: Some(Certificate { stamp: stamp2, holder: 2, confirmations, membership: None }),
        transfers: vec![item],
    };
    assert_eq!(votes_of(&bank1.on_prepare(2, prepare2, 0, &book(), 0)), vec![(id("t1"), true)]);
    // Bank 0's "t1" gets a no with the reason, and bank 2's record stays as it was.
    let actions = bank1.on_prepare(0, from0[&1].clone(), 0, &book(), 1);
    match sent(&actions).as_slice() {
        [Message::Votes { votes, .. }] => {
            assert!(!votes[0].yes);
            assert!(votes[0].reason.as_deref().unwrap_or_default().contains("already used here by bank 2"), "{votes:?}");
        }
        other => panic!("expected votes, got {other:?}"),
    }
    assert_eq!(bank1.state().participations[&id("t1")].coordinator, 2);
    // Bank 0's abort is acknowledged without touching bank 2's transfer; a query about bank 0's
    // "t1" is not answered from bank 2's record.
    let actions = bank1.on_outcome(0, 0, vec![OutcomeItem { id: id("t1"), commit: false }]);
    assert_eq!(sent(&actions), vec![&Message::Final { ids: vec![id("t1")] }]);
    assert_eq!(bank1.state().participations[&id("t1")].status, ParticipationStatus::Prepared);
    let (coordinator1, _) = Coordinator::start(CoordinatorConfig::with_defaults(1), CoordinatorState::default(), 0);
    assert_eq!(ringbank_twopc::answer_query(&coordinator1, &bank1, 0, 0, &[id("t1")]), Message::Known { coordinator: 0, known: vec![] });
}

#[test]
fn only_the_banks_that_took_part_in_a_transfer_learn_what_became_of_it() {
    // Bank 1 prepared and committed bank 0's t1; bank 2 took no part in it.
    let (coordinator0, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1 << 16, 1), 100);
    let mut bank1 = participant(1);
    bank1.on_prepare(0, prepares[&1].clone(), 0, &book(), 0);
    bank1.on_outcome(0, 0, vec![OutcomeItem { id: id("t1"), commit: true }]);
    let (coordinator1, _) = Coordinator::start(CoordinatorConfig::with_defaults(1), CoordinatorState::default(), 0);
    let committed = Message::Known { coordinator: 0, known: vec![OutcomeItem { id: id("t1"), commit: true }] };
    assert_eq!(ringbank_twopc::answer_query(&coordinator1, &bank1, 0, 0, &[id("t1")]), committed);
    assert_eq!(ringbank_twopc::answer_query(&coordinator1, &bank1, 2, 0, &[id("t1")]), Message::Known { coordinator: 0, known: vec![] });
    // The coordinator (restarted: its undecided t1 is presumed aborted) answers its participant,
    // not bank 2; a transfer it has no record of is presumed aborted for anyone (nothing to leak).
    let (coordinator0, _) = Coordinator::start(CoordinatorConfig::with_defaults(0), coordinator0.state().clone(), 1_000);
    let bank0 = participant(0);
    let aborted = |name: &str| Message::Known { coordinator: 0, known: vec![OutcomeItem { id: id(name), commit: false }] };
    assert_eq!(ringbank_twopc::answer_query(&coordinator0, &bank0, 1, 0, &[id("t1")]), aborted("t1"));
    assert_eq!(ringbank_twopc::answer_query(&coordinator0, &bank0, 2, 0, &[id("t1")]), Message::Known { coordinator: 0, known: vec![] });
    assert_eq!(ringbank_twopc::answer_query(&coordinator0, &bank0, 2, 0, &[id("t9")]), aborted("t9"));
}

/// Alice (bank 0) with a limit of R$ 1,00 per transfer.
struct AliceLimited;

impl Accounts for AliceLimited {
    fn available_cents(&self, account: &str) -> Option<i64> {
        book().available_cents(account)
    }

    fn limits(&self, account: &str) -> Option<AccountLimits> {
        (account == "alice").then(|| AccountLimits {
            limits: Limits { per_transfer_cents: Some(100), daily_cents: None, night_cents: None },
            window: LimitWindow::at(1_796_050_800_000, UtcOffset::SAO_PAULO),
            used: LimitUsage { today_cents: 0, tonight_cents: 0 },
        })
    }
}

/// A refund (devolução) crosses banks as any transfer does, with its link: the payer reaches
/// only the banks the transfer credits (what a receiver's bank needs to refund it); a refund's
/// debit asked by another bank is a no even with a valid consent; the origin's own refund
/// debit is not held to the transfer limits, which still hold every other debit.
#[test]
fn a_refund_carries_its_link_and_debits_only_at_its_origin() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1, 1), 100);
    let alice = Payer { bank: 0, account: "alice".to_string(), amount_cents: 300, credited: "bob".to_string() };
    assert_eq!(prepares[&1].transfers[0].payers, vec![alice]);
    assert_eq!(prepares[&0].transfers[0].payers, vec![], "bank 0 is only debited");
    assert_eq!(prepares[&1].transfers[0].refund_of, None);

    let mut forged = debit_at_bank1("r1", 1_000, Some("c-ok"));
    forged.refund_of = Some(id("t0"));
    let (votes, reasons, _) = bank1_votes(vec![forged]);
    assert_eq!(votes, vec![(id("r1"), false)]);
    assert!(reasons[0].as_deref().unwrap_or_default().contains("a refund debits only accounts at the bank that asks"), "{reasons:?}");

    let mut refund = transfer("r2", 300);
    refund.refund_of = Some(id("t0"));
    let (_, prepares) = coordinator_with_batch(vec![refund, transfer("t3", 300)], Stamp::new(1, 1), 100);
    assert_eq!(prepares[&1].transfers[0].refund_of, Some(id("t0")), "the link reaches the credited bank");
    let actions = participant(0).on_prepare(0, prepares[&0].clone(), 0, &AliceLimited, 0);
    assert_eq!(votes_of(&actions), vec![(id("r2"), true), (id("t3"), false)]);
}

/// A prepare naming a payer outside the ring, payers that do not add up to the credits they
/// fund, or a malformed original, is refused whole.
#[test]
fn a_malformed_payer_or_original_is_refused() {
    let (_, prepares) = coordinator_with_batch(vec![transfer("t1", 300)], Stamp::new(1, 1), 100);
    let mut outsider = prepares[&1].clone();
    outsider.transfers[0].payers[0].bank = 7;
    let mut empty = prepares[&1].clone();
    empty.transfers[0].refund_of = Some(id(""));
    // Payers that do not add up to the credit they fund, or fund an account not credited here.
    let mut short = prepares[&1].clone();
    short.transfers[0].payers[0].amount_cents = 299;
    let mut elsewhere = prepares[&1].clone();
    elsewhere.transfers[0].payers[0].credited = "carol".to_string();
    let mut zero = prepares[&1].clone();
    zero.transfers[0].payers.push(Payer { bank: 0, account: "dave".to_string(), amount_cents: 0, credited: "bob".to_string() });
    for prepare in [outsider, empty, short, elsewhere, zero] {
        let actions = participant(1).on_prepare(0, prepare, 0, &book(), 0);
        assert!(matches!(sent(&actions).as_slice(), [Message::Refused { refusal: Refusal::Malformed(_), .. }]), "{actions:?}");
    }
}

/// Several payers at several banks paying several receivers: each credited bank is told who paid
/// each of its credits (debits matched to credits in leg order), and nothing about the others.
#[test]
fn each_credited_bank_learns_who_paid_its_credits_and_only_those() {
    let mut split = transfer("t1", 0);
    split.legs = vec![
        TransferLeg { bank: 0, account: "alice".to_string(), amount_cents: -6_000, consent: None },
        TransferLeg { bank: 1, account: "carol".to_string(), amount_cents: -4_000, consent: Some("c-ok".to_string()) },
        TransferLeg { bank: 1, account: "bob".to_string(), amount_cents: 7_000, consent: None },
        TransferLeg { bank: 0, account: "erin".to_string(), amount_cents: 3_000, consent: None },
    ];
    let (_, prepares) = coordinator_with_batch(vec![split], Stamp::new(1, 1), 100);
    let payer = |bank, account: &str, amount_cents, credited: &str| Payer {
        bank,
        account: account.to_string(),
        amount_cents,
        credited: credited.to_string(),
    };
    assert_eq!(prepares[&1].transfers[0].payers, vec![payer(0, "alice", 6_000, "bob"), payer(1, "carol", 1_000, "bob")]);
    assert_eq!(prepares[&0].transfers[0].payers, vec![payer(1, "carol", 3_000, "erin")]);
    // And the participant takes them as well formed.
    let actions = participant(1).on_prepare(0, prepares[&1].clone(), 0, &book(), 0);
    assert!(!matches!(sent(&actions).as_slice(), [Message::Refused { .. }]), "{actions:?}");
}

/// A bank's positions with its peers, as its ledger reports them to a settlement's vote.
struct Positions(BTreeMap<u16, Position>);

impl Accounts for Positions {
    fn available_cents(&self, account: &str) -> Option<i64> {
        (account == "bob").then_some(0)
    }

    fn position(&self, peer: u16) -> Option<Position> {
        self.0.get(&peer).copied()
    }
}

fn position(balance_cents: i64, pending_down_cents: i64, pending_up_cents: i64) -> Position {
    Position { balance_cents, pending_down_cents, pending_up_cents }
}

/// A settlement coordinated by bank 0 whose reserves legs are `at_0` and `at_1` (the creditor's
/// is a debit: bank 1 paid bank 0).
fn settlement_with(name: &str, at_0: (&str, i64), at_1: (&str, i64)) -> PendingTransfer {
    PendingTransfer {
        id: id(name),
        kind: TransferKind::Settlement,
        initiated_by: SETTLEMENT_INITIATOR.to_string(),
        description: "wire 123".to_string(),
        legs: vec![
            TransferLeg { bank: 0, account: at_0.0.to_string(), amount_cents: at_0.1, consent: None },
            TransferLeg { bank: 1, account: at_1.0.to_string(), amount_cents: at_1.1, consent: None },
        ],
        refund_of: None,
    }
}

/// Bank 0 records that bank 1 paid it `amount_cents` of reserves.
fn settlement(name: &str, amount_cents: i64) -> PendingTransfer {
    settlement_with(name, (RESERVES_ACCOUNT, -amount_cents), (RESERVES_ACCOUNT, amount_cents))
}

/// The votes and reasons of bank `me` on `prepare`, given its positions.
fn settlement_votes(me: u16, prepare: &Prepare, positions: &Positions) -> (Vec<bool>, Vec<String>, Participant) {
    let mut bank = participant(me);
    let actions = bank.on_prepare(0, prepare.clone(), 1 << 16, positions, 0);
    match sent(&actions).as_slice() {
        [Message::Votes { votes, .. }] => {
            (votes.iter().map(|v| v.yes).collect(), votes.iter().map(|v| v.reason.clone().unwrap_or_default()).collect(), bank)
        }
        other => panic!("expected votes, got {other:?}"),
    }
}

#[test]
fn a_settlement_lowers_both_positions_by_its_amount_and_never_past_zero() {
    // Bank 1 owes bank 0 R$ 5,00: bank 0's settlement account for 1 is -500, bank 1's for 0 is +500.
    let creditor = Positions([(1, position(-500, 0, 0))].into_iter().collect());
    let debtor = Positions([(0, position(500, 0, 0))].into_iter().collect());
    let (_, prepares) = coordinator_with_batch(vec![settlement("s1", 300), settlement("s2", 300)], Stamp::new(1 << 16, 1), 100);
    let (votes, reasons, bank0) = settlement_votes(0, &prepares[&0], &creditor);
    // The second would take the claim past zero once the first commits.
    assert_eq!(votes, vec![true, false], "{reasons:?}");
    assert!(reasons[1].contains("bank 1 owes this bank R$ 2,00") && reasons[1].contains("R$ 3,00 would exceed it"), "{reasons:?}");
    let (votes, reasons, bank1) = settlement_votes(1, &prepares[&1], &debtor);
    assert_eq!(votes, vec![true, false], "{reasons:?}");
    assert!(reasons[1].contains("this bank owes bank 0 R$ 2,00"), "{reasons:?}");
    let postings = |bank: &Participant| {
        let record = &bank.state().participations[&id("s1")];
        assert!(record.holds.is_empty(), "a settlement holds nothing: the position check is its cover");
        record.postings.iter().map(|p| (p.account.clone(), p.amount_cents)).collect::<Vec<_>>()
    };
    assert_eq!(postings(&bank0), vec![(Account::Customer(RESERVES_ACCOUNT.into()), -300), (Account::Settlement(1), 300)]);
    assert_eq!(postings(&bank1), vec![(Account::Customer(RESERVES_ACCOUNT.into()), 300), (Account::Settlement(0), -300)]);

    // Transfers in doubt that may lower the position count against it, at either bank.
    let (_, prepares) = coordinator_with_batch(vec![settlement("s3", 300)], Stamp::new(1 << 16, 2), 100);
    let (votes, reasons, _) = settlement_votes(1, &prepares[&1], &Positions([(0, position(500, -300, 50))].into_iter().collect()));
    assert_eq!(votes, vec![false]);
    assert!(reasons[0].contains("owes bank 0 R$ 2,00 (transfers in doubt counted against it)"), "{reasons:?}");
    let (votes, _, _) = settlement_votes(0, &prepares[&0], &Positions([(1, position(-500, -900, 250))].into_iter().collect()));
    assert_eq!(votes, vec![false], "a claim of 500 less 250 in doubt does not cover 300");
    let (votes, _, _) = settlement_votes(0, &prepares[&0], &Positions([(1, position(-500, -900, 200))].into_iter().collect()));
    assert_eq!(votes, vec![true], "exactly the claim left");
    // A bank that owes nothing (no settlement account at all) settles nothing.
    let (votes, _, _) = settlement_votes(1, &prepares[&1], &Positions(BTreeMap::new()));
    assert_eq!(votes, vec![false]);
}

#[test]
fn the_reserves_account_takes_part_only_in_a_settlement_that_its_creditor_records() {
    let owed = || Positions([(0, position(500, 0, 0)), (1, position(-500, 0, 0))].into_iter().collect());
    // A transfer that credits bank 1's reserves (a customer's money into the bank's own books).
    let mut into_reserves = transfer("t1", 100);
    into_reserves.legs[1].account = RESERVES_ACCOUNT.to_string();
    // The debtor, bank 0, recording its own payment (it would give up nothing of its own).
    let by_debtor = settlement_with("s1", (RESERVES_ACCOUNT, 100), (RESERVES_ACCOUNT, -100));
    // A settlement with a customer's leg in it.
    let with_customer = settlement_with("s2", (RESERVES_ACCOUNT, -100), ("bob", 100));
    let (_, prepares) = coordinator_with_batch(vec![into_reserves, by_debtor, with_customer], Stamp::new(1 << 16, 1), 100);
    let (votes, reasons, bank1) = settlement_votes(1, &prepares[&1], &owed());
    assert_eq!(votes, vec![false, false, false], "{reasons:?}");
    assert!(reasons[0].contains("takes part only in an interbank settlement"), "{reasons:?}");
    assert!(reasons[1].contains("recorded by the bank it pays"), "{reasons:?}");
    assert!(reasons[2].contains("one leg on the reserves account"), "{reasons:?}");
    assert!(bank1.state().participations.values().all(|r| r.postings.is_empty() && r.holds.is_empty()));
    // The coordinator refuses to record its own payment too (the settlement with a customer's
    // leg it cannot see at bank 1: bank 1's no aborts it).
    let (votes, reasons, _) = settlement_votes(0, &prepares[&0], &owed());
    assert!(!votes[1] && reasons[1].contains("recorded by the bank it pays"), "{reasons:?}");
}
