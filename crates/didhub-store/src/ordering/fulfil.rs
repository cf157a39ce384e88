//! Registration: what operations do when they take an order on. New numbers come from stock
//! through the assignment room (single numbers by `assign_dids`, ranges by block allocation)
//! under the customer's client package; too little stock leaves the order `awaiting_stock`
//! with what is missing. Porting and outbound-only orders register their pending numbers.

use didhub_core::catalog::Service;
use didhub_core::number::{calling_code, Country, NumberType};
use didhub_core::order_flow::{self, OrderState, Side};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::assignment::assign::AssignRequest;
use crate::assignment::blocks::BlockRequest;
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::db::versioned::col;
use crate::ordering::orders::{Change, Order, OrderDetail};
use crate::{on, retry, Actor, Ordering, Result, StoreError};

/// What operations give when registering an order.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterOrder {
    /// New DIDs and toll-free: the customer's client package the numbers are assigned under.
    pub client_package_id: Option<Uuid>,
    /// Where calls go (`pbx:<id>` of the customer, or a SIP URI): new DIDs, toll-free, the
    /// virtual DID of an outbound-only order, and ported numbers forwarded by instant virtual
    /// porting.
    pub destination: Option<String>,
    /// Full porting: the operator the numbers are ported to.
    pub operator_id: Option<Uuid>,
}

/// What operations give when completing an order.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteOrder {
    /// Full porting: the customer's client package the ported numbers are assigned under.
    pub client_package_id: Option<Uuid>,
    /// Full porting: where the ported numbers' calls go.
    pub destination: Option<String>,
}

/// What a new-number order asks of the stock.
struct Want {
    country: Country,
    number_type: NumberType,
    /// Numbers must start with this (the country code and area code of a regular DID).
    prefix: Option<String>,
    size: u32,
    quantity: u32,
}

fn want(o: &Order, service: Service) -> Result<Want> {
    let country = Country::parse(&o.country).map_err(|e| StoreError::invalid("country", e))?;
    let mobile = o.body.did_option.as_deref().map(str::trim) == Some("mobile");
    let number_type = match (service, mobile) {
        (Service::NewTollFree, _) => NumberType::TollFree,
        (_, true) => NumberType::Mobile,
        _ => NumberType::FixedLine,
    };
    let area = o
        .body
        .area_code
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !mobile && service == Service::NewDids);
    let prefix = match (area, calling_code(country)) {
        (Some(a), Some(cc)) => Some(format!("+{cc}{}", a.trim_start_matches('0'))),
        _ => None,
    };
    let size = u32::try_from(o.body.range_size.unwrap_or(1).max(1))
        .map_err(|_| StoreError::invalid("range_size", "out of range"))?;
    let quantity = u32::try_from(o.body.quantity.unwrap_or(1).max(1))
        .map_err(|_| StoreError::invalid("quantity", "out of range"))?;
    Ok(Want {
        country,
        number_type,
        prefix,
        size,
        quantity,
    })
}

impl Want {
    /// The blocks an order of ranges takes: within its area (new regular DIDs), else within
    /// its country's calling code, so that blocks of every orderable size (10 included) are
    /// found and counted the same way, in the order's own stock.
    fn block(&self) -> BlockRequest {
        let within = self
            .prefix
            .clone()
            .or_else(|| calling_code(self.country).map(|cc| format!("+{cc}")));
        BlockRequest {
            size: self.size,
            country: self.country,
            number_type: self.number_type,
            operator_id: None,
            within,
        }
    }

    fn describe(&self, blocks: u32) -> String {
        let what = if self.size == 1 {
            format!("{blocks} number(s)")
        } else {
            format!("{blocks} block(s) of {}", self.size)
        };
        let area = self
            .prefix
            .as_deref()
            .map(|p| format!(" starting {p}"))
            .unwrap_or_default();
        format!(
            "{what} of {} {}{area}",
            self.country,
            self.number_type.as_str().replace('_', " ")
        )
    }
}

