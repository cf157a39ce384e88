//! The audit log: append-only (the schema refuses updates and deletes).

use serde_json::{json, Value};
use uuid::Uuid;

use crate::db::sql::{bind_all, decode_cursor, encode_cursor, on_tx, Param, Sql, Tx};
use crate::{new_id, now, on, Actor, AuditEntry, AuditFilter, AuditRow, Page, Result, StoreError};

/// The one column list every writer of audit entries inserts (single entries, many at once,
/// and the assignment statement's CTE on PostgreSQL).
macro_rules! audit_insert {
    () => {
        "INSERT INTO audit_log (id, at, actor, action, entity, entity_id, subject, changes, reason) "
    };
}
pub(crate) use audit_insert;

const AUDIT_SELECT: &str =
    "SELECT id, at, actor, action, entity, entity_id, subject, changes, reason FROM audit_log";

/// The `WHERE` of a filtered list or count of the log.
fn push_audit_filter(sql: &mut Sql, f: &AuditFilter) -> Result<()> {
    sql.push(" WHERE 1=1");
    for (column, v) in [
        ("entity", &f.entity),
        ("action", &f.action),
        ("actor", &f.actor),
        ("subject", &f.subject),
    ] {
        if let Some(v) = crate::db::sql::filter_text(column, v.as_deref())? {
            sql.push(" AND ")
                .push(column)
                .push(" = ")
                .bind(Param::Text(v));
        }
    }
    if let Some(v) = f.entity_id {
        sql.push(" AND entity_id = ").bind(Param::Uuid(v));
    }
    if let Some(v) = f.since {
        sql.push(" AND at >= ").bind(Param::Time(v));
    }
    if let Some(v) = f.until {
        sql.push(" AND at < ").bind(Param::Time(v));
    }
    Ok(())
}

pub(crate) struct AuditWrite<'a> {
    pub id: Option<Uuid>,
    pub actor: &'a Actor,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<Uuid>,
    pub subject: Option<String>,
    pub changes: Value,
    pub reason: Option<&'a str>,
}

/// A change's reason checked by the core rule; a bad one refuses the change (422).
pub(crate) fn check_reason(r: Option<&str>) -> Result<Option<String>> {
    didhub_core::did::reason(r).map_err(|e| StoreError::invalid("reason", e))
}

/// The id for an entry `tx` writes later (a batch's, which its DIDs carry from the start),
/// from the clock every other entry's id comes from: the database's on PostgreSQL, so that a
/// DID's history never puts an edit before the batch that made it when hosts' clocks differ.
pub(crate) async fn entry_id(tx: &mut Tx) -> Result<Uuid> {
    Ok(match tx {
        Tx::Postgres(c) => {
            sqlx::query_scalar("SELECT didhub_uuid7()")
                .fetch_one(&mut **c)
                .await?
        }
        Tx::Sqlite(_) => new_id(),
    })
}

/// Writes one entry in the caller's transaction. On PostgreSQL the id (unless given) and the
/// time come from the database clock when the row is written (`didhub_uuid7()`), after the
/// change's row locks, so that entries about one DID sort in the order of its changes.
pub(crate) async fn write_audit(tx: &mut Tx, a: AuditWrite<'_>) -> Result<Uuid> {
    let reason = check_reason(a.reason)?;
    let id: Uuid = match tx {
        Tx::Postgres(c) => {
            sqlx::query_scalar(concat!(
            audit_insert!(),
            "VALUES (COALESCE($1, didhub_uuid7()), clock_timestamp(), $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id"
        ))
            .bind(a.id)
            .bind(a.actor.as_str())
            .bind(a.action)
            .bind(a.entity)
            .bind(a.entity_id)
            .bind(a.subject)
            .bind(a.changes.to_string())
            .bind(reason)
            .fetch_one(&mut **c)
            .await?
        }
        Tx::Sqlite(c) => {
            let id = a.id.unwrap_or_else(new_id);
            sqlx::query(concat!(
                audit_insert!(),
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
            ))
            .bind(id)
            .bind(now())
            .bind(a.actor.as_str())
            .bind(a.action)
            .bind(a.entity)
            .bind(a.entity_id)
            .bind(a.subject)
            .bind(a.changes.to_string())
            .bind(reason)
            .execute(&mut **c)
            .await?;
            id
        }
    };
    Ok(id)
}

