//! Single-DID assignments on PostgreSQL, written together (group commit). Requests that arrive
//! while earlier ones are being written wait for a free slot and are then written as one
//! transaction: a burst of assignments pays one commit and one sequence of round trips per
//! batch, not per request. Nothing waits on purpose: a request that finds a slot free goes
//! out at once, alone.
//!
//! Each request keeps its own meaning. A batch is all or nothing (`didhub_expect`): if anything
//! in it does not hold (a DID taken, an allowance reached, a package not active, a deadlock),
//! nothing of it is written and every request of it is run again on its own by the
//! single-request statement, which assigns it or says why not.
//!
//! Locks: a batch never waits for one. It takes the rows of its client packages and of its
//! in-stock DIDs with `NOWAIT` before it writes; if any is held (a block allocation, a package
//! state change, another batch), the batch is not written and its requests run on their own,
//! each waiting only for what it needs, as before. So one busy client package cannot hold up
//! the requests of others, and a batch takes no part in a deadlock.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use crate::{retry, Did, DidRow, Result, StoreError};

/// At most this many requests in one transaction.
const MAX_BATCH: usize = 64;

/// One request for one DID by id.
struct Job {
    actor: String,
    cp: Uuid,
    did: Uuid,
    destination: String,
    reason: Option<String>,
    reply: oneshot::Sender<Result<Option<Vec<Did>>>>,
}

/// Hands single-DID assignments to the writer task.
#[derive(Clone, Debug)]
pub(crate) struct Batcher {
    tx: mpsc::UnboundedSender<Job>,
}

impl Batcher {
    /// Starts the writer task (it ends when the last `Batcher` is dropped). At most `slots`
    /// batches are written at a time; requests queue while they are.
    pub fn spawn(pool: sqlx::PgPool, slots: usize) -> Batcher {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(slots.max(1)));
            while let Some(first) = rx.recv().await {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                // Whatever queued while every slot was busy goes out together.
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let pool = pool.clone();
                tokio::spawn(async move {
                    write(&pool, jobs).await;
                    drop(permit);
                });
            }
        });
        Batcher { tx }
    }

    /// Assigns one DID by id as `try_assign` does: `Some(DIDs)` when assigned, `None` (nothing
    /// written) when a check failed. `None` from this function: the writer task is gone.
    pub async fn assign(
        &self,
        actor: &str,
        cp: Uuid,
        did: Uuid,
        destination: &str,
        reason: Option<&str>,
    ) -> Option<Result<Option<Vec<Did>>>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            actor: actor.to_string(),
            cp,
            did,
            destination: destination.to_string(),
            reason: reason.map(str::to_string),
            reply,
        };
        // Not queued (the writer task is gone): the caller writes it itself.
        self.tx.send(job).ok()?;
        // Queued, then no answer (the writer's runtime ended mid-write): the outcome is not
        // known, so it must not be written again.
        Some(answer.await.unwrap_or_else(|_| {
            Err(StoreError::Io(std::io::Error::other(
                "the assignment writer stopped before answering",
            )))
        }))
    }
}

/// What became of a batch.
enum Outcome {
    Written(Vec<Did>),
    /// Rolled back before its commit: each request can run again on its own.
    NotWritten(StoreError),
    /// The commit failed: it may have been written, so no request may run again.
    Unknown(StoreError),
}

/// Writes a batch, or each of its requests on its own when the batch does not go through.
async fn write(pool: &sqlx::PgPool, mut jobs: Vec<Job>) {
    // A request whose caller has gone is not written (it was never answered).
    jobs.retain(|j| !j.reply.is_closed());
    if jobs.is_empty() {
        return;
    }
    metrics::histogram!("didhub_assign_batch_size").record(jobs.len() as f64);
    if jobs.len() > 1 {
        match together(pool, &jobs).await {
            Outcome::Written(dids) => {
                metrics::counter!("didhub_assign_batches_total", "outcome" => "written")
                    .increment(1);
                for (job, did) in jobs.into_iter().zip(dids) {
                    let _ = job.reply.send(Ok(Some(vec![did])));
                }
                return;
            }
            Outcome::Unknown(e) => {
                tracing::warn!(size = jobs.len(), "assignment batch commit failed: {e}");
                let msg = e.to_string();
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(StoreError::Io(std::io::Error::other(format!(
                            "commit failed, outcome unknown: {msg}"
                        )))));
                }
                return;
            }
            Outcome::NotWritten(e) => {
                metrics::counter!("didhub_assign_batches_total", "outcome" => "run_singly")
                    .increment(1);
                // Expected: a check that failed, a lock held elsewhere, a DID asked for twice.
                let expected = e.is_incomplete()
                    || e.is_retryable()
                    || matches!(e, StoreError::Conflict(_))
                    || e.db_code().as_deref() == Some("55P03");
                if expected {
                    tracing::debug!(size = jobs.len(), "assignment batch run singly: {e}");
                } else {
                    tracing::warn!(size = jobs.len(), "assignment batch run singly: {e}");
                }
            }
        }
    }
    futures::future::join_all(jobs.into_iter().map(|job| async move {
        let r = retry(|| {
            crate::assignment::assign::assign_one_pg(
                pool,
                1,
                job.cp,
                &job.destination,
                std::slice::from_ref(&job.did),
                &[],
                &job.actor,
                job.reason.as_deref(),
            )
        })
        .await;
        let _ = job.reply.send(r);
    }))
    .await;
}

