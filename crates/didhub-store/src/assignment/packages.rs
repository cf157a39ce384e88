//! Packages: what a customer may hold (allowance, qualifying rule) and at what price.

use didhub_core::did::{name, optional_text};
use didhub_core::licensing::TermKind;
use didhub_core::money::{currency, from_minor, stored_currency, to_minor};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::on_tx;
use crate::db::versioned::{check_version, col, VersionedUpdate};
use crate::licensing::licenses::Price;
use crate::{new_id, now, on, retry, Actor, Assignment, Result, StoreError};

use super::assign::*;

impl Assignment<'_> {
    /// Checks a package definition: (name, tag, country, number type, prices in minor units).
    #[allow(clippy::type_complexity)]
    pub(super) fn check_package(
        p: &NewPackage,
    ) -> Result<(
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Vec<(TermKind, String, i64)>,
    )> {
        let pname = name("name", &p.name, 200).map_err(|e| StoreError::invalid("name", e))?;
        if p.did_allowance < 0 {
            return Err(StoreError::invalid("did_allowance", "must not be negative"));
        }
        let tag = optional_text("tag", p.tag.as_deref(), didhub_core::did::MAX_TAG)
            .map_err(|e| StoreError::invalid("tag", e))?;
        let country = p.country.map(|c| c.to_string());
        let number_type = p.number_type.map(|t| t.as_str().to_string());
        let mut prices = Vec::new();
        for (i, pr) in p.prices.iter().enumerate() {
            let c = currency(&pr.currency)
                .map_err(|e| StoreError::invalid(format!("prices[{i}].currency"), e))?;
            prices.push((
                pr.term_kind,
                c.code().to_string(),
                to_minor(pr.amount, c)
                    .map_err(|e| StoreError::invalid(format!("prices[{i}].amount"), e))?,
            ));
        }
        Ok((pname, tag, country, number_type, prices))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_package(&self, actor: &Actor, p: &NewPackage) -> Result<Package> {
        let (pname, tag, country, number_type, prices) = Self::check_package(p)?;
        let id = new_id();
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            on_tx!(&mut tx, |c| sqlx::query("INSERT INTO packages (id, name, did_allowance, tag, country, number_type, \
                created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$7)")
                .bind(id).bind(&pname).bind(p.did_allowance).bind(&tag).bind(&country).bind(&number_type)
                    .bind(at).execute(&mut *c).await.map(|r| r.rows_affected()))
                .map_err(|e| { let e = StoreError::from(e); if e.is_unique_violation() {
                    StoreError::Conflict(format!("a package named '{pname}' exists")) } else { e } })?;
            for (t, cur, minor) in &prices {
                on_tx!(&mut tx,
                    |c| sqlx::query("INSERT INTO package_prices (package_id, term_kind, currency, amount_minor) \
                    VALUES ($1,$2,$3,$4)")
                    .bind(id).bind(t.as_str()).bind(cur).bind(*minor)
                    .execute(&mut *c).await.map(|r| r.rows_affected()))
                    .map_err(|e| { let e = StoreError::from(e); if e.is_unique_violation() {
                        StoreError::invalid("prices", format!("two prices for {t} in {cur}")) } else { e } })?;
            }
            write_audit(&mut tx, AuditWrite { id: None, actor, action: "package.create", entity: "package",
                entity_id: Some(id), subject: Some(pname.clone()),
                changes: json!({"did_allowance": p.did_allowance, "tag": tag, "country": country,
                "number_type": number_type, "prices": p.prices}), reason: None }).await?;
            tx.commit().await
        })
        .await?;
        self.get_package(id).await
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_package(&self, id: Uuid) -> Result<Package> {
        let r: Option<PackageRow> = on!(self, |p| {
            sqlx::query_as(
                "SELECT id, name, did_allowance, tag, country, number_type, version FROM \
                packages WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await?
        });
        let r = r.ok_or_else(|| StoreError::not_found("package", id))?;
        let prices: Vec<(String, String, i64)> = on!(self, |p| {
            sqlx::query_as(
                "SELECT term_kind, currency, amount_minor FROM package_prices WHERE \
                package_id = $1 ORDER BY term_kind, currency",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        });
        let prices = prices
            .into_iter()
            .filter_map(|(t, c, m)| {
                Some(Price {
                    term_kind: t.parse::<TermKind>().ok()?,
                    amount: from_minor(m, stored_currency(&c).ok()?),
                    currency: c,
                })
            })
            .collect();
        Ok(Package {
            id: r.id,
            name: r.name,
            did_allowance: r.did_allowance,
            tag: r.tag,
            country: r.country,
            number_type: r.number_type,
            prices,
            version: r.version,
        })
    }

    /// Replaces a package's definition (`expected`: the `If-Match` version). Its rule applies to
    /// assignments from now on; DIDs already assigned stay. The allowance cannot go below what
    /// one of its client packages already holds.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn update_package(
        &self,
        actor: &Actor,
        id: Uuid,
        expected: Option<i64>,
        p: &NewPackage,
    ) -> Result<Package> {
        let (pname, tag, country, number_type, prices) = Self::check_package(p)?;
        retry(|| async {
            let cur = self.get_package(id).await?;
            check_version("package", id, expected, cur.version)?;
            let mut tx = self.begin().await?;
            let lock = tx.row_lock(" FOR UPDATE");
            // The package row first: a client package being created for it (which reads the
            // allowance FOR SHARE) waits, and then copies the new allowance.
            on_tx!(&mut tx, |c| sqlx::query(&format!("SELECT id FROM packages WHERE id = $1{lock}")).bind(id)
                .execute(&mut *c).await?.rows_affected());
            // Then the client package rows, the lock every assignment takes first: holding
            // them, no assignment can fill a place the smaller allowance no longer has.
            let held: Vec<(Uuid, i64)> = on_tx!(&mut tx,
                |c| sqlx::query_as(&format!("SELECT id, did_count FROM client_packages WHERE package_id = $1 AND state \
                <> 'terminated' ORDER BY id{lock}")).bind(id).fetch_all(&mut *c).await?);
            didhub_core::assignment::check_allowance_edit(p.did_allowance.max(0) as u32, held.iter().map(|(cp,
                n)| (cp, (*n).max(0) as u64)))
                .map_err(|e| StoreError::invalid("did_allowance", e))?;
            // Prices compared as stored (currency code, minor units, in order), so that "10"
            // and "10.00" or "eur" and "EUR" are no change.
            let cur_prices: Vec<(TermKind, String, i64)> = cur.prices.iter().filter_map(|pr| {
                let c = stored_currency(&pr.currency).ok()?;
                Some((pr.term_kind, c.code().to_string(), to_minor(pr.amount, c).ok()?))
            }).collect();
            let price_list = |v: &[(TermKind, String, i64)]| {
                let mut v: Vec<(String, String, i64)> = v.iter().map(|(t, c, m)| (t.as_str().to_string(), c
                    .clone(), *m)).collect();
                v.sort();
                v.into_iter().map(|(t, c, m)| json!({"term_kind": t, "currency": c.clone(),
                    "amount": stored_currency(&c).map(|cc| from_minor(m, cc).to_string()).unwrap_or_default()}))
                    .collect::<Vec<_>>()
            };
            let update = VersionedUpdate { table: "packages", key: "id", noun: "package", entity: "package",
                id, client: expected, read: cur.version, action: "package.update", subject: Some(pname
                .clone()), unique: Some(format!("a package named '{pname}' exists")) };
            let columns = vec![
                col("name", &cur.name, &pname),
                col("did_allowance", cur.did_allowance, &i64::from(p.did_allowance)),
                col("tag", &cur.tag, &tag),
                col("country", &cur.country, &country),
                col("number_type", &cur.number_type, &number_type),
            ];
            let prices_changed = ("prices", json!(price_list(&cur_prices)), json!(price_list(&prices)));
            update.apply(&mut tx, actor, columns, vec![prices_changed]).await?;
            // Under the client package locks taken above: an assignment waiting on one of them
            // re-reads its row, now with the new allowance and rule.
            on_tx!(&mut tx,
                |c| sqlx::query("UPDATE client_packages SET did_allowance = $1, rule_tag = $2, rule_country \
                = $3, rule_number_type = $4, version = version + 1 WHERE package_id = $5 \
                AND (did_allowance <> $1 OR rule_tag IS DISTINCT FROM $2 OR rule_country IS \
                DISTINCT FROM $3 OR rule_number_type IS DISTINCT FROM $4)")
                .bind(p.did_allowance).bind(&tag).bind(&country).bind(&number_type).bind(id).execute(&mut *c)
                    .await?.rows_affected());
            on_tx!(&mut tx, |c| sqlx::query("DELETE FROM package_prices WHERE package_id = $1").bind(id)
                .execute(&mut *c).await?.rows_affected());
            for (t, cur, minor) in &prices {
                on_tx!(&mut tx,
                    |c| sqlx::query("INSERT INTO package_prices (package_id, term_kind, currency, amount_minor) \
                    VALUES ($1,$2,$3,$4)")
                    .bind(id).bind(t.as_str()).bind(cur).bind(*minor)
                    .execute(&mut *c).await.map(|r| r.rows_affected()))
                    .map_err(|e| { let e = StoreError::from(e); if e.is_unique_violation() {
                        StoreError::invalid("prices", format!("two prices for {t} in {cur}")) } else { e } })?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.get_package(id).await
    }

    /// Deletes a package no client package refers to (terminated ones included: they are the
    /// record of what a customer had).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn delete_package(&self, actor: &Actor, id: Uuid) -> Result<()> {
        retry(|| async {
            let cur = self.get_package(id).await?;
            let mut tx = self.begin().await?;
            let lock = tx.row_lock(" FOR UPDATE");
            // Holds the package against a client package being created for it meanwhile.
            on_tx!(&mut tx, |c| sqlx::query(&format!(
                "SELECT id FROM packages WHERE id = $1{lock}"
            ))
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            let used: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT count(*) FROM client_packages WHERE package_id = $1"
            )
            .bind(id)
            .fetch_one(&mut *c)
            .await?);
            if used > 0 {
                return Err(StoreError::InUse(format!(
                    "package '{}' is used by {}",
                    cur.name,
                    didhub_core::text::count(used, "client package")
                )));
            }
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM package_prices WHERE package_id = $1"
            )
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM packages WHERE id = $1"
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
                    action: "package.delete",
                    entity: "package",
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

    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_packages(&self) -> Result<Vec<Package>> {
        let ids: Vec<Uuid> = on!(self, |p| sqlx::query_scalar(
            "SELECT id FROM packages ORDER BY lower(name)"
        )
        .fetch_all(p)
        .await?);
        let mut out = Vec::new();
        for id in ids {
            out.push(self.get_package(id).await?);
        }
        Ok(out)
    }
}
