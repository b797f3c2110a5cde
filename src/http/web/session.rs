//! Who is asking and in which language: the session cookie, the CSRF tokens, the `lang`
//! cookie, and the Origin check, read once per request into a `Visit`.
//!
//! Sessions reuse the API's server-side sessions (table `sessions`, expiry checked on every
//! request): the cookie `rb_session_{bank}` holds the same random token the API hands out, so a
//! session is ended server-side by signing out and expires on its own after `session_ttl`.
//! The cookie is HttpOnly, SameSite=Strict, Path=/ (plus Secure when served over TLS).
//!
//! CSRF: every form of a signed-in customer carries `csrf = hex(sha256("csrf:" + token))`,
//! checked in constant time on every POST. Forms before sign-in (sign up, sign in) use a
//! double-submit cookie: `rb_csrf_{bank}` holds a random value that the form repeats. On top of both,
//! a POST whose Origin header names another site is refused, and SameSite=Strict keeps the
//! browser from sending the session cookie on cross-site requests at all.

use std::convert::Infallible;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use warp::http::HeaderMap;
use warp::Filter;

use super::i18n::{Lang, Tr};
use crate::http::reply::constant_time_eq;
use crate::http::state::AppState;
use crate::service::Caller;

/// Cookie names end in `_{bank id}`: cookies are scoped by host, not by port, so banks of a
/// consortium run on one host (loopback, different ports) would otherwise overwrite each
/// other's sessions in the same browser.
pub const SESSION_COOKIE: &str = "rb_session";
pub const PRE_SESSION_CSRF_COOKIE: &str = "rb_csrf";
pub const LANG_COOKIE: &str = "lang";
/// How long the language choice is remembered, in seconds (one year).
const LANG_COOKIE_MAX_AGE_SECONDS: u64 = 365 * 24 * 3600;

/// What the pages know about one request before looking anything up.
#[derive(Clone, Debug)]
pub struct Visit {
    pub lang: Lang,
    /// The path and query, for the language switch link.
    pub path: String,
    pub query: Vec<(String, String)>,
    session_token: Option<String>,
    pre_session_csrf: Option<String>,
    origin: Option<String>,
    host: Option<String>,
}

/// The signed-in customer of a request.
#[derive(Clone, Debug)]
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    token: String,
}

/// The name of a cookie of bank `bank`: `{base}_{bank}`.
pub fn cookie_name(base: &str, bank: &str) -> String {
    format!("{base}_{bank}")
}

/// Reads the `Visit` of every request to bank `state`; never rejects.
pub fn visit(state: &AppState) -> impl Filter<Extract = (Visit,), Error = Infallible> + Clone {
    let session_name = cookie_name(SESSION_COOKIE, state.bank());
    let csrf_name = cookie_name(PRE_SESSION_CSRF_COOKIE, state.bank());
    warp::header::headers_cloned().and(warp::path::full()).and(warp::query::raw().or(warp::any().map(String::new)).unify()).map(
        move |headers: HeaderMap, path: warp::path::FullPath, raw_query: String| {
            let query: Vec<(String, String)> = serde_urlencoded::from_str(&raw_query).unwrap_or_default();
            let cookies = cookies(&headers);
            let cookie = |name: &str| cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            let asked = query.iter().find(|(k, _)| k == "lang").and_then(|(_, v)| Lang::parse(v));
            let lang = asked.or_else(|| cookie(LANG_COOKIE).and_then(|v| Lang::parse(&v))).unwrap_or(Lang::Pt);
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            Visit {
                lang,
                path: path.as_str().to_string(),
                query,
                session_token: cookie(&session_name).filter(|t| !t.is_empty() && t.len() <= 128),
                pre_session_csrf: cookie(&csrf_name).filter(|t| t.len() == 32),
                origin: header("origin"),
                host: header("host"),
            }
        },
    )
}

/// The `lang` asked for in the query, if any: the response then remembers it in a cookie.
pub fn lang_switch() -> impl Filter<Extract = (Option<Lang>,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify().map(|raw: String| {
        let query: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
        query.iter().find(|(k, _)| k == "lang").and_then(|(_, v)| Lang::parse(v))
    })
}

pub fn lang_cookie(lang: Lang) -> String {
    format!("{LANG_COOKIE}={}; Path=/; Max-Age={LANG_COOKIE_MAX_AGE_SECONDS}; SameSite=Lax", lang.code())
}

impl Visit {
    pub fn tr(&self) -> Tr {
        Tr { lang: self.lang }
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The signed-in customer, if the session cookie names a live session.
    pub async fn session(&self, state: &Arc<AppState>) -> Option<Session> {
        let token = self.session_token.as_ref()?;
        let caller = state.services.authenticate(Some(&format!("Bearer {token}"))).await.ok()?;
        Some(Session { caller, csrf: csrf_for_session(token), token: token.clone() })
    }

    /// False when the request says it comes from another site (Origin present and different
    /// from this host). Browsers send Origin on every form POST.
    pub fn same_origin(&self) -> bool {
        match (&self.origin, &self.host) {
            (None, _) => true,
            (Some(origin), Some(host)) => origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host.as_str()),
            (Some(_), None) => false,
        }
    }

    /// The double-submit value for forms shown before sign-in, and whether it is new (then
    /// the response must set the cookie).
    pub fn pre_session_csrf(&self) -> (String, bool) {
        match &self.pre_session_csrf {
            Some(value) => (value.clone(), false),
            None => (hex::encode(rand::random::<[u8; 16]>()), true),
        }
    }

    /// Checks a pre-sign-in form's `csrf` field against the `rb_csrf` cookie.
    pub fn pre_session_csrf_ok(&self, submitted: &str) -> bool {
        self.same_origin() && self.pre_session_csrf.as_deref().is_some_and(|cookie| constant_time_eq(cookie, submitted))
    }
}

impl Session {
    /// Checks a signed-in form's `csrf` field.
    pub fn csrf_ok(&self, visit: &Visit, submitted: &str) -> bool {
        visit.same_origin() && constant_time_eq(&self.csrf, submitted)
    }

    /// A key for server-side state bound to this session (not the token itself).
    pub fn key(&self) -> String {
        hex::encode(Sha256::digest(format!("session-key:{}", self.token).as_bytes()))
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

pub fn csrf_for_session(token: &str) -> String {
    hex::encode(Sha256::digest(format!("csrf:{token}").as_bytes()))
}

pub fn session_cookie(bank: &str, token: &str, max_age_seconds: u64) -> String {
    let name = cookie_name(SESSION_COOKIE, bank);
    format!("{name}={token}; Path=/; Max-Age={max_age_seconds}; HttpOnly; SameSite=Strict")
}

pub fn clear_session_cookie(bank: &str) -> String {
    let name = cookie_name(SESSION_COOKIE, bank);
    format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
}

pub fn pre_session_csrf_cookie(bank: &str, value: &str) -> String {
    let name = cookie_name(PRE_SESSION_CSRF_COOKIE, bank);
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict")
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(warp::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}
