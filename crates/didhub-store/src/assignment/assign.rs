//! Packages, client packages, assigning DIDs to customers, and the hold lifecycle. Rules are
//! `didhub_core::assignment`'s; here they are applied in transactions with conditional updates
//! so that no DID is ever taken twice, whatever the concurrency.

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::assignment::{not_started, package_state, PackageRule, PackageState};
use didhub_core::did::DidStatus;
use didhub_core::number::{Country, NumberType};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::assignment::blocks::{status_change, StockDelta};
use crate::audit::AuditWrite;
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::licensing::licenses::Price;
use crate::{now, retry, Actor, Assignment, Did, DidRow, Result, StoreError};

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
    pub(super) fn read_on(mut self, today: NaiveDate) -> Self {
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
}

#[cfg(test)]
mod tests {
    //! The SQL that restates core rules for set-based writes agrees with the core, case by case.
    use super::*;
    use didhub_core::assignment::hold_ended;
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
