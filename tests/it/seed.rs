//! `ringbank seed`: synthetic history in a new bank's database (to measure a large ledger). The
//! history must be one a bank carries on from: the audit passes on it, its customers sign in,
//! their statements chain, and new transfers continue their line numbers.

use ringbank::ledger::seed::{seed, SeedPlan, DEPOSIT_CENTS};
use ringbank::ledger::DatabaseLocation;
use ringbank_tools::args::{SEED_ACCOUNT_BASE, SEED_DOCUMENT_BASE};

use crate::common::*;

#[tokio::test]
async fn a_seeded_ledger_passes_the_audit_and_the_bank_carries_on_from_it() {
    let data = tempfile::tempdir().expect("temp dir");
    // 200 accounts and 17 rounds of payments between the pairs: 200 + 17 * 100 entries.
    let plan = SeedPlan::new(200, 1_950, SEED_DOCUMENT_BASE, SEED_ACCOUNT_BASE).expect("a valid plan");
    assert_eq!((plan.rounds, plan.entries()), (17, 1_900), "entries round down to whole rounds");
    let location = DatabaseLocation::new(test_database_url("S", data.path()).await.as_deref(), data.path());
    let hash = ringbank::service::hash_password(PASSWORD).expect("hash");
    let report = seed(&location, "S", plan, &hash).await.expect("seeded");
    assert_eq!((report.accounts, report.entries, report.legs), (200, 1_900, 3_800));
    let again = seed(&location, "S", plan, &hash).await.expect_err("a bank with history is not seeded again");
    assert!(again.to_string().contains("only a new bank is seeded"), "{again}");

    let bank = TestBank::start_in("S", data.path(), |_| {}).await;
    bank.assert_audit_passes().await;
    // After an odd number of rounds the even account of each pair paid last.
    for k in [6, 7, 199] {
        let token = bank.sign_in(&plan.document(k)).await;
        let (balance, available) = bank.balance(&token, &plan.account(k)).await;
        assert_eq!((balance, available), (plan.final_balance(k), plan.final_balance(k)), "account {k}");
    }
    assert_ne!(plan.final_balance(6), DEPOSIT_CENTS, "the last round moved money");
    assert_eq!(plan.final_balance(6) + plan.final_balance(7), 2 * DEPOSIT_CENTS);

    // Account 7's statement: the deposit, then one line per round, each balance the last plus
    // the line's amount.
    let token = bank.sign_in(&plan.document(7)).await;
    let customer = bank.as_customer(&token);
    let page = customer.statement(&plan.account(7), Some(50), None).await.expect("statement");
    assert_eq!(page.entries.len(), 18);
    let mut oldest_first = page.entries.clone();
    oldest_first.reverse();
    assert_eq!((oldest_first[0].kind.as_str(), oldest_first[0].amount_cents, oldest_first[0].line), ("deposit", DEPOSIT_CENTS, 1));
    for pair in oldest_first.windows(2) {
        assert_eq!(pair[1].line, pair[0].line + 1);
        assert_eq!(pair[1].balance_after_cents, pair[0].balance_after_cents + pair[1].amount_cents, "{pair:?}");
    }
    assert_eq!(oldest_first[17].balance_after_cents, plan.final_balance(7));

    // A new transfer continues the line numbers, and the ledger still audits.
    let transfer = NewTransfer {
        debits: vec![Leg::new("S", &plan.account(7), 250)],
        credits: vec![Leg::new("S", &plan.account(150), 250)],
        description: "after the seed".into(),
    };
    let reply = customer.transfer(&transfer, &PostOptions::default()).await.expect("transfer");
    assert_eq!(reply.transfer.status, "committed", "{reply:?}");
    let page = customer.statement(&plan.account(7), Some(1), None).await.expect("statement");
    assert_eq!((page.entries[0].line, page.entries[0].balance_after_cents), (19, plan.final_balance(7) - 250));
    bank.assert_audit_passes().await;
}

#[tokio::test]
async fn the_seed_command_refuses_bad_sizes_and_a_bank_with_history() {
    let data = tempfile::tempdir().expect("temp dir");
    let database_url = test_database_url("T", data.path()).await;
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ringbank"));
        command.args(["seed", "--id", "T", "--data-dir"]).arg(data.path()).args(args).env_remove("RINGBANK_DATABASE_URL");
        if let Some(url) = &database_url {
            command.env("RINGBANK_DATABASE_URL", url);
        }
        let output = command.output().expect("ringbank seed runs");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).to_string(), String::from_utf8_lossy(&output.stderr).to_string())
    };
    let (code, _, stderr) = run(&["--accounts", "7", "--entries", "100"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--accounts must be an even number"), "{stderr}");
    let (code, _, stderr) = run(&["--accounts", "100", "--entries", "50"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--entries must be at least --accounts"), "{stderr}");
    let (code, stdout, stderr) = run(&["--accounts", "10", "--entries", "60"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("10 customers with an account each, 60 journal entries, 120 legs"), "{stdout}");
    let (code, _, stderr) = run(&["--accounts", "10", "--entries", "60"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("already has 10 customers and 60 entries"), "{stderr}");
}

/// `ringbank bench --seed-accounts`: an empty run, then a run on seeded banks, and the target
/// line compares them (a small ledger here: the verdict says it is smaller than the target's).
#[tokio::test]
async fn the_bench_compares_a_seeded_ledger_with_an_empty_one() {
    let address = free_loopback_address();
    let port = address.rsplit(':').next().expect("a port");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
        .args(["bench", "--banks", "1", "--clients", "4", "--accounts", "4", "--duration", "2s", "--warmup", "1s"])
        .args(["--seed-accounts", "100", "--seed-entries", "1000", "--base-port", port])
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(std::time::Duration::from_secs(180), output).await.expect("bench within 3 minutes").expect("bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("ledger                 empty at the start"), "{stdout}");
    assert!(stdout.contains("ledger                 seeded: 100 accounts, 1000 journal entries per bank"), "{stdout}");
    assert_eq!(stdout.matches("consortium audit       pass").count(), 2, "{stdout}");
    // Both runs read statement pages: 200 per bank, half of them synthetic accounts' when seeded.
    assert_eq!(stdout.matches("(200 pages of 50 lines, one at a time)").count(), 2, "{stdout}");
    let target = stdout.lines().find(|l| l.contains("1M accounts and 10M journal entries vs empty")).expect("the target line");
    assert!(target.contains("seeded vs") && target.contains("100 accounts and 1000 entries each"), "{target}");
    assert!(target.contains("a smaller ledger than the target's") && target.trim_start().starts_with('-'), "{target}");
}
