//! Packages, client packages, assigning DIDs to customers, and the hold lifecycle. Rules are
//! `didhub_core::assignment`'s; here they are applied in transactions with conditional updates
//! so that no DID is ever taken twice, whatever the concurrency.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use didhub_core::assignment::{
    hold_ended, not_started, on_package_state, package_state, Destination, HoldAction, PackageRule,
    PackageState,
};
use didhub_core::did::DidStatus;
use didhub_core::number::{Country, NumberType};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::assignment::blocks::{status_change, StockDelta};
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::db::versioned::{check_version, col, VersionedUpdate};
use crate::licensing::licenses::Price;
use crate::{new_id, now, on, retry, Actor, Assignment, Did, DidRow, Result, StoreError};

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

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPackage {
    pub name: String,
    pub did_allowance: i32,
    pub tag: Option<String>,
    /// Only DIDs of this country qualify (ISO 3166 alpha-2; blank: any).
    #[serde(default, deserialize_with = "didhub_core::edge::blank_or")]
    #[schema(value_type = Option<String>)]
    pub country: Option<Country>,
    /// Only DIDs of this type qualify (blank: any).
    #[serde(default, deserialize_with = "didhub_core::edge::blank_or")]
    #[schema(value_type = Option<String>)]
    pub number_type: Option<NumberType>,
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
    /// The state today: `pending` while an active package's start date is to come
    /// (`didhub_core::assignment::package_state`), else the state set.
    #[schema(value_type = PackageState)]
    #[sqlx(skip)]
    pub state: String,
    /// The state as set (`active`, `inactive`, `terminated`): what a state change starts from.
    #[serde(skip)]
    pub state_set: String,
    /// DIDs assigned or on hold under it.
    pub did_count: i64,
    pub did_allowance: i32,
    pub version: i64,
}

impl ClientPackage {
    /// Fills `state` with the state on `today`, read from the state set and the start date.
    fn read_on(mut self, today: NaiveDate) -> Self {
        self.state = package_state(state_of(&self.state_set), self.start_date, today)
            .as_str()
            .to_string();
        self
    }

    /// The start date, while it is still to come on `today` (the DIDs route as `pending`).
    pub fn pending_until(&self, today: NaiveDate) -> Option<NaiveDate> {
        not_started(self.start_date, today).then_some(self.start_date)
    }
}

pub(super) const CP_SELECT: &str =
    "SELECT cp.id, cp.package_id, p.name AS package, cp.customer_id, \
    c.partner_id, cp.start_date, cp.state AS state_set, cp.did_count, cp.did_allowance, \
    cp.version FROM client_packages cp JOIN packages p ON p.id = cp.package_id \
    JOIN customers c ON c.id = cp.customer_id";

#[derive(sqlx::FromRow)]
pub(super) struct PackageRow {
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) did_allowance: i32,
    pub(super) tag: Option<String>,
    pub(super) country: Option<String>,
    pub(super) number_type: Option<String>,
    pub(super) version: i64,
}

/// What to assign: DIDs by id or by number, all to one destination.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
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

pub(super) fn state_of(s: &str) -> PackageState {
    // The schema's CHECK keeps states to known names.
    s.parse().unwrap_or(PackageState::Inactive)
}

/// The DID columns an assignment, hold or release may change, for the audit entry: those of
/// them that changed (`didhub_core::audit::diff`).
pub fn did_diff(
    d: &Did,
    status: DidStatus,
    customer: Option<Uuid>,
    destination: Option<&str>,
    hold_until: Option<DateTime<Utc>>,
) -> serde_json::Value {
    didhub_core::audit::diff([
        ("status", json!(d.status), json!(status)),
        ("customer_id", json!(d.customer_id), json!(customer)),
        ("destination", json!(d.destination), json!(destination)),
        ("hold_until", json!(d.hold_until), json!(hold_until)),
    ])
}

