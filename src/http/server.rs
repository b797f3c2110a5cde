//! Serving the routes over HTTP/1.1 with the limits warp's own server cannot set: a client must
//! send a request's header within `header_read_timeout` (which also closes idle kept-alive and
//! silent connections), its whole body within `body_read_timeout` (else 408 and the connection
//! closes), and at most `connections_max` connections are open at once. Each request carries
//! the client's address (`ClientAddress`) for the throttles. Shutdown is graceful: the listener
//! closes, in-flight requests finish, idle connections close.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Request};
use warp::reply::Response;
use warp::Filter;

use super::error::ApiError;

/// How long a stopping server waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub connections_max: usize,
}

/// The address of the client that sent a request (the TCP peer).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub SocketAddr);

/// The client's IP address, when the request came through `serve` (not in warp's test harness).
pub fn client_ip() -> impl Filter<Extract = (Option<IpAddr>,), Error = Infallible> + Clone {
    warp::ext::optional::<ClientAddress>().map(|address: Option<ClientAddress>| address.map(|a| a.0.ip()))
}

/// Serves `routes` on `listener` until `shutdown` is cancelled, then drains open connections.
pub async fn serve(listener: TcpListener, routes: BoxedFilter<(Response,)>, limits: ServeLimits, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(limits.connections_max));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = RequestService { inner: TowerToHyperService::new(warp::service(routes.clone())), client, limits };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %client, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; stopping anyway");
    }
}

/// Puts the client's address on each request and a deadline on its body.
#[derive(Clone)]
struct RequestService<S> {
    inner: S,
    client: SocketAddr,
    limits: ServeLimits,
}

impl<S> Service<Request<Incoming>> for RequestService<S>
where
    S: Service<Request<TimedBody>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ClientAddress(self.client));
        let instance = request.uri().path().to_string();
        let timed_out = Arc::new(AtomicBool::new(false));
        let deadline = self.limits.body_read_timeout;
        let request = request.map(|body| TimedBody { inner: body, deadline, sleep: None, timed_out: timed_out.clone() });
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            if timed_out.load(Ordering::Relaxed) {
                let mut response = ApiError::RequestTimeout.into_response(&instance);
                response.headers_mut().insert(warp::http::header::CONNECTION, HeaderValue::from_static("close"));
                return Ok(response);
            }
            Ok(response)
        })
    }
}

/// A request body that must arrive in full within `deadline` of the first read.
pub struct TimedBody {
    inner: Incoming,
    deadline: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
        match Pin::new(&mut this.inner).poll_frame(context) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|result| result.map_err(Into::into))),
            Poll::Pending if sleep.as_mut().poll(context).is_ready() => {
                this.timed_out.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
