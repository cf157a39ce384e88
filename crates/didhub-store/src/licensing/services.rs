//! The service catalog (service kinds and their prices) and the services of a PBX that
//! co-terminate with its license: quoting, adding (pro rata), cancelling (credit for the days
//! left) and listing them. Apart from `licenses.rs`, which sets and renews the license period
//! these services follow.

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::did::name;
use didhub_core::licensing::{check_same_term, quote, Quote, TermKind};
use didhub_core::money::{currency, from_minor, minor_units, stored_currency, to_minor};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::licenses::term;
use crate::accounts::orgs::Scope;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::on_tx;
use crate::{new_id, now, on, retry, Actor, Licensing, Result, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub term_kind: TermKind,
    /// ISO 4217 code.
    pub currency: String,
    /// List price for a full period, as a decimal string.
    #[schema(value_type = String, example = "1200.00")]
    #[serde(deserialize_with = "didhub_core::money::deserialize_amount")]
    pub amount: Decimal,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ServiceKind {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub prices: Vec<Price>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Service {
    pub id: Uuid,
    pub pbx_id: Uuid,
    pub kind: String,
    pub term_kind: TermKind,
    pub currency: String,
    pub service_start: NaiveDate,
    pub expires: NaiveDate,
    pub charges: Vec<Charge>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Charge {
    pub period_start: NaiveDate,
    pub charged_from: NaiveDate,
    pub expires: NaiveDate,
    pub days: i64,
    pub period_days: i64,
    #[schema(value_type = String)]
    pub list_price: Decimal,
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub currency: String,
    /// `initial` (pro rata) or `renewal` (full period).
    pub kind: String,
}

/// A service to add (or to price): its kind, currency and start day.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    /// Service kind code, e.g. `sip_trunk`.
    pub kind: String,
    pub currency: String,
    /// Day the service starts (default: today).
    pub service_start: Option<NaiveDate>,
    /// Optional: the term kind the caller expects; refused if it differs from the license's.
    pub term_kind: Option<TermKind>,
}

/// The price breakdown of a service: the core quote plus the list price and currency.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ServiceQuote {
    pub term_kind: TermKind,
    pub period_start: NaiveDate,
    pub expires: NaiveDate,
    pub days: i64,
    pub period_days: i64,
    #[schema(value_type = String)]
    pub list_price: Decimal,
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub currency: String,
}

/// What cancelling a charge of a service gives back (`didhub_core::licensing::credit`).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Credit {
    pub period_start: NaiveDate,
    pub expires: NaiveDate,
    /// The days of the period still to come when cancelled.
    pub days: i64,
    pub period_days: i64,
    #[schema(value_type = String)]
    pub list_price: Decimal,
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// A cancelled service: as it was, with its charges, and the credit for the days left.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Cancelled {
    pub service: Service,
    pub cancelled_on: NaiveDate,
    /// One per charge whose period had days left.
    pub credits: Vec<Credit>,
    /// Their sum.
    #[schema(value_type = String, example = "440.55")]
    pub credit: Decimal,
    pub currency: String,
}