/// Reserves room for `$1` DIDs under client package `$2`: conditional on the package being
/// active and on the allowance (`PackageRule::check_allowance`), and the lock that every
/// writer of the package's DIDs takes first.
/// A package's rule, as the core checks it.
pub(super) fn rule_of(package: &Package) -> PackageRule {
    PackageRule {
        allowance: package.did_allowance.max(0) as u32,
        tag: package.tag.clone(),
        country: package.country.clone(),
        number_type: package.number_type.clone(),
    }
}

pub(super) const RESERVE: &str =
    "UPDATE client_packages SET did_count = did_count + $1 WHERE id = $2 AND \
    state = 'active' AND did_count + $1 <= did_allowance RETURNING id, \
    customer_id, package_id";

/// What assigning an in-stock DID writes, for every statement that does it (one or several
/// DIDs, a batch, a block; either engine): `SET` expressions for the customer, the client
/// package, the destination and the time.
pub(super) fn assign_set(
    customer: &str,
    client_package: &str,
    destination: &str,
    at: &str,
) -> String {
    format!(
        "status = 'assigned', customer_id = {customer}, client_package_id = \
            {client_package}, destination = {destination}, hold_until = NULL, \
            updated_at = {at}, version = dids.version + 1"
    )
}

/// `updated_at` of a DID assigned by a PostgreSQL statement: the database clock when the row
/// is written, after the statement's lock waits (the client package's, the DID's), not the
/// time bound before it ran. Other instances poll `updated_at` with a 2 s overlap; a stamp
/// taken before a long lock wait could fall behind their watermark by commit time. (`$4` /
/// `$6`, the time bound by the caller, stay in the statements' parameter lists unused.)
pub(super) const ROUTING_STAMP_PG: &str = "clock_timestamp()";

/// The columns of a `Did` read from the assigning CTE `d` (`RETURNING dids.*`).
pub(super) const ASSIGNED_COLUMNS: &str =
    "d.id, d.number, d.country, d.number_type, d.operator_id, (SELECT o.name \
    FROM operators o WHERE o.id = d.operator_id) AS operator, d.status, \
    d.after_hold, d.tag, d.notes, d.customer_id, d.client_package_id, \
    d.destination, d.hold_until, d.created_at, d.updated_at, d.version";

/// The whole single-statement assignment on PostgreSQL: reserve the allowance (locking the
/// client package first), assign the named DIDs that are in stock and qualify, write their
/// audit entries and stock changes, and refuse as a whole (`didhub_expect`, SQLSTATE DH409)
/// unless every named DID was assigned (`g` is the preserved side of the final join, so it is
/// evaluated even when `d` is empty). `$1` count, `$2` client package, `$3` destination,
/// `$4` time, `$5` ids, `$6` numbers, `$7` actor, `$8` reason. Audit ids and times come from
/// the database clock after the DID's row lock (`didhub_uuid7()`, see `write_audit`).
pub(super) static ASSIGN_PG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH cp AS ({RESERVE}, rule_tag, rule_country, rule_number_type), \
         {px}, \
         d AS (UPDATE dids SET {set} \
               FROM cp WHERE (dids.id = ANY($5) OR dids.number = ANY($6)) AND dids.status = 'in_stock' AND \
                   {q} AND {held} RETURNING dids.*), \
         {tail}",
        px = pbx_held_cte("SELECT $3::text AS dest"),
        set = assign_set("cp.customer_id", "cp.id", "$3", ROUTING_STAMP_PG),
        q = qualifies("cp"),
        held = pbx_held("$3", "cp.customer_id"),
        tail = assigned_tail_pg("$1", "$7", "$8", "d.number")
    )
});

