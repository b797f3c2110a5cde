//! Transfers (several source accounts, one destination) and payments (to a company
//! account, with a reference), each with a confirmation step, and the receipt page whose
//! status updates until the transfer is final. Both post through crate::service::operations, the
//! same validation and ledger jobs as POST /api/v1/transfers and /api/v1/payments.

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::i18n::Tr;
use super::session::{visit, Session, Visit};
use super::{
    account_choices, error_message, form_body, form_key, parse_amount, redirect, render, signed_in, signed_in_post, with_state, Choice,
    Chrome, Errors, Field, Form,
};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ledger::{AccountView, LedgerError, TransferRecord};
use crate::service::operations::{self, PaymentRequest, PaymentTarget, TransferRequest};
use ringbank_domain::money::format_brl;
use ringbank_domain::RawLeg;

/// Source rows the transfer form shows without JavaScript.
const SOURCE_ROWS_SHOWN: usize = 3;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    transfer_form(state.clone())
        .or(review(state.clone(), Kind::Transfer))
        .unify()
        .or(confirm(state.clone(), Kind::Transfer))
        .unify()
        .or(payment_form(state.clone()))
        .unify()
        .or(review(state.clone(), Kind::Payment))
        .unify()
        .or(confirm(state.clone(), Kind::Payment))
        .unify()
        .or(status_json(state.clone()))
        .unify()
        .or(receipt(state))
        .unify()
        .boxed()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Transfer,
    Payment,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Transfer => "transfer",
            Kind::Payment => "pay",
        }
    }
}

/// One source row of the transfer form: a bank, one of the customer's accounts there, an amount.
struct SourceRow {
    index: usize,
    label: String,
    banks: Vec<Choice>,
    groups: Vec<AccountGroup>,
    amount: String,
    from_error: Option<String>,
    amount_error: Option<String>,
}

/// The customer's accounts at one bank, an optgroup of a source row's account select.
struct AccountGroup {
    bank: String,
    label: String,
    options: Vec<Choice>,
}

/// The customer's accounts at every bank that answered: this bank's first.
struct Holdings {
    here: Vec<AccountView>,
    elsewhere: Vec<(String, Vec<AccountView>)>,
    unavailable: Vec<String>,
}

#[derive(Template)]
#[template(path = "transfer.html")]
struct TransferPage {
    c: Chrome,
    key: String,
    has_accounts: bool,
    rows: Vec<SourceRow>,
    max_rows: usize,
    unavailable: Vec<String>,
    destination: Vec<Field>,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PaymentPage {
    c: Chrome,
    key: String,
    has_accounts: bool,
    fields: Vec<Field>,
    errors: Errors,
}

/// GET /transfer?from=N -> the transfer form
fn transfer_form(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("transfer")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let mut form = Form::default();
            if let Some(from) = visit.query_value("from") {
                let bank = visit.query_value("from_bank").unwrap_or(state.bank());
                form = Form { pairs: vec![("from_1".to_string(), from.to_string()), ("from_bank_1".to_string(), bank.to_string())] };
            }
            form_page(&state, &visit, &session, Kind::Transfer, &form, &form_key(), Errors::default()).await
        })
        .boxed()
}

/// GET /pay?from=N -> the payment form
fn payment_form(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("pay")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let form = Form { pairs: vec![("from".to_string(), visit.query_value("from").unwrap_or("").to_string())] };
            form_page(&state, &visit, &session, Kind::Payment, &form, &form_key(), Errors::default()).await
        })
        .boxed()
}

