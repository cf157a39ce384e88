//! didhub's HTTP face: the JSON API under `/api/v1` (with its OpenAPI document), the web
//! portal at `/`, health and metrics endpoints.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use didhub_store::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub mod api;
pub mod auth;
mod conn;
pub mod error;
pub mod extract;
pub mod jobs;
mod objects_only;
pub mod openapi;
pub mod portal;

use auth::BearerScheme;
pub use auth::Principal;

/// Largest upload accepted by the import endpoint.
pub const MAX_UPLOAD: usize = 256 * 1024 * 1024;
/// Largest body of any other request: room for the largest JSON a route takes (100,000 ids
/// with versions in a bulk selection, about 6 MB), not for a client to fill memory with.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest body of the one route anyone may call unsigned (an e-mail and a password).
pub const MAX_LOGIN_BODY: usize = 16 * 1024;

/// Longest URL (path and query) accepted: no route needs more than a few hundred bytes, and a
/// longer one is refused before it is parsed (414, problem+json). Beyond 65,534 bytes the HTTP
/// layer refuses it itself; `conn` gives that answer the same form.
pub const MAX_URI: usize = 8192;

async fn limit_uri(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let len = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    if len > MAX_URI {
        return error::ApiError::UriTooLong(format!("the URL is over {MAX_URI} bytes"))
            .into_response();
    }
    next.run(req).await
}

/// The body limit of a route (by its template).
fn body_limit(route: &str, s: &AppState) -> usize {
    match route {
        // The API's import and the portal's (whose gate streams it: `portal::gate`).
        "/api/v1/dids/import" | "/dids/import" => MAX_UPLOAD,
        // The API's login and the portal's sign-in form: anyone may send them.
        "/api/v1/auth/login" | "/login" => MAX_LOGIN_BODY,
        // The configured document limit, and room for the form around the file.
        "/api/v1/documents" => {
            let max = s.store.documents().max_bytes() + api::documents::FORM_OVERHEAD;
            usize::try_from(max).unwrap_or(MAX_UPLOAD)
        }
        _ => MAX_BODY,
    }
}

/// Holds each request to its route's body limit: a declared length above it is a 413 before
/// anything is read; a body without one is cut off (413) when it passes the limit.
async fn limit_body(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or("");
    let limit = body_limit(route, &s);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        // An upload is refused as its file: the form around it is small.
        if route == "/api/v1/documents" {
            return api::documents::too_large(s.store.documents().max_bytes()).into_response();
        }
        return error::ApiError::TooLarge(format!("the body is over {limit} bytes"))
            .into_response();
    }
    let req = req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, limit)));
    next.run(req).await
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Mark the session cookie `Secure` (turn off only for plain-HTTP development).
    pub secure_cookies: bool,
    /// How long DIDs of an inactive package stay on hold.
    pub hold: chrono::Duration,
    pub routing: std::sync::Arc<jobs::routing::RoutingTable>,
    pub tokens: std::sync::Arc<auth::TokenCache>,
    /// How often the hold worker looks for ended hold periods; `None` runs none (for tests
    /// that drive `Store::release_expired_holds` themselves).
    pub hold_worker_every: Option<std::time::Duration>,
    /// How often the SLA alerter looks for tickets at risk or breached; `None` runs none.
    pub sla_alerts_every: Option<std::time::Duration>,
    /// The service catalog (the built-in one unless the configuration names a file).
    pub catalog: std::sync::Arc<didhub_core::catalog::Catalog>,
    /// The outbox worker's settings; `None` runs none (tests that send mail themselves).
    pub outbox: Option<jobs::outbox::OutboxConfig>,
    /// The keys that seal and open secrets at rest (none configured: secrets are refused).
    pub secrets: std::sync::Arc<didhub_core::secret::Keyring>,
    /// The portal's DID checks and imports, running or finished (their progress pages).
    pub import_jobs: std::sync::Arc<portal::import_progress::ImportJobs>,
    /// How long a portal import's request waits for the result before it answers with the
    /// progress page instead (tests set zero to see that page).
    pub import_wait: std::time::Duration,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        let routing: std::sync::Arc<jobs::routing::RoutingTable> = Default::default();
        // Every committed routing change made through this store reaches the table at once
        // (the follower catches those of other processes).
        let listener: std::sync::Arc<dyn didhub_store::AfterCommit> = routing.clone();
        store.subscribe(std::sync::Arc::downgrade(&listener));
        AppState {
            store,
            secure_cookies: true,
            hold: chrono::Duration::days(didhub_core::assignment::DEFAULT_HOLD_DAYS),
            routing,
            tokens: Default::default(),
            hold_worker_every: Some(std::time::Duration::from_secs(30)),
            sla_alerts_every: Some(std::time::Duration::from_secs(60)),
            catalog: std::sync::Arc::new(didhub_core::catalog::Catalog::builtin().clone()),
            outbox: None,
            secrets: Default::default(),
            import_jobs: Default::default(),
            import_wait: std::time::Duration::from_secs(2),
        }
    }

    /// Records the hold period for the command line, loads the routing table and starts the
    /// routing follower, the hold worker and the outbox worker.
    pub async fn start_background(&self) -> Result<(), didhub_store::StoreError> {
        // The server's configuration decides the hold period for every process: a command
        // line change reads it from here (`Store::recorded_hold_days`).
        self.store
            .record_hold_days(&didhub_store::Actor::system(), self.hold.num_days())
            .await?;
        self.routing.refresh(&self.store).await?;
        jobs::spawn_follower(self.routing.clone(), self.store.clone());
        if let Some(every) = self.hold_worker_every {
            jobs::spawn_hold_worker(self.store.clone(), every);
        }
        jobs::spawn_stock_folder(self.store.clone(), std::time::Duration::from_secs(1));
        jobs::spawn_stock_recorder(self.store.clone(), std::time::Duration::from_secs(3600));
        if let Some(every) = self.sla_alerts_every {
            jobs::spawn_sla_alerter(self.store.clone(), every);
        }
        if let Some(cfg) = &self.outbox {
            jobs::outbox::Outbox::new(self.store.clone(), cfg.clone())
                .map_err(|e| didhub_store::StoreError::Config(e.to_string()))?
                .spawn();
        }
        // Histograms keep raw samples until drained; drain them even when nobody scrapes.
        tokio::spawn(async {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                prometheus().run_upkeep();
            }
        });
        Ok(())
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "didhub API", description = "DID inventory, packages and assignment, partners, customers and PBX \
        licenses for VoIP service providers. Every route but `POST \
        /api/v1/auth/login` needs `Authorization: Bearer <token>` (or the portal's \
        session cookie, with `X-CSRF-Token` on writes); errors are RFC 9457 \
        problem+json."),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    components(schemas(error::Problem, error::FieldError))
)]
struct ApiDoc;

fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ])
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("didhub_assign_batch_size".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
                )
            })
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Only the first recorder of the process is installed (tests start several apps).
        let _ = metrics::set_global_recorder(recorder);
        // Histograms keep every sample until upkeep folds them into buckets: without it memory
        // grows with the request count between scrapes, and a scrape folds them all at once.
        // A plain thread, so that folding never holds up a request worker.
        let h = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                h.run_upkeep();
            });
        handle
    })
}

/// The API router and its OpenAPI document, built from the same route list (the document
/// completed by [`openapi::complete`]).
pub fn api_router(state: AppState) -> (Router<AppState>, serde_json::Value) {
    let (v1, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::routes())
        .split_for_parts();
    api::note_query_routes(&doc);
    let v1 = v1.layer(middleware::from_fn_with_state(state, auth::authorize));
    (v1, openapi::complete(&doc))
}

/// The interactive docs at `/api/docs/`: Swagger UI, whose files are built into the binary,
/// reading `/api/openapi.json`. Nothing on the page is fetched from elsewhere (the online
/// validator badge, which would send the document's address to swagger.io, is off).
fn docs_page() -> Router<AppState> {
    let config = utoipa_swagger_ui::Config::from("/api/openapi.json").validator_url("none");
    utoipa_swagger_ui::SwaggerUi::new("/api/docs")
        .config(config)
        .into()
}

pub fn app(state: AppState) -> Router {
    let _ = prometheus();
    let (api, doc) = api_router(state.clone());
    let spec = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let api: Router<AppState> = api;
    // The description of the API is public: it holds no data, and tools fetch it unsigned.
    let docs: Router<AppState> = Router::new()
        .route(
            "/api/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], spec) }
            }),
        )
        .merge(docs_page());
    Router::new()
        .merge(api)
        .merge(docs)
        .merge(portal::routes(state.clone()))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_endpoint))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), limit_body))
        .layer(middleware::from_fn(limit_uri))
        .layer(middleware::from_fn(track))
        // `limit_body` sets each route's own limit; this one only lifts axum's default above
        // the largest of them.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// An address no route has: the API's (and the service endpoints') answer problem+json, the