/// Several single-DID assignments in one statement (`assign_batch`), each request its own
/// client package, DID, destination, actor and reason: `$1` client packages, `$2` DIDs, `$3`
/// destinations, `$4` actors, `$5` reasons (arrays in request order), `$6` time, `$7` how many.
/// The same checks as `ASSIGN_PG`, the allowance reserved per client package for all its
/// requests at once, and refused as a whole unless every DID was assigned. Rows come back in
/// request order.
pub(crate) static ASSIGN_BATCH_PG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH i AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[]) WITH \
            ORDINALITY AS i(cp, did, dest, actor, reason, k)), \
         cp AS (UPDATE client_packages c SET did_count = c.did_count + r.n FROM (SELECT i.cp, \
             count(*) AS n FROM i GROUP BY i.cp) r \
                WHERE c.id = r.cp AND c.state = 'active' AND c.did_count + r.n <= c.did_allowance \
                RETURNING c.id, c.customer_id, c.rule_tag, c.rule_country, c.rule_number_type), \
         {px}, \
         d AS (UPDATE dids SET {set} \
               FROM i JOIN cp ON cp.id = i.cp WHERE dids.id = i.did AND dids.status = 'in_stock' AND {q} \
                   AND {held} RETURNING dids.*, i.k, i.actor, i.reason), \
         {tail}",
        px = pbx_held_cte("SELECT i.dest FROM i"),
        set = assign_set("cp.customer_id", "cp.id", "i.dest", ROUTING_STAMP_PG),
        q = qualifies("cp"),
        held = pbx_held("i.dest", "cp.customer_id"),
        tail = assigned_tail_pg("$7", "d.actor", "d.reason", "d.k")
    )
});

/// One assignment request by the single statement (`ASSIGN_PG`): `Some(DIDs)` when every
/// named DID was assigned, `None` (nothing written) when a check failed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn assign_one_pg(
    pool: &sqlx::PgPool,
    n: i64,
    cp_id: Uuid,
    destination: &str,
    ids: &[Uuid],
    numbers: &[String],
    actor: &str,
    reason: Option<&str>,
) -> Result<Option<Vec<Did>>> {
    let r: std::result::Result<Vec<DidRow>, sqlx::Error> = sqlx::query_as(&ASSIGN_PG)
        .bind(n)
        .bind(cp_id)
        .bind(destination)
        .bind(now())
        .bind(ids)
        .bind(numbers)
        .bind(actor)
        .bind(reason)
        .fetch_all(pool)
        .await;
    match r.map_err(StoreError::from) {
        Ok(rows) => Ok(Some(rows.into_iter().map(Did::from).collect())),
        Err(e) if e.is_incomplete() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The audit entries and stock changes of in-stock DIDs just assigned, written by PostgreSQL
/// from `d` (the assigning `UPDATE … RETURNING dids.*`) as two CTEs, so that no row travels
/// back and forth: `did_diff`'s entry for in_stock → assigned, which restates
/// `didhub_core::audit::diff` for that move (an in-stock DID has no customer, destination or
/// `hold_until`, and assigning sets no `hold_until`: that field did not change and is not
/// listed), and one stock change per block of 100 (`StockTally`'s rows). `actor` and `reason`
/// are the statement's placeholders for them. The test `assign_audit_agrees_with_the_core_diff`
/// checks the entry against `did_diff` on both engines, and the `assignment` and `blocks`
/// stories expect the same whole entry on both.
pub(super) fn assigned_records_pg(actor: &str, reason: &str) -> String {
    format!(
        concat!(
        "a AS (",
        crate::audit::audit_insert!(),
        "SELECT didhub_uuid7(), clock_timestamp(), {actor}, 'did.assign', 'did', d.id, d.number, \
            json_build_object('customer_id', json_build_array(NULL, d.customer_id), 'destination', \
            json_build_array(NULL, d.destination), 'status', json_build_array('in_stock', \
            'assigned'))::text, {reason} FROM d), \
         s AS (INSERT INTO stock_deltas (prefix, operator_id, country, number_type, \
             delta) SELECT substr(number, 1, length(number) - 2), operator_id, country, number_type, \
             -count(*) FROM d GROUP BY 1, 2, 3, 4)"
        ),
        actor = actor,
        reason = reason
    )
}

/// The end of an assigning statement after its CTE `d`: the audit entries and stock changes,
/// the refusal as a whole unless `expect` DIDs were assigned (`g` is the preserved side of the
/// final join, so it is evaluated even when `d` is empty), and the assigned DIDs in `order`.
pub(super) fn assigned_tail_pg(expect: &str, actor: &str, reason: &str, order: &str) -> String {
    format!(
        "{records}, g AS (SELECT didhub_expect({expect}, (SELECT count(*) FROM d)) AS n) \
         SELECT {ASSIGNED_COLUMNS} FROM g LEFT JOIN d ON true ORDER BY {order}",
        records = assigned_records_pg(actor, reason)
    )
}

/// Refuses a `pbx:<id>` destination whose PBX is gone (`owner` None) or belongs to a customer
/// other than the DIDs'.
pub(super) fn pbx_refusal(pbx_id: Uuid, owner: Option<Uuid>, customer: Uuid) -> Result<()> {
    match owner {
        Some(o) if o == customer => Ok(()),
        Some(_) => Err(StoreError::invalid(
            "destination",
            "the PBX belongs to another customer",
        )),
        None => Err(StoreError::invalid(
            "destination",
            format!("no PBX {pbx_id}"),
        )),
    }
}

/// Holds the PBX of a `pbx:<id>` destination until the write transaction ends, as
/// `pbx_held_cte` does for the single statements, and refuses it as `destination_for` does.
pub(super) async fn hold_pbx(tx: &mut Tx, destination: &str, customer: Uuid) -> Result<()> {
    let Some(id) = destination.strip_prefix("pbx:") else {
        return Ok(());
    };
    let id: Uuid = id
        .parse()
        .map_err(|_| StoreError::invalid("destination", "not a PBX id"))?;
    let sql = format!(
        "SELECT customer_id FROM pbxs WHERE id = $1{}",
        tx.row_lock(" FOR KEY SHARE")
    );
    let owner: Option<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
    pbx_refusal(id, owner, customer)
}

/// The `application_name` that imports, bulk edits and bulk deletes run under on PostgreSQL
/// (`SET LOCAL`, for their transaction only): they never change routing, so the routing
/// follower leaves them out of `oldest_open_write` however long they run.
pub(crate) const NO_ROUTING_SESSION: &str = "didhub no-routing";

/// Names the transaction as one that changes no routing (see `NO_ROUTING_SESSION`).
pub(crate) async fn no_routing(tx: &mut Tx) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query(&format!(
            "SET LOCAL application_name = '{NO_ROUTING_SESSION}'"
        ))
        .execute(&mut **t)
        .await?;
    }
    Ok(())
}