async fn form_page(
    state: &Arc<AppState>,
    visit: &Visit,
    session: &Session,
    kind: Kind,
    form: &Form,
    key: &str,
    errors: Errors,
) -> Response {
    let holdings = match holdings(state, session, kind == Kind::Transfer).await {
        Ok(holdings) => holdings,
        Err(error) => return super::failure(state, visit, Some(session), &error),
    };
    let accounts = &holdings.here;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let title = if kind == Kind::Transfer { "transfer.title" } else { "pay.title" };
    let c = Chrome::new(state, visit, Some(session), title, kind.path());
    let t = c.t;
    let bank = if form.get("to_bank").is_empty() { state.bank() } else { form.get("to_bank") };
    let to_bank =
        Field::text("to_bank", t.get("field.to_bank").to_string(), bank).hint(t.fill("field.to_bank.hint", &[state.bank()])).error(&errors);
    let mut to_account = Field::text("to_account", t.get("field.to_account").to_string(), form.get("to_account")).error(&errors);
    to_account.inputmode = "numeric";
    match kind {
        Kind::Transfer => {
            let max_rows = state.config.max_legs.saturating_sub(1).max(1);
            let given = (1..=max_rows).filter(|i| !form.get(&format!("from_{i}")).is_empty()).max().unwrap_or(0);
            let rows =
                (1..=given.max(SOURCE_ROWS_SHOWN).min(max_rows)).map(|i| source_row(state, t, &holdings, form, &errors, i)).collect();
            let mut description =
                Field::text("description", t.get("field.description").to_string(), form.get("description")).error(&errors);
            description.required = false;
            let page = TransferPage {
                c,
                key: key.to_string(),
                has_accounts: !accounts.is_empty() || holdings.elsewhere.iter().any(|(_, list)| !list.is_empty()),
                unavailable: holdings.unavailable.clone(),
                rows,
                max_rows,
                destination: vec![to_bank, to_account, description],
                errors,
            };
            render(status, &page)
        }
        Kind::Payment => {
            let selected =
                if form.get("from").is_empty() { accounts.first().map(|a| a.number.as_str()).unwrap_or("") } else { form.get("from") };
            let from =
                Field::select("from", t.get("field.from_account").to_string(), account_choices(t, accounts, selected, None)).error(&errors);
            let reference = Field::text("reference", t.get("field.reference").to_string(), form.get("reference"))
                .hint(t.get("field.reference.hint").to_string())
                .error(&errors);
            let fields = vec![from, to_bank, to_account, Field::amount("amount", t, form.get("amount")).error(&errors), reference];
            render(status, &PaymentPage { c, key: key.to_string(), has_accounts: !accounts.is_empty(), fields, errors })
        }
    }
}

/// The customer's accounts here and, for transfers, at the other banks of the ring.
async fn holdings(state: &AppState, session: &Session, elsewhere_too: bool) -> Result<Holdings, ApiError> {
    let document = &session.caller.document;
    let (here, others) = if elsewhere_too {
        tokio::join!(state.ledger.accounts_of(document), super::remote::accounts_elsewhere(state, document))
    } else {
        (state.ledger.accounts_of(document).await, Vec::new())
    };
    let mut holdings = Holdings { here: here?, elsewhere: Vec::new(), unavailable: Vec::new() };
    for other in others {
        match other.accounts {
            Some(list) => holdings.elsewhere.push((other.bank, list)),
            None => holdings.unavailable.push(other.bank),
        }
    }
    Ok(holdings)
}

fn source_row(state: &AppState, t: Tr, holdings: &Holdings, form: &Form, errors: &Errors, index: usize) -> SourceRow {
    let selected = form.get(&format!("from_{index}"));
    let bank = match form.get(&format!("from_bank_{index}")) {
        "" => state.bank(),
        other => other,
    };
    let banks = state
        .ring
        .members()
        .list
        .iter()
        .map(|m| Choice {
            value: m.id.clone(),
            label: if m.id == state.bank() { t.fill("transfer.this_bank", &[&m.id]) } else { t.fill("dashboard.bank", &[&m.id]) },
            selected: m.id == bank,
        })
        .collect();
    let mut groups = vec![AccountGroup {
        bank: state.bank().to_string(),
        label: t.fill("transfer.this_bank", &[state.bank()]),
        options: account_choices(t, &holdings.here, if bank == state.bank() { selected } else { "" }, None),
    }];
    for (other, list) in &holdings.elsewhere {
        if !list.is_empty() {
            groups.push(AccountGroup {
                bank: other.clone(),
                label: t.fill("dashboard.bank", &[other]),
                options: account_choices(t, list, if bank == other { selected } else { "" }, None),
            });
        }
    }
    SourceRow {
        index,
        label: t.fill("transfer.row", &[&index.to_string()]),
        banks,
        groups,
        amount: form.get(&format!("amount_{index}")).to_string(),
        from_error: errors.field(&format!("from_{index}")).map(str::to_string),
        amount_error: errors.field(&format!("amount_{index}")).map(str::to_string),
    }
}

