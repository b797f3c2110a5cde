//! The public verify page: anyone pastes a receipt (the JSON a transfer's receipt page and the
//! API show) and sees whether its coordinator's signature is valid under this consortium's
//! member list, and why not. Nothing is stored or changed, so no session or CSRF token is
//! needed; the check is `service::receipts::check_receipt`, the same as `ringbank verify`.

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::session::{visit, Visit};
use super::{form_body, render, with_state, Chrome, Form};
use crate::http::state::AppState;
use crate::service::receipts::{check_receipt, describe};

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    show(state.clone()).or(check(state)).unify().boxed()
}

struct Verdict {
    valid: bool,
    headline: String,
    detail: String,
}

struct MemberLine {
    id: String,
    public_key: String,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    c: Chrome,
    receipt: String,
    verdict: Option<Verdict>,
    members: Vec<MemberLine>,
}

async fn page(state: &Arc<AppState>, visit: &Visit, receipt: String, verdict: Option<Verdict>) -> Response {
    let session = visit.session(state).await;
    let c = Chrome::new(state, visit, session.as_ref(), "verify.title", "verify");
    let members = state.ring.members().list.iter().map(|m| MemberLine { id: m.id.clone(), public_key: m.public_key.to_string() }).collect();
    render(StatusCode::OK, &VerifyPage { c, receipt, verdict, members })
}

/// GET /verify -> the form
fn show(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("verify")
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|visit: Visit, state: Arc<AppState>| async move { page(&state, &visit, String::new(), None).await })
        .boxed()
}

/// POST /verify receipt=JSON -> the form with the verdict
fn check(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("verify")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, state: Arc<AppState>| async move {
            let t = visit.tr();
            let text = form.get("receipt").trim().to_string();
            let members = state.ring.members();
            let verdict = match check_receipt(&text, |bank| members.public_key_of(bank)) {
                Ok(receipt) => Verdict { valid: true, headline: t.get("verify.valid").to_string(), detail: describe(&receipt) },
                Err(reason) => Verdict { valid: false, headline: t.get("verify.invalid").to_string(), detail: reason },
            };
            page(&state, &visit, text, Some(verdict)).await
        })
        .boxed()
}
