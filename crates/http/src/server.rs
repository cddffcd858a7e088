//! The server: routes, the scheduler that ticks the service on the tournament clock, request
//! limits and metrics.
//!
//! The service is one `Mutex<Service>`: GraphQL requests and scheduler ticks take it in turn on
//! blocking threads (SQLite is one writer anyway). File bytes (downloads, PUT uploads) move
//! without it.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use parking_lot::Mutex as ServiceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use jiff::Timestamp;
use numerus_app::Service;
use numerus_app::market::Market;
use numerus_store_sqlite::SqliteStore;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore};
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::api::Api;
use crate::clock::Clock;
use crate::config::Config;
use crate::files::Files;
use crate::graphql::{self, Limits, Request};
use crate::metrics::Metrics;
use crate::pages;
use crate::signing::{Access, UrlRefusal};

/// Everything a request handler needs.
pub struct Shared {
    /// The tournament service.
    pub service: ServiceLock<Service<SqliteStore>>,
    /// Where rounds get their data.
    pub market: Box<dyn Market + Send + Sync>,
    /// The tournament's clock.
    pub clock: Clock,
    /// Files and signed URLs.
    pub files: Files,
    /// Settings.
    pub config: Config,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    limiter: Mutex<HashMap<IpAddr, Bucket>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Shared")
            .field("clock", &self.clock)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Shared {
    /// The shared state of a server.
    pub fn new(
        service: Service<SqliteStore>,
        market: Box<dyn Market + Send + Sync>,
        clock: Clock,
        files: Files,
        config: Config,
    ) -> Self {
        Self {
            service: ServiceLock::new(service),
            market,
            clock,
            files,
            config,
            metrics: Metrics::new(),
            limiter: Mutex::new(HashMap::new()),
        }
    }

    /// The tournament's time now (the only place the server reads the wall clock).
    pub fn now(&self) -> (Timestamp, Timestamp) {
        let real = Timestamp::now();
        (self.clock.at(real), real)
    }

    /// Takes one request from `client`'s allowance; false when it is used up.
    fn admit(&self, client: IpAddr) -> bool {
        let rate = f64::from(self.config.requests_per_second);
        if rate <= 0.0 {
            return true;
        }
        let burst = f64::from(self.config.request_burst.max(1));
        let now = Instant::now();
        let mut buckets = self
            .limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 100_000 {
            buckets.retain(|_, bucket| now.duration_since(bucket.at) < Duration::from_secs(60));
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Runs `work` on the service on a blocking thread.
    pub async fn with_service<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Shared, &mut Service<SqliteStore>) -> T + Send + 'static,
    ) -> T {
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut service = shared.service.lock();
            work(&shared, &mut service)
        })
        .await
        .expect("a service task panicked")
    }
}

/// The router of a server over `shared`.
pub fn router(shared: Arc<Shared>) -> Router {
    let upload_limit = usize::try_from(shared.config.max_upload_bytes).unwrap_or(usize::MAX);
    let files = Router::new()
        .route("/files/{*object}", get(download).put(upload))
        .layer(DefaultBodyLimit::max(upload_limit));
    Router::new()
        .route("/", post(graphql_endpoint).get(pages::home))
        .route("/graphql", post(graphql_endpoint))
        .route("/health", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(pages::routes())
        .merge(files)
        .layer(DefaultBodyLimit::max(shared.config.max_request_bytes))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(shared)
}

/// Serves on `listener` and ticks the scheduler until `shutdown` completes.
///
/// # Errors
/// The listener's.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let scheduler = tokio::spawn(schedule(Arc::clone(&shared)));
    let app = router(shared).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    scheduler.abort();
    result
}

/// Ticks the service every `tick_seconds` on the tournament clock, forever.
async fn schedule(shared: Arc<Shared>) {
    let period = Duration::from_secs_f64(shared.config.tick_seconds.max(0.05));
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let result = shared
            .with_service(|shared, service| {
                let (now, _) = shared.now();
                service
                    .tick(shared.market.as_ref(), now)
                    .map(|report| (now, report))
            })
            .await;
        match result {
            Ok((now, report)) => {
                shared.metrics.record_tick(&report);
                if !(report.opened.is_empty()
                    && report.closed.is_empty()
                    && report.scored.is_empty()
                    && report.resolved.is_empty())
                {
                    let scored: Vec<String> = report
                        .scored
                        .iter()
                        .map(|(round, day)| format!("{round}/{day}"))
                        .collect();
                    tracing::info!(
                        %now,
                        opened = ?report.opened,
                        closed = ?report.closed,
                        scored = %scored.join(" "),
                        resolved = ?report.resolved,
                        "tick"
                    );
                }
                for id in &report.reaped {
                    tracing::warn!(submission = id, "upload never validated; rejected");
                }
                for job in &report.overdue_jobs {
                    tracing::warn!(job, "job overdue; retrying");
                }
            }
            Err(error) => {
                shared.metrics.scheduler_errors.inc();
                tracing::error!(%error, "scheduler tick failed; retrying next tick");
            }
        }
    }
}