/// portal's a page.
async fn fallback(State(s): State<AppState>, req: axum::extract::Request) -> Response {
    let path = req.uri().path();
    let api = ["/api", "/healthz", "/metrics"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if api {
        return error::ApiError::NotFound("route".into()).into_response();
    }
    portal::not_found(&s, req).await
}

async fn healthz(State(s): State<AppState>) -> Response {
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::warn!("health check failed: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn metrics_endpoint(State(s): State<AppState>) -> Response {
    let (size, idle) = s.store.pool_stats();
    metrics::gauge!("didhub_db_pool_connections").set(size as f64);
    metrics::gauge!("didhub_db_pool_idle").set(idle as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
        .into_response()
}

/// Request counts and latencies by route template (never by raw path: ids would explode it).
async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("didhub_http_requests_total", "method" => method, "route" => route.clone(),
        "status" => status)
    .increment(1);
    metrics::histogram!("didhub_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// A request's method as a metric label: the standard ones by name, any other `OTHER`. A
/// client may send any token as a method; as labels they would make series without end.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// HTTP threads per core when the configuration does not say. A thread serves its connections
/// one request at a time, so a request that takes CPU (a 100-DID list page) holds up the other
/// connections of its thread: with 2 per core the list's p99 was 8.3 ms, with 4 per core 7.0 ms
/// (docs/PERFORMANCE.md).
pub const HTTP_THREADS_PER_CORE: usize = 4;

/// Serves until `shutdown` resolves: this task accepts connections and hands them round robin
/// to `threads` threads, each a single-threaded runtime that serves its connections to the end.
/// Background work stays on the caller's runtime.
///
/// Why not one multi-threaded runtime: its workers wake each other for new work and queue
/// tasks behind one another, and when the kernel preempts a worker (as it does whenever a
/// response wakes a client on the same cores) everything queued on it waits for its next
/// time slice. The routing lookup's p99 was 1.8–2.3 ms that way at a p50 of 0.08 ms; on
/// single-threaded runtimes that sleep in the kernel between requests it is 0.6–1.3 ms
/// (docs/PERFORMANCE.md, with the trade-off this makes for heavier requests). Round robin
/// rather than `SO_REUSEPORT`, whose hashing left some threads with several busy connections
/// and others with none.
///
/// Database connections belong to the runtime that opened them and are used from any thread;
/// the HTTP threads live as long as the server, and the server is the last thing to stop.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    threads: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut lanes = Vec::new();
    let mut handles = Vec::new();
    for i in 0..threads.max(1) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        lanes.push(tx);
        let (state, mut stopped) = (state.clone(), stopped.clone());
        let h = std::thread::Builder::new()
            .name(format!("didhub-http-{i}"))
            .spawn(move || -> std::io::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    // With each connection's peer address: login throttling counts per client.
                    let app = app(state).into_make_service_with_connect_info::<PeerAddr>();
                    axum::serve(Handoff { rx, addr }, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        })
                        .await
                })
            })?;
        handles.push(h);
    }
    tokio::pin!(shutdown);
    let mut next = 0usize;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r.and_then(|(s, peer)| Ok((s.into_std()?, peer))) {
                Ok(conn) => {
                    // A lane only closes when its thread has ended; the others still serve.
                    let _ = lanes[next % lanes.len()].send(conn);
                    next = next.wrapping_add(1);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(lanes);
    tokio::task::spawn_blocking(move || {
        let mut first_err = Ok(());
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("an HTTP thread panicked")));
            if let (Err(e), Ok(())) = (r, &first_err) {
                first_err = Err(e);
            }
        }
        first_err
    })
    .await
    .map_err(std::io::Error::other)?
}

/// A connection's peer address, as `ConnectInfo` of the connections `serve` hands over.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Handoff>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Handoff>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// The connections the accepting task hands to one HTTP thread.
pub struct Handoff {
    rx: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, std::net::SocketAddr)>,
    addr: std::net::SocketAddr,
}

impl axum::serve::Listener for Handoff {
    type Io = conn::Conn;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some((s, peer)) = self.rx.recv().await else {
                // The acceptor has stopped; graceful shutdown ends this thread.
                return std::future::pending().await;
            };
            // Small answers go out at once, never held back waiting for an ACK (PostgreSQL
            // sets the same on its sockets). Registers the socket with this thread's runtime.
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
            match tokio::net::TcpStream::from_std(s) {
                Ok(s) => return (conn::Conn::new(s), peer),
                Err(e) => tracing::warn!(error = %e, "taking over a connection failed"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
