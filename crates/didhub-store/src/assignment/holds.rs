//! The hold worker's pass: DIDs whose hold has ended go back to their after-hold status.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::db::sql::{bind_all, on_tx, Param, Sql};
use crate::{now, retry, Actor, Assignment, Did, DidRow, Result};

use super::assign::*;

impl Assignment<'_> {
    /// One pass of the hold worker: releases DIDs whose hold has ended, at most `batch`.
    /// Idempotent (conditional on still being on hold and due), safe with several instances
    /// (each claims the client packages it works on with `FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL; SQLite has one writer), and all or nothing per pass. Returns what it moved.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn release_expired_holds(&self, batch: i64) -> Result<Vec<Moved>> {
        let moved = self.release_expired_holds_unnotified(batch).await?;
        self.hooks.routing_moved(&moved);
        Ok(moved)
    }

    async fn release_expired_holds_unnotified(&self, batch: i64) -> Result<Vec<Moved>> {
        let actor = Actor("worker:hold".into());
        retry(|| async {
            let mut tx = self.begin().await?;
            let due = now();
            let sql = format!(
                "{} WHERE d.status = 'hold' AND d.hold_until <= $1 ORDER BY d.hold_until, \
                d.id LIMIT $2",
                crate::inventory::dids::DID_SELECT
            );
            let rows: Vec<DidRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
                .bind(due)
                .bind(batch)
                .fetch_all(&mut *c)
                .await?);
            let mut by_cp: BTreeMap<Uuid, Vec<Did>> = BTreeMap::new();
            for d in rows.into_iter().map(Did::from) {
                if let Some(cp) = d.client_package_id {
                    by_cp.entry(cp).or_default().push(d);
                }
            }
            let mut moved = Vec::new();
            for (cp, group) in by_cp {
                // Client packages in id order, each the lock its DIDs' writers take first.
                let lock = tx.row_lock(" FOR UPDATE SKIP LOCKED");
                let mine: Option<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(&format!(
                    "SELECT id FROM client_packages WHERE id = $1{lock}"
                ))
                .bind(cp)
                .fetch_optional(&mut *c)
                .await?);
                if mine.is_none() {
                    continue; // another instance is on it
                }
                // Stamped now that the lock is held (the transaction has an id, so the routing
                // follower's watermark waits for it): `due` may be older than its overlap.
                let at = now();
                let mut upd = Sql::new(
                    "UPDATE dids SET status = after_hold, customer_id = NULL, client_package_id \
                    = NULL, destination = NULL, hold_until = NULL, updated_at = ",
                );
                upd.bind(Param::Time(at))
                    .push(", version = version + 1 WHERE status = 'hold' AND hold_until <= ")
                    .bind(Param::Time(due))
                    .push(" AND client_package_id = ")
                    .bind(Param::Uuid(cp))
                    .push(" AND id IN (");
                for (i, d) in group.iter().enumerate() {
                    if i > 0 {
                        upd.push(",");
                    }
                    upd.bind(Param::Uuid(d.id));
                }
                upd.push(") RETURNING id, status, operator_id");
                let done: Vec<(Uuid, String, Uuid)> = on_tx!(&mut tx, |c| bind_all!(
                    sqlx::query_as(&upd.text),
                    upd.params
                )
                .fetch_all(&mut *c)
                .await?);
                // Only those still due (a reactivation may have come first), each as the row
                // really was when written: an edit of its after-hold status or operator since
                // the read above is what the audit entry and the stock count must show.
                let written: HashMap<Uuid, (String, Uuid)> = done
                    .into_iter()
                    .map(|(id, st, op)| (id, (st, op)))
                    .collect();
                let group: Vec<Did> = group
                    .into_iter()
                    .filter_map(|mut d| {
                        let (st, op) = written.get(&d.id)?;
                        // A status the schema's CHECK admits always parses.
                        if let Ok(st) = st.parse() {
                            d.after_hold = st;
                        }
                        d.operator_id = *op;
                        Some(d)
                    })
                    .collect();
                on_tx!(&mut tx, |c| sqlx::query(
                    "UPDATE client_packages SET did_count = did_count - $1 WHERE id = $2"
                )
                .bind(group.len() as i64)
                .bind(cp)
                .execute(&mut *c)
                .await?
                .rows_affected());
                let after: Vec<Did> = group
                    .iter()
                    .map(|d| moved_did(d, d.after_hold, None, None, None, None, at))
                    .collect();
                record_moves(&mut tx, &actor, "did.hold_expired", &group, &after, None).await?;
                moved.extend(after.iter().map(Moved::from));
            }
            tx.commit().await?;
            Ok(moved)
        })
        .await
    }
}
