//! What is left of the pages here: the customer pages themselves (landing page included)
//! live in `web`; this answers browsers' automatic GET /favicon.ico.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

use crate::http::state::AppState;

pub fn routes(_state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    favicon()
}

/// GET /favicon.ico -> 301 /static/logo.svg
fn favicon() -> BoxedFilter<(Response,)> {
    warp::path!("favicon.ico")
        .and(warp::get())
        .map(|| {
            let mut response = Response::new(Default::default());
            *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
            response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/static/logo.svg"));
            response
        })
        .boxed()
}
