//! Packages, client packages, assigning DIDs to customers, and the hold lifecycle. Rules are
//! `didhub_core::assignment`'s; here they are applied in transactions with conditional updates
//! so that no DID is ever taken twice, whatever the concurrency.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use didhub_core::assignment::{
    on_package_state, Destination, HoldAction, PackageRule, PackageState,
};
use didhub_core::did::{name, optional_text, DidStatus};
use didhub_core::licensing::TermKind;
use didhub_core::money::{currency, from_minor, to_minor};
use didhub_core::number::{Country, NumberType};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{write_audit, AuditWrite};
use crate::blocks::{status_change, Availability, Block, BlockRequest, StockDelta};
use crate::licenses::Price;
use crate::orgs::Scope;
use crate::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::{new_id, now, on, retry, Actor, Did, DidRow, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Package {
    pub id: Uuid,
    pub name: String,
    /// How many DIDs a client package of it may hold.
    pub did_allowance: i32,
    /// DIDs qualify by tag, and optionally country and number type.
    pub tag: Option<String>,
    pub country: Option<String>,
    pub number_type: Option<String>,
    pub prices: Vec<Price>,
    pub version: i64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewPackage {
    pub name: String,
    pub did_allowance: i32,
    pub tag: Option<String>,
    pub country: Option<String>,
    pub number_type: Option<String>,
    #[serde(default)]
    pub prices: Vec<Price>,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow, utoipa::ToSchema)]
pub struct ClientPackage {
    pub id: Uuid,
    pub package_id: Uuid,
    pub package: String,
    pub customer_id: Uuid,
    pub partner_id: Uuid,
    pub start_date: NaiveDate,
    #[schema(value_type = PackageState)]
    pub state: String,
    /// DIDs assigned or on hold under it.
    pub did_count: i64,
    pub did_allowance: i32,
    pub version: i64,
}

const CP_SELECT: &str = "SELECT cp.id, cp.package_id, p.name AS package, cp.customer_id, c.partner_id, cp.start_date, cp.state, (SELECT count(*) FROM dids d WHERE d.client_package_id = cp.id) AS did_count, p.did_allowance, cp.version FROM client_packages cp JOIN packages p ON p.id = cp.package_id JOIN customers c ON c.id = cp.customer_id";

#[derive(sqlx::FromRow)]
struct PackageRow {
    id: Uuid,
    name: String,
    did_allowance: i32,
    tag: Option<String>,
    country: Option<String>,
    number_type: Option<String>,
    version: i64,
}

/// What to assign: DIDs by id or by number, all to one destination.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct AssignRequest {
    #[serde(default)]
    pub did_ids: Vec<Uuid>,
    /// Numbers in any written form.
    #[serde(default)]
    pub numbers: Vec<String>,
    /// `pbx:<id>` (a PBX of the customer) or a SIP URI.
    pub destination: String,
    pub reason: Option<String>,
}

fn state_of(s: &str) -> PackageState {
    // The schema's CHECK keeps states to known names.
    s.parse().unwrap_or(PackageState::Inactive)
}

/// The DID columns an assignment or release changes, for the audit diff.
fn did_diff(
    d: &Did,
    status: DidStatus,
    customer: Option<Uuid>,
    destination: Option<&str>,
    hold_until: Option<DateTime<Utc>>,
) -> serde_json::Value {
    json!({
        "status": [d.status, status],
        "customer_id": [d.customer_id, customer],
        "destination": [d.destination, destination],
        "hold_until": [d.hold_until, hold_until],
    })
}

