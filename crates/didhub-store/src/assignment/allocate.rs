//! Block allocation: a free aligned block of numbers found (best fit) and assigned to a client
//! package in one statement, and the stock counts it reads.

use didhub_core::assignment::{not_started, PackageRule};
use didhub_core::did::DidStatus;
use serde::Serialize;
use uuid::Uuid;

use crate::assignment::blocks::{Availability, Block, BlockRequest};
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::{now, retry, Actor, Assignment, Did, DidRow, Result, StoreError};

use super::assign::*;

/// The answer to a block allocation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Allocated {
    pub block: Block,
    pub assigned: usize,
}

impl Assignment<'_> {
    /// Finds a free aligned block (best fit) and assigns it to the client package, all in one
    /// transaction; the update is conditional on every number still being in stock, so a block
    /// taken concurrently is retried elsewhere, never shared.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn allocate_block(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        req: &BlockRequest,
        destination: &str,
        reason: Option<&str>,
    ) -> Result<(Allocated, Vec<Moved>)> {
        let r = self
            .allocate_block_unnotified(actor, cp_id, req, destination, reason)
            .await?;
        self.hooks.routing_moved(&r.1);
        Ok(r)
    }

    async fn allocate_block_unnotified(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        req: &BlockRequest,
        destination: &str,
        reason: Option<&str>,
    ) -> Result<(Allocated, Vec<Moved>)> {
        retry(|| self.allocate_block_once(actor, cp_id, req, destination, reason)).await
    }

    async fn allocate_block_once(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        req: &BlockRequest,
        destination: &str,
        reason: Option<&str>,
    ) -> Result<(Allocated, Vec<Moved>)> {
        let reason = crate::audit::check_reason(reason)?;
        let reason = reason.as_deref();
        let req = req.clone();
        didhub_core::blocks::check_size(req.size).map_err(|e| StoreError::invalid("size", e))?;
        req.check()?;
        let (cp, package, rule) = self.active_package(cp_id).await?;
        let cp_start = Some(cp.start_date);
        rule.qualifies(
            &format!("a {} block", req.size),
            package.tag.as_deref(),
            req.country.as_str(),
            req.number_type.as_str(),
        )
        .map_err(block_refusal)?;
        let dest = self.destination_for(cp_id, destination).await?;
        let size = req.size as usize;
        for _attempt in 0..5 {
            let mut tx = self.begin().await?;
            let reserved: Option<(Uuid, Uuid, Uuid)> = on_tx!(&mut tx, |c| sqlx::query_as(RESERVE)
                .bind(req.size as i64)
                .bind(cp_id)
                .fetch_optional(&mut *c)
                .await?);
            // The customer as the row we now hold names it: the DIDs take it from there, as a
            // single assignment does (no foreign key on PostgreSQL backs it, migration 0010).
            let Some((_, customer_id, _)) = reserved else {
                drop(tx);
                let (cp, _, rule) = self.active_package(cp_id).await?;
                rule.check_allowance(cp.did_count.max(0) as u32, req.size)
                    .map_err(|e| StoreError::invalid("size", e))?;
                continue;
            };
            hold_pbx(&mut tx, &dest, customer_id).await?;
            // The rule as the client package row we now hold carries it (package edits keep
            // that copy in step under this row's lock, so it holds until we commit), read in
            // this transaction: the same copy a single assignment checks.
            let (tag, country, number_type): (Option<String>, Option<String>, Option<String>) = on_tx!(
                &mut tx,
                |c| {
                    sqlx::query_as("SELECT rule_tag, rule_country, rule_number_type FROM client_packages WHERE \
                        id = $1").bind(cp_id).fetch_one(&mut *c).await?
                }
            );
            let rule = PackageRule {
                allowance: rule.allowance,
                tag: tag.clone(),
                country,
                number_type,
            };
            rule.qualifies(
                &format!("a {} block", req.size),
                tag.as_deref(),
                req.country.as_str(),
                req.number_type.as_str(),
            )
            .map_err(block_refusal)?;
            let package = Package {
                tag,
                ..package.clone()
            };
            let found = match &package.tag {
                Some(tag) => {
                    crate::assignment::blocks::find_grouped(&mut tx, &req, Some(tag)).await?
                }
                None => crate::assignment::blocks::find(&mut tx, &req).await?,
            };
            let Some(block) = found else {
                let avail = match &package.tag {
                    Some(tag) => {
                        crate::assignment::blocks::availability_grouped(&mut tx, &req, Some(tag))
                            .await?
                    }
                    None => crate::assignment::blocks::availability(&mut tx, &req).await?,
                };
                let desc: Vec<String> = avail
                    .iter()
                    .map(|a| {
                        if a.size == 1 {
                            format!("{} free numbers", a.free_blocks)
                        } else {
                            format!("{} whole blocks of {}", a.free_blocks, a.size)
                        }
                    })
                    .collect();
                return Err(StoreError::Conflict(format!(
                    "no free aligned block of {} {} {} numbers{}{}; available: {}",
                    req.size,
                    req.country,
                    req.number_type,
                    package
                        .tag
                        .as_ref()
                        .map(|t| format!(" tagged '{t}'"))
                        .unwrap_or_default(),
                    req.operator_id
                        .map(|o| format!(" from operator {o}"))
                        .unwrap_or_default(),
                    desc.join(", ")
                )));
            };
            let at = now();
            // Conditional on the package's tag too: a number re-tagged while we looked fails
            // the count and the search runs again.
            let mut upd = Sql::default();
            let set = assign_set(
                &upd.param(Param::Uuid(customer_id)),
                &upd.param(Param::Uuid(cp_id)),
                &upd.param(Param::Text(dest.clone())),
                &upd.param(Param::Time(at)),
            );
            upd.push(&format!("UPDATE dids SET {set} WHERE number >= "))
                .bind(Param::Text(block.first.clone()))
                .push(" AND number <= ")
                .bind(Param::Text(block.last.clone()))
                .push(" AND status = 'in_stock' AND operator_id = ")
                .bind(Param::Uuid(block.operator_id));
            // Numbers of another length can sort inside the range (German numbers have
            // several lengths): they are not part of the block.
            upd.push(" AND length(number) = ")
                .bind(Param::Int(block.first.len() as i64));
            if let Some(tag) = &package.tag {
                upd.push(" AND tag = ").bind(Param::Text(tag.clone()));
            }
            let numbers: Vec<String> = if let Tx::Postgres(c) = &mut tx {
                // One statement: the update, its audit entries and stock changes, written by
                // the database from the updated rows (1,000 rows need not travel back and
                // forth); the numbers come back for the routing table.
                let who = upd.param(Param::Text(actor.as_str().to_string()));
                let why = upd.param(Param::OptText(reason.map(str::to_string)));
                let text = format!(
                    "WITH d AS ({} RETURNING dids.*), {} SELECT d.number FROM d ORDER BY d.number",
                    upd.text,
                    assigned_records_pg(&who, &why)
                );
                bind_all!(sqlx::query_scalar(&text), upd.params)
                    .fetch_all(&mut **c)
                    .await?
            } else {
                let n = on_tx!(&mut tx, |c| bind_all!(sqlx::query(&upd.text), upd.params)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                if n as usize != size {
                    continue;
                }
                let rows: Vec<DidRow> = on_tx!(&mut tx, |c| {
                    let sql = format!(
                        "{} WHERE d.number >= $1 AND d.number <= $2 AND d.client_package_id = $3 \
                         AND d.updated_at = $4 ORDER BY d.number",
                        crate::inventory::dids::DID_SELECT
                    );
                    sqlx::query_as(&sql)
                        .bind(&block.first)
                        .bind(&block.last)
                        .bind(cp_id)
                        .bind(at)
                        .fetch_all(&mut *c)
                        .await?
                });
                let after: Vec<Did> = rows.into_iter().map(Did::from).collect();
                let before: Vec<Did> = after
                    .iter()
                    .map(|d| moved_did(d, DidStatus::InStock, None, None, None, None, at))
                    .collect();
                record_moves(&mut tx, actor, "did.assign", &before, &after, reason).await?;
                after.into_iter().map(|d| d.number).collect()
            };
            if numbers.len() != size {
                // Taken while we looked (its stock change not folded yet): look again. The
                // transaction rolls back, so a partial update is undone.
                continue;
            }
            tx.commit().await?;
            let pending_until = cp_start.filter(|s| not_started(*s, at.date_naive()));
            let moved = numbers
                .into_iter()
                .map(|number| Moved {
                    number,
                    status: DidStatus::Assigned,
                    destination: Some(dest.clone()),
                    pending_until,
                })
                .collect();
            return Ok((
                Allocated {
                    block,
                    assigned: size,
                },
                moved,
            ));
        }
        Err(StoreError::Conflict(
            "the stock changed too fast to allocate a block; try again".into(),
        ))
    }

    /// Free numbers and whole free blocks for a country and type.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn block_availability(&self, req: &BlockRequest) -> Result<Vec<Availability>> {
        req.check()?;
        let mut tx = self.begin().await?;
        let out = crate::assignment::blocks::availability(&mut tx, req).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Folds recorded stock changes into the block counts (also done by every block
    /// allocation); the background pass keeps the backlog short.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn fold_stock(&self) -> Result<usize> {
        retry(|| async {
            let mut tx = self.begin().await?;
            let n = crate::assignment::blocks::fold(&mut tx).await?;
            tx.commit().await?;
            Ok(n)
        })
        .await
    }
}
