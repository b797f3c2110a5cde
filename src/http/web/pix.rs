//! Pix by BR Code in the pages: "Receber com Pix" for an account (a static QR Code and its
//! "copia e cola" text; a company account also creates dynamic charges and sees their status),
//! and "Pagar com Pix copia e cola": paste, review what will be paid (payee, key or charge,
//! amount, city, txid), pay. A changed code is refused on the paste step, in words. A typed Pix
//! key instead of a code goes to the same review (the directory's name, masked document, bank
//! and account). The use cases are crate::service::pix and crate::service::keys, as the API's.

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::i18n::Tr;
use super::session::{visit, Session, Visit};
use super::{
    account_choices, error_message, form_body, form_key, parse_amount, redirect, render, signed_in, signed_in_post, with_state, Chrome,
    Errors, Field, Form,
};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::keys::{pay_by_key, KeyPayment, Resolved};
use crate::service::operations::held_account;
use crate::service::pix::{self, ChargeView, Issued, NewCharge, PayRequest, PixError, Review, StaticRequest};
use ringbank_domain::brcode::Target;
use ringbank_domain::document::format_document;
use ringbank_domain::money::format_brl;
use ringbank_domain::{PixKey, PixKeyKind};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    receive(state.clone())
        .or(create_charge(state.clone()))
        .unify()
        .or(charge_page(state.clone()))
        .unify()
        .or(paste_form(state.clone()))
        .unify()
        .or(review_step(state.clone()))
        .unify()
        .or(confirm(state))
        .unify()
        .boxed()
}

/// A page-sized sentence for a refused Pix operation: the translated kind and, for a malformed
/// code, which field is wrong (the technical detail, as the code's fields are named in English).
fn pix_message(t: Tr, error: &ApiError) -> String {
    let message = error_message(t, error);
    match error {
        ApiError::Pix(PixError::BrCode(detail)) if detail.kind() != "tampered" => format!("{message} ({}: {detail})", t.get("pix.detail")),
        _ => message,
    }
}

/// A code ready to show: the QR (SVG), the copy-and-paste text.
struct Shown {
    svg: String,
    payload: String,
}

impl From<Issued> for Shown {
    fn from(issued: Issued) -> Shown {
        Shown { svg: issued.svg, payload: issued.payload }
    }
}

/// A charge as listed.
struct ChargeLine {
    id: String,
    amount: String,
    description: String,
    status: String,
    status_label: &'static str,
    expires: String,
}

fn charge_line(t: Tr, zone: &ringbank_domain::display::LocalZone, charge: &ChargeView) -> ChargeLine {
    ChargeLine {
        id: charge.id.clone(),
        amount: format_brl(charge.amount_cents),
        description: charge.description.clone(),
        status: charge.status.clone(),
        status_label: t.get(&format!("pix.charge.status.{}", charge.status)),
        expires: super::display::local_time(zone, t.lang, &charge.expires_at),
    }
}

#[derive(Template)]
#[template(path = "pix_receive.html")]
struct ReceivePage {
    c: Chrome,
    number: String,
    lead: String,
    fields: Vec<Field>,
    errors: Errors,
    code: Option<Shown>,
    company: bool,
    charge_fields: Vec<Field>,
    charge_errors: Errors,
    charges: Vec<ChargeLine>,
}

/// GET /accounts/{number}/pix?key=&amount=&description= -> the account's static QR Code
fn receive(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|number: String, visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let form = Form { pairs: visit.query.clone() };
            receive_page(&state, &visit, &session, &number, &form, Errors::default()).await
        })
        .boxed()
}

