//! Operators: the upstream DID providers.

use didhub_core::did::{name, MAX_OPERATOR_NAME};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{on_tx, Tx};
use crate::db::versioned::{col, VersionedUpdate};
use crate::{new_id, now, on, retry, Actor, Inventory, Operator, Result, StoreError};

const OPERATOR_SELECT: &str =
    "SELECT o.id, o.name, o.created_at, o.updated_at, o.version, (SELECT \
    count(*) FROM dids d WHERE d.operator_id = o.id) AS did_count FROM \
    operators o";

fn check_name(n: &str) -> Result<String> {
    name("name", n, MAX_OPERATOR_NAME).map_err(|e| StoreError::invalid("name", e))
}

/// Creates an operator inside a transaction (shared with import).
pub(crate) async fn insert_operator(
    tx: &mut Tx,
    actor: &Actor,
    name: &str,
    reason: Option<&str>,
) -> Result<Uuid> {
    let id = new_id();
    let at = now();
    let r = on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO operators (id, name, created_at, updated_at, version) VALUES ($1,$2,$3,$4,1)"
    )
    .bind(id)
    .bind(name)
    .bind(at)
    .bind(at)
    .execute(&mut *c)
    .await
    .map(|r| r.rows_affected())
    });
    if let Err(e) = r {
        let e = StoreError::from(e);
        return Err(if e.is_unique_violation() {
            StoreError::Conflict(format!(
                "an operator named '{name}' already exists (names that differ only in case \
                are one operator)"
            ))
        } else {
            e
        });
    }
    write_audit(
        tx,
        AuditWrite {
            id: None,
            actor,
            action: "operator.create",
            entity: "operator",
            entity_id: Some(id),
            subject: Some(name.to_string()),
            changes: json!({"name": [null, name]}),
            reason,
        },
    )
    .await?;
    Ok(id)
}

impl Inventory<'_> {
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_operator(&self, actor: &Actor, name: &str) -> Result<Operator> {
        let name = check_name(name)?;
        let id = retry(|| async {
            let mut tx = self.begin().await?;
            let id = insert_operator(&mut tx, actor, &name, None).await?;
            tx.commit().await?;
            Ok(id)
        })
        .await?;
        self.get_operator(id).await
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_operators(&self) -> Result<Vec<Operator>> {
        let sql = format!("{OPERATOR_SELECT} ORDER BY lower(o.name)");
        Ok(on!(self, |p| sqlx::query_as(&sql).fetch_all(p).await?))
    }

    /// Every operator's id and name, by name, without the DID counts `list_operators` adds
    /// (which read every DID): for the choosers of forms and filters, drawn on every page.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn operator_names(&self) -> Result<Vec<(Uuid, String)>> {
        Ok(on!(self, |p| sqlx::query_as(
            "SELECT id, name FROM operators ORDER BY lower(name)"
        )
        .fetch_all(p)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_operator(&self, id: Uuid) -> Result<Operator> {
        let sql = format!("{OPERATOR_SELECT} WHERE o.id = $1");
        let o: Option<Operator> = on!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await?);
        o.ok_or_else(|| StoreError::not_found("operator", id))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn find_operator(&self, name: &str) -> Result<Option<Operator>> {
        let sql = format!("{OPERATOR_SELECT} WHERE lower(o.name) = lower($1)");
        Ok(on!(self, |p| sqlx::query_as(&sql)
            .bind(name.trim())
            .fetch_optional(p)
            .await?))
    }

    /// Renames; `version` guards against lost updates.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn rename_operator(
        &self,
        actor: &Actor,
        id: Uuid,
        new_name: &str,
        version: Option<i64>,
    ) -> Result<Operator> {
        let new_name = check_name(new_name)?;
        retry(|| async {
            let mut tx = self.begin().await?;
            let cur = operator_in_tx(&mut tx, id, false).await?;
            let unique = format!(
                "an operator named '{new_name}' already exists (names that differ only in \
                case are one operator)"
            );
            let update = VersionedUpdate {
                table: "operators",
                key: "id",
                noun: "operator",
                entity: "operator",
                id,
                client: version,
                read: cur.version,
                action: "operator.update",
                subject: Some(new_name.clone()),
                unique: Some(unique),
            };
            update
                .apply(
                    &mut tx,
                    actor,
                    vec![col("name", &cur.name, &new_name)],
                    vec![],
                )
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.get_operator(id).await
    }

    /// Deletes an operator no DID references.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn delete_operator(&self, actor: &Actor, id: Uuid) -> Result<()> {
        retry(|| async {
            let mut tx = self.begin().await?;
            // Locked: waits for every transaction writing DIDs of this operator (they hold it
            // with `FOR KEY SHARE`, see `dids::hold_operators`); the count below then sees them.
            let cur = operator_in_tx(&mut tx, id, true).await?;
            let used: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT count(*) FROM dids WHERE operator_id = $1"
            )
            .bind(id)
            .fetch_one(&mut *c)
            .await?);
            if used > 0 {
                return Err(StoreError::InUse(format!(
                    "operator '{}' is used by {}; move or delete them first",
                    cur.name,
                    didhub_core::text::count(used, "DID")
                )));
            }
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM operators WHERE id = $1"
            )
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "operator.delete",
                    entity: "operator",
                    entity_id: Some(id),
                    subject: Some(cur.name.clone()),
                    changes: json!({"name": [cur.name, null]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// An operator's name and version read in `tx` (a second connection could wait out a small
/// pool); `lock` takes its row lock on PostgreSQL (SQLite's write lock is already held).
async fn operator_in_tx(tx: &mut Tx, id: Uuid, lock: bool) -> Result<Current> {
    let lock = if lock { tx.row_lock(" FOR UPDATE") } else { "" };
    let sql = format!("SELECT name, version FROM operators WHERE id = $1{lock}");
    let row: Option<(String, i64)> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
    let (name, version) = row.ok_or_else(|| StoreError::not_found("operator", id))?;
    Ok(Current { name, version })
}

struct Current {
    name: String,
    version: i64,
}
