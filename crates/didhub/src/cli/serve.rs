//! `didhub serve`: the HTTP server (API, docs, health, metrics) and its background work.

use anyhow::{Context, Result};

use crate::config::Ctx;

pub async fn serve(ctx: &Ctx, listen: Option<String>) -> Result<()> {
    let store = ctx.open_store().await?;
    let addr = listen.unwrap_or_else(|| ctx.listen.clone());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let threads = ctx.http_threads.unwrap_or_else(|| {
        didhub_server::HTTP_THREADS_PER_CORE
            * std::thread::available_parallelism().map_or(1, |n| n.get())
    });
    tracing::info!(addr = %addr, backend = store.backend_name(), threads, "didhub serving");
    store
        .warm_up()
        .await
        .context("opening database connections")?;
    let mut state = didhub_server::AppState::new(store);
    state.secure_cookies = ctx.secure_cookies;
    state.catalog = ctx.catalog.clone();
    state.outbox = Some(ctx.outbox.clone());
    state.secrets = ctx.secrets.clone();
    state.hold = chrono::Duration::days(
        ctx.hold_days
            .unwrap_or(didhub_core::assignment::DEFAULT_HOLD_DAYS),
    );
    state
        .start_background()
        .await
        .context("starting the background work (routing table, workers)")?;
    didhub_server::serve(listener, state, threads, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