/// The PBXs named by `pbx:<id>` destinations (`dests`, a query of one column `dest`), held
/// with `FOR KEY SHARE` until the assignment commits: a PBX deletion (`delete_pbx` locks the
/// row `FOR UPDATE` before it counts the DIDs routed to it) either waits for the assignment
/// and then sees its DIDs, or commits first and leaves this CTE empty, so that nothing is
/// assigned to a PBX that is gone. Renaming a PBX does not wait for it (a change of its serial
/// number, a unique key, does). The cast sits inside `CASE`: with a destination bound as a
/// constant, the planner may fold it before any `WHERE` could keep SIP URIs away from it.
pub(super) fn pbx_held_cte(dests: &str) -> String {
    format!(
        "px AS (SELECT p.id, p.customer_id FROM pbxs p WHERE p.id IN (SELECT CASE \
            WHEN x.dest LIKE 'pbx:%' THEN substr(x.dest, 5)::uuid END FROM ({dests}) x) \
            FOR KEY SHARE)"
    )
}

/// The condition that the destination `dest` is a SIP URI or a PBX of `customer` held by
/// `px` (`pbx_held_cte`).
pub(super) fn pbx_held(dest: &str, customer: &str) -> String {
    format!(
        "({dest} NOT LIKE 'pbx:%' OR EXISTS (SELECT 1 FROM px WHERE 'pbx:' || \
        px.id::text = {dest} AND px.customer_id = {customer}))"
    )
}

/// `PackageRule::qualifies` as a condition on `dids`, for the writing statement, over the rule
/// columns of the client package row `cp` (the copy of its package's rule that package edits
/// keep in step under that row's lock); the core rule explains a refusal.
pub(super) fn qualifies(cp: &str) -> String {
    format!(
        "({cp}.rule_tag IS NULL OR {cp}.rule_tag = dids.tag) AND ({cp}.rule_country \
        IS NULL OR {cp}.rule_country = dids.country) AND ({cp}.rule_number_type IS \
        NULL OR {cp}.rule_number_type = dids.number_type)"
    )
}