/// The whole batch in one transaction, or nothing of it (`NotWritten`).
async fn together(pool: &sqlx::PgPool, jobs: &[Job]) -> Outcome {
    let (tx, dids) = match attempt(pool, jobs).await {
        Ok(t) => t,
        Err(e) => return Outcome::NotWritten(e),
    };
    match tx.commit().await {
        Ok(()) => Outcome::Written(dids),
        Err(e) => Outcome::Unknown(e.into()),
    }
}

/// Everything but the commit; dropping the transaction on an error rolls it back.
async fn attempt(
    pool: &sqlx::PgPool,
    jobs: &[Job],
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, Vec<Did>)> {
    let mut cps: Vec<Uuid> = jobs.iter().map(|j| j.cp).collect();
    cps.sort();
    cps.dedup();
    let mut dids: Vec<Uuid> = jobs.iter().map(|j| j.did).collect();
    dids.sort();
    dids.dedup();
    if dids.len() != jobs.len() {
        // Two requests for one DID: one of them must be told it is taken.
        return Err(StoreError::Conflict("a DID asked for twice".into()));
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM client_packages WHERE id = ANY($1) ORDER BY id FOR UPDATE NOWAIT")
        .bind(&cps)
        .execute(&mut *tx)
        .await?;
    // The PBXs the destinations name, as the statement holds them (`pbx_held_cte`), without
    // waiting either: a PBX being deleted or having its serial changed sends the batch's
    // requests to the single-request path, which may wait.
    let mut pbxs: Vec<Uuid> = jobs
        .iter()
        .filter_map(|j| j.destination.strip_prefix("pbx:")?.parse().ok())
        .collect();
    pbxs.sort();
    pbxs.dedup();
    if !pbxs.is_empty() {
        sqlx::query("SELECT 1 FROM pbxs WHERE id = ANY($1) ORDER BY id FOR KEY SHARE NOWAIT")
            .bind(&pbxs)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "SELECT 1 FROM dids WHERE id = ANY($1) AND status = 'in_stock' ORDER BY id FOR UPDATE NOWAIT",
    )
    .bind(&dids)
    .execute(&mut *tx)
    .await?;
    let (mut cp, mut did, mut dest, mut actor, mut reason) = (
        Vec::with_capacity(jobs.len()),
        Vec::with_capacity(jobs.len()),
        Vec::with_capacity(jobs.len()),
        Vec::with_capacity(jobs.len()),
        Vec::with_capacity(jobs.len()),
    );
    for j in jobs {
        cp.push(j.cp);
        did.push(j.did);
        dest.push(j.destination.as_str());
        actor.push(j.actor.as_str());
        reason.push(j.reason.as_deref());
    }
    let rows: Vec<DidRow> = sqlx::query_as(&crate::assignment::assign::ASSIGN_BATCH_PG)
        .bind(&cp)
        .bind(&did)
        .bind(&dest)
        .bind(&actor)
        .bind(&reason)
        .bind(crate::now())
        .bind(jobs.len() as i64)
        .fetch_all(&mut *tx)
        .await?;
    let out: Vec<Did> = rows.into_iter().map(Did::from).collect();
    // Rows come in request order; `didhub_expect` made sure there is one for each.
    if out.len() != jobs.len() || out.iter().zip(jobs).any(|(d, j)| d.id != j.did) {
        return Err(StoreError::Conflict("batch answer out of step".into()));
    }
    Ok((tx, out))
}