/// A request checked field by field, ready for the operation, with the form rows of each
/// source (to put errors on the right row).
struct Checked {
    transfer: Option<TransferRequest>,
    payment: Option<PaymentRequest>,
    source_rows: Vec<(usize, String)>,
    /// Who receives, as Pix shows it (name and masked document), when the account is here.
    recipient: Option<String>,
}

/// Reads and checks the form the way a person needs it (errors per field), then runs the
/// operation's own validation (the same as the API's) without posting anything.
async fn check(state: &Arc<AppState>, t: Tr, session: &Session, kind: Kind, form: &Form) -> Result<Checked, Errors> {
    let mut errors = Errors::default();
    let bank = form.get("to_bank").trim();
    if ringbank_domain::BankId::parse(bank).is_err() {
        errors.add("to_bank", t.get("error.bank_invalid"));
    }
    let to_account = form.get("to_account").trim();
    if ringbank_domain::AccountNumber::parse(to_account).is_err() {
        errors.add("to_account", t.get("error.account_invalid"));
    }
    // (row, bank, account, cents)
    let mut sources: Vec<(usize, String, String, i64)> = Vec::new();
    let rows: Vec<(usize, String, String, String)> = match kind {
        Kind::Transfer => (1..state.config.max_legs.max(2))
            .map(|i| {
                let bank = match form.get(&format!("from_bank_{i}")).trim() {
                    "" => state.bank().to_string(),
                    other => other.to_string(),
                };
                (i, bank, form.get(&format!("from_{i}")).trim().to_string(), form.get(&format!("amount_{i}")).trim().to_string())
            })
            .filter(|(_, _, from, amount)| !from.is_empty() || !amount.is_empty())
            .collect(),
        Kind::Payment => {
            vec![(0, state.bank().to_string(), form.get("from").trim().to_string(), form.get("amount").trim().to_string())]
        }
    };
    let field = |base: &str, index: usize| if kind == Kind::Payment { base.to_string() } else { format!("{base}_{index}") };
    // Accounts at other banks are checked against what those banks say the customer holds
    // (their participant checks again when the transfer is prepared).
    let mut elsewhere: Vec<(String, Option<Vec<AccountView>>)> = Vec::new();
    for (index, from_bank, from, amount) in &rows {
        let held = if from_bank == state.bank() {
            Ok(operations::held_account(&state.services, &session.caller, from).await.map_err(ApiError::from).is_ok())
        } else if state.ring.members().node_of(from_bank).is_none() {
            Ok(false)
        } else {
            if !elsewhere.iter().any(|(b, _)| b == from_bank) {
                let accounts = super::remote::accounts_at(state, from_bank, &session.caller.document).await;
                elsewhere.push((from_bank.clone(), accounts));
            }
            match elsewhere.iter().find(|(b, _)| b == from_bank).and_then(|(_, a)| a.as_ref()) {
                Some(accounts) => Ok(accounts.iter().any(|a| &a.number == from)),
                None => Err(t.fill("error.bank_unavailable", &[from_bank])),
            }
        };
        match held {
            Err(message) => errors.add(&field("from", *index), message),
            Ok(false) => errors.add(&field("from", *index), t.get("error.account_choose")),
            Ok(true) if sources.iter().any(|(_, b, f, _)| b == from_bank && f == from) => {
                errors.add(&field("from", *index), t.get("error.repeated_source"))
            }
            Ok(true) => {}
        }
        match parse_amount(state, t, amount) {
            Ok(cents) => sources.push((*index, from_bank.clone(), from.clone(), cents)),
            Err(message) => errors.add(&field("amount", *index), message),
        }
    }
    if rows.is_empty() {
        errors.add("from_1", t.get("error.no_sources"));
    }
    let text_field = if kind == Kind::Payment { "reference" } else { "description" };
    let min_chars = if kind == Kind::Payment { 1 } else { 0 };
    if operations::clean_text(text_field, form.get(text_field), min_chars, operations::DESCRIPTION_MAX_CHARS).is_err() {
        errors.add(text_field, t.get(if kind == Kind::Payment { "error.reference_invalid" } else { "error.description_invalid" }));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let source_rows = sources.iter().map(|(i, _, from, _)| (*i, from.clone())).collect();
    let checked = match kind {
        Kind::Transfer => {
            let debits: Vec<RawLeg> = sources
                .iter()
                .map(|(_, bank, from, cents)| RawLeg { bank: bank.clone(), account: from.clone(), amount_cents: *cents, consent: None })
                .collect();
            let total = ringbank_domain::money::checked_sum(debits.iter().map(|l| l.amount_cents)).unwrap_or(i64::MAX);
            let credits = vec![RawLeg { bank: bank.to_string(), account: to_account.to_string(), amount_cents: total, consent: None }];
            let request = TransferRequest { debits, credits, description: form.get("description").trim().to_string() };
            Checked { transfer: Some(request), payment: None, source_rows, recipient: None }
        }
        Kind::Payment => {
            let (_, _, from, amount_cents) = sources[0].clone();
            let to = PaymentTarget { bank: bank.to_string(), account: to_account.to_string() };
            let request = PaymentRequest { from_account: from, to, amount_cents, reference: form.get("reference").trim().to_string() };
            Checked { transfer: None, payment: Some(request), source_rows, recipient: None }
        }
    };
    let validated = match (&checked.transfer, &checked.payment) {
        (Some(request), _) => operations::transfer_job(&state.services, &session.caller, request).map(|_| ()),
        (_, Some(request)) => operations::payment_job(&state.services, &session.caller, request).map(|_| ()),
        _ => Ok(()),
    };
    let mut checked = match validated {
        Ok(()) => checked,
        Err(error) => return Err(operation_errors(t, kind, &checked, to_account, &ApiError::from(error))),
    };
    // What can be known before confirming is checked now, not after "Confirmar e enviar": each
    // source's available balance (as its bank reports it) and, for an account at this bank,
    // that the recipient exists and is of the right kind. The ledger and the participants
    // check again when the money moves.
    for (index, from_bank, from, cents) in &sources {
        let available = if from_bank == state.bank() {
            match state.ledger.account_for(from, &session.caller.document).await {
                Ok(view) => view.map(|v| v.available_cents),
                Err(error) => {
                    errors.form = Some(error_message(t, &ApiError::from(error)));
                    return Err(errors);
                }
            }
        } else {
            elsewhere
                .iter()
                .find(|(b, _)| b == from_bank)
                .and_then(|(_, accounts)| accounts.as_ref())
                .and_then(|accounts| accounts.iter().find(|a| &a.number == from))
                .map(|a| a.available_cents)
        };
        if let Some(available) = available.filter(|available| available < cents) {
            errors.add(&field("amount", *index), t.fill("error.review_insufficient", &[from, &format_brl(available)]));
        }
    }
    if bank == state.bank() {
        match state.ledger.recipient(to_account).await {
            Ok(None) => errors.add("to_account", t.fill("error.review_no_account", &[to_account, bank])),
            Ok(Some(recipient)) if kind == Kind::Payment && recipient.kind != "company" => {
                errors.add("to_account", t.fill("error.review_not_company", &[to_account, &recipient_line(t, &recipient)]))
            }
            Ok(Some(recipient)) => checked.recipient = Some(recipient_line(t, &recipient)),
            Err(error) => errors.form = Some(error_message(t, &ApiError::from(error))),
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(errors)
    }
}

/// An account's holders as a payer sees them before paying (as Pix does): a person's name and
/// CPF masked ("Fulano de T***, ***.444.777-**"), a company's name and CNPJ in full.
fn recipient_line(t: Tr, recipient: &crate::ledger::Recipient) -> String {
    use ringbank_domain::display::{mask_document, mask_person_name};
    let holders: Vec<String> = recipient
        .holders
        .iter()
        .map(|(document, name)| {
            let shown = if document.len() == 11 { mask_person_name(name) } else { name.clone() };
            format!("{shown}, {}", mask_document(document))
        })
        .collect();
    format!("{} · {}", holders.join("; "), t.get(&format!("kind.{}", recipient.kind)))
}

/// Puts an operation's error next to the field it is about, or on the whole form.
fn operation_errors(t: Tr, kind: Kind, checked: &Checked, to_account: &str, error: &ApiError) -> Errors {
    let mut errors = Errors::default();
    let message = error_message(t, error);
    let source_field = |account: &str| {
        checked.source_rows.iter().find(|(_, from)| from == account).map(|(i, _)| match kind {
            Kind::Transfer => format!("amount_{i}"),
            Kind::Payment => "amount".to_string(),
        })
    };
    let field = match error {
        ApiError::UnknownBank(_) => Some("to_bank".to_string()),
        ApiError::Ledger(LedgerError::NotACompanyAccount(_)) => Some("to_account".to_string()),
        ApiError::Ledger(LedgerError::AccountNotFound(number)) if number == to_account => Some("to_account".to_string()),
        ApiError::Ledger(LedgerError::InsufficientFunds { account, .. }) => source_field(account),
        ApiError::LimitExceeded(_) | ApiError::InvalidAmount(_) if kind == Kind::Payment => Some("amount".to_string()),
        _ => None,
    };
    match field {
        Some(field) => errors.add(&field, message),
        None => errors.form = Some(message),
    }
    errors
}

/// A leg as shown: "Banco X · conta Y" and the amount.
struct LegLine {
    place: String,
    amount: String,
    /// The account's holders (masked), when the account is at this bank (the comprovante).
    who: Option<String>,
}

fn leg_lines<'a>(t: Tr, legs: impl Iterator<Item = (&'a str, &'a str, i64)>) -> Vec<LegLine> {
    legs.map(|(bank, account, amount_cents)| LegLine {
        place: t.fill("confirm.bank_account", &[bank, account]),
        amount: format_brl(amount_cents),
        who: None,
    })
    .collect()
}

/// Fills in who holds each leg's account, for the legs at this bank.
async fn with_holders(state: &AppState, t: Tr, legs: &[crate::ledger::Leg], mut lines: Vec<LegLine>) -> Vec<LegLine> {
    for (leg, line) in legs.iter().zip(lines.iter_mut()) {
        if leg.bank == state.bank() {
            if let Ok(Some(recipient)) = state.ledger.recipient(&leg.account).await {
                line.who = Some(recipient_line(t, &recipient));
            }
        }
    }
    lines
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    c: Chrome,
    action: &'static str,
    back_action: &'static str,
    debits: Vec<LegLine>,
    credits: Vec<LegLine>,
    text_label: String,
    text: String,
    total: String,
    hidden: Vec<(String, String)>,
    recipient: Option<String>,
}

/// POST /transfer and POST /pay -> the confirmation page (or the form again, with errors;
/// `step=edit` just shows the form filled in)
fn review(state: Arc<AppState>, kind: Kind) -> BoxedFilter<(Response,)> {
    warp::path(kind.path())
        .and(warp::path::end())
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(move |visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let key = if form.get("key").is_empty() { form_key() } else { form.get("key").to_string() };
            if form.get("step") == "edit" {
                return form_page(&state, &visit, &session, kind, &form, &key, Errors::default()).await;
            }
            let t = visit.tr();
            let checked = match check(&state, t, &session, kind, &form).await {
                Ok(checked) => checked,
                Err(errors) => return form_page(&state, &visit, &session, kind, &form, &key, errors).await,
            };
            let mut c = Chrome::new(&state, &visit, Some(&session), "confirm.title", kind.path());
            c.title =
                format!("{} · {}", t.get("confirm.title"), t.get(if kind == Kind::Transfer { "transfer.title" } else { "pay.title" }));
            let (debits, credits, text_label, text) = match (&checked.transfer, &checked.payment) {
                (Some(r), _) => (r.debits.clone(), r.credits.clone(), "statement.description", r.description.clone()),
                (_, Some(r)) => {
                    let debit = RawLeg {
                        bank: state.bank().to_string(),
                        account: r.from_account.clone(),
                        amount_cents: r.amount_cents,
                        consent: None,
                    };
                    let credit =
                        RawLeg { bank: r.to.bank.clone(), account: r.to.account.clone(), amount_cents: r.amount_cents, consent: None };
                    (vec![debit], vec![credit], "field.reference", r.reference.clone())
                }
                _ => (Vec::new(), Vec::new(), "field.description", String::new()),
            };
            let total = format_brl(ringbank_domain::money::checked_sum(credits.iter().map(|l| l.amount_cents)).unwrap_or(0));
            let mut hidden: Vec<(String, String)> =
                form.pairs.iter().filter(|(k, _)| !matches!(k.as_str(), "csrf" | "key" | "step")).cloned().collect();
            hidden.push(("key".to_string(), key));
            let page = ConfirmPage {
                action: if kind == Kind::Transfer { "/transfer/confirm" } else { "/pay/confirm" },
                back_action: if kind == Kind::Transfer { "/transfer" } else { "/pay" },
                debits: leg_lines(t, debits.iter().map(|l| (l.bank.as_str(), l.account.as_str(), l.amount_cents))),
                credits: leg_lines(t, credits.iter().map(|l| (l.bank.as_str(), l.account.as_str(), l.amount_cents))),
                text_label: t.get(text_label).to_string(),
                text,
                total,
                hidden,
                recipient: checked.recipient.clone(),
                c,
            };
            render(StatusCode::OK, &page)
        })
        .boxed()
}