/// A block refused by the package's rule, under the request field it is about (a tag comes
/// from the package, not the request: reported under `size`, the block asked for).
pub(super) fn block_refusal(e: didhub_core::assignment::AssignmentError) -> StoreError {
    let field = match e.attribute() {
        Some("country") => "country",
        Some("number_type") => "number_type",
        _ => "size",
    };
    StoreError::invalid(field, e)
}

/// A DID's routing facts after a move, for the routing table.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub number: String,
    pub status: DidStatus,
    pub destination: Option<String>,
    /// The start date of its client package, when that was still to come at the move: until
    /// then the DID routes as `pending` (`ClientPackage::pending_until`).
    pub pending_until: Option<NaiveDate>,
}

impl From<&Did> for Moved {
    /// The DID's facts, its client package taken as started (set `pending_until` otherwise).
    fn from(d: &Did) -> Self {
        Moved {
            number: d.number.clone(),
            status: d.status,
            destination: d.destination.clone(),
            pending_until: None,
        }
    }
}

/// The DID as a move leaves it (the row written by the same statement).
pub(super) fn moved_did(
    d: &Did,
    status: DidStatus,
    customer: Option<Uuid>,
    cp: Option<Uuid>,
    destination: Option<String>,
    hold_until: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Did {
    Did {
        status,
        customer_id: customer,
        client_package_id: cp,
        destination,
        hold_until,
        updated_at: at,
        version: d.version + 1,
        ..d.clone()
    }
}

/// The audit entries and stock changes of DIDs moved from `before` to `after`.
pub(super) async fn record_moves(
    tx: &mut Tx,
    actor: &Actor,
    action: &str,
    before: &[Did],
    after: &[Did],
    reason: Option<&str>,
) -> Result<()> {
    let entries = before
        .iter()
        .zip(after)
        .map(|(b, a)| AuditWrite {
            id: None,
            actor,
            action,
            entity: "did",
            entity_id: Some(b.id),
            subject: Some(b.number.clone()),
            changes: did_diff(
                b,
                a.status,
                a.customer_id,
                a.destination.as_deref(),
                a.hold_until,
            ),
            reason,
        })
        .collect();
    crate::audit::write_audit_many(tx, entries).await?;
    let deltas: Vec<StockDelta> = before
        .iter()
        .zip(after)
        .flat_map(|(b, a)| {
            status_change(
                &b.number,
                &b.country,
                &b.number_type,
                (b.status, b.operator_id),
                (a.status, a.operator_id),
            )
        })
        .collect();
    crate::assignment::blocks::adjust(tx, &deltas).await
}

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

    /// Assigns in-stock DIDs to the client package's customer, within its allowance. All or
    /// nothing; a DID taken concurrently makes the whole request fail with a conflict.
    ///
    /// The database checks everything in the writing statements (package active, allowance,
    /// DID in stock and qualifying), so a successful assignment costs no reads before it;
    /// when a check fails nothing is written and the core rules say why.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn assign_dids(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        req: &AssignRequest,
    ) -> Result<Vec<Did>> {
        let dids = self.assign_dids_unnotified(actor, cp_id, req).await?;
        if !dids.is_empty() && !self.hooks.is_empty() {
            // Assigned under a package that has not started: they route as `pending` until then.
            let pending_until = self.package_pending_until(cp_id).await?;
            let moved: Vec<Moved> = dids
                .iter()
                .map(|d| Moved {
                    pending_until,
                    ..Moved::from(d)
                })
                .collect();
            self.hooks.routing_moved(&moved);
        }
        Ok(dids)
    }

    /// A client package's start date while it is still to come (its DIDs route as `pending`),
    /// from a cache of start dates, which are never edited.
    async fn package_pending_until(&self, cp_id: Uuid) -> Result<Option<chrono::NaiveDate>> {
        let known = self
            .package_starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cp_id)
            .copied();
        let start = match known {
            Some(s) => s,
            None => {
                let cp = self.get_client_package(Scope::All, cp_id).await?;
                self.package_starts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(cp_id, cp.start_date);
                cp.start_date
            }
        };
        Ok(not_started(start, now().date_naive()).then_some(start))
    }

    async fn assign_dids_unnotified(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        req: &AssignRequest,
    ) -> Result<Vec<Did>> {
        let destination = self.destination_for(cp_id, &req.destination).await?;
        let mut numbers = Vec::with_capacity(req.numbers.len());
        for (i, n) in req.numbers.iter().enumerate() {
            let e164 = didhub_core::number::E164::parse(n, None)
                .map_err(|e| StoreError::invalid(format!("numbers[{i}]"), format!("'{n}': {e}")))?;
            numbers.push(e164.as_str().to_string());
        }
        // As given, so that a refusal names the entry of the request it is about.
        let given = numbers.clone();
        let mut ids = req.did_ids.clone();
        ids.sort();
        ids.dedup();
        numbers.sort();
        numbers.dedup();
        if ids.is_empty() && numbers.is_empty() {
            return Err(StoreError::invalid("did_ids", "name at least one DID"));
        }
        let reason = req.reason.as_deref();
        if let Some(dids) = self
            .try_assign(actor, cp_id, &ids, &numbers, &destination, reason)
            .await?
        {
            return Ok(dids);
        }
        // Something did not hold and nothing was written: the core rules say what, after the
        // destination (its PBX may have been deleted since it was checked).
        self.destination_for(cp_id, &req.destination).await?;
        let ids = self.explain_assign(cp_id, &req.did_ids, &given).await?;
        // Only a DID named twice (by id and by number) passes: assign it once.
        self.try_assign(actor, cp_id, &ids, &[], &destination, reason)
            .await?
            .ok_or_else(|| {
                StoreError::Conflict("the DIDs changed while being assigned; try again".into())
            })
    }

    /// One assignment attempt: `None` (and nothing written) unless every named DID was
    /// assigned. PostgreSQL runs it as one statement (one round trip, atomic on its own);
    /// SQLite (in-process) as several in one write transaction.
    async fn try_assign(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        ids: &[Uuid],
        numbers: &[String],
        destination: &str,
        reason: Option<&str>,
    ) -> Result<Option<Vec<Did>>> {
        let n = (ids.len() + numbers.len()) as i64;
        let reason = crate::audit::check_reason(reason)?;
        let reason = reason.as_deref();
        retry(|| async {
            if let crate::Backend::Postgres(pool) = &self.backend {
                // One DID by id, the common request: written with whatever others are waiting.
                if let (Some(b), [id], []) = (&self.batcher, ids, numbers) {
                    if let Some(r) = b
                        .assign(actor.as_str(), cp_id, *id, destination, reason)
                        .await
                    {
                        return r;
                    }
                }
                return assign_one_pg(
                    pool,
                    n,
                    cp_id,
                    destination,
                    ids,
                    numbers,
                    actor.as_str(),
                    reason,
                )
                .await;
            }
            let at = now();
            let mut tx = self.begin().await?;
            let r: Option<(Uuid, Uuid, Uuid)> = on_tx!(&mut tx, |c| sqlx::query_as(RESERVE)
                .bind(n)
                .bind(cp_id)
                .fetch_optional(&mut *c)
                .await?);
            let Some((_, customer, _)) = r else {
                return Ok(None);
            };
            hold_pbx(&mut tx, destination, customer).await?;
            let mut sql = Sql::default();
            let set = assign_set(
                &sql.param(Param::Uuid(customer)),
                &sql.param(Param::Uuid(cp_id)),
                &sql.param(Param::Text(destination.to_string())),
                &sql.param(Param::Time(at)),
            );
            sql.push(&format!(
                "UPDATE dids SET {set} WHERE status = 'in_stock' AND "
            ));
            sql.push("EXISTS (SELECT 1 FROM client_packages c WHERE c.id = ")
                .bind(Param::Uuid(cp_id))
                .push(" AND ")
                .push(&qualifies("c"))
                .push(") AND (")
                .push_in_uuids(false, "id", ids)
                .push(" OR")
                .push_in_texts(false, "number", numbers)
                .push(") RETURNING id");
            let done: Vec<Uuid> = on_tx!(&mut tx, |c| bind_all!(
                sqlx::query_scalar(&sql.text),
                sql.params
            )
            .fetch_all(&mut *c)
            .await?);
            if done.len() as i64 != n {
                return Ok(None);
            }
            let dids = self.dids_by_id(&mut tx, &done).await?;
            let before: Vec<Did> = dids
                .iter()
                .map(|d| moved_did(d, DidStatus::InStock, None, None, None, None, d.updated_at))
                .collect();
            record_moves(&mut tx, actor, "did.assign", &before, &dids, reason).await?;
            tx.commit().await?;
            Ok(Some(dids))
        })
        .await
    }

    /// Why an assignment cannot be made, from the core rules; the ids to assign when nothing
    /// is wrong (a DID named twice).
    async fn explain_assign(
        &self,
        cp_id: Uuid,
        ids: &[Uuid],
        numbers: &[String],
    ) -> Result<Vec<Uuid>> {
        let (cp, _, rule) = self.active_package(cp_id).await?;
        // Each DID with the request field that named it, for the refusal.
        let mut targets: Vec<(Did, String)> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let field = format!("did_ids[{i}]");
            let d = self
                .inventory()
                .get_did(*id)
                .await
                .map_err(|_| StoreError::invalid(&field, format!("DID {id} does not exist")))?;
            targets.push((d, field));
        }
        for (i, n) in numbers.iter().enumerate() {
            let field = format!("numbers[{i}]");
            let d =
                self.inventory().get_did_by_number(n).await.map_err(|_| {
                    StoreError::invalid(&field, format!("{n} is not in the inventory"))
                })?;
            targets.push((d, field));
        }
        targets.sort_by(|a, b| a.0.number.cmp(&b.0.number));
        targets.dedup_by_key(|(d, _)| d.id);
        for (d, field) in &targets {
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
                .map_err(|e| StoreError::invalid(field, e))?;
        }
        let field = if ids.is_empty() { "numbers" } else { "did_ids" };
        rule.check_allowance(cp.did_count.max(0) as u32, targets.len() as u32)
            .map_err(|e| StoreError::invalid(field, e))?;
        Ok(targets.into_iter().map(|(d, _)| d.id).collect())
    }

    async fn dids_by_id(&self, tx: &mut Tx, ids: &[Uuid]) -> Result<Vec<Did>> {
        let mut sql = Sql::new(crate::inventory::dids::DID_SELECT);
        sql.push(" WHERE d.id IN (");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                sql.push(",");
            }
            sql.bind(Param::Uuid(*id));
        }
        sql.push(") ORDER BY d.number");
        let rows: Vec<DidRow> = on_tx!(tx, |c| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(&mut *c)
            .await?);
        Ok(rows.into_iter().map(Did::from).collect())
    }

    /// Unassigns a DID: it goes to its after-hold status and loses customer and routing.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn unassign_did(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        did_id: Uuid,
        reason: Option<&str>,
    ) -> Result<Did> {
        let d = self
            .unassign_did_unnotified(actor, cp_id, did_id, reason)
            .await?;
        self.hooks.routing_moved(&[Moved::from(&d)]);
        Ok(d)
    }

    async fn unassign_did_unnotified(
        &self,
        actor: &Actor,
        cp_id: Uuid,
        did_id: Uuid,
        reason: Option<&str>,
    ) -> Result<Did> {
        retry(|| async {
            let d = self.inventory().get_did(did_id).await?;
            if d.client_package_id != Some(cp_id) {
                return Err(StoreError::not_found("DID of this client package", did_id));
            }
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE client_packages SET did_count = did_count - 1 WHERE id = $1"
            )
            .bind(cp_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            // Stamped once the client package's lock is held (see `ROUTING_STAMP_PG`).
            let at = now();
            let n = on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE dids SET status = $1, customer_id = NULL, client_package_id = NULL, \
                destination = NULL, hold_until = NULL, updated_at = $2, version = version + \
                1 WHERE id = $3 AND version = $4 AND client_package_id = $5"
            )
            .bind(d.after_hold.as_str())
            .bind(at)
            .bind(d.id)
            .bind(d.version)
            .bind(cp_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            if n != 1 {
                // The client named no version: run again on the DID as it now is.
                return Err(StoreError::Raced {
                    entity: "DID",
                    id: d.id,
                });
            }
            let after = moved_did(&d, d.after_hold, None, None, None, None, at);
            record_moves(
                &mut tx,
                actor,
                "did.unassign",
                std::slice::from_ref(&d),
                std::slice::from_ref(&after),
                reason,
            )
            .await?;
            tx.commit().await?;
            Ok(after)
        })
        .await
    }

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