impl Store {
    pub async fn create_package(&self, actor: &Actor, p: &NewPackage) -> Result<Package> {
        let pname = name("name", &p.name, 200).map_err(|e| StoreError::invalid("name", e))?;
        if p.did_allowance < 0 {
            return Err(StoreError::invalid("did_allowance", "must not be negative"));
        }
        let tag = optional_text("tag", p.tag.as_deref(), didhub_core::did::MAX_TAG)
            .map_err(|e| StoreError::invalid("tag", e))?;
        let country = match p.country.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(c) => Some(
                Country::parse(c)
                    .map_err(|e| StoreError::invalid("country", e))?
                    .to_string(),
            ),
            None => None,
        };
        let number_type = match p.number_type.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(t) => Some(
                t.parse::<NumberType>()
                    .map_err(|e| StoreError::invalid("number_type", e))?
                    .as_str()
                    .to_string(),
            ),
            None => None,
        };
        let mut prices = Vec::new();
        for (i, pr) in p.prices.iter().enumerate() {
            let c = currency(&pr.currency)
                .map_err(|e| StoreError::invalid(format!("prices[{i}].currency"), e))?;
            prices.push((
                pr.term_kind,
                c.code().to_string(),
                to_minor(pr.amount, c)
                    .map_err(|e| StoreError::invalid(format!("prices[{i}].amount"), e))?,
            ));
        }
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            on_tx!(&mut tx, c => sqlx::query("INSERT INTO packages (id, name, did_allowance, tag, country, number_type, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$7)")
                .bind(id).bind(&pname).bind(p.did_allowance).bind(&tag).bind(&country).bind(&number_type).bind(at).execute(&mut *c).await.map(|r| r.rows_affected()))
                .map_err(|e| { let e = StoreError::from(e); if e.is_unique_violation() { StoreError::Conflict(format!("a package named '{pname}' exists")) } else { e } })?;
            for (t, cur, minor) in &prices {
                on_tx!(&mut tx, c => sqlx::query("INSERT INTO package_prices (package_id, term_kind, currency, amount_minor) VALUES ($1,$2,$3,$4)").bind(id).bind(t.as_str()).bind(cur).bind(*minor).execute(&mut *c).await.map(|r| r.rows_affected()))
                    .map_err(|e| { let e = StoreError::from(e); if e.is_unique_violation() { StoreError::invalid("prices", format!("two prices for {t} in {cur}")) } else { e } })?;
            }
            write_audit(&mut tx, AuditWrite { id: None, actor, action: "package.create", entity: "package", entity_id: Some(id), subject: Some(pname.clone()), changes: json!({"did_allowance": p.did_allowance, "tag": tag, "country": country, "number_type": number_type, "prices": p.prices}), reason: None }).await?;
            tx.commit().await
        })
        .await?;
        self.get_package(id).await
    }

    pub async fn get_package(&self, id: Uuid) -> Result<Package> {
        let r: Option<PackageRow> = on!(self, p => sqlx::query_as("SELECT id, name, did_allowance, tag, country, number_type, version FROM packages WHERE id = $1").bind(id).fetch_optional(p).await?);
        let r = r.ok_or_else(|| StoreError::not_found("package", id))?;
        let prices: Vec<(String, String, i64)> = on!(self, p => sqlx::query_as("SELECT term_kind, currency, amount_minor FROM package_prices WHERE package_id = $1 ORDER BY term_kind, currency").bind(id).fetch_all(p).await?);
        let prices = prices
            .into_iter()
            .filter_map(|(t, c, m)| {
                Some(Price {
                    term_kind: t.parse::<TermKind>().ok()?,
                    amount: from_minor(m, currency(&c).ok()?),
                    currency: c,
                })
            })
            .collect();
        Ok(Package {
            id: r.id,
            name: r.name,
            did_allowance: r.did_allowance,
            tag: r.tag,
            country: r.country,
            number_type: r.number_type,
            prices,
            version: r.version,
        })
    }

    pub async fn list_packages(&self) -> Result<Vec<Package>> {
        let ids: Vec<Uuid> = on!(self, p => sqlx::query_scalar("SELECT id FROM packages ORDER BY lower(name)").fetch_all(p).await?);
        let mut out = Vec::new();
        for id in ids {
            out.push(self.get_package(id).await?);
        }
        Ok(out)
    }

    pub async fn create_client_package(
        &self,
        actor: &Actor,
        customer_id: Uuid,
        package_id: Uuid,
        start_date: NaiveDate,
    ) -> Result<ClientPackage> {
        let customer = self
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
            on_tx!(&mut tx, c => sqlx::query("INSERT INTO client_packages (id, package_id, customer_id, start_date, state, created_at, updated_at) VALUES ($1,$2,$3,$4,'active',$5,$5)")
                .bind(id).bind(package_id).bind(customer_id).bind(start_date).bind(at).execute(&mut *c).await?.rows_affected());
            write_audit(&mut tx, AuditWrite { id: None, actor, action: "client_package.create", entity: "client_package", entity_id: Some(id), subject: Some(customer.name.clone()), changes: json!({"package": package.name, "customer_id": customer_id, "start_date": start_date, "state": "active"}), reason: None }).await?;
            tx.commit().await
        })
        .await?;
        self.get_client_package(Scope::All, id).await
    }

    pub async fn get_client_package(&self, scope: Scope, id: Uuid) -> Result<ClientPackage> {
        let mut sql = Sql::new(CP_SELECT);
        sql.push(" WHERE cp.id = ").bind(Param::Uuid(id));
        if let Some(p) = scope.partner() {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        let r: Option<ClientPackage> = on!(self, p => bind_all!(sqlx::query_as(&sql.text), sql.params).fetch_optional(p).await?);
        r.ok_or_else(|| StoreError::not_found("client package", id))
    }

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
        Ok(on!(self, p => bind_all!(sqlx::query_as(&sql.text), sql.params).fetch_all(p).await?))
    }

    /// The DIDs of a customer (assigned or on hold).
    pub async fn customer_dids(&self, scope: Scope, customer_id: Uuid) -> Result<Vec<Did>> {
        self.get_customer(scope, customer_id).await?;
        let sql = format!(
            "{} WHERE d.customer_id = $1 ORDER BY d.number",
            crate::dids::DID_SELECT
        );
        let rows: Vec<DidRow> =
            on!(self, p => sqlx::query_as(&sql).bind(customer_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(Did::from).collect())
    }

    async fn dids_where(&self, tx: &mut Tx, cond: &str, id: Uuid) -> Result<Vec<Did>> {
        let sql = format!("{} WHERE {cond} ORDER BY d.number", crate::dids::DID_SELECT);
        let rows: Vec<DidRow> =
            on_tx!(tx, c => sqlx::query_as(&sql).bind(id).fetch_all(&mut *c).await?);
        Ok(rows.into_iter().map(Did::from).collect())
    }

    /// Changes a client package's state and applies the hold rule to its DIDs, in one
    /// transaction: inactive → its DIDs on hold for `hold` (routing unreachable); active again
    /// → back to assigned; terminated → released to their after-hold status.
    pub async fn set_client_package_state(
        &self,
        actor: &Actor,
        id: Uuid,
        to: PackageState,
        hold: Duration,
    ) -> Result<ClientPackage> {
        retry(|| async {
            let cp = self.get_client_package(Scope::All, id).await?;
            let from = state_of(&cp.state);
            from.check_change(to).map_err(|e| StoreError::invalid("state", e))?;
            let mut tx = self.begin().await?;
            let at = now();
            let n = on_tx!(&mut tx, c => sqlx::query("UPDATE client_packages SET state = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND version = $4")
                .bind(to.as_str()).bind(at).bind(id).bind(cp.version).execute(&mut *c).await?.rows_affected());
            if n != 1 {
                return Err(StoreError::VersionMismatch { entity: "client package", id, expected: cp.version, actual: cp.version + 1 });
            }
            write_audit(&mut tx, AuditWrite { id: None, actor, action: "client_package.state", entity: "client_package", entity_id: Some(id), subject: None, changes: json!({"state": [from, to]}), reason: None }).await?;
            let dids = self.dids_where(&mut tx, "d.client_package_id = $1", id).await?;
            for d in dids {
                match on_package_state(d.status, to) {
                    Some(HoldAction::Hold) => {
                        let until = at + hold;
                        self.move_did(&mut tx, actor, &d, DidStatus::Hold, d.customer_id, d.client_package_id, d.destination.as_deref(), Some(until), "did.hold").await?;
                    }
                    Some(HoldAction::Restore) => {
                        self.move_did(&mut tx, actor, &d, DidStatus::Assigned, d.customer_id, d.client_package_id, d.destination.as_deref(), None, "did.restore").await?;
                    }
                    Some(HoldAction::Release) => {
                        self.move_did(&mut tx, actor, &d, d.after_hold, None, None, None, None, "did.release").await?;
                    }
                    None => {}
                }
            }
            tx.commit().await
        })
        .await?;
        self.get_client_package(Scope::All, id).await
    }

    /// Moves one DID, conditional on its version, with an audit entry.
    #[allow(clippy::too_many_arguments)]
    async fn move_did(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        d: &Did,
        status: DidStatus,
        customer: Option<Uuid>,
        cp: Option<Uuid>,
        destination: Option<&str>,
        hold_until: Option<DateTime<Utc>>,
        action: &str,
    ) -> Result<()> {
        let n = on_tx!(tx, c => sqlx::query("UPDATE dids SET status = $1, customer_id = $2, client_package_id = $3, destination = $4, hold_until = $5, updated_at = $6, version = version + 1 WHERE id = $7 AND version = $8")
            .bind(status.as_str()).bind(customer).bind(cp).bind(destination).bind(hold_until).bind(now()).bind(d.id).bind(d.version).execute(&mut *c).await?.rows_affected());
        if n != 1 {
            return Err(StoreError::stale("DID", d.id, d.version));
        }
        write_audit(
            tx,
            AuditWrite {
                id: None,
                actor,
                action,
                entity: "did",
                entity_id: Some(d.id),
                subject: Some(d.number.clone()),
                changes: did_diff(d, status, customer, destination, hold_until),
                reason: None,
            },
        )
        .await?;
        crate::blocks::adjust(
            tx,
            &status_change(
                &d.number,
                &d.country,
                &d.number_type,
                (d.status, d.operator_id),
                (status, d.operator_id),
            ),
        )
        .await?;
        Ok(())
    }

    /// An active client package with its package and the package's rule.
    async fn active_package(&self, cp_id: Uuid) -> Result<(ClientPackage, Package, PackageRule)> {
        let cp = self.get_client_package(Scope::All, cp_id).await?;
        let state = state_of(&cp.state);
        if state != PackageState::Active {
            return Err(StoreError::invalid(
                "client_package",
                didhub_core::assignment::AssignmentError::NotActive(state),
            ));
        }
        let package = self.get_package(cp.package_id).await?;
        let rule = PackageRule {
            allowance: package.did_allowance.max(0) as u32,
            tag: package.tag.clone(),
            country: package.country.clone(),
            number_type: package.number_type.clone(),
        };
        Ok((cp, package, rule))
    }

    /// Assigns in-stock DIDs to the client package's customer, within its allowance. All or
    /// nothing; a DID taken concurrently makes the whole request fail with a conflict.
    pub async fn assign_dids(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        req: &AssignRequest,
    ) -> Result<Vec<Did>> {
        let (cp, _, rule) = self.active_package(cp_id).await?;
        let dest = Destination::parse(&req.destination)
            .map_err(|e| StoreError::invalid("destination", e))?;
        if let Destination::Pbx(id) = &dest {
            let pbx_id: Uuid = id
                .parse()
                .map_err(|_| StoreError::invalid("destination", "not a PBX id"))?;
            let pbx = self
                .get_pbx(Scope::All, pbx_id)
                .await
                .map_err(|_| StoreError::invalid("destination", format!("no PBX {pbx_id}")))?;
            if pbx.customer_id != cp.customer_id {
                return Err(StoreError::invalid(
                    "destination",
                    "the PBX belongs to another customer",
                ));
            }
        }
        let destination = dest.as_string();
        let mut targets: Vec<Did> = Vec::new();
        for id in &req.did_ids {
            targets.push(
                self.get_did(*id).await.map_err(|_| {
                    StoreError::invalid("did_ids", format!("DID {id} does not exist"))
                })?,
            );
        }
        for (i, n) in req.numbers.iter().enumerate() {
            let e164 = didhub_core::number::E164::parse(n, None)
                .map_err(|e| StoreError::invalid(format!("numbers[{i}]"), format!("'{n}': {e}")))?;
            targets.push(self.get_did_by_number(e164.as_str()).await.map_err(|_| {
                StoreError::invalid(
                    format!("numbers[{i}]"),
                    format!("{e164} is not in the inventory"),
                )
            })?);
        }
        if targets.is_empty() {
            return Err(StoreError::invalid("did_ids", "name at least one DID"));
        }
        targets.sort_by(|a, b| a.number.cmp(&b.number));
        targets.dedup_by_key(|d| d.id);
        for d in &targets {
            if d.status != DidStatus::InStock {
                return Err(StoreError::Conflict(
                    didhub_core::assignment::AssignmentError::NotInStock {
                        number: d.number.clone(),
                        status: d.status,
                    }
                    .to_string(),
                ));
            }
            rule.qualifies(&d.number, d.tag.as_deref(), &d.country, &d.number_type)
                .map_err(|e| StoreError::invalid("did_ids", e))?;
        }
        retry(|| async {
            let mut tx = self.begin().await?;
            // Lock the client package row so concurrent assignments count the allowance in turn.
            on_tx!(&mut tx, c => sqlx::query("UPDATE client_packages SET version = version WHERE id = $1").bind(cp_id).execute(&mut *c).await?.rows_affected());
            // Counted after taking the lock, so it sees every assignment committed before ours.
            let used: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT count(*) FROM dids WHERE client_package_id = $1").bind(cp_id).fetch_one(&mut *c).await?);
            rule.check_allowance(used as u32, targets.len() as u32).map_err(|e| StoreError::invalid("did_ids", e))?;
            let at = now();
            for d in &targets {
                // Conditional on still being in stock: two requests can never take one DID.
                let n = on_tx!(&mut tx, c => sqlx::query("UPDATE dids SET status = 'assigned', customer_id = $1, client_package_id = $2, destination = $3, hold_until = NULL, updated_at = $4, version = version + 1 WHERE id = $5 AND status = 'in_stock'")
                    .bind(cp.customer_id).bind(cp_id).bind(&destination).bind(at).bind(d.id).execute(&mut *c).await?.rows_affected());
                if n != 1 {
                    return Err(StoreError::Conflict(format!("{} was taken by another request", d.number)));
                }
                write_audit(&mut tx, AuditWrite { id: None, actor, action: "did.assign", entity: "did", entity_id: Some(d.id), subject: Some(d.number.clone()), changes: did_diff(d, DidStatus::Assigned, Some(cp.customer_id), Some(&destination), None), reason: req.reason.as_deref() }).await?;
            }
            let deltas: Vec<StockDelta> = targets.iter().map(|d| StockDelta { number: &d.number, operator_id: d.operator_id, country: &d.country, number_type: &d.number_type, delta: -1 }).collect();
            crate::blocks::adjust(&mut tx, &deltas).await?;
            tx.commit().await
        })
        .await?;
        let mut out = Vec::new();
        for d in &targets {
            out.push(self.get_did(d.id).await?);
        }
        Ok(out)
    }

    /// Unassigns a DID: it goes to its after-hold status and loses customer and routing.
    pub async fn unassign_did(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        did_id: Uuid,
        reason: Option<&str>,
    ) -> Result<Did> {
        retry(|| async {
            let d = self.get_did(did_id).await?;
            if d.client_package_id != Some(cp_id) {
                return Err(StoreError::not_found("DID of this client package", did_id));
            }
            let mut tx = self.begin().await?;
            let n = on_tx!(&mut tx, c => sqlx::query("UPDATE dids SET status = $1, customer_id = NULL, client_package_id = NULL, destination = NULL, hold_until = NULL, updated_at = $2, version = version + 1 WHERE id = $3 AND version = $4 AND client_package_id = $5")
                .bind(d.after_hold.as_str()).bind(now()).bind(d.id).bind(d.version).bind(cp_id).execute(&mut *c).await?.rows_affected());
            if n != 1 {
                return Err(StoreError::stale("DID", d.id, d.version));
            }
            write_audit(&mut tx, AuditWrite { id: None, actor, action: "did.unassign", entity: "did", entity_id: Some(d.id), subject: Some(d.number.clone()), changes: did_diff(&d, d.after_hold, None, None, None), reason }).await?;
            crate::blocks::adjust(&mut tx, &status_change(&d.number, &d.country, &d.number_type, (d.status, d.operator_id), (d.after_hold, d.operator_id))).await?;
            tx.commit().await
        })
        .await?;
        self.get_did(did_id).await
    }

    /// One pass of the hold worker: releases DIDs whose hold has ended, at most `batch`.
    /// Idempotent (conditional on still being on hold and due), safe with several instances
    /// (PostgreSQL rows are claimed with `FOR UPDATE SKIP LOCKED`; SQLite has one writer).
    pub async fn release_expired_holds(&self, batch: i64) -> Result<usize> {
        let actor = Actor("worker:hold".into());
        retry(|| async {
            let mut tx = self.begin().await?;
            let due = now();
            let lock = if matches!(tx, Tx::Postgres(_)) { " FOR UPDATE OF d SKIP LOCKED" } else { "" };
            let sql = format!("{} WHERE d.status = 'hold' AND d.hold_until <= $1 ORDER BY d.hold_until LIMIT $2{lock}", crate::dids::DID_SELECT);
            let rows: Vec<DidRow> = on_tx!(&mut tx, c => sqlx::query_as(&sql).bind(due).bind(batch).fetch_all(&mut *c).await?);
            let dids: Vec<Did> = rows.into_iter().map(Did::from).collect();
            for d in &dids {
                self.move_did(&mut tx, &actor, d, d.after_hold, None, None, None, None, "did.hold_expired").await?;
            }
            tx.commit().await?;
            Ok(dids.len())
        })
        .await
    }

    /// Routing facts changed since `since` (all when `None`): number, status, destination,
    /// updated_at. Feeds the in-memory routing table.
    pub async fn routing_changes(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<(String, String, Option<String>, DateTime<Utc>)>> {
        Ok(match since {
            Some(t) => {
                on!(self, p => sqlx::query_as("SELECT number, status, destination, updated_at FROM dids WHERE updated_at >= $1").bind(t).fetch_all(p).await?)
            }
            None => {
                on!(self, p => sqlx::query_as("SELECT number, status, destination, updated_at FROM dids WHERE status IN ('assigned', 'hold', 'porting')").fetch_all(p).await?)
            }
        })
    }
}

/// The answer to a block allocation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Allocated {
    pub block: Block,
    pub assigned: usize,
}