/// POST /transfer/confirm and POST /pay/confirm -> 303 /transfers/{id}
fn confirm(state: Arc<AppState>, kind: Kind) -> BoxedFilter<(Response,)> {
    warp::path(kind.path())
        .and(warp::path("confirm"))
        .and(warp::path::end())
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(move |visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let key = form.get("key").to_string();
            let checked = match check(&state, t, &session, kind, &form).await {
                Ok(checked) => checked,
                Err(errors) => return form_page(&state, &visit, &session, kind, &form, &key, errors).await,
            };
            let result = async {
                let (job, collection, canonical) = match (&checked.transfer, &checked.payment) {
                    (Some(r), _) => (operations::transfer_job(&state.services, &session.caller, r)?, "transfers", serde_json::to_string(r)),
                    (_, Some(r)) => (operations::payment_job(&state.services, &session.caller, r)?, "payments", serde_json::to_string(r)),
                    _ => return Err(ApiError::Internal("nothing to post".into())),
                };
                let key = Some(key.clone()).filter(|k| !k.is_empty());
                operations::post_money(&state.services, &session.caller, collection, job, &canonical.unwrap_or_default(), key)
                    .await
                    .map_err(ApiError::from)
            };
            match result.await {
                Ok(posted) => redirect(&format!("/transfers/{}", posted.id)),
                Err(error) => {
                    let to_account = form.get("to_account").trim().to_string();
                    let errors = operation_errors(t, kind, &checked, &to_account, &error);
                    form_page(&state, &visit, &session, kind, &form, &form_key(), errors).await
                }
            }
        })
        .boxed()
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    c: Chrome,
    id: String,
    /// The Pix-shaped end-to-end identifier.
    e2e: String,
    status: String,
    status_label: String,
    kind_label: String,
    created: String,
    description: String,
    reason: Option<String>,
    debits: Vec<LegLine>,
    credits: Vec<LegLine>,
    total: String,
    signed: Option<SignedLines>,
}