async fn receive_page(
    state: &Arc<AppState>,
    visit: &Visit,
    session: &Session,
    number: &str,
    form: &Form,
    charge_errors: Errors,
) -> Response {
    let account = match held_account(&state.services, &session.caller, number).await {
        Ok(account) => account,
        Err(error) => return super::failure(state, visit, Some(session), &ApiError::from(error)),
    };
    let keys = match pix::keys_of(&state.services, &account).await {
        Ok(keys) => keys,
        Err(error) => return super::failure(state, visit, Some(session), &ApiError::from(error)),
    };
    let c = Chrome::new(state, visit, Some(session), "pix.receive.title", "pix");
    let t = c.t;
    let mut errors = Errors::default();
    let amount_cents = match form.get("amount").trim() {
        "" => None,
        text => match parse_amount(state, t, text) {
            Ok(cents) => Some(cents),
            Err(message) => {
                errors.add("amount", message);
                None
            }
        },
    };
    let chosen = if form.get("key").is_empty() { keys.first().map(String::as_str).unwrap_or("") } else { form.get("key") };
    let key_choices = keys.iter().map(|k| super::Choice { value: k.clone(), label: format_document(k), selected: k == chosen }).collect();
    let mut code = None;
    if !keys.is_empty() && errors.is_empty() {
        let description = Some(form.get("description").to_string()).filter(|d| !d.trim().is_empty());
        let request =
            StaticRequest { account: account.number.clone(), key: Some(chosen.to_string()), amount_cents, description, txid: None };
        match pix::static_code(&state.services, &session.caller, &request).await {
            Ok(issued) => code = Some(Shown::from(issued)),
            Err(error) => errors.form = Some(pix_message(t, &ApiError::from(error))),
        }
    }
    let key_field = super::Field::select("key", t.get("pix.receive.key").to_string(), key_choices).error(&errors);
    let amount = Field::amount("amount", t, form.get("amount")).hint(t.get("pix.receive.amount.hint").to_string()).error(&errors);
    let mut amount = amount;
    amount.label = t.get("pix.receive.amount").to_string();
    amount.required = false;
    let mut description = Field::text("description", t.get("pix.receive.description").to_string(), form.get("description")).error(&errors);
    description.required = false;
    let company = account.kind == "company";
    let mut charges = Vec::new();
    if company {
        match pix::charges_of(&state.services, &session.caller, &account.number).await {
            Ok(list) => charges = list.iter().map(|charge| charge_line(t, &state.config.time_zone, charge)).collect(),
            Err(error) => return super::failure(state, visit, Some(session), &ApiError::from(error)),
        }
    }
    let mut charge_amount = Field::amount("charge_amount", t, "").error(&charge_errors);
    charge_amount.label = t.get("pix.charges.amount").to_string();
    let mut charge_description = Field::text("charge_description", t.get("pix.charges.description").to_string(), "").error(&charge_errors);
    charge_description.required = false;
    let mut minutes = Field::text("charge_minutes", t.get("pix.charges.minutes").to_string(), "60").error(&charge_errors);
    minutes.inputmode = "numeric";
    let holder = match state.ledger.customer(chosen).await {
        Ok(Some(customer)) => customer.name,
        _ => session.caller.name.clone(),
    };
    let status = if errors.is_empty() && charge_errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = ReceivePage {
        number: account.number.clone(),
        lead: t.fill("pix.receive.lead", &[holder.as_str(), state.config.pix_city.as_str()]),
        fields: if keys.is_empty() { Vec::new() } else { vec![key_field, amount, description] },
        errors,
        code,
        company,
        charge_fields: vec![charge_amount, charge_description, minutes],
        charge_errors,
        charges,
        c,
    };
    render(status, &page)
}

/// POST /accounts/{number}/pix/charges {csrf, charge_amount, charge_description, charge_minutes}
///   -> 303 /accounts/{number}/pix/charges/{id} (or the receive page with errors)
fn create_charge(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix" / "charges")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|number: String, visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let mut errors = Errors::default();
            let amount = parse_amount(&state, t, form.get("charge_amount")).map_err(|m| errors.add("charge_amount", m)).ok();
            let minutes: Option<i64> = form.get("charge_minutes").trim().parse().ok().filter(|m| (1..=43_200).contains(m));
            if minutes.is_none() {
                errors.add("charge_minutes", t.get("pix.charges.minutes_invalid"));
            }
            if let (Some(amount_cents), Some(minutes)) = (amount, minutes) {
                let request = NewCharge {
                    account: number.clone(),
                    amount_cents,
                    description: form.get("charge_description").to_string(),
                    expires_in_seconds: minutes * 60,
                };
                match pix::create_charge(&state.services, &session.caller, &request).await {
                    Ok((charge, _)) => return redirect(&format!("/accounts/{number}/pix/charges/{}", charge.id)),
                    Err(error) => errors.form = Some(pix_message(t, &ApiError::from(error))),
                }
            }
            receive_page(&state, &visit, &session, &number, &Form::default(), errors).await
        })
        .boxed()
}

