//! The statements that assign, hold and release DIDs, shared by every path that does (one DID,
//! several, a batch, a block; either engine): the allowance reserved under the client
//! package's lock, the package rule and the PBX hold as SQL conditions, and the audit and stock
//! records of each move. `tests` in `assign` check that the SQL agrees with the core's rules.

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::did::DidStatus;
use uuid::Uuid;

use super::assign::did_diff;
use crate::assignment::blocks::{status_change, StockDelta};
use crate::audit::AuditWrite;
use crate::db::sql::{on_tx, Tx};
use crate::{now, Actor, Did, DidRow, Result, StoreError};

/// Reserves room for `$1` DIDs under client package `$2`: conditional on the package being
/// active and on the allowance (`PackageRule::check_allowance`), and the lock that every
/// writer of the package's DIDs takes first.
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
