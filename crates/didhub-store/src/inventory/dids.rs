//! DIDs: read, list, edit and delete (creating them: `create`); every change audited.

use std::collections::{BTreeMap, HashSet};

use didhub_core::did::{optional_text, DidStatus, MAX_NOTES, MAX_TAG};
use didhub_core::number::{prefix, prefix_upper_bound, Country};
use didhub_core::range::MAX_RANGE;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::assignment::blocks::{status_change, StockDelta};
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{
    bind_all, decode_cursor, encode_cursor, filter_text, like_escape, on_tx, Param, Sql, Tx,
};
use crate::{
    now, on, retry, Actor, Did, DidFilter, DidRow, DidSort, Inventory, Page, Result, StoreError,
};

pub(crate) use super::create::{
    already_there, hold_operators, insert_rows, new_did_columns, NewRow,
};
pub use super::create::{Created, NewDids};

pub(crate) const DID_SELECT: &str =
    "SELECT d.id, d.number, d.country, d.number_type, d.operator_id, o.name AS \
    operator, d.status, d.after_hold, d.tag, d.notes, d.customer_id, \
    d.client_package_id, d.destination, d.hold_until, d.created_at, \
    d.updated_at, d.version FROM dids d JOIN operators o ON o.id = d.operator_id";

/// Appends the WHERE conditions of a filter; true when it named any.
pub(crate) fn push_filter(sql: &mut Sql, f: &DidFilter) -> Result<bool> {
    sql.push(" WHERE 1=1");
    let before = sql.params.len();
    if let Some(p) = f.prefix.as_deref().filter(|p| !p.trim().is_empty()) {
        let p = prefix(p).map_err(|e| StoreError::invalid("prefix", format!("'{p}': {e}")))?;
        // A range on the unique number index; never a LIKE that could scan.
        sql.push(" AND d.number >= ")
            .bind(Param::Text(p.clone()))
            .push(" AND d.number < ")
            .bind(Param::Text(prefix_upper_bound(&p)));
    }
    if let Some(c) = f.country {
        sql.push(" AND d.country = ")
            .bind(Param::Text(c.to_string()));
    }
    if let Some(t) = f.number_type {
        sql.push(" AND d.number_type = ")
            .bind(Param::Text(t.as_str().into()));
    }
    if let Some(s) = f.status {
        sql.push(" AND d.status = ")
            .bind(Param::Text(s.as_str().into()));
    }
    if let Some(o) = f.operator_id {
        sql.push(" AND d.operator_id = ").bind(Param::Uuid(o));
    }
    if let Some(o) = filter_text("operator", f.operator.as_deref())? {
        // Names are unique case-insensitively (the operators' index on lower(name)).
        sql.push(" AND d.operator_id = (SELECT id FROM operators WHERE lower(name) = lower(")
            .bind(Param::Text(o))
            .push("))");
    }
    if let Some(t) = filter_text("tag", f.tag.as_deref())? {
        sql.push(" AND d.tag = ").bind(Param::Text(t));
    }
    if let Some(n) = filter_text("notes", f.notes.as_deref())? {
        sql.push(" AND lower(d.notes) LIKE ")
            .bind(Param::Text(format!("%{}%", like_escape(&n.to_lowercase()))))
            .push(" ESCAPE '\\'");
    }
    // Every condition binds at least one value.
    Ok(sql.params.len() > before)
}

/// Which DIDs an edit or delete applies to.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// DIDs by id, each optionally with the version the client last saw.
    Ids(Vec<Target>),
    /// Every DID matching a filter (at most 100,000). The filter must name at least one
    /// condition: an empty one (or one of blank values) is refused rather than read as "all".
    Filter(DidFilter),
    /// Every DID of the inventory (at most 100,000), said in so many words.
    All,
}