#[derive(Template)]
#[template(path = "pix_charge.html")]
struct ChargePage {
    c: Chrome,
    number: String,
    charge: ChargeLine,
    url: String,
    code: Option<Shown>,
}

/// GET /accounts/{number}/pix/charges/{id} -> the charge's QR Code and status
fn charge_page(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / "pix" / "charges" / String)
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|number: String, id: String, visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let result = async {
                held_account(&state.services, &session.caller, &number).await?;
                let charge = pix::charge(&state.services, &id).await?;
                if charge.account != number {
                    return Err(PixError::ChargeNotFound(id.clone()).into());
                }
                let code = if charge.status == "active" { Some(pix::charge_code(&state.services, &charge)?) } else { None };
                Ok::<_, crate::service::ServiceError>((charge, code))
            };
            match result.await {
                Ok((charge, code)) => {
                    let mut c = Chrome::new(&state, &visit, Some(&session), "pix.charge.title", "pix");
                    if charge.status == "active" {
                        c.refresh_seconds = Some(5);
                    }
                    let url = code.as_ref().and_then(|issued| issued.brcode.url().map(str::to_string)).unwrap_or_default();
                    let page = ChargePage {
                        number,
                        charge: charge_line(c.t, &state.config.time_zone, &charge),
                        url,
                        code: code.map(Shown::from),
                        c,
                    };
                    render(StatusCode::OK, &page)
                }
                Err(error) => super::failure(&state, &visit, Some(&session), &ApiError::from(error)),
            }
        })
        .boxed()
}

#[derive(Template)]
#[template(path = "pix_paste.html")]
struct PastePage {
    c: Chrome,
    key: String,
    has_accounts: bool,
    from: Vec<Field>,
    payload: String,
    errors: Errors,
}

/// GET /pix?from=N -> "Pagar com Pix copia e cola"
fn paste_form(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("pix")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move {
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let form = Form { pairs: vec![("from".to_string(), visit.query_value("from").unwrap_or("").to_string())] };
            paste_page(&state, &visit, &session, &form, &form_key(), Errors::default()).await
        })
        .boxed()
}

async fn paste_page(state: &Arc<AppState>, visit: &Visit, session: &Session, form: &Form, key: &str, errors: Errors) -> Response {
    let accounts = match state.ledger.accounts_of(&session.caller.document).await {
        Ok(accounts) => accounts,
        Err(error) => return super::failure(state, visit, Some(session), &ApiError::from(error)),
    };
    let c = Chrome::new(state, visit, Some(session), "pix.paste.title", "pix");
    let t = c.t;
    let selected = if form.get("from").is_empty() { accounts.first().map(|a| a.number.as_str()).unwrap_or("") } else { form.get("from") };
    let from = Field::select("from", t.get("pix.paste.from").to_string(), account_choices(t, &accounts, selected, None)).error(&errors);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = PastePage {
        key: key.to_string(),
        has_accounts: !accounts.is_empty(),
        from: vec![from],
        payload: form.get("payload").to_string(),
        errors,
        c,
    };
    render(status, &page)
}

#[derive(Template)]
#[template(path = "pix_review.html")]
struct ReviewPage {
    c: Chrome,
    payee: String,
    document: String,
    place: String,
    key: Option<String>,
    charge: Option<String>,
    city: String,
    txid: Option<String>,
    description: String,
    fixed_amount: Option<String>,
    amount: Vec<Field>,
    from: String,
    hidden: Vec<(String, String)>,
    errors: Errors,
}

/// What the paste form leads to: a BR Code's review, or a typed key resolved in the directory.
enum Checked {
    Code(Box<Review>),
    Key(Resolved),
}

/// Longest text read as a typed key rather than a code (a Pix e-mail key has at most 77).
const KEY_TEXT_MAX: usize = 77;

