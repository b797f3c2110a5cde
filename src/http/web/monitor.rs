//! The ring monitor at /ring, for the consortium's operators: an SVG drawing of the ring
//! (members on a circle, the live ring's arcs, the token holder marked) with every member's
//! state, epoch and token_seq, the token's rotation rate, recent regenerations with how long
//! the ring went without a token, in-doubt transfers, recent cross-bank transfers and the
//! faults injected here.
//!
//! Every member is read over its public GET /ring/v1/status, all at once, each with a short
//! timeout; a member that does not answer is drawn as unreachable.
//!
//! Access needs this bank's admin secret: either `Authorization: Bearer <secret>` (tools), or
//! the sign-in form, which sets the cookie `rb_admin_{bank}` = hex(HMAC-SHA256(secret, purpose)):
//! HttpOnly, SameSite=Strict, Path=/ring (sign-in pauses after 10 wrong secrets in 5 minutes).
//! The cookie proves the secret without holding it,
//! needs no server-side session, and stops working when the secret changes.
//!
//! Live updates: static/ring.js polls GET /ring/live (the same HTML fragment the page embeds)
//! and swaps it in; without JavaScript the page refreshes itself. GET /ring/status.json gives
//! the same snapshot as JSON.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::i18n::Tr;
use super::session::{pre_session_csrf_cookie, visit, Visit};
use super::{add_cookie, form_body, redirect, render, with_state, Chrome, Form};
use crate::clock::wall_clock_ms;
use crate::faults::ActiveFault;
use crate::http::admin::check_admin_secret;
use crate::http::error::ApiError;
use crate::http::reply::constant_time_eq;
use crate::http::server::client_ip;
use crate::http::state::AppState;

/// The monitor's cookie is `rb_admin_{bank}` (see session::cookie_name).
pub const ADMIN_COOKIE: &str = "rb_admin";
/// How long the monitor's cookie lasts, in seconds (12 hours).
const ADMIN_COOKIE_MAX_AGE_SECONDS: u64 = 12 * 3600;
/// Rotation rate is measured over this window of samples.
const RATE_WINDOW: Duration = Duration::from_secs(20);
/// Rows shown per list.
const LIST_ROWS: usize = 10;
/// The page refreshes itself this often without JavaScript, in seconds.
const REFRESH_SECONDS: u32 = 5;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    page(state.clone())
        .or(live(state.clone()))
        .unify()
        .or(json(state.clone()))
        .unify()
        .or(sign_in(state.clone()))
        .unify()
        .or(sign_out(state))
        .unify()
        .boxed()
}

/// hex(HMAC-SHA256(key = admin secret, "ringbank ring monitor")): what the cookie holds.
pub fn admin_proof(secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"ringbank ring monitor");
    hex::encode(mac.finalize().into_bytes())
}

/// What the request proves about the admin secret: nothing presented (None), or the result of
/// checking the Bearer secret or the cookie that proves it (throttled against guessing).
async fn admin_access(state: &AppState, headers: &HeaderMap, client: Option<IpAddr>) -> Result<(), ApiError> {
    let bearer = headers
        .get(warp::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| token.trim().to_string());
    if let Some(token) = bearer {
        return check_admin_secret(state, client, Some(&token)).await;
    }
    let Some(secret) = state.config.admin_secret.as_deref().filter(|s| !s.is_empty()) else {
        return check_admin_secret(state, client, None).await;
    };
    let name = super::session::cookie_name(ADMIN_COOKIE, state.bank());
    let cookie = headers
        .get_all(warp::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, value)| value.trim().to_string());
    match cookie {
        // The cookie holds a proof, not the secret: a right proof is as good as the secret.
        Some(value) if constant_time_eq(&value, admin_proof(secret)) => Ok(()),
        // A wrong proof counts as a wrong guess (the empty string is never the secret).
        Some(_) => check_admin_secret(state, client, Some("")).await,
        None => Err(ApiError::AdminUnauthenticated),
    }
}

// ---------------------------------------------------------------------------------------
// The snapshot