/// The coordinator's signed decision, as the receipt page shows it.
struct SignedLines {
    lead: String,
    /// The receipt's JSON, as the API gives it and the verify page takes it.
    json: String,
}

fn signed_lines(t: Tr, receipt: &ringbank_domain::SignedDecision) -> SignedLines {
    let decision = &receipt.decision;
    let stamp = &decision.stamp;
    let numbers = [stamp.epoch.to_string(), stamp.seq.to_string(), stamp.position.to_string()];
    SignedLines {
        lead: t.fill("receipt.signed_lead", &[&decision.coordinator, &numbers[0], &numbers[1], &numbers[2]]),
        json: serde_json::to_string_pretty(receipt).unwrap_or_default(),
    }
}

/// GET /transfers/{id} -> the receipt, refreshing itself while the transfer is pending
fn receipt(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("transfers" / String)
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|id: String, visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let view = match find_transfer(&state, &session, &id).await {
                Ok(Some(view)) => view,
                Ok(None) => return super::not_found(&state, &visit, Some(&session)),
                Err(error) => return super::failure(&state, &visit, Some(&session), &error),
            };
            let mut c = Chrome::new(&state, &visit, Some(&session), "status.title", "transfer");
            let t = c.t;
            if view.status == ringbank_domain::TransferStatus::Pending {
                c.refresh_seconds = Some(3);
            }
            let debits = leg_lines(t, view.debits.iter().map(|l| (l.bank.as_str(), l.account.as_str(), l.amount_cents)));
            let credits = leg_lines(t, view.credits.iter().map(|l| (l.bank.as_str(), l.account.as_str(), l.amount_cents)));
            let debits = with_holders(&state, t, &view.debits, debits).await;
            let credits = with_holders(&state, t, &view.credits, credits).await;
            let page = ReceiptPage {
                e2e: e2e_of(&state, &view),
                status_label: status_label(t, view.status).to_string(),
                kind_label: t.get(&format!("entry.{}", view.kind.as_str())).to_string(),
                created: super::display::local_time(&state.config.time_zone, t.lang, &view.created_at),
                total: format_brl(ringbank_domain::money::checked_sum(view.credits.iter().map(|l| l.amount_cents)).unwrap_or(0)),
                debits,
                credits,
                signed: view.receipt.as_ref().map(|receipt| signed_lines(t, receipt)),
                id: view.id,
                status: view.status.as_str().to_string(),
                description: view.description,
                reason: view.reason.as_deref().map(|r| super::display::reason_text(t, r)),
                c,
            };
            render(StatusCode::OK, &page)
        })
        .boxed()
}