/// Reads the paste form: the source account must be the caller's; the text is a Pix key (looked
/// up in the consortium's directory, rate-limited and logged like every lookup) or a BR Code
/// that must parse and lead somewhere. The review (or the errors to show on the paste form).
async fn check(state: &Arc<AppState>, t: Tr, session: &Session, form: &Form) -> Result<Checked, Errors> {
    let mut errors = Errors::default();
    if held_account(&state.services, &session.caller, form.get("from").trim()).await.is_err() {
        errors.add("from", t.get("error.account_choose"));
    }
    let payload = form.get("payload");
    if payload.trim().is_empty() {
        errors.add("payload", t.get("pix.paste.empty"));
        return Err(errors);
    }
    let text = payload.trim();
    if let Ok(key) = PixKey::parse_any(text) {
        return match state.pix.lookup(&session.caller, key.as_str()) {
            Ok(resolved) if errors.is_empty() => Ok(Checked::Key(resolved)),
            Ok(_) => Err(errors),
            Err(error) => {
                errors.add("payload", pix_message(t, &ApiError::from(error)));
                Err(errors)
            }
        };
    }
    if text.chars().count() <= KEY_TEXT_MAX && !text.starts_with("0002") {
        errors.add("payload", t.get("pix.paste.not_code_or_key"));
        return Err(errors);
    }
    match pix::review(&state.services, payload).await {
        Ok(review) if errors.is_empty() => Ok(Checked::Code(Box::new(review))),
        Ok(_) => Err(errors),
        Err(error) => {
            errors.add("payload", pix_message(t, &ApiError::from(error)));
            Err(errors)
        }
    }
}

fn review_page(state: &AppState, visit: &Visit, session: &Session, form: &Form, key: &str, checked: &Checked, errors: Errors) -> Response {
    let review = match checked {
        Checked::Code(review) => review,
        Checked::Key(resolved) => return key_review_page(state, visit, session, form, key, resolved, errors),
    };
    let mut c = Chrome::new(state, visit, Some(session), "pix.review.title", "pix");
    let t = c.t;
    c.title = t.get("pix.review.title").to_string();
    let mut amount = Field::amount("amount", t, form.get("amount")).error(&errors);
    amount.label = t.get("pix.review.amount").to_string();
    let hidden = vec![
        ("from".to_string(), form.get("from").trim().to_string()),
        ("payload".to_string(), form.get("payload").trim().to_string()),
        ("key".to_string(), key.to_string()),
    ];
    let code = &review.brcode;
    let page = ReviewPage {
        payee: review.payee.holder_name.clone(),
        document: review.payee.masked_document.clone(),
        place: t.fill("confirm.bank_account", &[&review.payee.bank, &review.payee.account]),
        key: match &code.target {
            Target::Key { key, .. } => Some(key.clone()),
            Target::Url { .. } => None,
        },
        charge: review.charge.as_ref().map(|charge| charge.id.clone()),
        city: code.merchant_city.clone(),
        txid: code.txid().map(str::to_string).or_else(|| review.charge.as_ref().map(|charge| charge.id.clone())),
        description: review
            .charge
            .as_ref()
            .map(|charge| charge.description.clone())
            .or(code.description().map(str::to_string))
            .unwrap_or_default(),
        fixed_amount: review.amount_cents.map(format_brl),
        amount: if review.amount_cents.is_some() { Vec::new() } else { vec![amount] },
        from: form.get("from").trim().to_string(),
        hidden,
        errors,
        c,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render(status, &page)
}

/// The review of a payment to a typed key: whom the directory names (name, masked document,
/// bank and account), the amount and an optional description to type.
fn key_review_page(state: &AppState, visit: &Visit, session: &Session, form: &Form, key: &str, to: &Resolved, errors: Errors) -> Response {
    let mut c = Chrome::new(state, visit, Some(session), "pix.review.title", "pix");
    let t = c.t;
    c.title = t.get("pix.review.title").to_string();
    let mut amount = Field::amount("amount", t, form.get("amount")).error(&errors);
    amount.label = t.get("pix.review.amount").to_string();
    let mut description = Field::text("description", t.get("pix.receive.description").to_string(), form.get("description")).error(&errors);
    description.required = false;
    let shown = PixKeyKind::parse(&to.key_kind).ok().and_then(|kind| PixKey::parse(kind, &to.key).ok()).map(|k| k.display());
    let hidden = vec![
        ("from".to_string(), form.get("from").trim().to_string()),
        ("payload".to_string(), form.get("payload").trim().to_string()),
        ("key".to_string(), key.to_string()),
    ];
    let page = ReviewPage {
        payee: to.name.clone(),
        document: to.masked_document.clone(),
        place: t.fill("confirm.bank_account", &[&to.bank, &to.account]),
        key: Some(shown.unwrap_or_else(|| to.key.clone())),
        charge: None,
        city: String::new(),
        txid: None,
        description: String::new(),
        fixed_amount: None,
        amount: vec![amount, description],
        from: form.get("from").trim().to_string(),
        hidden,
        errors,
        c,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render(status, &page)
}

/// POST /pix {csrf, from, payload, key} -> the review step (or the paste form with errors)
fn review_step(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("pix")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let key = if form.get("key").is_empty() { form_key() } else { form.get("key").to_string() };
            match check(&state, visit.tr(), &session, &form).await {
                Ok(checked) => review_page(&state, &visit, &session, &form, &key, &checked, Errors::default()),
                Err(errors) => paste_page(&state, &visit, &session, &form, &key, errors).await,
            }
        })
        .boxed()
}