impl Audit<'_> {
    /// Writes one audit entry on its own (security events, CLI actions).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn audit_event(
        &self,
        actor: &Actor,
        action: &str,
        entity: &str,
        subject: Option<String>,
        changes: Value,
    ) -> Result<Uuid> {
        crate::retry(|| async {
            let mut tx = self.begin().await?;
            let id = write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action,
                    entity,
                    entity_id: None,
                    subject: subject.clone(),
                    changes: changes.clone(),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(id)
        })
        .await
    }

    /// The global log, newest first, filtered.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_audit(
        &self,
        f: &AuditFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>> {
        let limit = limit.clamp(1, 1000) as i64;
        let mut sql = Sql::new(AUDIT_SELECT);
        push_audit_filter(&mut sql, f)?;
        if let Some(c) = cursor {
            let v = decode_cursor(c)?;
            let id = v
                .get(0)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Uuid>().ok())
                .ok_or_else(|| StoreError::invalid("cursor", "not an audit cursor"))?;
            sql.push(" AND id < ").bind(Param::Uuid(id));
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(Param::Int(limit + 1));
        let rows: Vec<AuditRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        let mut items: Vec<AuditEntry> = rows.into_iter().map(AuditEntry::from).collect();
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items
                .last()
                .map(|e| encode_cursor(&json!([e.id.to_string()])))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// How many entries the filter matches (the portal's count beside its pages).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn count_audit(&self, f: &AuditFilter) -> Result<i64> {
        let mut sql = Sql::new("SELECT count(*) FROM audit_log");
        push_audit_filter(&mut sql, f)?;
        let n: i64 = on!(self, |p| bind_all!(
            sqlx::query_scalar(&sql.text),
            sql.params
        )
        .fetch_one(p)
        .await?);
        Ok(n)
    }

    /// A DID's history, oldest first: the batch (create or import) that made it, then every
    /// DID or batch entry about its number (edits, status changes, assignments, a delete, and
    /// those of an earlier DID of the same number, its single-number create included).
    /// Entries of other entities whose subject reads like the number (a customer so named)
    /// are not the DID's.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn did_history(&self, id: Uuid) -> Result<Vec<AuditEntry>> {
        let found: Option<(String, Uuid)> = on!(self, |p| sqlx::query_as(
            "SELECT number, batch_id FROM dids WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await?);
        match found {
            Some((number, batch)) => self.history_of(&number, Some(batch)).await,
            None => {
                // A deleted DID: its entries name its number; the last, its delete, also the
                // create or import that made it.
                let last: Option<(String, String)> = on!(self, |p| {
                    sqlx::query_as(
                        "SELECT subject, changes FROM audit_log WHERE entity_id = $1 AND entity = \
                        'did' AND subject IS NOT NULL ORDER BY id DESC LIMIT 1",
                    )
                    .bind(id)
                    .fetch_optional(p)
                    .await?
                });
                let (number, changes) = last.ok_or_else(|| StoreError::not_found("DID", id))?;
                let batch = serde_json::from_str::<serde_json::Value>(&changes)
                    .ok()
                    .and_then(|c| c.get("batch_id")?.as_str()?.parse().ok());
                self.history_of(&number, batch).await
            }
        }
    }

    /// The history of a number (E.164), whether it is in the inventory now or was deleted:
    /// `NotFound` only when no entry names it.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn number_history(&self, number: &str) -> Result<Vec<AuditEntry>> {
        let id: Option<Uuid> = on!(self, |p| sqlx::query_scalar(
            "SELECT id FROM dids WHERE number = $1"
        )
        .bind(number)
        .fetch_optional(p)
        .await?);
        // The DID now, else the last one of that number (through its entries).
        let id = match id {
            Some(id) => Some(id),
            None => {
                on!(self, |p| {
                    sqlx::query_scalar("SELECT entity_id FROM audit_log WHERE subject = $1 AND entity = 'did' AND \
                        entity_id IS NOT NULL ORDER BY id DESC LIMIT 1").bind(number).fetch_optional(p).await?
                })
            }
        };
        match id {
            Some(id) => self.did_history(id).await,
            None => Err(StoreError::not_found("DID", number)),
        }
    }

    /// Entries about a number (created, edited, moved, deleted: through every life it had in
    /// the inventory), with the create or import entry that began each life: `batch` for the
    /// DID there is now, and the one each delete entry recorded for the earlier ones.
    async fn history_of(&self, number: &str, batch: Option<Uuid>) -> Result<Vec<AuditEntry>> {
        let sql =
            format!("{AUDIT_SELECT} WHERE subject = $1 AND entity IN ('did', 'batch') ORDER BY id");
        let rows: Vec<AuditRow> = on!(self, |p| sqlx::query_as(&sql)
            .bind(number)
            .fetch_all(p)
            .await?);
        let mut entries: Vec<AuditEntry> = rows.into_iter().map(AuditEntry::from).collect();
        let mut batches: Vec<Uuid> = entries
            .iter()
            .filter(|e| e.action == "did.delete")
            .filter_map(|e| e.changes.get("batch_id")?.as_str()?.parse().ok())
            .chain(batch)
            .collect();
        batches.sort();
        batches.dedup();
        batches.retain(|b| !entries.iter().any(|e| e.id == *b));
        let one = format!("{AUDIT_SELECT} WHERE id = $1");
        for b in batches {
            let row: Option<AuditRow> = on!(self, |p| sqlx::query_as(&one)
                .bind(b)
                .fetch_optional(p)
                .await?);
            entries.extend(row.map(AuditEntry::from));
        }
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }
}

