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

/// A package's rule, as the core checks it.
pub(super) fn rule_of(package: &Package) -> PackageRule {
    PackageRule {
        allowance: package.did_allowance.max(0) as u32,
        tag: package.tag.clone(),
        country: package.country.clone(),
        number_type: package.number_type.clone(),
    }
}

pub use super::statements::Moved;
pub(crate) use super::statements::*;

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