/// GET /transfers/{id}/status -> {id, status, status_label, reason} (polled by static/app.js)
fn status_json(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("transfers" / String / "status")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|id: String, visit: Visit, state: Arc<AppState>| async move {
            let Some(session) = visit.session(&state).await else {
                return ApiError::Unauthenticated.into_response(&format!("/transfers/{id}/status"));
            };
            match find_transfer(&state, &session, &id).await {
                Ok(Some(view)) => crate::http::reply::json_response(
                    StatusCode::OK,
                    &serde_json::json!({
                        "id": view.id,
                        "status": view.status,
                        "status_label": status_label(visit.tr(), view.status),
                        "reason": view.reason.as_deref().map(|r| super::display::reason_text(visit.tr(), r)),
                    }),
                ),
                Ok(None) => ApiError::Ledger(LedgerError::TransferNotFound(id.clone())).into_response(&format!("/transfers/{id}/status")),
                Err(error) => error.into_response(&format!("/transfers/{id}/status")),
            }
        })
        .boxed()
}

/// The transfer's end-to-end identifier: its coordinator (the bank that took the order) and
/// when, from the stored time; empty if the time cannot be read.
fn e2e_of(state: &AppState, view: &TransferRecord) -> String {
    let coordinator = view.receipt.as_ref().map(|r| r.decision.coordinator.clone()).unwrap_or_else(|| state.bank().to_string());
    ringbank_domain::display::unix_ms_of_rfc3339(&view.created_at)
        .and_then(|ms| ringbank_domain::display::end_to_end_id(&coordinator, ms, &view.id))
        .unwrap_or_default()
}

async fn find_transfer(state: &AppState, session: &Session, id: &str) -> Result<Option<TransferRecord>, ApiError> {
    if id.len() > 64 {
        return Ok(None);
    }
    Ok(state.ledger.transfer_for(id, &session.caller.document).await?)
}

fn status_label(t: Tr, status: ringbank_domain::TransferStatus) -> &'static str {
    t.get(&format!("status.{}", status.as_str()))
}