/// Writes many entries at once (block allocation, package state changes: one per DID).
/// PostgreSQL takes them as one statement over arrays; SQLite, which resolves every
/// placeholder by name, as multi-row inserts of moderate size.
pub(crate) async fn write_audit_many(tx: &mut Tx, entries: Vec<AuditWrite<'_>>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let at = now();
    let mut why = Vec::with_capacity(entries.len());
    for a in &entries {
        why.push(check_reason(a.reason)?);
    }
    if let Tx::Postgres(c) = tx {
        let n = entries.len();
        let (mut ids, mut actors, mut actions, mut kinds) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut entity_ids, mut subjects, mut changes) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for a in &entries {
            ids.push(a.id);
            actors.push(a.actor.as_str().to_string());
            actions.push(a.action.to_string());
            kinds.push(a.entity.to_string());
            entity_ids.push(a.entity_id);
            subjects.push(a.subject.clone());
            changes.push(a.changes.to_string());
        }
        let reasons = why;
        sqlx::query(concat!(
            audit_insert!(),
            "SELECT COALESCE(u.id, didhub_uuid7()), clock_timestamp(), u.actor, u.action, u.entity, \
             u.entity_id, u.subject, u.changes, u.reason \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], \
             $7::text[], $8::text[]) AS u(id, actor, action, entity, entity_id, subject, changes, reason)"
        ))
            .bind(ids).bind(actors).bind(actions).bind(kinds).bind(entity_ids).bind(subjects).bind(changes)
                .bind(reasons)
            .execute(&mut **c).await?;
        return Ok(());
    }
    for (chunk, why) in entries.chunks(100).zip(why.chunks(100)) {
        let mut sql = crate::db::sql::Sql::new(concat!(audit_insert!(), "VALUES "));
        for (i, (a, reason)) in chunk.iter().zip(why).enumerate() {
            if i > 0 {
                sql.push(",");
            }
            sql.push("(")
                .bind(Param::Uuid(a.id.unwrap_or_else(new_id)))
                .push(",")
                .bind(Param::Time(at))
                .push(",")
                .bind(Param::Text(a.actor.as_str().to_string()))
                .push(",")
                .bind(Param::Text(a.action.to_string()))
                .push(",")
                .bind(Param::Text(a.entity.to_string()))
                .push(",")
                .bind(Param::OptUuid(a.entity_id))
                .push(",")
                .bind(Param::OptText(a.subject.clone()))
                .push(",")
                .bind(Param::Text(a.changes.to_string()))
                .push(",")
                .bind(Param::OptText(reason.clone()))
                .push(")");
        }
        on_tx!(tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(())
}

crate::handle!(
    /// The audit log: every change, who, when, before, after and why.
    Audit,
    audit
);