impl Licensing<'_> {
    // ---- service catalog

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_service_kind(
        &self,
        actor: &Actor,
        code: &str,
        kname: &str,
        prices: &[Price],
    ) -> Result<ServiceKind> {
        let code = name("code", code, 64).map_err(|e| StoreError::invalid("code", e))?;
        // Checked before lowering the case: some letters lower to ASCII (the Kelvin sign
        // to `k`), and a code is what was written.
        if !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(StoreError::invalid(
                "code",
                "use letters, digits, '_' and '-'",
            ));
        }
        let code = code.to_ascii_lowercase();
        let kname = name("name", kname, 200).map_err(|e| StoreError::invalid("name", e))?;
        let mut rows = Vec::new();
        for (i, p) in prices.iter().enumerate() {
            let c = currency(&p.currency)
                .map_err(|e| StoreError::invalid(format!("prices[{i}].currency"), e))?;
            let minor = to_minor(p.amount, c)
                .map_err(|e| StoreError::invalid(format!("prices[{i}].amount"), e))?;
            rows.push((p.term_kind, c.code().to_string(), minor));
        }
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO service_kinds (id, code, name, created_at) VALUES ($1,$2,$3,$4)"
            )
            .bind(id)
            .bind(&code)
            .bind(&kname)
            .bind(now())
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(|e| {
                let e = StoreError::from(e);
                if e.is_unique_violation() {
                    StoreError::Conflict(format!("service kind '{code}' exists"))
                } else {
                    e
                }
            })?;
            for (t, cur, minor) in &rows {
                on_tx!(&mut tx, |c| sqlx::query(
                    "INSERT INTO service_prices (service_kind_id, term_kind, currency, \
                    amount_minor) VALUES ($1,$2,$3,$4)"
                )
                .bind(id)
                .bind(t.as_str())
                .bind(cur)
                .bind(*minor)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()))
                .map_err(|e| {
                    let e = StoreError::from(e);
                    if e.is_unique_violation() {
                        StoreError::invalid("prices", format!("two prices for {t} in {cur}"))
                    } else {
                        e
                    }
                })?;
            }
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "service_kind.create",
                    entity: "service_kind",
                    entity_id: Some(id),
                    subject: Some(code.clone()),
                    changes: json!({"name": kname, "prices": prices}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_service_kind(&code).await
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_service_kind(&self, code: &str) -> Result<ServiceKind> {
        let k: Option<(Uuid, String, String)> = on!(self, |p| sqlx::query_as(
            "SELECT id, code, name FROM service_kinds WHERE code = $1"
        )
        .bind(code.trim().to_lowercase())
        .fetch_optional(p)
        .await?);
        let (id, code, kname) = k.ok_or_else(|| StoreError::not_found("service kind", code))?;
        let prices: Vec<(String, String, i64)> = on!(self, |p| {
            sqlx::query_as(
                "SELECT term_kind, currency, amount_minor FROM service_prices WHERE \
                service_kind_id = $1 ORDER BY term_kind, currency",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        });
        let prices = prices
            .into_iter()
            .filter_map(|(t, c, m)| {
                stored_currency(&c).ok().map(|cc| Price {
                    term_kind: term(&t),
                    currency: c,
                    amount: from_minor(m, cc),
                })
            })
            .collect();
        Ok(ServiceKind {
            id,
            code,
            name: kname,
            prices,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_service_kinds(&self) -> Result<Vec<ServiceKind>> {
        let codes: Vec<String> = on!(self, |p| sqlx::query_scalar(
            "SELECT code FROM service_kinds ORDER BY code"
        )
        .fetch_all(p)
        .await?);
        let mut out = Vec::new();
        for c in codes {
            out.push(self.get_service_kind(&c).await?);
        }
        Ok(out)
    }

    // ---- services

    /// Prices a service for a PBX without adding it.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn quote_service(
        &self,
        scope: Scope,
        pbx_id: Uuid,
        req: &ServiceRequest,
    ) -> Result<(ServiceKind, ServiceQuote)> {
        let lic = self.get_license(scope, pbx_id).await?.ok_or_else(|| {
            StoreError::invalid(
                "pbx",
                "this PBX has no license; services co-terminate with it",
            )
        })?;
        if let Some(t) = req.term_kind {
            check_same_term(t, lic.term_kind).map_err(|e| StoreError::invalid("term_kind", e))?;
        }
        let kind = self
            .get_service_kind(&req.kind)
            .await
            .map_err(|_| StoreError::invalid("kind", format!("no service kind '{}'", req.kind)))?;
        let cur = currency(&req.currency).map_err(|e| StoreError::invalid("currency", e))?;
        let price = kind
            .prices
            .iter()
            .find(|p| p.term_kind == lic.term_kind && p.currency == cur.code())
            .ok_or_else(|| {
                StoreError::invalid(
                    "currency",
                    format!(
                        "'{}' has no {} price in {}",
                        kind.code,
                        lic.term_kind,
                        cur.code()
                    ),
                )
            })?;
        let start = req.service_start.unwrap_or_else(|| Utc::now().date_naive());
        let q: Quote = quote(
            lic.term_kind,
            lic.period_start,
            start,
            price.amount,
            minor_units(cur),
        )
        .map_err(|e| StoreError::invalid(e.field(), e))?;
        Ok((
            kind.clone(),
            ServiceQuote {
                term_kind: lic.term_kind,
                period_start: lic.period_start,
                expires: q.expires,
                days: q.days,
                period_days: q.period_days,
                list_price: price.amount,
                amount: q.amount,
                currency: cur.code().to_string(),
            },
        ))
    }

    /// Adds a service to a PBX at its pro-rata price; it expires with the license period.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn add_service(
        &self,
        actor: &Actor,
        scope: Scope,
        pbx_id: Uuid,
        req: &ServiceRequest,
    ) -> Result<(Service, ServiceQuote)> {
        let pbx = self.accounts().get_pbx(scope, pbx_id).await?;
        // "Today" read once: priced and stored from the same day, even across midnight.
        let start = req.service_start.unwrap_or_else(|| Utc::now().date_naive());
        let req = ServiceRequest {
            service_start: Some(start),
            ..req.clone()
        };
        let (kind, q) = self.quote_service(scope, pbx_id, &req).await?;
        let cur = currency(&q.currency).map_err(|e| StoreError::invalid("currency", e))?;
        let amount_minor = to_minor(q.amount, cur).map_err(|e| StoreError::invalid("amount", e))?;
        let list_minor =
            to_minor(q.list_price, cur).map_err(|e| StoreError::invalid("amount", e))?;
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            // The license must still be the period we priced (no renewal in between), and stay
            // so until this commits: on PostgreSQL the row is held `FOR SHARE`, so a renewal or
            // replacement waits and then sees this service (SQLite's write lock does the same).
            let lock = tx.row_lock(" FOR SHARE");
            let still: Option<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(&format!(
                "SELECT pbx_id FROM licenses WHERE pbx_id = $1 AND period_start = $2 AND \
                expires = $3{lock}"
            ))
            .bind(pbx_id)
            .bind(q.period_start)
            .bind(q.expires)
            .fetch_optional(&mut *c)
            .await?);
            if still.is_none() {
                return Err(StoreError::Conflict(
                    "the license changed while pricing; try again".into(),
                ));
            }
            let at = now();
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO services (id, pbx_id, service_kind_id, term_kind, currency, \
                service_start, expires, created_at, updated_at) VALUES \
                ($1,$2,$3,$4,$5,$6,$7,$8,$8)"
            )
            .bind(id)
            .bind(pbx_id)
            .bind(kind.id)
            .bind(q.term_kind.as_str())
            .bind(&q.currency)
            .bind(start)
            .bind(q.expires)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected());
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO service_charges (id, service_id, period_start, charged_from, \
                expires, days, period_days, list_minor, amount_minor, currency, kind, \
                created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'initial',$11)"
            )
            .bind(new_id())
            .bind(id)
            .bind(q.period_start)
            .bind(start)
            .bind(q.expires)
            .bind(q.days as i32)
            .bind(q.period_days as i32)
            .bind(list_minor)
            .bind(amount_minor)
            .bind(&q.currency)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected());
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "service.add",
                    entity: "pbx",
                    entity_id: Some(pbx_id),
                    subject: Some(pbx.serial_number.clone()),
                    changes: json!({"service": id, "kind": kind.code, "term_kind": q.term_kind,
                    "service_start": start, "expires": q.expires, "amount": q.amount.to_string(),
                    "currency": q.currency}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        let s = self
            .list_services(scope, pbx_id)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| StoreError::not_found("service", id))?;
        Ok((s, q))
    }

    /// Cancels a service of a PBX today: it goes, with its charges, and each charge whose
    /// period has days left is credited pro rata for them by the rule that charged it
    /// (`didhub_core::licensing::credit`). The audit entry (`service.cancel`) keeps the service
    /// as it was, its charges and the credit. Once a PBX has no services left it can be deleted.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn cancel_service(
        &self,
        actor: &Actor,
        scope: Scope,
        pbx_id: Uuid,
        service_id: Uuid,
        reason: Option<&str>,
    ) -> Result<Cancelled> {
        let pbx = self.accounts().get_pbx(scope, pbx_id).await?;
        let reason = crate::audit::check_reason(reason)?;
        retry(|| async {
            let mut tx = self.begin().await?;
            // The license row first, as a renewal takes it before it reads the services: a
            // renewal running now either renews this service before we read its charges, or
            // waits and no longer finds it.
            let lock = format!(
                "SELECT pbx_id FROM licenses WHERE pbx_id = $1{}",
                tx.row_lock(" FOR UPDATE")
            );
            on_tx!(&mut tx, |c| sqlx::query(&lock)
                .bind(pbx_id)
                .execute(&mut *c)
                .await?
                .rows_affected());
            // Read in the transaction, after the lock: the service and its charges as they are.
            let service = self
                .service_in(&mut tx, pbx_id, service_id)
                .await?
                .ok_or_else(|| StoreError::not_found("service of this PBX", service_id))?;
            // "Today" read once: the day credited is the day recorded.
            let day = Utc::now().date_naive();
            let (credits, cur) = credits_of(&service, day)?;
            let total: Decimal = credits.iter().map(|c| c.amount).sum();
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM service_charges WHERE service_id = $1"
            )
            .bind(service_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            let n = on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM services WHERE id = $1 AND pbx_id = $2"
            )
            .bind(service_id)
            .bind(pbx_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            if n != 1 {
                return Err(StoreError::Raced {
                    entity: "service",
                    id: service_id,
                });
            }
            let out = Cancelled {
                service,
                cancelled_on: day,
                credits,
                credit: total,
                currency: cur,
            };
            let entry = AuditWrite {
                id: None,
                actor,
                action: "service.cancel",
                entity: "pbx",
                entity_id: Some(pbx_id),
                subject: Some(pbx.serial_number.clone()),
                changes: serde_json::to_value(&out).unwrap_or_default(),
                reason: reason.as_deref(),
            };
            write_audit(&mut tx, entry).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    /// One service of a PBX with its charges, read in `tx`.
    async fn service_in(
        &self,
        tx: &mut crate::db::sql::Tx,
        pbx_id: Uuid,
        id: Uuid,
    ) -> Result<Option<Service>> {
        let sql = format!("{SERVICE_SELECT} WHERE s.pbx_id = $1 AND s.id = $2");
        let row: Option<ServiceRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
            .bind(pbx_id)
            .bind(id)
            .fetch_optional(&mut *c)
            .await?);
        let Some(row) = row else { return Ok(None) };
        let charges: Vec<ChargeRow> = on_tx!(tx, |c| sqlx::query_as(CHARGE_SELECT)
            .bind(id)
            .fetch_all(&mut *c)
            .await?);
        Ok(Some(service_of(row, charges)))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_services(&self, scope: Scope, pbx_id: Uuid) -> Result<Vec<Service>> {
        self.accounts().get_pbx(scope, pbx_id).await?;
        let sql = format!("{SERVICE_SELECT} WHERE s.pbx_id = $1 ORDER BY s.id");
        let rows: Vec<ServiceRow> = on!(self, |p| sqlx::query_as(&sql)
            .bind(pbx_id)
            .fetch_all(p)
            .await?);
        let mut out = Vec::new();
        for row in rows {
            let charges: Vec<ChargeRow> = on!(self, |p| sqlx::query_as(CHARGE_SELECT)
                .bind(row.0)
                .fetch_all(p)
                .await?);
            out.push(service_of(row, charges));
        }
        Ok(out)
    }
}

const SERVICE_SELECT: &str = "SELECT s.id, s.pbx_id, k.code, s.term_kind, s.currency, \
    s.service_start, s.expires, s.created_at \
    FROM services s JOIN service_kinds k ON k.id = s.service_kind_id";

const CHARGE_SELECT: &str = "SELECT period_start, charged_from, expires, days, period_days, \
    list_minor, amount_minor, currency, kind FROM service_charges WHERE service_id = $1 ORDER BY id";

type ServiceRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    NaiveDate,
    NaiveDate,
    DateTime<Utc>,
);

type ChargeRow = (
    NaiveDate,
    NaiveDate,
    NaiveDate,
    i32,
    i32,
    i64,
    i64,
    String,
    String,
);

/// The credit of each charge of `service` whose period has days left on `day`
/// (`didhub_core::licensing::credit`), and the service's currency code.
fn credits_of(service: &Service, day: NaiveDate) -> Result<(Vec<Credit>, String)> {
    let cur = currency(&service.currency).map_err(|e| StoreError::invalid("currency", e))?;
    let mut credits = Vec::new();
    for ch in &service.charges {
        let c = didhub_core::licensing::credit(
            service.term_kind,
            ch.period_start,
            ch.charged_from,
            day,
            ch.list_price,
            minor_units(cur),
        )
        .map_err(|e| {
            StoreError::Conflict(format!("service {} cannot be credited: {e}", service.id))
        })?;
        if c.days > 0 {
            credits.push(Credit {
                period_start: ch.period_start,
                expires: c.expires,
                days: c.days,
                period_days: c.period_days,
                list_price: ch.list_price,
                amount: c.amount,
            });
        }
    }
    Ok((credits, cur.code().to_string()))
}

fn service_of(row: ServiceRow, charges: Vec<ChargeRow>) -> Service {
    let (id, pbx_id, kind, t, cur, start, expires, created_at) = row;
    let charges = charges
        .into_iter()
        .filter_map(|(ps, cf, ex, d, pd, l, a, c, k)| {
            let cc = currency(&c).ok()?;
            Some(Charge {
                period_start: ps,
                charged_from: cf,
                expires: ex,
                days: d as i64,
                period_days: pd as i64,
                list_price: from_minor(l, cc),
                amount: from_minor(a, cc),
                currency: c,
                kind: k,
            })
        })
        .collect();
    Service {
        id,
        pbx_id,
        kind,
        term_kind: term(&t),
        currency: cur,
        service_start: start,
        expires,
        charges,
        created_at,
    }
}
