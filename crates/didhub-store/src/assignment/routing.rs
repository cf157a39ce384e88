//! The routing feed: what the routing table reads (changes since a watermark) and how far
//! back it must look (the oldest write still open).

use chrono::{DateTime, NaiveDate, Utc};

use crate::{on, Assignment, Result};

use super::assign::*;

impl Assignment<'_> {
    /// The start of the oldest write transaction still open by a client session of the
    /// database (any instance, whatever its `application_name`; not autovacuum), leaving out
    /// imports, bulk edits and deletes, which run under `NO_ROUTING_SESSION` since they never
    /// change routing (PostgreSQL;
    /// `None` when there is none, and on SQLite, whose one writer at a time is either this
    /// process, which applies its own changes, or a short CLI command). A routing change that
    /// commits later was stamped at or after it, so the routing follower never moves its
    /// watermark past it. Transactions older than `max_age` are left to the follower's full
    /// reload, so that a session forgotten open does not hold every poll back. Reads
    /// `pg_stat_activity`, which shows other sessions' transactions to the same role (or to a
    /// member of `pg_read_all_stats`).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn oldest_open_write(
        &self,
        max_age: std::time::Duration,
    ) -> Result<Option<DateTime<Utc>>> {
        match &self.backend {
            crate::Backend::Sqlite(_) => Ok(None),
            crate::Backend::Postgres(p) => Ok(sqlx::query_scalar(
                "SELECT min(xact_start) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND backend_type = 'client backend' AND backend_xid IS NOT NULL \
                 AND xact_start > now() - make_interval(secs => $1) \
                 AND application_name IS DISTINCT FROM $2",
            )
            .bind(max_age.as_secs_f64())
            .bind(NO_ROUTING_SESSION)
            .fetch_one(p)
            .await?),
        }
    }

    /// Routing facts changed since `since` (all when `None`): number, status, destination,
    /// updated_at, and the start date of its client package when that is after `today` (the
    /// DID routes as `pending` until then). Feeds the in-memory routing table. Only edited
    /// DIDs (version above 1) can have changed routing: a DID is created in stock, reserved or
    /// archived, and one in use cannot be deleted, so the rows an import has just added are not
    /// read. The join restates `didhub_core::assignment::not_started` (the test
    /// `pending_packages` checks the two agree).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn routing_changes(
        &self,
        since: Option<DateTime<Utc>>,
        today: NaiveDate,
    ) -> Result<Vec<RoutingRow>> {
        const SELECT: &str = "SELECT d.number, d.status, d.destination, d.updated_at, \
            cp.start_date FROM dids d \
            LEFT JOIN client_packages cp ON cp.id = d.client_package_id AND cp.start_date > $1";
        Ok(match since {
            Some(t) => {
                let sql = format!("{SELECT} WHERE d.updated_at >= $2 AND d.version > 1");
                on!(self, |p| sqlx::query_as(&sql)
                    .bind(today)
                    .bind(t)
                    .fetch_all(p)
                    .await?)
            }
            None => {
                let sql = format!("{SELECT} WHERE d.status IN ('assigned', 'hold', 'porting')");
                on!(self, |p| sqlx::query_as(&sql)
                    .bind(today)
                    .fetch_all(p)
                    .await?)
            }
        })
    }
}

/// A DID's routing facts as `routing_changes` reads them: number, status, destination,
/// updated_at, and its client package's start date while that is to come.
pub type RoutingRow = (
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<NaiveDate>,
);