#[derive(Clone, Debug, Serialize)]
pub struct MemberView {
    pub id: String,
    pub url: String,
    pub me: bool,
    pub reachable: bool,
    pub state: String,
    pub epoch: u64,
    pub token_seq: u64,
    pub holding: bool,
    pub in_live_ring: bool,
    pub lease_remaining_ms: u64,
    pub grants: u64,
    pub last_holder: Option<String>,
    /// Where the member is drawn (SVG user units).
    #[serde(skip)]
    x: f64,
    #[serde(skip)]
    y: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RegenerationView {
    pub epoch: u64,
    /// The longest time without a token any member reported for this epoch.
    pub gap_ms: Option<u64>,
    /// The members that saw this epoch begin.
    pub seen_by: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InDoubtView {
    pub id: String,
    pub coordinator: String,
    pub participants: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub bank: String,
    pub at_ms: i64,
    pub holder: Option<String>,
    pub epoch: u64,
    pub token_seq: u64,
    pub live_ring: Vec<String>,
    pub rotations_per_second: Option<f64>,
    pub members: Vec<MemberView>,
    pub regenerations: Vec<RegenerationView>,
    pub in_doubt_count: i64,
    pub in_doubt: Vec<InDoubtView>,
    pub recent_cross: Vec<crate::ledger::monitor::CrossTransfer>,
    pub faults: Vec<ActiveFault>,
    /// Reads of this bank's own ledger that failed (the rest of the snapshot still shows).
    pub errors: Vec<String>,
}

async fn member_status(state: &AppState, url: &str) -> Option<Value> {
    let response = state.monitor.http.get(format!("{url}/ring/v1/status")).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

fn rotation_rate(state: &AppState, bank: &str, epoch: u64, token_seq: u64) -> Option<f64> {
    let now = Instant::now();
    let mut samples = state.monitor.samples.lock().expect("samples lock");
    let list = samples.entry(bank.to_string()).or_default();
    // A new epoch restarts the count.
    if list.back().is_some_and(|(_, e, s)| *e != epoch || *s > token_seq) {
        list.clear();
    }
    list.push_back((now, epoch, token_seq));
    while list.front().is_some_and(|(t, _, _)| now.duration_since(*t) > RATE_WINDOW) {
        list.pop_front();
    }
    while list.len() > 256 {
        list.pop_front();
    }
    let (first_at, _, first_seq) = *list.front()?;
    let elapsed = now.duration_since(first_at).as_secs_f64();
    (elapsed >= 1.0).then(|| (token_seq - first_seq) as f64 / elapsed)
}

pub async fn snapshot(state: &AppState) -> Snapshot {
    let me = state.bank().to_string();
    let members = &state.ring.members().list;
    let statuses: Vec<Option<Value>> = futures_util::future::join_all(members.iter().map(|m| {
        let own = m.id == me;
        async move {
            if own {
                serde_json::to_value(state.ring.status()).ok()
            } else {
                member_status(state, &m.url).await
            }
        }
    }))
    .await;

    let u = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    // The live ring as the member with the newest epoch (then token_seq) sees it.
    let newest = statuses.iter().flatten().max_by_key(|s| (u(s, "epoch"), u(s, "token_seq")));
    let live_ring: Vec<String> = newest
        .and_then(|s| s.get("ring"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let epoch = newest.map_or(0, |s| u(s, "epoch"));
    let token_seq = statuses.iter().flatten().filter(|s| u(s, "epoch") == epoch).map(|s| u(s, "token_seq")).max().unwrap_or(0);

    let mut views = Vec::new();
    let mut regenerations: BTreeMap<u64, RegenerationView> = BTreeMap::new();
    for (index, (member, status)) in members.iter().zip(&statuses).enumerate() {
        let angle = angle_of(index, members.len());
        let (x, y) = (CX + RADIUS * angle.cos(), CY + RADIUS * angle.sin());
        let empty = Value::Null;
        let s = status.as_ref().unwrap_or(&empty);
        if let Some(list) = s.get("regenerations").and_then(Value::as_array) {
            for r in list {
                let e = u(r, "epoch");
                let entry = regenerations.entry(e).or_insert(RegenerationView { epoch: e, gap_ms: None, seen_by: Vec::new() });
                if let Some(gap) = r.get("gap_ms").and_then(Value::as_u64) {
                    entry.gap_ms = Some(entry.gap_ms.map_or(gap, |g| g.max(gap)));
                }
                entry.seen_by.push(member.id.clone());
            }
        }
        views.push(MemberView {
            id: member.id.clone(),
            url: member.url.clone(),
            me: member.id == me,
            reachable: status.is_some(),
            state: s.get("state").and_then(Value::as_str).unwrap_or("unreachable").to_string(),
            epoch: u(s, "epoch"),
            token_seq: u(s, "token_seq"),
            holding: s.get("holding").and_then(Value::as_bool).unwrap_or(false),
            in_live_ring: live_ring.contains(&member.id),
            lease_remaining_ms: u(s, "lease_remaining_ms"),
            grants: u(s, "grants"),
            last_holder: s.get("last_holder").and_then(Value::as_str).map(str::to_string),
            x,
            y,
        });
    }
    // The holder: the member holding a live lease in the newest epoch.
    let holder = views.iter().filter(|m| m.holding).max_by_key(|m| (m.epoch, m.token_seq)).map(|m| m.id.clone());

    let mut errors = Vec::new();
    let in_doubt_count = match crate::ledger::monitor::in_doubt_count(&state.ledger).await {
        Ok(count) => count,
        Err(error) => {
            errors.push(error.to_string());
            0
        }
    };
    let in_doubt = match state.ledger.in_doubt(wall_clock_ms().saturating_add(1), LIST_ROWS).await {
        Ok(list) => list.into_iter().map(|(id, coordinator, participants)| InDoubtView { id, coordinator, participants }).collect(),
        Err(error) => {
            errors.push(error.to_string());
            Vec::new()
        }
    };
    let recent_cross = match crate::ledger::monitor::recent_cross_transfers(&state.ledger, LIST_ROWS as u32).await {
        Ok(list) => list,
        Err(error) => {
            errors.push(error.to_string());
            Vec::new()
        }
    };
    Snapshot {
        rotations_per_second: rotation_rate(state, &me, epoch, token_seq),
        bank: me,
        at_ms: wall_clock_ms(),
        holder,
        epoch,
        token_seq,
        live_ring,
        members: views,
        regenerations: regenerations.into_values().rev().take(LIST_ROWS).collect(),
        in_doubt_count,
        in_doubt,
        recent_cross,
        faults: {
            let me = state.bank();
            // A member that does not answer (paused, stopped, partitioned) is an active fault
            // as the operator sees it, whatever was injected where.
            let mut faults = state.faults.active();
            for (member, status) in members.iter().zip(&statuses) {
                if status.is_none() && member.id != me {
                    faults.push(ActiveFault {
                        kind: "unreachable".into(),
                        bank: member.id.clone(),
                        detail: format!("{}/ring/v1/status does not answer", member.url),
                        remaining_ms: 0,
                    });
                }
            }
            faults
        },
        errors,
    }
}

// ---------------------------------------------------------------------------------------
// What the templates show

/// An arc of the live ring along the circle, from one member to the next (an SVG path).
pub struct Arc2 {
    pub d: String,
}

/// Centre and radius of the drawn ring, in SVG user units.
const CX: f64 = 200.0;
const CY: f64 = 200.0;
const RADIUS: f64 = 140.0;

fn angle_of(index: usize, count: usize) -> f64 {
    -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * index as f64 / count.max(1) as f64
}

pub struct Live {
    pub s: Snapshot,
    pub nodes: Vec<Node>,
    pub arcs: Vec<Arc2>,
    pub rate: String,
    pub updated: String,
    pub regenerations: Vec<(String, String, String)>,
    pub cross: Vec<CrossRow>,
    pub holder_label: String,
}

/// A member drawn on the ring.
pub struct Node {
    pub id: String,
    pub x: String,
    pub y: String,
    /// Where the label under the circle goes.
    pub label_y: String,
    pub class: String,
    pub state: String,
    pub holding: bool,
}

pub struct CrossRow {
    pub id: String,
    pub role: String,
    pub coordinator: String,
    pub status: String,
    pub status_label: String,
    pub reason: String,
    pub amount: String,
}

/// A ring member's phase in the page's language ("holding" -> "com o token").
pub fn state_label(t: &Tr, state: &str) -> String {
    t.get_opt(&format!("ring.phase.{state}")).map(str::to_string).unwrap_or_else(|| state.to_string())
}

/// A fault's kind in the page's language.
pub fn fault_label(t: &Tr, kind: &str) -> String {
    t.get_opt(&format!("ring.fault.{kind}")).map(str::to_string).unwrap_or_else(|| kind.to_string())
}

impl Live {
    fn new(t: Tr, zone: &ringbank_domain::display::LocalZone, s: Snapshot) -> Live {
        // Arcs follow the circle clockwise, stopping short of the members' discs.
        let count = s.members.len();
        let index_of = |id: &str| s.members.iter().position(|m| m.id == id);
        let mut arcs = Vec::new();
        let n = s.live_ring.len();
        if n >= 2 {
            for i in 0..n {
                if let (Some(from), Some(to)) = (index_of(&s.live_ring[i]), index_of(&s.live_ring[(i + 1) % n])) {
                    let start = angle_of(from, count);
                    let mut end = angle_of(to, count);
                    if end <= start {
                        end += std::f64::consts::TAU;
                    }
                    let margin = 46.0 / RADIUS;
                    let (a1, a2) = (start + margin, end - margin);
                    if a2 <= a1 {
                        continue;
                    }
                    let large = if a2 - a1 > std::f64::consts::PI { 1 } else { 0 };
                    arcs.push(Arc2 {
                        d: format!(
                            "M {:.1} {:.1} A {RADIUS} {RADIUS} 0 {large} 1 {:.1} {:.1}",
                            CX + RADIUS * a1.cos(),
                            CY + RADIUS * a1.sin(),
                            CX + RADIUS * a2.cos(),
                            CY + RADIUS * a2.sin()
                        ),
                    });
                }
            }
        }
        let rate = s.rotations_per_second.map(|r| format!("{r:.1}")).unwrap_or_else(|| "—".to_string());
        let updated = zone.local(s.at_ms).map(|local| format!("{} ({})", local.clock(), local.offset())).unwrap_or_default();
        let nodes = s
            .members
            .iter()
            .map(|m| {
                let mut class = vec!["node".to_string(), format!("state-{}", m.state)];
                if m.holding {
                    class.push("holder".into());
                }
                if m.in_live_ring {
                    class.push("live".into());
                }
                if !m.reachable {
                    class.push("unreachable".into());
                }
                if m.me {
                    class.push("me".into());
                }
                Node {
                    id: m.id.clone(),
                    x: format!("{:.1}", m.x),
                    y: format!("{:.1}", m.y),
                    label_y: format!("{:.1}", m.y + 62.0),
                    class: class.join(" "),
                    state: state_label(&t, &m.state),
                    holding: m.holding,
                }
            })
            .collect();
        let regenerations = s.regenerations.iter().map(|r| (r.epoch.to_string(), duration_label(r.gap_ms), r.seen_by.join(", "))).collect();
        let cross = s
            .recent_cross
            .iter()
            .map(|x| CrossRow {
                id: x.id.clone(),
                role: t.get(&format!("ring.role.{}", x.role)).to_string(),
                coordinator: x.coordinator.clone(),
                status_label: match t.get_opt(&format!("ring.status.{}", x.status)) {
                    Some(label) => label.to_string(),
                    None => x.status.clone(),
                },
                status: x.status.clone(),
                reason: x.reason.as_deref().map(|r| super::display::reason_text(t, r)).unwrap_or_default(),
                amount: x.amount_cents.map(ringbank_domain::money::format_brl).unwrap_or_else(|| "—".to_string()),
            })
            .collect();
        let holder_label = s.holder.clone().unwrap_or_else(|| t.get("ring.in_transit").to_string());
        Live { s, nodes, arcs, rate, updated, regenerations, cross, holder_label }
    }
}

/// Milliseconds as "850 ms" or "2.4 s".
fn duration_label(ms: Option<u64>) -> String {
    match ms {
        None => "—".to_string(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

#[derive(Template)]
#[template(path = "ring.html")]
struct RingPage {
    c: Chrome,
    t: Tr,
    live: Live,
}

#[derive(Template)]
#[template(path = "ring_live.html")]
struct RingLive {
    t: Tr,
    live: Live,
}

#[derive(Template)]
#[template(path = "ring_signin.html")]
struct RingSignIn {
    c: Chrome,
    csrf: String,
    error: Option<String>,
}

/// The sign-in form after a refused admin check: 403 (401 when nothing was presented), or 429
/// with Retry-After when this client has guessed too often.
fn refused_for(state: &AppState, visit: &Visit, error: &ApiError) -> Response {
    let t = visit.tr();
    match error {
        ApiError::TooManyAttempts { retry_after_seconds, .. } => {
            let mut response = refused(state, visit, Some(t.get("ring.too_many").to_string()));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response.headers_mut().insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from(*retry_after_seconds));
            response
        }
        ApiError::Forbidden(_) if state.config.admin_secret.is_some() => {
            refused(state, visit, Some(t.get("ring.wrong_secret").to_string()))
        }
        _ => refused(state, visit, None),
    }
}

fn refused(state: &AppState, visit: &Visit, error: Option<String>) -> Response {
    let mut c = Chrome::new(state, visit, None, "ring.title", "ring");
    c.title = c.t.get("ring.signin_title").to_string();
    let (csrf, fresh) = visit.pre_session_csrf();
    let error = error.or_else(|| state.config.admin_secret.is_none().then(|| c.t.get("ring.no_secret").to_string()));
    let mut response = render(StatusCode::FORBIDDEN, &RingSignIn { c, csrf: csrf.clone(), error });
    if fresh {
        add_cookie(&mut response, &pre_session_csrf_cookie(state.bank(), &csrf));
    }
    response
}

/// GET /ring -> the monitor (403 and a sign-in form without the admin secret)
fn page(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("ring")
        .and(warp::get())
        .and(visit(&state))
        .and(warp::header::headers_cloned())
        .and(client_ip())
        .and(with_state(state))
        .then(|visit: Visit, headers: HeaderMap, client: Option<IpAddr>, state: Arc<AppState>| async move {
            if let Err(error) = admin_access(&state, &headers, client).await {
                return refused_for(&state, &visit, &error);
            }
            let mut c = Chrome::new(&state, &visit, None, "ring.title", "ring");
            c.refresh_seconds = Some(REFRESH_SECONDS);
            c.extra_script = Some("/static/ring.js");
            let t = c.t;
            render(StatusCode::OK, &RingPage { c, t, live: Live::new(t, &state.config.time_zone, snapshot(&state).await) })
        })
        .boxed()
}

/// GET /ring/live -> the live part of the monitor, an HTML fragment (polled by static/ring.js)
fn live(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("ring" / "live")
        .and(warp::get())
        .and(visit(&state))
        .and(warp::header::headers_cloned())
        .and(client_ip())
        .and(with_state(state))
        .then(|visit: Visit, headers: HeaderMap, client: Option<IpAddr>, state: Arc<AppState>| async move {
            if let Err(error) = admin_access(&state, &headers, client).await {
                return super::html(error.status(), String::new());
            }
            render(
                StatusCode::OK,
                &RingLive { t: visit.tr(), live: Live::new(visit.tr(), &state.config.time_zone, snapshot(&state).await) },
            )
        })
        .boxed()
}

/// GET /ring/status.json -> the snapshot as JSON (403 problem without the admin secret)
fn json(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("ring" / "status.json")
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .and(client_ip())
        .and(with_state(state))
        .then(|headers: HeaderMap, client: Option<IpAddr>, state: Arc<AppState>| async move {
            if let Err(error) = admin_access(&state, &headers, client).await {
                return error.into_response("/ring/status.json");
            }
            let mut response = crate::http::reply::json_response(StatusCode::OK, &snapshot(&state).await);
            response.headers_mut().insert(warp::http::header::CACHE_CONTROL, warp::http::HeaderValue::from_static("no-store"));
            response
        })
        .boxed()
}

/// POST /ring/signin {csrf, secret} -> 303 /ring with the admin cookie, or 403 and the form
fn sign_in(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("ring" / "signin")
        .and(warp::post())
        .and(visit(&state))
        .and(form_body())
        .and(client_ip())
        .and(with_state(state))
        .then(|visit: Visit, form: Form, client: Option<IpAddr>, state: Arc<AppState>| async move {
            if !visit.pre_session_csrf_ok(form.get("csrf")) {
                return super::csrf_refused(&state, &visit, None);
            }
            let Some(secret) = state.config.admin_secret.as_deref().filter(|s| !s.is_empty()) else {
                return refused(&state, &visit, None);
            };
            if let Err(error) = check_admin_secret(&state, client, Some(form.get("secret"))).await {
                return refused_for(&state, &visit, &error);
            }
            let mut response = redirect("/ring");
            add_cookie(
                &mut response,
                &format!(
                    "{}={}; Path=/ring; Max-Age={ADMIN_COOKIE_MAX_AGE_SECONDS}; HttpOnly; SameSite=Strict",
                    super::session::cookie_name(ADMIN_COOKIE, state.bank()),
                    admin_proof(secret)
                ),
            );
            response
        })
        .boxed()
}

/// POST /ring/signout -> 303 /ring without the admin cookie
fn sign_out(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let name = super::session::cookie_name(ADMIN_COOKIE, state.bank());
    warp::path!("ring" / "signout")
        .and(warp::post())
        .and(visit(&state))
        .map(move |visit: Visit| {
            if !visit.same_origin() {
                return super::html(StatusCode::FORBIDDEN, String::new());
            }
            let mut response = redirect("/ring");
            add_cookie(&mut response, &format!("{name}=; Path=/ring; Max-Age=0; HttpOnly; SameSite=Strict"));
            response
        })
        .boxed()
}
