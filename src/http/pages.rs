//! Pages for people: for now the bank's home page, which says what the bank is and where its
//! API lives. Templates and static files are under web/ and embedded in the binary.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::with_state;
use crate::state::AppState;

const HOME: &str = include_str!("../../web/home.html");
const STYLE: &str = include_str!("../../web/static/style.css");

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    home(state).or(style()).unify().boxed()
}

/// GET / -> the home page
fn home(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path::end()
        .and(warp::get())
        .and(with_state(state))
        .map(|state: Arc<AppState>| {
            let page = HOME.replace("{{bank}}", &html_escape(state.bank()));
            with_type(page, "text/html; charset=utf-8")
        })
        .boxed()
}

/// GET /static/style.css
fn style() -> BoxedFilter<(Response,)> {
    warp::path!("static" / "style.css").and(warp::get()).map(|| with_type(STYLE.to_string(), "text/css; charset=utf-8")).boxed()
}

fn with_type(body: String, content_type: &'static str) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}