fn graphql_response(body: serde_json::Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

async fn graphql_endpoint(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    if !shared.admit(client.ip()) {
        shared.metrics.request("graphql", 429);
        return graphql_response(serde_json::json!({ "errors": [{ "message": format!(
            "too many requests: at most {} per second from one client; slow down and retry",
            shared.config.requests_per_second
        ) }] }));
    }
    let request: Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            shared.metrics.request("graphql", 400);
            return graphql_response(serde_json::json!({ "errors": [{ "message": format!(
                "the body must be JSON {{\"query\": ..., \"variables\": {{...}}}}: {error}"
            ) }] }));
        }
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let limits = Limits {
        max_depth: shared.config.max_query_depth,
        ..Limits::default()
    };
    let shared_request = Arc::clone(&shared);
    let (response, uploads) = tokio::task::spawn_blocking(move || {
        let shared = &*shared_request;
        let (now, real_now) = shared.now();
        let mut api = Api {
            service: shared.service.lock(),
            now,
            real_now,
            files: &shared.files,
            authorization: authorization.as_deref(),
            uploads: Vec::new(),
            clock: shared.clock,
        };
        let response = graphql::execute(&request, limits, &mut api);
        (response, api.uploads)
    })
    .await
    .expect("a request task panicked");
    for accepted in uploads {
        shared.metrics.upload(accepted, started.elapsed());
    }
    shared.metrics.request("graphql", 200);
    graphql_response(response)
}

/// A signed link's query.
#[derive(Debug, Deserialize)]
struct Signed {
    expires: i64,
    signature: String,
}

impl Shared {
    /// Checks a request for a signed link: within the client's rate, with a valid, unexpired
    /// signature for `access` to `object`. `None` admits it; otherwise the answer (429 or 403).
    fn refuse_link(
        &self,
        client: SocketAddr,
        route: &str,
        access: Access,
        object: &str,
        signed: &Signed,
    ) -> Option<Response> {
        if !self.admit(client.ip()) {
            self.metrics.request(route, 429);
            return Some(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many requests; slow down\n",
                )
                    .into_response(),
            );
        }
        let (_, real_now) = self.now();
        self.files
            .signer
            .check(access, object, signed.expires, &signed.signature, real_now)
            .err()
            .map(|refusal: UrlRefusal| {
                self.metrics.request(route, 403);
                (StatusCode::FORBIDDEN, format!("{refusal}\n")).into_response()
            })
    }
}

fn parse_range(value: &str) -> Option<GetRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    match (start.trim(), end.trim()) {
        ("", suffix) => suffix.parse().ok().map(GetRange::Suffix),
        (start, "") => start.parse().ok().map(GetRange::Offset),
        (start, end) => {
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            (end >= start).then(|| GetRange::Bounded(start..end + 1))
        }
    }
}

async fn download(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(object): Path<String>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = shared.refuse_link(client, "download", Access::Read, &object, &signed) {
        return refused;
    }
    let range = match headers
        .get(header::RANGE)
        .map(|value| value.to_str().map(parse_range))
    {
        None => None,
        Some(Ok(Some(range))) => Some(range),
        Some(_) => {
            shared.metrics.request("download", 416);
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "only one byte range, bytes=A-B, is supported\n",
            )
                .into_response();
        }
    };
    let ranged = range.is_some();
    let options = GetOptions {
        range,
        ..GetOptions::default()
    };
    let result = match shared
        .files
        .objects
        .get_opts(&ObjectPath::from(object.as_str()), options)
        .await
    {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => {
            shared.metrics.request("download", 404);
            return (StatusCode::NOT_FOUND, "no such file\n").into_response();
        }
        Err(error) => {
            let status = if ranged {
                StatusCode::RANGE_NOT_SATISFIABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            shared.metrics.request("download", status.as_u16());
            return (status, format!("{error}\n")).into_response();
        }
    };
    let size = result.meta.size;
    let span = result.range.clone();
    let status = if ranged {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, span.end - span.start);
    if ranged {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", span.start, span.end.saturating_sub(1)),
        );
    }
    shared.metrics.request("download", status.as_u16());
    let stream = result
        .into_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other));
    response
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn upload(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(object): Path<String>,
    Query(signed): Query<Signed>,
    body: Bytes,
) -> Response {
    if let Some(refused) = shared.refuse_link(client, "upload", Access::Write, &object, &signed) {
        return refused;
    }
    if !object.starts_with("uploads/") {
        shared.metrics.request("upload", 403);
        return (StatusCode::FORBIDDEN, "only uploads can be written\n").into_response();
    }
    match shared.files.stage(&object, body).await {
        Ok(()) => {
            shared.metrics.request("upload", 200);
            StatusCode::OK.into_response()
        }
        Err(error) => {
            tracing::error!(%error, object, "storing an upload failed");
            shared.metrics.request("upload", 500);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the upload could not be stored; retry\n",
            )
                .into_response()
        }
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let balances = shared
        .with_service(|_, service| {
            use numerus_ledger::Store;
            service.ledger().store().balances()
        })
        .await;
    match balances {
        Ok(balances) => {
            shared.metrics.set_balances(&balances);
            (
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                shared.metrics.encode(),
            )
                .into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_numerapi_and_pyarrow_send_are_understood() {
        assert!(matches!(parse_range("bytes=10-19"), Some(GetRange::Bounded(r)) if r == (10..20)));
        assert!(matches!(
            parse_range("bytes=100-"),
            Some(GetRange::Offset(100))
        ));
        assert!(matches!(parse_range("bytes=-8"), Some(GetRange::Suffix(8))));
        assert!(parse_range("bytes=5-2").is_none());
        assert!(parse_range("bytes=0-1,4-5").is_none());
        assert!(parse_range("items=0-1").is_none());
    }
}
