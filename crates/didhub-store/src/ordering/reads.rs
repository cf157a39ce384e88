//! Reading orders: one order with its numbers and documents, the lists operations work from
//! (with what needs attention, weighed on each country's calendar), the timeline, and the
//! pre-filled letter of authorisation of a porting order.

use chrono::Utc;
use didhub_core::catalog::{Catalog, Service};
use didhub_core::order_flow::{self, Attention};
use serde_json::json;
use uuid::Uuid;

use super::orders::{
    subject, EventRow, Order, OrderDetail, OrderEvent, OrderFilter, OrderNumber, OrderRow,
    OrderSort, ORDER_SELECT,
};
use crate::accounts::orgs::Scope;
use crate::db::sql::{bind_all, decode_cursor, encode_cursor, Param, Sql};
use crate::{on, Ordering, Page, Result, StoreError};

impl Ordering<'_> {
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_order(&self, scope: Scope, id: Uuid) -> Result<OrderDetail> {
        let order = self.order_row(scope, id).await?.into_order();
        let numbers: Vec<OrderNumber> = on!(self, |p| sqlx::query_as(
            "SELECT number, state, reject_code, did_id FROM order_numbers WHERE order_id = $1 \
             ORDER BY number"
        )
        .bind(id)
        .fetch_all(p)
        .await?);
        let mut order = order;
        order.attention = self.attention_of(&order).await?;
        let documents = self.documents().list_for(Scope::All, subject(id)).await?;
        Ok(OrderDetail {
            order,
            numbers,
            documents,
        })
    }

    pub(crate) async fn order_row(&self, scope: Scope, id: Uuid) -> Result<OrderRow> {
        let mut sql = Sql::new(ORDER_SELECT);
        sql.push(" WHERE id = ").bind(Param::Uuid(id));
        if let Some(p) = scope.partner() {
            sql.push(" AND partner_id = ").bind(Param::Uuid(p));
        }
        let r: Option<OrderRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_optional(p)
            .await?);
        r.ok_or_else(|| StoreError::not_found("order", id))
    }

    /// Orders newest (or oldest) first, `limit` a page; with `attention`, the whole list of open orders
    /// overdue or at risk, oldest promise first.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_orders(
        &self,
        scope: Scope,
        f: &OrderFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Order>> {
        let mut sql = Sql::new(ORDER_SELECT);
        sql.push(" WHERE 1=1");
        if let Some(p) = scope.partner() {
            sql.push(" AND partner_id = ").bind(Param::Uuid(p));
        }
        if let Some(c) = f.customer_id {
            sql.push(" AND customer_id = ").bind(Param::Uuid(c));
        }
        if let Some(s) = f.state {
            sql.push(" AND state = ")
                .bind(Param::Text(s.as_str().into()));
        }
        if let Some(want) = f.attention {
            // Promises up to three weeks ahead cover any run of closed days before the next
            // working day; each is then weighed on its country's calendar.
            let horizon = Utc::now().date_naive() + chrono::Duration::days(21);
            sql.push(
                " AND state NOT IN ('completed', 'rejected', 'cancelled') AND (promised_by <= ",
            )
            .bind(Param::Date(horizon))
            .push(" OR ivp_by <= ")
            .bind(Param::Date(horizon))
            .push(")");
            sql.push(" ORDER BY promised_by, ref");
            let rows: Vec<OrderRow> =
                on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
                    .fetch_all(p)
                    .await?);
            let mut items = Vec::new();
            for r in rows {
                let mut o = r.into_order();
                o.attention = self.attention_of(&o).await?;
                if o.attention == Some(want) {
                    items.push(o);
                }
            }
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
        if let Some(c) = cursor {
            let v = decode_cursor(c)?;
            let after = v.as_i64().ok_or_else(|| {
                StoreError::invalid("cursor", "not a cursor returned by this API")
            })?;
            let past = match f.sort {
                OrderSort::Newest => " AND ref < ",
                OrderSort::Oldest => " AND ref > ",
            };
            sql.push(past).bind(Param::Int(after));
        }
        let limit = limit.clamp(1, 1000);
        let dir = match f.sort {
            OrderSort::Newest => "DESC",
            OrderSort::Oldest => "ASC",
        };
        sql.push(&format!(" ORDER BY ref {dir} LIMIT {}", limit + 1));
        let rows: Vec<OrderRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        let mut items: Vec<Order> = rows.into_iter().map(OrderRow::into_order).collect();
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|o| encode_cursor(&json!(o.order_ref)))
        } else {
            None
        };
        for o in &mut items {
            o.attention = self.attention_of(o).await?;
        }
        Ok(Page { items, next_cursor })
    }

    /// Overdue or at risk, on the order's country's calendar (with its closures).
    pub(super) async fn attention_of(&self, o: &Order) -> Result<Option<Attention>> {
        let promise = order_flow::promise_now(o.state, o.promised_by, o.ivp_by);
        if promise.is_none() || !o.state.is_promised() {
            return Ok(None);
        }
        let today = Utc::now().date_naive();
        let next = match self.calendar().calendar(&o.country).await {
            Ok(cal) => cal
                .add_working_days(today, 1)
                .unwrap_or(today + chrono::Duration::days(1)),
            Err(_) => today + chrono::Duration::days(1),
        };
        Ok(order_flow::attention(o.state, promise, today, next))
    }

    /// The pre-filled letter of authorisation of a porting order, as a PDF: the customer, its
    /// address and contact, the country and every number of the order, for the end user to
    /// sign (`didhub_core::loa`).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn loa_pdf(&self, scope: Scope, id: Uuid, catalog: &Catalog) -> Result<Vec<u8>> {
        let o = self.order_row(scope, id).await?.into_order();
        if o.service.parse::<Service>() != Ok(Service::FullPorting) {
            return Err(StoreError::Conflict(format!(
                "order #{} is not a porting order: it has no letter of authorisation",
                o.order_ref
            )));
        }
        let customer = self.accounts().get_customer(scope, o.customer_id).await?;
        let a = o.body.address.clone().unwrap_or_default();
        let text = |v: Option<String>| v.map(|s| s.trim().to_string()).unwrap_or_default();
        let country_name = didhub_core::number::Country::parse(&o.country)
            .ok()
            .map(|c| catalog.offer(c).name.clone())
            .filter(|n| !n.is_empty());
        let data = didhub_core::loa::LoaData {
            customer: customer.name,
            address: didhub_core::loa::LoaAddress {
                street: text(a.street),
                postcode: text(a.postcode),
                city: text(a.city),
                region: a.region,
            },
            contact_name: o.body.contact_name.clone(),
            contact_email: o.body.contact_email.clone(),
            contact_phone: o.body.contact_phone.clone(),
            country: o.country.clone(),
            country_name,
            numbers: o.body.numbers.clone().unwrap_or_default(),
            date: Utc::now().date_naive(),
            reference: Some(format!("order #{} ({})", o.order_ref, o.id)),
        };
        Ok(didhub_core::loa::loa_pdf(&data))
    }

    /// The order's timeline, oldest first.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn timeline(&self, scope: Scope, id: Uuid) -> Result<Vec<OrderEvent>> {
        self.order_row(scope, id).await?;
        let rows: Vec<EventRow> = on!(self, |p| sqlx::query_as(
            "SELECT at, actor, from_state, to_state, reason, detail FROM order_events \
                 WHERE order_id = $1 ORDER BY at, id"
        )
        .bind(id)
        .fetch_all(p)
        .await?);
        Ok(rows
            .into_iter()
            .map(
                |(at, actor, from_state, to_state, reason, detail)| OrderEvent {
                    at,
                    actor,
                    from_state,
                    to_state,
                    reason,
                    detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
                },
            )
            .collect())
    }
}