impl Store {
    /// Finds a free aligned block (best fit) and assigns it to the client package, all in one
    /// transaction; the update is conditional on every number still being in stock, so a block
    /// taken concurrently is retried elsewhere, never shared.
    pub async fn allocate_block(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        req: &BlockRequest,
        destination: &str,
        reason: Option<&str>,
    ) -> Result<Allocated> {
        let mut req = req.clone();
        req.country = Country::parse(&req.country)
            .map_err(|e| StoreError::invalid("country", e))?
            .to_string();
        req.number_type = req
            .number_type
            .parse::<NumberType>()
            .map_err(|e| StoreError::invalid("number_type", e))?
            .as_str()
            .to_string();
        didhub_core::blocks::check_size(req.size).map_err(|e| StoreError::invalid("size", e))?;
        let (cp, package, rule) = self.active_package(cp_id).await?;
        rule.qualifies(
            &format!("a {} block", req.size),
            package.tag.as_deref(),
            &req.country,
            &req.number_type,
        )
        .map_err(|e| StoreError::invalid("country", e))?;
        let dest = Destination::parse(destination)
            .map_err(|e| StoreError::invalid("destination", e))?
            .as_string();
        let size = req.size as usize;
        for _attempt in 0..5 {
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, c => sqlx::query("UPDATE client_packages SET version = version WHERE id = $1").bind(cp_id).execute(&mut *c).await?.rows_affected());
            let used: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT count(*) FROM dids WHERE client_package_id = $1").bind(cp_id).fetch_one(&mut *c).await?);
            rule.check_allowance(used as u32, req.size)
                .map_err(|e| StoreError::invalid("size", e))?;
            let Some(block) = crate::blocks::find(&mut tx, &req).await? else {
                let avail = crate::blocks::availability(&mut tx, &req).await?;
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
                    "no free aligned block of {} {} {} numbers{}; available: {}",
                    req.size,
                    req.country,
                    req.number_type,
                    req.operator_id
                        .map(|o| format!(" from operator {o}"))
                        .unwrap_or_default(),
                    desc.join(", ")
                )));
            };
            if let Some(tag) = &package.tag {
                let tagged: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT count(*) FROM dids WHERE number >= $1 AND number <= $2 AND tag = $3").bind(&block.first).bind(&block.last).bind(tag).fetch_one(&mut *c).await?);
                if tagged as usize != size {
                    return Err(StoreError::Conflict(format!(
                        "the free block {}…{} is not all tagged '{tag}' as the package requires",
                        block.first, block.last
                    )));
                }
            }
            let rows: Vec<DidRow> = on_tx!(&mut tx, c => sqlx::query_as(&format!("{} WHERE d.number >= $1 AND d.number <= $2 AND d.status = 'in_stock' AND d.operator_id = $3", crate::dids::DID_SELECT)).bind(&block.first).bind(&block.last).bind(block.operator_id).fetch_all(&mut *c).await?);
            let at = now();
            let n = on_tx!(&mut tx, c => sqlx::query("UPDATE dids SET status = 'assigned', customer_id = $1, client_package_id = $2, destination = $3, hold_until = NULL, updated_at = $4, version = version + 1 WHERE number >= $5 AND number <= $6 AND status = 'in_stock' AND operator_id = $7")
                .bind(cp.customer_id).bind(cp_id).bind(&dest).bind(at).bind(&block.first).bind(&block.last).bind(block.operator_id).execute(&mut *c).await?.rows_affected());
            if n as usize != size || rows.len() != size {
                // Taken while we looked: drop the transaction and look again.
                continue;
            }
            let dids: Vec<Did> = rows.into_iter().map(Did::from).collect();
            let entries = dids
                .iter()
                .map(|d| AuditWrite {
                    id: None,
                    actor,
                    action: "did.assign",
                    entity: "did",
                    entity_id: Some(d.id),
                    subject: Some(d.number.clone()),
                    changes: did_diff(
                        d,
                        DidStatus::Assigned,
                        Some(cp.customer_id),
                        Some(&dest),
                        None,
                    ),
                    reason,
                })
                .collect();
            crate::audit::write_audit_many(&mut tx, entries).await?;
            let deltas: Vec<StockDelta> = dids
                .iter()
                .map(|d| StockDelta {
                    number: &d.number,
                    operator_id: d.operator_id,
                    country: &d.country,
                    number_type: &d.number_type,
                    delta: -1,
                })
                .collect();
            crate::blocks::adjust(&mut tx, &deltas).await?;
            tx.commit().await?;
            return Ok(Allocated {
                block,
                assigned: size,
            });
        }
        Err(StoreError::Conflict(
            "the stock changed too fast to allocate a block; try again".into(),
        ))
    }

    /// Free numbers and whole free blocks for a country and type.
    pub async fn block_availability(&self, req: &BlockRequest) -> Result<Vec<Availability>> {
        let mut tx = self.begin().await?;
        crate::blocks::availability(&mut tx, req).await
    }
}