#[cfg(test)]
mod tests {
    //! The SQL that restates core rules for set-based writes agrees with the core, case by case.
    use super::*;
    use sqlx::{Connection, SqliteConnection};

    const TAGS: [Option<&str>; 3] = [None, Some("gold"), Some("silver")];
    const COUNTRIES: [Option<&str>; 3] = [None, Some("GB"), Some("US")];
    const TYPES: [Option<&str>; 3] = [None, Some("fixed_line"), Some("mobile")];

    #[tokio::test]
    async fn package_rule_sql_agrees_with_the_core() {
        let mut c = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE cp (rule_tag TEXT, rule_country TEXT, rule_number_type TEXT); \
             CREATE TABLE dids (tag TEXT, country TEXT NOT NULL, number_type TEXT NOT NULL);",
        )
        .execute(&mut c)
        .await
        .unwrap();
        let mut checked = 0;
        for (rt, rc, rn) in attribute_grid() {
            for (dt, dc, dn) in attribute_grid() {
                let (Some(dc), Some(dn)) = (dc, dn) else {
                    continue;
                };
                sqlx::raw_sql("DELETE FROM cp; DELETE FROM dids;")
                    .execute(&mut c)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO cp VALUES ($1, $2, $3)")
                    .bind(rt)
                    .bind(rc)
                    .bind(rn)
                    .execute(&mut c)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO dids VALUES ($1, $2, $3)")
                    .bind(dt)
                    .bind(dc)
                    .bind(dn)
                    .execute(&mut c)
                    .await
                    .unwrap();
                let sql = format!("SELECT count(*) FROM cp, dids WHERE {}", qualifies("cp"));
                let n: i64 = sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap();
                let rule = PackageRule {
                    allowance: 1,
                    tag: rt.map(String::from),
                    country: rc.map(String::from),
                    number_type: rn.map(String::from),
                };
                let core = rule.qualifies("+442079460000", dt, dc, dn).is_ok();
                assert_eq!(n == 1, core, "rule {rule:?}, DID ({dt:?}, {dc}, {dn})");
                checked += 1;
            }
        }
        assert_eq!(checked, 27 * 3 * 2 * 2);
    }

    type Attrs = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    fn attribute_grid() -> Vec<Attrs> {
        let mut v = Vec::new();
        for t in TAGS {
            for c in COUNTRIES {
                for n in TYPES {
                    v.push((t, c, n));
                }
            }
        }
        v
    }

    /// A hold ends at its `hold_until` exactly: the reactivation's SQL split
    /// (`hold_until <= now`) and the core's `hold_ended` agree either side of the instant.
    #[tokio::test]
    async fn hold_expiry_sql_agrees_with_the_core() {
        let mut c = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let at = now();
        for offset in [-86_400_000i64, -1, 0, 1, 86_400_000] {
            for until in [None, Some(at + chrono::Duration::milliseconds(offset))] {
                let sql: bool = sqlx::query_scalar("SELECT coalesce($1 <= $2, 0)")
                    .bind(until)
                    .bind(at)
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
                assert_eq!(sql, hold_ended(until, at), "hold_until {until:?}, now {at}");
            }
        }
    }
}