/// POST /pix/confirm {csrf, from, payload, key, amount?} -> 303 /transfers/{id}
fn confirm(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("pix" / "confirm")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            let session = match signed_in_post(&state, &visit, &form).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            let t = visit.tr();
            let key = form.get("key").to_string();
            // Everything is checked again: the hidden fields are the customer's to change.
            let checked = match check(&state, t, &session, &form).await {
                Ok(checked) => checked,
                Err(errors) => return paste_page(&state, &visit, &session, &form, &key, errors).await,
            };
            let review = match checked {
                Checked::Code(review) => review,
                Checked::Key(to) => return pay_key(&state, &visit, &session, &form, &key, to).await,
            };
            let mut errors = Errors::default();
            let amount_cents = match review.amount_cents {
                Some(fixed) => Some(fixed),
                None => parse_amount(&state, t, form.get("amount")).map_err(|m| errors.add("amount", m)).ok(),
            };
            let Some(amount_cents) = amount_cents else {
                return review_page(&state, &visit, &session, &form, &key, &Checked::Code(review), errors);
            };
            let request = PayRequest {
                from_account: form.get("from").trim().to_string(),
                payload: form.get("payload").to_string(),
                amount_cents: Some(amount_cents),
            };
            match pix::pay(&state.services, &session.caller, &request, Some(key.clone()).filter(|k| !k.is_empty())).await {
                Ok((_, posted)) => redirect(&format!("/transfers/{}", posted.id)),
                Err(error) => {
                    errors.form = Some(pix_message(t, &ApiError::from(error)));
                    review_page(&state, &visit, &session, &form, &form_key(), &Checked::Code(review), errors)
                }
            }
        })
        .boxed()
}

/// Pays the typed key's account as `POST /api/v1/key-payments` does (the key is looked up
/// again there), under the form's Idempotency-Key; back to the review with the refusal.
async fn pay_key(state: &Arc<AppState>, visit: &Visit, session: &Session, form: &Form, key: &str, to: Resolved) -> Response {
    let t = visit.tr();
    let mut errors = Errors::default();
    let amount_cents = parse_amount(state, t, form.get("amount")).map_err(|m| errors.add("amount", m)).ok();
    let Some(amount_cents) = amount_cents else {
        return key_review_page(state, visit, session, form, key, &to, errors);
    };
    let request = KeyPayment {
        from_account: form.get("from").trim().to_string(),
        key: to.key.clone(),
        amount_cents,
        description: form.get("description").trim().to_string(),
    };
    match pay_by_key(&state.services, &state.pix, &session.caller, &request, Some(key.to_string()).filter(|k| !k.is_empty())).await {
        Ok((posted, _)) => redirect(&format!("/transfers/{}", posted.id)),
        Err(error) => {
            errors.form = Some(pix_message(t, &ApiError::from(error)));
            key_review_page(state, visit, session, form, &form_key(), &to, errors)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pix_strings_are_unique_and_apart_from_the_main_table() {
        let mut seen = std::collections::HashSet::new();
        for (key, pt, en) in super::super::pix_text::TABLE {
            assert!(seen.insert(*key), "duplicate key {key}");
            assert!(!super::super::i18n::TABLE.iter().any(|(k, _, _)| k == key), "{key} is in the main table too");
            assert_eq!(pt.matches("{}").count(), en.matches("{}").count(), "placeholders differ for {key}");
        }
    }
}
