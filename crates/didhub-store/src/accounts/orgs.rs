//! Partners (resellers) → customers → PBXs, with tenancy: a partner user's queries are scoped
//! to its partner, and anything outside the scope is "not found".

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::did::{name, optional_text};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{bind_all, on_tx, Param, Sql};
use crate::db::versioned::{col, VersionedUpdate};
use crate::{new_id, now, on, retry, Accounts, Actor, Result, StoreError};

/// The rows a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Partner(Uuid),
}

impl Scope {
    pub fn partner(&self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::Partner(p) => Some(*p),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct Partner {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Customer {
    pub id: Uuid,
    pub partner_id: Uuid,
    pub name: String,
    /// Derived: at least one of its PBXs has a license active today
    /// (`didhub_core::licensing::customer_active`; ordering will add a confirmed order).
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: Uuid,
    partner_id: Uuid,
    name: String,
    has_license: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl From<CustomerRow> for Customer {
    fn from(r: CustomerRow) -> Self {
        Customer {
            id: r.id,
            partner_id: r.partner_id,
            name: r.name,
            active: r.has_license > 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct Pbx {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub partner_id: Uuid,
    pub name: String,
    pub serial_number: String,
    pub region: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPbx {
    pub name: String,
    pub serial_number: String,
    pub region: Option<String>,
}

/// Customers with `has_license`: how many of their PBXs have a license active on `$1`, which
/// restates `didhub_core::licensing::customer_active` (a customer is active when that is not
/// zero) so that a list costs one query; the test `customer_active` checks the two agree.
fn customer_select(today: NaiveDate) -> (String, Vec<Param>) {
    let sql = "SELECT c.id, c.partner_id, c.name, \
         (SELECT count(*) FROM pbxs x JOIN licenses l ON l.pbx_id = x.id \
          WHERE x.customer_id = c.id AND l.period_start <= $1 AND l.expires > $1) AS has_license, \
         c.created_at, c.updated_at, c.version FROM customers c"
        .to_string();
    (sql, vec![Param::Date(today)])
}

const PBX_SELECT: &str = "SELECT x.id, x.customer_id, c.partner_id, x.name, x.serial_number, \
    x.region, x.created_at, x.updated_at, x.version FROM pbxs x JOIN customers \
    c ON c.id = x.customer_id";

fn unique_or(e: sqlx::Error, msg: String) -> StoreError {
    let e = StoreError::from(e);
    if e.is_unique_violation() {
        StoreError::Conflict(msg)
    } else {
        e
    }
}

impl Accounts<'_> {
    // ---- partners

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_partner(&self, actor: &Actor, pname: &str) -> Result<Partner> {
        let pname = name("name", pname, 200).map_err(|e| StoreError::invalid("name", e))?;
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO partners (id, name, created_at, updated_at) VALUES ($1,$2,$3,$3)"
            )
            .bind(id)
            .bind(&pname)
            .bind(at)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(|e| unique_or(e, format!("a partner named '{pname}' already exists")))?;
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "partner.create",
                    entity: "partner",
                    entity_id: Some(id),
                    subject: Some(pname.clone()),
                    changes: json!({"name": [null, pname]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_partner(Scope::All, id).await
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_partners(&self, scope: Scope) -> Result<Vec<Partner>> {
        let mut sql =
            Sql::new("SELECT id, name, created_at, updated_at, version FROM partners WHERE 1=1");
        if let Some(p) = scope.partner() {
            sql.push(" AND id = ").bind(Param::Uuid(p));
        }
        sql.push(" ORDER BY lower(name)");
        Ok(on!(self, |p| bind_all!(
            sqlx::query_as(&sql.text),
            sql.params
        )
        .fetch_all(p)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_partner(&self, scope: Scope, id: Uuid) -> Result<Partner> {
        if scope.partner().is_some_and(|p| p != id) {
            return Err(StoreError::not_found("partner", id));
        }
        let r: Option<Partner> = on!(self, |p| sqlx::query_as(
            "SELECT id, name, created_at, updated_at, version FROM partners WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await?);
        r.ok_or_else(|| StoreError::not_found("partner", id))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn find_partner(&self, pname: &str) -> Result<Partner> {
        let r: Option<Partner> = on!(self, |p| {
            sqlx::query_as(
                "SELECT id, name, created_at, updated_at, version FROM partners WHERE \
                lower(name) = lower($1)",
            )
            .bind(pname.trim())
            .fetch_optional(p)
            .await?
        });
        r.ok_or_else(|| StoreError::not_found("partner", pname))
    }

    // ---- customers

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_customer(
        &self,
        actor: &Actor,
        scope: Scope,
        partner_id: Uuid,
        cname: &str,
    ) -> Result<Customer> {
        let cname = name("name", cname, 200).map_err(|e| StoreError::invalid("name", e))?;
        // A partner user creates customers for its own partner only.
        self.get_partner(scope, partner_id).await.map_err(|_| {
            StoreError::invalid("partner_id", format!("partner {partner_id} does not exist"))
        })?;
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO customers (id, partner_id, name, created_at, updated_at) VALUES \
                ($1,$2,$3,$4,$4)"
            )
            .bind(id)
            .bind(partner_id)
            .bind(&cname)
            .bind(at)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(|e| {
                unique_or(
                    e,
                    format!("this partner already has a customer named '{cname}'"),
                )
            })?;
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "customer.create",
                    entity: "customer",
                    entity_id: Some(id),
                    subject: Some(cname.clone()),
                    changes: json!({"name": [null, cname], "partner_id": [null, partner_id]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_customer(scope, id).await
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_customers(
        &self,
        scope: Scope,
        partner_id: Option<Uuid>,
    ) -> Result<Vec<Customer>> {
        let (base, params) = customer_select(Utc::now().date_naive());
        let mut sql = Sql { text: base, params };
        sql.push(" WHERE 1=1");
        if let Some(p) = scope.partner() {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        if let Some(p) = partner_id {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        sql.push(" ORDER BY lower(c.name), c.id");
        let rows: Vec<CustomerRow> =
            on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
                .fetch_all(p)
                .await?);
        Ok(rows.into_iter().map(Customer::from).collect())
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_customer(&self, scope: Scope, id: Uuid) -> Result<Customer> {
        let (base, params) = customer_select(Utc::now().date_naive());
        let mut sql = Sql { text: base, params };
        sql.push(" WHERE c.id = ").bind(Param::Uuid(id));
        if let Some(p) = scope.partner() {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        let r: Option<CustomerRow> =
            on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
                .fetch_optional(p)
                .await?);
        r.map(Customer::from)
            .ok_or_else(|| StoreError::not_found("customer", id))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn rename_customer(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        cname: &str,
        version: Option<i64>,
    ) -> Result<Customer> {
        let cname = name("name", cname, 200).map_err(|e| StoreError::invalid("name", e))?;
        retry(|| async {
            let cur = self.get_customer(scope, id).await?;
            let mut tx = self.begin().await?;
            let unique = format!("this partner already has a customer named '{cname}'");
            let update = VersionedUpdate {
                table: "customers",
                key: "id",
                noun: "customer",
                entity: "customer",
                id,
                client: version,
                read: cur.version,
                action: "customer.update",
                subject: Some(cname.clone()),
                unique: Some(unique),
            };
            update
                .apply(&mut tx, actor, vec![col("name", &cur.name, &cname)], vec![])
                .await?;
            tx.commit().await
        })
        .await?;
        self.get_customer(scope, id).await
    }

    /// Deletes a customer that has no PBX and no order.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn delete_customer(&self, actor: &Actor, scope: Scope, id: Uuid) -> Result<()> {
        let cur = self.get_customer(scope, id).await?;
        retry(|| async {
            let mut tx = self.begin().await?;
            // Client packages (any state: a terminated one is history) keep their customer.
            let used: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM pbxs WHERE customer_id = $1) + (SELECT \
                count(*) FROM orders WHERE customer_id = $1) + (SELECT count(*) FROM \
                client_packages WHERE customer_id = $1)"
            )
            .bind(id)
            .fetch_one(&mut *c)
            .await?);
            if used > 0 {
                return Err(StoreError::InUse(format!(
                    "customer '{}' has PBXs, orders or client packages; remove them first",
                    cur.name
                )));
            }
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM customers WHERE id = $1"
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
                    action: "customer.delete",
                    entity: "customer",
                    entity_id: Some(id),
                    subject: Some(cur.name.clone()),
                    changes: json!({"name": [cur.name, null]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await
    }

    // ---- PBXs

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_pbx(
        &self,
        actor: &Actor,
        scope: Scope,
        customer_id: Uuid,
        new: &NewPbx,
    ) -> Result<Pbx> {
        let pname = name("name", &new.name, 200).map_err(|e| StoreError::invalid("name", e))?;
        let serial = name("serial_number", &new.serial_number, 100)
            .map_err(|e| StoreError::invalid("serial_number", e))?;
        let region = optional_text("region", new.region.as_deref(), 100)
            .map_err(|e| StoreError::invalid("region", e))?;
        self.get_customer(scope, customer_id).await?;
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO pbxs (id, customer_id, name, serial_number, region, created_at, \
                updated_at) VALUES ($1,$2,$3,$4,$5,$6,$6)"
            )
            .bind(id)
            .bind(customer_id)
            .bind(&pname)
            .bind(&serial)
            .bind(&region)
            .bind(at)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(|e| {
                unique_or(
                    e,
                    format!("a PBX with serial number '{serial}' already exists"),
                )
            })?;
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "pbx.create",
                    entity: "pbx",
                    entity_id: Some(id),
                    subject: Some(serial.clone()),
                    changes: json!({"name": [null, pname],
                "serial_number": [null, serial], "region": [null, region], "customer_id": [null,
                customer_id]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_pbx(scope, id).await
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_pbxs(&self, scope: Scope, customer_id: Option<Uuid>) -> Result<Vec<Pbx>> {
        let mut sql = Sql::new(PBX_SELECT);
        sql.push(" WHERE 1=1");
        if let Some(p) = scope.partner() {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        if let Some(c) = customer_id {
            sql.push(" AND x.customer_id = ").bind(Param::Uuid(c));
        }
        sql.push(" ORDER BY x.serial_number");
        Ok(on!(self, |p| bind_all!(
            sqlx::query_as(&sql.text),
            sql.params
        )
        .fetch_all(p)
        .await?))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_pbx(&self, scope: Scope, id: Uuid) -> Result<Pbx> {
        let mut sql = Sql::new(PBX_SELECT);
        sql.push(" WHERE x.id = ").bind(Param::Uuid(id));
        if let Some(p) = scope.partner() {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        let r: Option<Pbx> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_optional(p)
            .await?);
        r.ok_or_else(|| StoreError::not_found("PBX", id))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn find_pbx(&self, scope: Scope, serial: &str) -> Result<Pbx> {
        let mut sql = Sql::new(PBX_SELECT);
        sql.push(" WHERE x.serial_number = ")
            .bind(Param::Text(serial.trim().into()));
        if let Some(p) = scope.partner() {
            sql.push(" AND c.partner_id = ").bind(Param::Uuid(p));
        }
        let r: Option<Pbx> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_optional(p)
            .await?);
        r.ok_or_else(|| StoreError::not_found("PBX", serial))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn update_pbx(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        new: &NewPbx,
        version: Option<i64>,
    ) -> Result<Pbx> {
        let pname = name("name", &new.name, 200).map_err(|e| StoreError::invalid("name", e))?;
        let serial = name("serial_number", &new.serial_number, 100)
            .map_err(|e| StoreError::invalid("serial_number", e))?;
        let region = optional_text("region", new.region.as_deref(), 100)
            .map_err(|e| StoreError::invalid("region", e))?;
        retry(|| async {
            let cur = self.get_pbx(scope, id).await?;
            let mut tx = self.begin().await?;
            let unique = format!("a PBX with serial number '{serial}' already exists");
            let update = VersionedUpdate {
                table: "pbxs",
                key: "id",
                noun: "PBX",
                entity: "pbx",
                id,
                client: version,
                read: cur.version,
                action: "pbx.update",
                subject: Some(serial.clone()),
                unique: Some(unique),
            };
            let columns = vec![
                col("name", &cur.name, &pname),
                col("serial_number", &cur.serial_number, &serial),
                col("region", &cur.region, &region),
            ];
            update.apply(&mut tx, actor, columns, vec![]).await?;
            tx.commit().await
        })
        .await?;
        self.get_pbx(scope, id).await
    }
}

impl Accounts<'_> {
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn rename_partner(
        &self,
        actor: &Actor,
        id: Uuid,
        pname: &str,
        version: Option<i64>,
    ) -> Result<Partner> {
        let pname = name("name", pname, 200).map_err(|e| StoreError::invalid("name", e))?;
        retry(|| async {
            let cur = self.get_partner(Scope::All, id).await?;
            let mut tx = self.begin().await?;
            let unique = format!("a partner named '{pname}' already exists");
            let update = VersionedUpdate {
                table: "partners",
                key: "id",
                noun: "partner",
                entity: "partner",
                id,
                client: version,
                read: cur.version,
                action: "partner.update",
                subject: Some(pname.clone()),
                unique: Some(unique),
            };
            update
                .apply(&mut tx, actor, vec![col("name", &cur.name, &pname)], vec![])
                .await?;
            tx.commit().await
        })
        .await?;
        self.get_partner(Scope::All, id).await
    }

    /// Deletes a partner without customers, users or documents.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn delete_partner(&self, actor: &Actor, id: Uuid) -> Result<()> {
        let cur = self.get_partner(Scope::All, id).await?;
        retry(|| async {
            let mut tx = self.begin().await?;
            let used: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM customers WHERE partner_id = $1) + (SELECT \
                count(*) FROM users WHERE partner_id = $1) + (SELECT count(*) FROM documents \
                WHERE partner_id = $1)"
            )
            .bind(id)
            .fetch_one(&mut *c)
            .await?);
            if used > 0 {
                return Err(StoreError::InUse(format!(
                    "partner '{}' has customers, users or documents; remove them first",
                    cur.name
                )));
            }
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM partners WHERE id = $1"
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
                    action: "partner.delete",
                    entity: "partner",
                    entity_id: Some(id),
                    subject: Some(cur.name.clone()),
                    changes: json!({"name": [cur.name, null]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await
    }

    /// Deletes a PBX without services or assigned DIDs routed to it; its license goes with it.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn delete_pbx(&self, actor: &Actor, scope: Scope, id: Uuid) -> Result<()> {
        let cur = self.get_pbx(scope, id).await?;
        retry(|| async {
            let mut tx = self.begin().await?;
            // The PBX row first (assignments hold it FOR KEY SHARE until they commit): the
            // count below then sees every DID routed to it, or no assignment can route more.
            let lock = format!(
                "SELECT id FROM pbxs WHERE id = $1{}",
                tx.row_lock(" FOR UPDATE")
            );
            if on_tx!(&mut tx, |c| sqlx::query_scalar::<_, Uuid>(&lock)
                .bind(id)
                .fetch_optional(&mut *c)
                .await?)
            .is_none()
            {
                return Err(StoreError::NotFound {
                    entity: "PBX",
                    id: id.to_string(),
                });
            }
            let dest = format!("pbx:{id}");
            let used: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM services WHERE pbx_id = $1) + (SELECT count(*) \
                FROM dids WHERE destination = $2)"
            )
            .bind(id)
            .bind(&dest)
            .fetch_one(&mut *c)
            .await?);
            if used > 0 {
                return Err(StoreError::InUse(format!(
                    "PBX '{}' has services or DIDs routed to it; remove them first",
                    cur.serial_number
                )));
            }
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM licenses WHERE pbx_id = $1"
            )
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            on_tx!(&mut tx, |c| sqlx::query("DELETE FROM pbxs WHERE id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected());
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "pbx.delete",
                    entity: "pbx",
                    entity_id: Some(id),
                    subject: Some(cur.serial_number.clone()),
                    changes: serde_json::to_value(&cur).unwrap_or_default(),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await
    }
}
