//! The one way a versioned row changes. Every entity with a `version` column (operators,
//! partners, customers, PBXs, packages, client packages, licenses) goes through
//! [`VersionedUpdate::apply`]: the client's `If-Match` against the version read, one
//! `UPDATE … version = version + 1 WHERE id = … AND version = <read>`, a refused write when
//! another writer came in between, and the audit entry listing the fields that changed. The
//! caller reads the row before and commits after, so that what belongs with the change
//! (prices, the DIDs of a package) lands in the same transaction.

use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::{now, Actor, Result, StoreError};

/// One column a versioned update sets: its new value, and the field as the audit shows it
/// before and after.
pub(crate) struct Column {
    name: &'static str,
    value: Param,
    before: Value,
    after: Value,
}

/// `name` goes from `before` to `after` (compared as JSON, as the audit diff shows them).
pub(crate) fn col<T: Serialize + Into<Param> + Clone>(
    name: &'static str,
    before: impl Serialize,
    after: &T,
) -> Column {
    Column {
        name,
        value: after.clone().into(),
        before: json!(before),
        after: json!(after),
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}
impl From<&'static str> for Param {
    fn from(v: &'static str) -> Self {
        Param::Text(v.to_string())
    }
}
impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Param::OptText(v)
    }
}
impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}
impl From<Option<chrono::NaiveDate>> for Param {
    fn from(v: Option<chrono::NaiveDate>) -> Self {
        Param::OptDate(v)
    }
}
impl From<Option<chrono::DateTime<chrono::Utc>>> for Param {
    fn from(v: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        Param::OptTime(v)
    }
}
impl From<chrono::NaiveDate> for Param {
    fn from(v: chrono::NaiveDate) -> Self {
        Param::Date(v)
    }
}

impl From<Option<Uuid>> for Param {
    fn from(v: Option<Uuid>) -> Self {
        Param::OptUuid(v)
    }
}
impl From<chrono::DateTime<chrono::Utc>> for Param {
    fn from(v: chrono::DateTime<chrono::Utc>) -> Self {
        Param::Time(v)
    }
}

/// A column whose value the audit log must not show (a sealed secret): the entry says only
/// that it was set, replaced or removed.
pub(crate) fn col_secret(name: &'static str, had: bool, after: Option<String>) -> Column {
    let shown = match (had, &after) {
        (_, None) => Value::Null,
        (false, Some(_)) => json!("(set)"),
        (true, Some(_)) => json!("(replaced)"),
    };
    Column {
        name,
        value: Param::OptText(after),
        before: if had { json!("(set)") } else { Value::Null },
        after: shown,
    }
}

/// The If-Match rule: a client that named a version must name the one read.
pub(crate) fn check_version(
    entity: &'static str,
    id: Uuid,
    client: Option<i64>,
    read: i64,
) -> Result<()> {
    match client {
        Some(v) if v != read => Err(StoreError::VersionMismatch {
            entity,
            id,
            expected: v,
            actual: read,
        }),
        _ => Ok(()),
    }
}

/// A change to one versioned row (see the module's text).
pub(crate) struct VersionedUpdate<'a> {
    /// The table, and the column its rows are keyed by (`id`, or `pbx_id` for licenses).
    pub table: &'static str,
    pub key: &'static str,
    /// The entity as errors name it ("PBX") and as the audit log names it ("pbx").
    pub noun: &'static str,
    pub entity: &'static str,
    pub id: Uuid,
    /// The version the client named (`If-Match`), if any, and the one read.
    pub client: Option<i64>,
    pub read: i64,
    pub action: &'a str,
    pub subject: Option<String>,
    /// What a unique index refusing the new values means to the user (409).
    pub unique: Option<String>,
}

impl VersionedUpdate<'_> {
    /// Writes `columns` and the audit entry of what changed (`extra`: fields that are not
    /// columns of the row, such as a package's prices). Nothing changed: no write, no new
    /// version (other clients' ETags stay good), no entry; returns false.
    pub(crate) async fn apply(
        self,
        tx: &mut Tx,
        actor: &Actor,
        columns: Vec<Column>,
        extra: Vec<(&'static str, Value, Value)>,
    ) -> Result<bool> {
        check_version(self.noun, self.id, self.client, self.read)?;
        let fields = columns
            .iter()
            .map(|c| (c.name, c.before.clone(), c.after.clone()))
            .chain(extra);
        let changes = didhub_core::audit::diff(fields);
        if changes.as_object().is_some_and(|m| m.is_empty()) {
            return Ok(false);
        }
        let mut sql = Sql::new(&format!("UPDATE {} SET ", self.table));
        for c in columns {
            sql.push(c.name).push(" = ").bind(c.value).push(", ");
        }
        sql.push("updated_at = ").bind(Param::Time(now()));
        sql.push(", version = version + 1 WHERE ")
            .push(self.key)
            .push(" = ");
        sql.bind(Param::Uuid(self.id))
            .push(" AND version = ")
            .bind(Param::Int(self.read));
        let n = on_tx!(tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| {
            let e = StoreError::from(e);
            match &self.unique {
                Some(msg) if e.is_unique_violation() => StoreError::Conflict(msg.clone()),
                _ => e,
            }
        })?;
        if n != 1 {
            return Err(StoreError::changed(
                self.noun,
                self.id,
                self.client,
                self.read,
            ));
        }
        let entry = AuditWrite {
            id: None,
            actor,
            action: self.action,
            entity: self.entity,
            entity_id: Some(self.id),
            subject: self.subject,
            changes,
            reason: None,
        };
        write_audit(tx, entry).await?;
        Ok(true)
    }
}