impl Ordering<'_> {
    /// Registers a submitted order (or one awaiting stock): see the module's text.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn register_order(
        &self,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        req: &RegisterOrder,
    ) -> Result<OrderDetail> {
        let cur = self.order_row(Scope::All, id).await?.into_order();
        order_flow::check_transition(cur.state, OrderState::Registered, Side::Operations)
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        let service: Service = cur
            .service
            .parse()
            .map_err(|e: String| StoreError::invalid("service", e))?;
        if service == Service::FullPorting {
            return self
                .register_porting(
                    actor,
                    &cur,
                    version,
                    req.operator_id,
                    req.destination.as_deref(),
                )
                .await;
        }
        if service == Service::OutboundOnly {
            return self.register_outbound(actor, &cur, version, req).await;
        }
        let (cp_id, destination) = self.package_and_destination(&cur, req).await?;
        let w = want(&cur, service)?;
        let have = self.registered_count(id).await?;
        let remaining = w
            .quantity
            .saturating_sub(u32::try_from(have).unwrap_or(u32::MAX) / w.size);
        let available = self.available(&w).await?;
        if available < i64::from(remaining) {
            let missing = format!(
                "{} more needed, {available} free in stock",
                w.describe(remaining)
            );
            return self.await_stock(actor, &cur, version, missing).await;
        }
        let reason = format!("order #{}", cur.order_ref);
        let mut got: Vec<(String, Uuid)> = Vec::new();
        if w.size == 1 {
            let ids = self.pick_single(&w, remaining).await?;
            let req = AssignRequest {
                did_ids: ids,
                numbers: vec![],
                destination: destination.clone(),
                reason: Some(reason.clone()),
            };
            let dids = self.assignment().assign_dids(actor, cp_id, &req).await?;
            got.extend(dids.into_iter().map(|d| (d.number, d.id)));
        } else {
            let block = w.block();
            for _ in 0..remaining {
                let (a, _) = self
                    .assignment()
                    .allocate_block(actor, cp_id, &block, &destination, Some(&reason))
                    .await?;
                got.extend(self.numbers_between(&a.block.first, &a.block.last).await?);
            }
        }
        retry(|| async {
            let cur = self.order_row(Scope::All, id).await?.into_order();
            let mut tx = self.begin().await?;
            insert_numbers(&mut tx, id, &got, "registered").await?;
            let change = Change {
                reason: Some(format!("{} numbers allocated from stock", got.len())),
                detail: Some(json!({"numbers": got.len()})),
                columns: vec![col("missing", &cur.missing, &None::<String>)],
                retire_porting: false,
            };
            crate::ordering::orders::apply_change(
                self,
                &mut tx,
                actor,
                &cur,
                None,
                OrderState::Registered,
                Side::Operations,
                change,
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_order(Scope::All, id).await
    }

    /// Outbound only: the pending numbers are registered for outbound calls (they stay with
    /// the customer's operator: nothing enters the inventory), and a virtual DID is assigned
    /// from stock when the order asked for one.
    async fn register_outbound(
        &self,
        actor: &Actor,
        cur: &Order,
        version: Option<i64>,
        req: &RegisterOrder,
    ) -> Result<OrderDetail> {
        let mut virtual_did: Vec<(String, Uuid)> = Vec::new();
        if cur.body.virtual_number == Some(true) {
            let (cp_id, destination) = self.package_and_destination(cur, req).await?;
            let w = Want {
                country: Country::parse(&cur.country)
                    .map_err(|e| StoreError::invalid("country", e))?,
                number_type: NumberType::FixedLine,
                prefix: None,
                size: 1,
                quantity: 1,
            };
            let ids = self.pick_single(&w, 1).await?;
            if ids.is_empty() {
                let missing = format!("{} for the virtual number, 0 free in stock", w.describe(1));
                return self.await_stock(actor, cur, version, missing).await;
            }
            let req = AssignRequest {
                did_ids: ids,
                numbers: vec![],
                destination,
                reason: Some(format!("order #{}: virtual number", cur.order_ref)),
            };
            let dids = self.assignment().assign_dids(actor, cp_id, &req).await?;
            virtual_did.extend(dids.into_iter().map(|d| (d.number, d.id)));
        }
        retry(|| async {
            let mut tx = self.begin().await?;
            let n = on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE order_numbers SET state = 'registered' WHERE order_id = $1 AND state = 'pending'"
            )
            .bind(cur.id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            insert_numbers(&mut tx, cur.id, &virtual_did, "registered").await?;
            let change = Change {
                reason: Some(format!("{n} numbers registered for outbound calls")),
                detail: Some(json!({"numbers": n, "virtual_number": virtual_did.first().map(|v| &v.0)})),
                columns: vec![],
                retire_porting: false,
            };
            crate::ordering::orders::apply_change(
                self,
                &mut tx,
                actor,
                cur,
                version,
                OrderState::Registered,
                Side::Operations,
                change,
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_order(Scope::All, cur.id).await
    }

    /// The client package (the order's customer's) and destination new numbers need.
    async fn package_and_destination(
        &self,
        cur: &Order,
        req: &RegisterOrder,
    ) -> Result<(Uuid, String)> {
        let mut errors = Vec::new();
        if req.client_package_id.is_none() {
            errors.push((
                "client_package_id".to_string(),
                "new numbers are assigned under a client package of the customer: name it"
                    .to_string(),
            ));
        }
        if req
            .destination
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
        {
            errors.push((
                "destination".to_string(),
                "where the new numbers' calls go is required (pbx:<id> or a SIP URI)".to_string(),
            ));
        }
        let (Some(cp_id), Some(destination), true) = (
            req.client_package_id,
            req.destination.clone(),
            errors.is_empty(),
        ) else {
            return Err(StoreError::InvalidFields(errors));
        };
        let cp = self
            .assignment()
            .get_client_package(Scope::All, cp_id)
            .await
            .map_err(|_| {
                StoreError::invalid(
                    "client_package_id",
                    format!("client package {cp_id} does not exist"),
                )
            })?;
        if cp.customer_id != cur.customer_id {
            return Err(StoreError::invalid(
                "client_package_id",
                "the client package belongs to another customer than the order's",
            ));
        }
        Ok((cp_id, destination))
    }

    async fn await_stock(
        &self,
        actor: &Actor,
        cur: &Order,
        version: Option<i64>,
        missing: String,
    ) -> Result<OrderDetail> {
        retry(|| async {
            let mut tx = self.begin().await?;
            let change = Change {
                reason: Some(missing.clone()),
                detail: Some(json!({"missing": missing})),
                columns: vec![col("missing", &cur.missing, &Some(missing.clone()))],
                retire_porting: false,
            };
            crate::ordering::orders::apply_change(
                self,
                &mut tx,
                actor,
                cur,
                version,
                OrderState::AwaitingStock,
                Side::Operations,
                change,
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_order(Scope::All, cur.id).await
    }

    async fn registered_count(&self, id: Uuid) -> Result<i64> {
        Ok(on!(self, |p| sqlx::query_scalar(
            "SELECT count(*) FROM order_numbers WHERE order_id = $1 AND state <> 'rejected'"
        )
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// Single numbers, or whole free blocks of the size, that stock can give.
    async fn available(&self, w: &Want) -> Result<i64> {
        if w.size > 1 {
            let av = self.assignment().block_availability(&w.block()).await?;
            return Ok(av
                .iter()
                .find(|a| a.size == w.size)
                .map(|a| a.free_blocks)
                .unwrap_or(0));
        }
        let sql = self.stock_query("SELECT count(*) FROM dids", w, None);
        Ok(on!(self, |p| bind_all!(
            sqlx::query_scalar(&sql.text),
            sql.params
        )
        .fetch_one(p)
        .await?))
    }

    async fn pick_single(&self, w: &Want, n: u32) -> Result<Vec<Uuid>> {
        let sql = self.stock_query("SELECT id FROM dids", w, Some(n));
        Ok(on!(self, |p| bind_all!(
            sqlx::query_scalar(&sql.text),
            sql.params
        )
        .fetch_all(p)
        .await?))
    }

    fn stock_query(&self, head: &str, w: &Want, limit: Option<u32>) -> Sql {
        let mut sql = Sql::new(head);
        sql.push(" WHERE status = 'in_stock' AND country = ")
            .bind(Param::Text(w.country.to_string()))
            .push(" AND number_type = ")
            .bind(Param::Text(w.number_type.as_str().into()));
        if let Some(p) = &w.prefix {
            sql.push(" AND number >= ")
                .bind(Param::Text(p.clone()))
                .push(" AND number < ")
                .bind(Param::Text(didhub_core::number::prefix_upper_bound(p)));
        }
        if let Some(n) = limit {
            sql.push(&format!(" ORDER BY number LIMIT {n}"));
        }
        sql
    }

    async fn numbers_between(&self, first: &str, last: &str) -> Result<Vec<(String, Uuid)>> {
        Ok(on!(self, |p| sqlx::query_as(
            "SELECT number, id FROM dids WHERE number >= $1 AND number <= $2 ORDER BY number"
        )
        .bind(first)
        .bind(last)
        .fetch_all(p)
        .await?))
    }
}

/// Records numbers of an order (500 a statement).
async fn insert_numbers(
    tx: &mut Tx,
    order_id: Uuid,
    numbers: &[(String, Uuid)],
    state: &'static str,
) -> Result<()> {
    for chunk in numbers.chunks(500) {
        let mut sql =
            Sql::new("INSERT INTO order_numbers (order_id, number, state, did_id) VALUES ");
        for (i, (n, did)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(",");
            }
            sql.push("(")
                .bind(Param::Uuid(order_id))
                .push(",")
                .bind(Param::Text(n.clone()))
                .push(",")
                .bind(Param::Text(state.into()))
                .push(",")
                .bind(Param::Uuid(*did))
                .push(")");
        }
        sql.push(" ON CONFLICT (order_id, number) DO NOTHING");
        on_tx!(tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(())
}
