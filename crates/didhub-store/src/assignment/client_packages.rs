//! Client packages: a customer's subscription to a package (create, read, list), its state
//! changes (activate, deactivate → hold, terminate) and what they do to its DIDs.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate, Utc};
use didhub_core::assignment::{
    hold_ended, on_package_state, Destination, HoldAction, PackageRule, PackageState,
};
use didhub_core::did::DidStatus;
use serde_json::json;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::db::versioned::{check_version, col, VersionedUpdate};
use crate::{new_id, now, on, retry, Actor, Assignment, Did, DidRow, Result, StoreError};

use super::assign::*;

impl Assignment<'_> {
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_client_package(
        &self,
        actor: &Actor,
        customer_id: Uuid,
        package_id: Uuid,
        start_date: NaiveDate,
    ) -> Result<ClientPackage> {
        let start_date = didhub_core::licensing::check_date("start_date", start_date)
            .map_err(|e| StoreError::invalid("start_date", e))?;
        let customer = self
            .accounts()
            .get_customer(Scope::All, customer_id)
            .await
            .map_err(|_| {
                StoreError::invalid(
                    "customer_id",
                    format!("customer {customer_id} does not exist"),
                )
            })?;
        let package = self.get_package(package_id).await.map_err(|_| {
            StoreError::invalid("package_id", format!("package {package_id} does not exist"))
        })?;
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            // The allowance and rule as the package has them now: on PostgreSQL the share lock waits for
            // an edit of the package in progress and then reads what it committed (or finds
            // the package deleted).
            let share = tx.row_lock(" FOR SHARE");
            type Rule = (i32, Option<String>, Option<String>, Option<String>);
            let rule: Option<Rule> = on_tx!(&mut tx,
                |c| sqlx::query_as(&format!("SELECT did_allowance, tag, country, number_type FROM packages WHERE id = \
                $1{share}")).bind(package_id).fetch_optional(&mut *c).await?);
            let (allowance, tag, country, number_type) = rule.ok_or_else(|| StoreError::invalid("package_id",
                format!("package {package_id} does not exist")))?;
            on_tx!(&mut tx, |c| sqlx::query("INSERT INTO client_packages (id, package_id, customer_id, start_date, \
                state, did_allowance, rule_tag, rule_country, rule_number_type, created_at, \
                updated_at) VALUES ($1,$2,$3,$4,'active',$5,$6,$7,$8,$9,$9)")
                .bind(id).bind(package_id).bind(customer_id).bind(start_date).bind(allowance).bind(tag)
                    .bind(country).bind(number_type).bind(at).execute(&mut *c).await?.rows_affected());
            write_audit(&mut tx, AuditWrite { id: None, actor, action: "client_package.create",
                entity: "client_package", entity_id: Some(id), subject: Some(customer.name.clone()),
                changes: json!({"package": package.name, "customer_id": customer_id, "start_date": start_date,
                "state": "active"}), reason: None }).await?;
            tx.commit().await
        })
        .await?;
        self.get_client_package(Scope::All, id).await
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_client_package(&self, scope: Scope, id: Uuid) -> Result<ClientPackage> {
        let mut sql = Sql::new(CP_SELECT);
        sql.push(" WHERE cp.id = ").bind(Param::Uuid(id));
        if let Some(p) = scope.partner() {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        let r: Option<ClientPackage> =
            on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
                .fetch_optional(p)
                .await?);
        r.map(|cp| cp.read_on(Utc::now().date_naive()))
            .ok_or_else(|| StoreError::not_found("client package", id))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_client_packages(
        &self,
        scope: Scope,
        customer_id: Option<Uuid>,
    ) -> Result<Vec<ClientPackage>> {
        let mut sql = Sql::new(CP_SELECT);
        sql.push(" WHERE 1=1");
        if let Some(p) = scope.partner() {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        if let Some(c) = customer_id {
            sql.push(" AND cp.customer_id = ").bind(Param::Uuid(c));
        }
        sql.push(" ORDER BY cp.id");
        let rows: Vec<ClientPackage> =
            on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
                .fetch_all(p)
                .await?);
        let today = Utc::now().date_naive();
        Ok(rows.into_iter().map(|cp| cp.read_on(today)).collect())
    }

    /// The DIDs of a customer (assigned or on hold).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn customer_dids(&self, scope: Scope, customer_id: Uuid) -> Result<Vec<Did>> {
        self.accounts().get_customer(scope, customer_id).await?;
        let sql = format!(
            "{} WHERE d.customer_id = $1 ORDER BY d.number",
            crate::inventory::dids::DID_SELECT
        );
        let rows: Vec<DidRow> = on!(self, |p| sqlx::query_as(&sql)
            .bind(customer_id)
            .fetch_all(p)
            .await?);
        Ok(rows.into_iter().map(Did::from).collect())
    }

    async fn dids_where(&self, tx: &mut Tx, cond: &str, id: Uuid) -> Result<Vec<Did>> {
        let sql = format!(
            "{} WHERE {cond} ORDER BY d.number",
            crate::inventory::dids::DID_SELECT
        );
        let rows: Vec<DidRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
            .bind(id)
            .fetch_all(&mut *c)
            .await?);
        Ok(rows.into_iter().map(Did::from).collect())
    }

    /// Changes a client package's state and applies the hold rule to its DIDs, in one
    /// transaction: inactive → its DIDs on hold for `hold` (routing unreachable); active again
    /// → back to assigned; terminated → released to their after-hold status. Returns the
    /// package and the DIDs it moved (for the routing table).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn set_client_package_state(
        &self,
        actor: &Actor,
        id: Uuid,
        to: PackageState,
        hold: Duration,
    ) -> Result<(ClientPackage, Vec<Moved>)> {
        self.set_client_package_state_if(actor, id, to, hold, None)
            .await
    }

    /// As [`Store::set_client_package_state`], refused with `VersionMismatch` unless the
    /// package is at `expected` (the `If-Match` of the API).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn set_client_package_state_if(
        &self,
        actor: &Actor,
        id: Uuid,
        to: PackageState,
        hold: Duration,
        expected: Option<i64>,
    ) -> Result<(ClientPackage, Vec<Moved>)> {
        let r = self
            .set_client_package_state_if_unnotified(actor, id, to, hold, expected)
            .await?;
        self.hooks.routing_moved(&r.1);
        Ok(r)
    }

    async fn set_client_package_state_if_unnotified(
        &self,
        actor: &Actor,
        id: Uuid,
        to: PackageState,
        hold: Duration,
        expected: Option<i64>,
    ) -> Result<(ClientPackage, Vec<Moved>)> {
        let moved = retry(|| async {
            let cp = self.get_client_package(Scope::All, id).await?;
            check_version("client package", id, expected, cp.version)?;
            let from = state_of(&cp.state_set);
            if from.check_change(to).map_err(|e| StoreError::invalid("state", e))?.is_none() {
                // Nothing to do, if the package is still in that state now (with `If-Match`:
                // still at that version); otherwise it changed since the read, as for any other
                // stale state change.
                let n = match expected {
                    Some(v) => on!(self,
                        |p| sqlx::query("UPDATE client_packages SET state = state WHERE id = $1 AND version = $2")
                            .bind(id).bind(v).execute(p).await?.rows_affected()),
                    None => on!(self,
                        |p| sqlx::query("UPDATE client_packages SET state = state WHERE id = $1 AND state = $2")
                        .bind(id).bind(to.as_str()).execute(p).await?.rows_affected()),
                };
                if n != 1 {
                    return Err(StoreError::changed("client package", id, expected, cp.version));
                }
                return Ok(Vec::new());
            }
            // Named like its `client_package.create` entry: by customer.
            let customer = self.accounts().get_customer(Scope::All, cp.customer_id).await?.name;
            let mut tx = self.begin().await?;
            // The client package row is the lock every writer of its DIDs takes first.
            let update = VersionedUpdate { table: "client_packages", key: "id", noun: "client package",
                entity: "client_package", id, client: expected, read: cp.version,
                action: "client_package.state", subject: Some(customer), unique: None };
            update.apply(&mut tx, actor, vec![col("state", from, &to.as_str().to_string())], vec![]).await?;
            // The DIDs' stamp is taken once the package's lock is held (see `ROUTING_STAMP_PG`).
            let at = now();
            let dids = self.dids_where(&mut tx, "d.client_package_id = $1", id).await?;
            let mut groups: BTreeMap<(&'static str, u8), (HoldAction, Vec<Did>)> = BTreeMap::new();
            for d in dids {
                if let Some(action) = on_package_state(d.status, hold_ended(d.hold_until, at), to) {
                    groups.entry((d.status.as_str(), action as u8)).or_insert_with(|| (action, Vec::new())).1.push(d);
                }
            }
            let until = at + hold;
            let mut moved = Vec::new();
            for ((status, _), (action, group)) in groups {
                let (set, mut verb) = match action {
                    HoldAction::Hold => ("status = 'hold', hold_until = $3", "did.hold"),
                    HoldAction::Restore => ("status = 'assigned', hold_until = NULL", "did.restore"),
                    HoldAction::Release => ("status = after_hold, customer_id = NULL, client_package_id = NULL, \
                        destination = NULL, hold_until = NULL", "did.release"),
                };
                // Reactivation splits the DIDs on hold by `hold_ended` (the same test in SQL).
                let only = match (status, action) {
                    ("hold", HoldAction::Restore) => " AND (hold_until IS NULL OR hold_until > $1)",
                    ("hold", HoldAction::Release) if to == PackageState::Active => {
                        verb = "did.hold_expired";
                        " AND hold_until <= $1"
                    }
                    _ => "",
                };
                // Set-based: one statement per group, checked against what was read.
                let sql = format!("UPDATE dids SET {set}, updated_at = $1, version = version + 1 WHERE \
                    client_package_id = $2 AND status = $4{only} RETURNING id, status, \
                    operator_id");
                let hold_until = matches!(action, HoldAction::Hold).then_some(until);
                let written: Vec<(Uuid, String, Uuid)> = on_tx!(&mut tx, |c| sqlx::query_as(&sql).bind(at)
                    .bind(id).bind(hold_until).bind(status).fetch_all(&mut *c).await?);
                let n = written.len();
                if n != group.len() {
                    let e = "the package's DIDs changed while its state changed; try again";
                    return Err(StoreError::Conflict(e.into()));
                }
                // As the rows really were when written: an edit of a DID's after-hold status
                // or operator (which takes no package lock) may have come since the read.
                let written: HashMap<Uuid, (String, Uuid)> =
                    written.into_iter().map(|(d, st, op)| (d, (st, op))).collect();
                let mut group = group;
                for d in &mut group {
                    if let Some((st, op)) = written.get(&d.id) {
                        if let (HoldAction::Release, Ok(st)) = (action, st.parse()) {
                            d.after_hold = st;
                        }
                        d.operator_id = *op;
                    }
                }
                let after: Vec<Did> = group.iter().map(|d| match action {
                    HoldAction::Hold => moved_did(d, DidStatus::Hold, d.customer_id, d.client_package_id,
                        d.destination.clone(), hold_until, at),
                    HoldAction::Restore => moved_did(d, DidStatus::Assigned, d.customer_id,
                        d.client_package_id, d.destination.clone(), None, at),
                    HoldAction::Release => moved_did(d, d.after_hold, None, None, None, None, at),
                }).collect();
                record_moves(&mut tx, actor, verb, &group, &after, None).await?;
                if matches!(action, HoldAction::Release) {
                    on_tx!(&mut tx,
                        |c| sqlx::query("UPDATE client_packages SET did_count = did_count - $1 WHERE id = $2")
                        .bind(n as i64).bind(id).execute(&mut *c).await?.rows_affected());
                }
                // DIDs that stay with the package route as it does: pending before its start.
                let pending = match action {
                    HoldAction::Release => None,
                    _ => cp.pending_until(at.date_naive()),
                };
                moved.extend(after.iter().map(|d| Moved { pending_until: pending, ..Moved::from(d) }));
            }
            tx.commit().await?;
            Ok(moved)
        })
        .await?;
        Ok((self.get_client_package(Scope::All, id).await?, moved))
    }

    /// An active client package with its package and the package's rule.
    pub(super) async fn active_package(
        &self,
        cp_id: Uuid,
    ) -> Result<(ClientPackage, Package, PackageRule)> {
        let cp = self.get_client_package(Scope::All, cp_id).await?;
        // Set active, started or not: DIDs may be assigned ahead of the start date (they
        // route as `pending` until then).
        let state = state_of(&cp.state_set);
        if state != PackageState::Active {
            return Err(StoreError::invalid(
                "client_package",
                didhub_core::assignment::AssignmentError::NotActive(state),
            ));
        }
        let package = self.get_package(cp.package_id).await?;
        // The allowance the client package is held to (its copy, which the conditional
        // update enforces), so that refusals are explained by the number that refused them.
        let mut rule = rule_of(&package);
        rule.allowance = cp.did_allowance.max(0) as u32;
        Ok((cp, package, rule))
    }

    /// A routing destination for the DIDs of a client package, as stored: a SIP URI, or
    /// `pbx:<id>` of one of the package's customer's PBXs (never another customer's).
    pub(super) async fn destination_for(&self, cp_id: Uuid, raw: &str) -> Result<String> {
        let dest = Destination::parse(raw).map_err(|e| StoreError::invalid("destination", e))?;
        if let Destination::Pbx(id) = &dest {
            let cp = self.get_client_package(Scope::All, cp_id).await?;
            let pbx_id: Uuid = id
                .parse()
                .map_err(|_| StoreError::invalid("destination", "not a PBX id"))?;
            let owner = self
                .accounts()
                .get_pbx(Scope::All, pbx_id)
                .await
                .ok()
                .map(|p| p.customer_id);
            pbx_refusal(pbx_id, owner, cp.customer_id)?;
        }
        Ok(dest.as_string())
    }
}