impl Selection {
    /// The error for a DID that changed between the read and the conditional write: 412 when
    /// the client named the version it saw (its precondition no longer holds), otherwise a
    /// race the request settles by running again on the new state.
    fn changed_under(&self, entity: &'static str, d: &Did) -> StoreError {
        let pinned = match self {
            Selection::Ids(ids) => ids.iter().any(|t| t.id == d.id && t.version.is_some()),
            Selection::Filter(_) | Selection::All => false,
        };
        if pinned {
            StoreError::stale(entity, d.id, d.version)
        } else {
            StoreError::Raced { entity, id: d.id }
        }
    }
}

/// A DID named by a bulk edit or delete: `{"id": …, "version": …}`, or its id alone (a string),
/// which is the same as the object without a version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Target {
    pub id: Uuid,
    /// When given, the edit fails with a version conflict if the DID changed since.
    pub version: Option<i64>,
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Object {
            id: Uuid,
            version: Option<i64>,
        }
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Target;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a DID id, or {"id": …, "version": …}"#)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Target, E> {
                Uuid::parse_str(s)
                    .map(|id| Target { id, version: None })
                    .map_err(|_| {
                        let shown: String = s.chars().take(60).collect();
                        E::custom(format!("'{shown}' is not a DID id"))
                    })
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                m: A,
            ) -> std::result::Result<Target, A::Error> {
                let o = Object::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(Target {
                    id: o.id,
                    version: o.version,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Fields a bulk edit may set; `None` leaves a field alone, `Some(None)` clears tag/notes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DidPatch {
    pub operator_id: Option<Uuid>,
    pub status: Option<DidStatus>,
    pub after_hold: Option<DidStatus>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub tag: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// `null` is `Some(None)` (clear), absent is `None` (leave alone); with `#[serde(default)]`.
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub updated: usize,
    pub items: Vec<Did>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: usize,
}

impl Inventory<'_> {
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_did(&self, id: Uuid) -> Result<Did> {
        let sql = format!("{DID_SELECT} WHERE d.id = $1");
        let row: Option<DidRow> = on!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await?);
        row.map(Did::from)
            .ok_or_else(|| StoreError::not_found("DID", id))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_did_by_number(&self, number: &str) -> Result<Did> {
        let sql = format!("{DID_SELECT} WHERE d.number = $1");
        let row: Option<DidRow> = on!(self, |p| sqlx::query_as(&sql)
            .bind(number)
            .fetch_optional(p)
            .await?);
        row.map(Did::from)
            .ok_or_else(|| StoreError::not_found("DID", number))
    }

    /// One page of DIDs, keyset-paginated on (sort column, number).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_dids(
        &self,
        f: &DidFilter,
        sort: DidSort,
        desc: bool,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Did>> {
        self.check_filter(f).await?;
        let dir = if desc { "DESC" } else { "ASC" };
        let (sql, limit) = list_statement(f, sort, desc, limit, cursor)?;
        let rows: Vec<DidRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        let mut items: Vec<Did> = rows.into_iter().map(Did::from).collect();
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|d| {
                let (s, o) = (sort.name(), dir);
                encode_cursor(&match sort {
                    DidSort::Number => json!([s, o, d.number]),
                    DidSort::Created => json!([s, o, d.id.to_string()]),
                    DidSort::Updated => json!([s, o, d.updated_at.to_rfc3339(), d.number]),
                    DidSort::Status => json!([s, o, d.status.as_str(), d.number]),
                    DidSort::Country => json!([s, o, d.country, d.number]),
                })
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The database's plan for the statement `list_dids` runs with these arguments (one line
    /// per plan node: `EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite), for checking
    /// that a filter uses its index.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn explain_list_dids(
        &self,
        f: &DidFilter,
        sort: DidSort,
        desc: bool,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Vec<String>> {
        let (sql, _) = list_statement(f, sort, desc, limit, cursor)?;
        Ok(match &self.backend {
            crate::Backend::Sqlite(p) => {
                let q = format!("EXPLAIN QUERY PLAN {}", sql.text);
                let rows: Vec<(i64, i64, i64, String)> = bind_all!(sqlx::query_as(&q), sql.params)
                    .fetch_all(p)
                    .await?;
                rows.into_iter().map(|r| r.3).collect()
            }
            crate::Backend::Postgres(p) => {
                // EXPLAIN with bound values plans for those values; the list runs the generic
                // plan (plan_cache_mode = force_generic_plan), which is what EXPLAIN EXECUTE
                // of a prepared statement shows on such a connection.
                let mut c = p.acquire().await?;
                let name = format!("didhub_explain_{}", crate::new_id().simple());
                sqlx::raw_sql(&format!("PREPARE {name} AS {}", sql.text))
                    .execute(&mut *c)
                    .await?;
                let q = format!(
                    "EXPLAIN EXECUTE {name}({})",
                    crate::inventory::export::literals(&sql.params)
                );
                let plan = sqlx::query_scalar(&q)
                    .persistent(false)
                    .fetch_all(&mut *c)
                    .await;
                sqlx::raw_sql(&format!("DEALLOCATE {name}"))
                    .execute(&mut *c)
                    .await?;
                plan?
            }
        })
    }

    /// Checks a filter without running it (an export checks before its stream starts): its
    /// values, and that an operator it names by name exists, since a misspelt name must be
    /// an error rather than an empty list.
    pub async fn check_filter(&self, f: &DidFilter) -> Result<()> {
        push_filter(&mut Sql::new(""), f)?;
        match filter_text("operator", f.operator.as_deref())? {
            Some(name) if self.find_operator(&name).await?.is_none() => Err(StoreError::invalid(
                "operator",
                format!("no operator named '{name}'"),
            )),
            _ => Ok(()),
        }
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn count_dids(&self, f: &DidFilter) -> Result<i64> {
        self.check_filter(f).await?;
        let mut sql = Sql::new("SELECT count(*) FROM dids d");
        push_filter(&mut sql, f)?;
        let n: i64 = on!(self, |p| bind_all!(
            sqlx::query_scalar(&sql.text),
            sql.params
        )
        .fetch_one(p)
        .await?);
        Ok(n)
    }

    /// The number of DIDs matching a filter, counted up to `cap`: `cap + 1` means "more than
    /// `cap`". A list page shows its count on every turn; counting a broad filter on a large
    /// inventory exactly would cost more than the page itself, so the count stops where a
    /// person stops reading digits.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn count_dids_upto(&self, f: &DidFilter, cap: u32) -> Result<i64> {
        self.check_filter(f).await?;
        let mut sql = Sql::new("SELECT count(*) FROM (SELECT 1 FROM dids d");
        push_filter(&mut sql, f)?;
        sql.push(" LIMIT ").bind(Param::Int(i64::from(cap) + 1));
        sql.push(") t");
        let n: i64 = on!(self, |p| bind_all!(
            sqlx::query_scalar(&sql.text),
            sql.params
        )
        .fetch_one(p)
        .await?);
        Ok(n)
    }

    /// Loads the selected DIDs inside a transaction, checking client versions.
    async fn load_selection(&self, tx: &mut Tx, sel: &Selection) -> Result<Vec<Did>> {
        let mut sql = Sql::new(DID_SELECT);
        let mut expected: BTreeMap<Uuid, i64> = BTreeMap::new();
        match sel {
            Selection::Ids(ids) => {
                if ids.is_empty() {
                    return Err(StoreError::invalid("ids", "select at least one DID"));
                }
                if ids.len() > MAX_RANGE as usize {
                    return Err(StoreError::invalid(
                        "ids",
                        format!("at most {MAX_RANGE} DIDs per request"),
                    ));
                }
                for t in ids {
                    if let Some(v) = t.version {
                        expected.insert(t.id, v);
                    }
                }
                let list: Vec<Uuid> = ids.iter().map(|t| t.id).collect();
                sql.push(" WHERE")
                    .push_in_uuids(matches!(tx, Tx::Postgres(_)), "d.id", &list);
            }
            Selection::Filter(f) => {
                if !push_filter(&mut sql, f)? {
                    return Err(StoreError::invalid(
                        "selection.filter",
                        "the filter names no condition, so it would select every DID; \
                         send \"selection\": \"all\" to mean that",
                    ));
                }
                sql.push(" LIMIT ").bind(Param::Int(MAX_RANGE as i64 + 1));
            }
            Selection::All => {
                sql.push(" LIMIT ").bind(Param::Int(MAX_RANGE as i64 + 1));
            }
        }
        let rows: Vec<DidRow> = on_tx!(tx, |c| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(&mut *c)
            .await?);
        let dids: Vec<Did> = rows.into_iter().map(Did::from).collect();
        if dids.len() > MAX_RANGE as usize {
            return Err(StoreError::invalid(
                "filter",
                format!("the filter selects more than {MAX_RANGE} DIDs; narrow it"),
            ));
        }
        if let Selection::Ids(ids) = sel {
            let found: HashSet<Uuid> = dids.iter().map(|d| d.id).collect();
            if let Some(t) = ids.iter().find(|t| !found.contains(&t.id)) {
                return Err(StoreError::not_found("DID", t.id));
            }
        }
        for d in &dids {
            if let Some(&v) = expected.get(&d.id) {
                if v != d.version {
                    return Err(StoreError::VersionMismatch {
                        entity: "DID",
                        id: d.id,
                        expected: v,
                        actual: d.version,
                    });
                }
            }
        }
        Ok(dids)
    }

    /// Edits the selected DIDs; all or nothing, one audit entry per changed DID.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn update_dids(
        &self,
        actor: &Actor,
        sel: &Selection,
        patch: &DidPatch,
        reason: Option<&str>,
    ) -> Result<Changed> {
        // Checked up front: an edit that changes nothing must refuse a bad reason too.
        crate::audit::check_reason(reason)?;
        let DidPatch {
            operator_id,
            status,
            after_hold,
            tag,
            notes,
        } = patch;
        if operator_id.is_none()
            && status.is_none()
            && after_hold.is_none()
            && tag.is_none()
            && notes.is_none()
        {
            return Err(StoreError::invalid(
                "patch",
                "names nothing to change: give at least one of operator_id, status, after_hold, tag, notes",
            ));
        }
        let tag = match &patch.tag {
            Some(t) => Some(
                optional_text("tag", t.as_deref(), MAX_TAG)
                    .map_err(|e| StoreError::invalid("tag", e))?,
            ),
            None => None,
        };
        let notes = match &patch.notes {
            Some(t) => Some(
                optional_text("notes", t.as_deref(), MAX_NOTES)
                    .map_err(|e| StoreError::invalid("notes", e))?,
            ),
            None => None,
        };
        if let Some(a) = patch.after_hold {
            a.after_hold()
                .map_err(|e| StoreError::invalid("after_hold", e))?;
        }
        let operator = match patch.operator_id {
            Some(id) => Some(self.get_operator(id).await.map_err(|e| match e {
                StoreError::NotFound { .. } => {
                    StoreError::invalid("operator_id", format!("operator {id} does not exist"))
                }
                e => e,
            })?),
            None => None,
        };
        let ids = retry(|| async {
            let mut tx = self.begin().await?;
            // Stock edits and notes: never a routing change (see `no_routing`).
            crate::assignment::assign::no_routing(&mut tx).await?;
            if let Some(o) = &operator {
                hold_operators(&mut tx, [o.id]).await?;
            }
            let dids = self.load_selection(&mut tx, sel).await?;
            let at = now();
            let mut changed = Vec::new();
            let mut moves: Vec<(usize, DidStatus, Uuid)> = Vec::new();
            for (idx, d) in dids.iter().enumerate() {
                let mut diff = serde_json::Map::new();
                let mut sql = Sql::new("UPDATE dids SET updated_at = ");
                sql.bind(Param::Time(at)).push(", version = version + 1");
                if let Some(s) = patch.status.filter(|s| *s != d.status) {
                    d.status
                        .check_stock_edit(s)
                        .map_err(|e| StoreError::invalid("status", format!("{}: {e}", d.number)))?;
                    sql.push(", status = ").bind(Param::Text(s.as_str().into()));
                    diff.insert("status".into(), json!([d.status, s]));
                }
                if let Some(a) = patch.after_hold.filter(|a| *a != d.after_hold) {
                    sql.push(", after_hold = ")
                        .bind(Param::Text(a.as_str().into()));
                    diff.insert("after_hold".into(), json!([d.after_hold, a]));
                }
                if let Some(o) = operator.as_ref().filter(|o| o.id != d.operator_id) {
                    sql.push(", operator_id = ").bind(Param::Uuid(o.id));
                    diff.insert("operator".into(), json!([d.operator, o.name]));
                }
                if let Some(t) = tag.as_ref().filter(|t| **t != d.tag) {
                    sql.push(", tag = ").bind(Param::OptText(t.clone()));
                    diff.insert("tag".into(), json!([d.tag, t]));
                }
                if let Some(n) = notes.as_ref().filter(|n| **n != d.notes) {
                    sql.push(", notes = ").bind(Param::OptText(n.clone()));
                    diff.insert("notes".into(), json!([d.notes, n]));
                }
                if diff.is_empty() {
                    continue;
                }
                sql.push(" WHERE id = ")
                    .bind(Param::Uuid(d.id))
                    .push(" AND version = ")
                    .bind(Param::Int(d.version));
                let n = on_tx!(&mut tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                if n != 1 {
                    // Changed between our read and our write (PostgreSQL READ COMMITTED).
                    return Err(sel.changed_under("DID", d));
                }
                let action = if diff.contains_key("status") {
                    "did.status"
                } else {
                    "did.update"
                };
                write_audit(
                    &mut tx,
                    AuditWrite {
                        id: None,
                        actor,
                        action,
                        entity: "did",
                        entity_id: Some(d.id),
                        subject: Some(d.number.clone()),
                        changes: Value::Object(diff),
                        reason,
                    },
                )
                .await?;
                changed.push(d.id);
                let new_status = patch.status.unwrap_or(d.status);
                let new_op = operator.as_ref().map_or(d.operator_id, |o| o.id);
                moves.push((idx, new_status, new_op));
            }
            let deltas: Vec<StockDelta> = moves
                .iter()
                .flat_map(|(i, st, op)| {
                    let d = &dids[*i];
                    status_change(
                        &d.number,
                        &d.country,
                        &d.number_type,
                        (d.status, d.operator_id),
                        (*st, *op),
                    )
                })
                .collect();
            crate::assignment::blocks::adjust(&mut tx, &deltas).await?;
            tx.commit().await?;
            Ok(changed)
        })
        .await?;
        let mut items = Vec::new();
        for id in ids.iter().take(1000) {
            items.push(self.get_did(*id).await?);
        }
        Ok(Changed {
            updated: ids.len(),
            items,
        })
    }

    /// Deletes the selected DIDs; refused (for all) if any is in use.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn delete_dids(
        &self,
        actor: &Actor,
        sel: &Selection,
        reason: Option<&str>,
    ) -> Result<Deleted> {
        crate::audit::check_reason(reason)?;
        retry(|| async {
            let mut tx = self.begin().await?;
            // A DID in use cannot be deleted: never a routing change.
            crate::assignment::assign::no_routing(&mut tx).await?;
            let dids = self.load_selection(&mut tx, sel).await?;
            for d in &dids {
                d.status
                    .check_delete()
                    .map_err(|e| StoreError::InUse(format!("{}: {e}", d.number)))?;
            }
            for d in &dids {
                let batch: Option<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                    "DELETE FROM dids WHERE id = $1 AND version = $2 RETURNING batch_id"
                )
                .bind(d.id)
                .bind(d.version)
                .fetch_optional(&mut *c)
                .await?);
                let Some(batch) = batch else {
                    return Err(sel.changed_under("DID", d));
                };
                // The whole DID as it was, and the create or import that made it, so that the
                // history of a deleted DID still starts where it began.
                let mut was = serde_json::to_value(d).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut was {
                    m.insert("batch_id".into(), json!(batch));
                }
                write_audit(
                    &mut tx,
                    AuditWrite {
                        id: None,
                        actor,
                        action: "did.delete",
                        entity: "did",
                        entity_id: Some(d.id),
                        subject: Some(d.number.clone()),
                        changes: was,
                        reason,
                    },
                )
                .await?;
            }
            let deltas: Vec<StockDelta> = dids
                .iter()
                .filter(|d| d.status == DidStatus::InStock)
                .map(|d| StockDelta {
                    number: &d.number,
                    operator_id: d.operator_id,
                    country: &d.country,
                    number_type: &d.number_type,
                    delta: -1,
                })
                .collect();
            crate::assignment::blocks::adjust(&mut tx, &deltas).await?;
            tx.commit().await?;
            Ok(Deleted {
                deleted: dids.len(),
            })
        })
        .await
    }
}

/// The statement of one page of `list_dids` and its page size (`limit` brought within
/// 1–1000; one row more is read to know whether a next page exists).
fn list_statement(
    f: &DidFilter,
    sort: DidSort,
    desc: bool,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Sql, i64)> {
    let limit = limit.clamp(1, 1000) as i64;
    let mut sql = Sql::new(DID_SELECT);
    push_filter(&mut sql, f)?;
    let col = sort.column();
    let op = if desc { "<" } else { ">" };
    let dir = if desc { "DESC" } else { "ASC" };
    if let Some(c) = cursor {
        let v = decode_cursor(c)?;
        let bad = || StoreError::invalid("cursor", "not a cursor of this sort order");
        let arr = v.as_array().ok_or_else(bad)?;
        // A cursor names the sort and direction it was made for: read under another, its
        // keys would skip or repeat rows without a word.
        let (made_for, keys) = arr.split_at(arr.len().min(2));
        if made_for != [json!(sort.name()), json!(dir)] {
            return Err(StoreError::invalid(
                "cursor",
                format!(
                    "the cursor belongs to another sort or order (this list: sort={}, order={})",
                    sort.name(),
                    dir.to_lowercase()
                ),
            ));
        }
        // Every key is checked for what it must be: forged text must not reach the
        // database (PostgreSQL refuses a NUL as a server error).
        let key = |i: usize| keys.get(i).and_then(Value::as_str).ok_or_else(bad);
        let number = |i: usize| {
            key(i).and_then(|n| {
                didhub_core::number::E164::is_canonical_form(n)
                    .then(|| n.to_string())
                    .ok_or_else(bad)
            })
        };
        match sort {
            DidSort::Number => {
                sql.push(&format!(" AND d.number {op} "))
                    .bind(Param::Text(number(0)?));
            }
            DidSort::Created => {
                let id = key(0)?.parse::<Uuid>().map_err(|_| bad())?;
                sql.push(&format!(" AND d.id {op} ")).bind(Param::Uuid(id));
            }
            DidSort::Updated => {
                let t = key(0)?
                    .parse::<chrono::DateTime<chrono::Utc>>()
                    .map_err(|_| bad())?;
                sql.push(&format!(" AND ({col}, d.number) {op} ("))
                    .bind(Param::Time(t))
                    .push(", ")
                    .bind(Param::Text(number(1)?))
                    .push(")");
            }
            DidSort::Status | DidSort::Country => {
                let k = if sort == DidSort::Status {
                    key(0)?
                        .parse::<DidStatus>()
                        .map_err(|_| bad())?
                        .as_str()
                        .to_string()
                } else {
                    Country::parse_recorded(key(0)?)
                        .map_err(|_| bad())?
                        .to_string()
                };
                sql.push(&format!(" AND ({col}, d.number) {op} ("))
                    .bind(Param::Text(k))
                    .push(", ")
                    .bind(Param::Text(number(1)?))
                    .push(")");
            }
        }
    }
    match sort {
        DidSort::Number | DidSort::Created => sql.push(&format!(" ORDER BY {col} {dir}")),
        _ => sql.push(&format!(" ORDER BY {col} {dir}, d.number {dir}")),
    };
    sql.push(" LIMIT ").bind(Param::Int(limit + 1));
    Ok((sql, limit))
}
