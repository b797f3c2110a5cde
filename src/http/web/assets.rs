//! The static files of web/static, embedded in the binary and served under /static/.

use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

const STYLE: &str = include_str!("../../../web/static/style.css");
const SCRIPT: &str = include_str!("../../../web/static/app.js");
const RING_SCRIPT: &str = include_str!("../../../web/static/ring.js");
const LOGO: &str = include_str!("../../../web/static/logo.svg");

/// GET /static/{style.css|app.js|ring.js|logo.svg}
pub fn routes() -> BoxedFilter<(Response,)> {
    warp::path!("static" / String)
        .and(warp::get())
        .and_then(|name: String| async move {
            let (body, content_type) = match name.as_str() {
                "style.css" => (STYLE, "text/css; charset=utf-8"),
                "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
                "ring.js" => (RING_SCRIPT, "text/javascript; charset=utf-8"),
                "logo.svg" => (LOGO, "image/svg+xml"),
                _ => return Err(warp::reject::not_found()),
            };
            let mut response = Response::new(body.into());
            *response.status_mut() = StatusCode::OK;
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            Ok(response)
        })
        .boxed()
}
