//! Stored orders: creation (an order, or a quote for a customer without an active license),
//! edits while the form is open, every change of state through one path (the core's
//! transition rule, the versioned update, a timeline entry and the audit entry, in the
//! transaction of the change), the numbers of an order with their own fate, and the lists
//! operations work from.

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::catalog::{Catalog, Service};
use didhub_core::order::{normalise_number, OrderBody};
use didhub_core::order_flow::{self, Attention, OrderState, Side};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::db::versioned::{col, Column, VersionedUpdate};
use crate::{new_id, now, retry, Actor, Ordering, Result, StoreError};

/// An order (without its numbers: see [`OrderDetail`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Order {
    pub id: Uuid,
    /// The order's number as people say it (`#42`).
    #[serde(rename = "ref")]
    pub order_ref: i64,
    pub partner_id: Uuid,
    pub customer_id: Uuid,
    pub country: String,
    pub service: String,
    pub state: OrderState,
    /// The order as its form wrote it.
    pub body: OrderBody,
    /// The date promised (working days of the order's country); null until known.
    pub promised_by: Option<NaiveDate>,
    /// With instant virtual porting: the date inbound calls are promised to work (2 working
    /// days from submission), before the porting date.
    pub ivp_by: Option<NaiveDate>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub signed_at: Option<DateTime<Utc>>,
    pub scheduled_for: Option<NaiveDate>,
    /// What registration could not find in stock (`awaiting_stock`).
    pub missing: Option<String>,
    pub reject_code: Option<String>,
    /// `overdue` or `at_risk` for an open order whose promise is near or past.
    pub attention: Option<Attention>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// One number of an order: listed for porting or outbound, or allocated to a new-DID order.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = OrderNumber)]
pub struct OrderNumber {
    pub number: String,
    /// `pending`, `registered`, `rejected` or `completed`.
    pub state: String,
    pub reject_code: Option<String>,
    pub did_id: Option<Uuid>,
}

/// An order with its numbers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderDetail {
    #[serde(flatten)]
    pub order: Order,
    pub numbers: Vec<OrderNumber>,
    /// The documents attached to the order (`POST /api/v1/documents` with the order as
    /// subject); their kinds count with those the order's `documents` lists.
    pub documents: Vec<crate::documents::Document>,
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct OrderEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: Option<String>,
    /// Details of the change (the promised date, what is missing, the numbers rejected).
    #[schema(value_type = Object)]
    pub detail: Option<Value>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrderRow {
    id: Uuid,
    order_ref: i64,
    partner_id: Uuid,
    customer_id: Uuid,
    country: String,
    service: String,
    state: String,
    body: String,
    promised_by: Option<NaiveDate>,
    ivp_by: Option<NaiveDate>,
    submitted_at: Option<DateTime<Utc>>,
    signed_at: Option<DateTime<Utc>>,
    scheduled_for: Option<NaiveDate>,
    missing: Option<String>,
    reject_code: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

pub(super) const ORDER_SELECT: &str = "SELECT id, ref AS order_ref, partner_id, customer_id, country, service, state, \
    body, promised_by, ivp_by, submitted_at, signed_at, scheduled_for, missing, reject_code, created_by, created_at, \
    updated_at, version FROM orders";

impl OrderRow {
    pub(crate) fn into_order(self) -> Order {
        Order {
            id: self.id,
            order_ref: self.order_ref,
            partner_id: self.partner_id,
            customer_id: self.customer_id,
            country: self.country,
            service: self.service,
            // The schema's CHECK keeps states to known names.
            state: self.state.parse().unwrap_or(OrderState::Draft),
            // Written by this module from an `OrderBody`.
            body: serde_json::from_str(&self.body).unwrap_or_default(),
            promised_by: self.promised_by,
            ivp_by: self.ivp_by,
            submitted_at: self.submitted_at,
            signed_at: self.signed_at,
            scheduled_for: self.scheduled_for,
            missing: self.missing,
            reject_code: self.reject_code,
            attention: None,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
    }
}

/// What lists of orders filter on.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderFilter {
    /// Orders in this state.
    #[param(value_type = Option<String>)]
    pub state: Option<OrderState>,
    pub customer_id: Option<Uuid>,
    /// `overdue` or `at_risk`: open orders whose promise has passed, or falls within one
    /// working day of the order's country (one list, oldest promise first, no pages).
    #[param(value_type = Option<String>)]
    pub attention: Option<Attention>,
    /// `newest` (the default) or `oldest` first, by the order's number (not for `attention`,
    /// whose lists run oldest promise first).
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub sort: OrderSort,
}

/// The order of a list of orders: by the order's number, newest or oldest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSort {
    #[default]
    Newest,
    Oldest,
}

impl OrderSort {
    pub const ALL: [OrderSort; 2] = [OrderSort::Newest, OrderSort::Oldest];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderSort::Newest => "newest",
            OrderSort::Oldest => "oldest",
        }
    }
}

impl std::str::FromStr for OrderSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "newest" => Ok(OrderSort::Newest),
            "oldest" => Ok(OrderSort::Oldest),
            other => Err(format!("'{other}': expected newest or oldest")),
        }
    }
}

/// The fields of a change of state beyond the state itself.
#[derive(Default)]
pub(crate) struct Change {
    pub reason: Option<String>,
    pub detail: Option<Value>,
    pub columns: Vec<Column>,
    /// The order ends: its numbers being ported in leave service (`archive`).
    pub retire_porting: bool,
}

/// Codes of the check that block an order even as a draft: what makes it no order at all.
fn blocks_draft(p: &didhub_core::order::Problem) -> bool {
    p.code == "unknown" || (p.field == "service" && p.code == "not_offered")
}

fn problems_error(problems: Vec<didhub_core::order::Problem>) -> StoreError {
    StoreError::InvalidFields(problems.into_iter().map(|p| (p.field, p.message)).collect())
}

pub(super) fn flow_error(e: order_flow::FlowError) -> StoreError {
    StoreError::Conflict(e.to_string())
}

pub(super) fn subject(id: Uuid) -> crate::documents::Subject {
    crate::documents::Subject {
        kind: didhub_core::documents::SubjectKind::Order,
        id,
    }
}

/// RFC 7396 JSON merge patch: `null` removes a key, objects merge, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

impl Ordering<'_> {
    /// Creates an order for a customer: a draft when the customer has an active license (it
    /// orders directly), else a quote to be confirmed. The country and service must be known
    /// and offered; every other rule is checked at submission, so a form can be saved part
    /// filled (the answer lists what is still wrong: [`Ordering::problems`]).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_order(
        &self,
        actor: &Actor,
        scope: Scope,
        customer_id: Uuid,
        body: OrderBody,
        catalog: &Catalog,
    ) -> Result<OrderDetail> {
        let customer = self
            .accounts()
            .get_customer(scope, customer_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => StoreError::invalid(
                    "customer_id",
                    format!("customer {customer_id} does not exist"),
                ),
                e => e,
            })?;
        self.refuse_non_orders(&body, catalog).await?;
        let state = if customer.active {
            OrderState::Draft
        } else {
            OrderState::Quote
        };
        let id = new_id();
        let text = serde_json::to_string(&body).map_err(|e| StoreError::invalid("body", e))?;
        retry(|| async {
            let mut tx = self.begin().await?;
            let at = now();
            let order_ref = next_ref(&mut tx).await?;
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO orders (id, ref, partner_id, customer_id, country, service, state, body, \
                 created_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10)"
            )
            .bind(id)
            .bind(order_ref)
            .bind(customer.partner_id)
            .bind(customer_id)
            .bind(body.country.trim().to_uppercase())
            .bind(body.service.trim())
            .bind(state.as_str())
            .bind(&text)
            .bind(actor.as_str())
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected());
            let why = match state {
                OrderState::Quote => "the customer has no active license: a quote comes first",
                _ => "created",
            };
            event(&mut tx, actor, id, None, state, Some(why), None).await?;
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "order.create",
                    entity: "order",
                    entity_id: Some(id),
                    subject: Some(format!("#{order_ref}")),
                    changes: json!({"state": [null, state], "customer_id": [null, customer_id],
                        "country": [null, body.country], "service": [null, body.service]}),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_order(scope, id).await
    }

    /// Refuses what is no order at all: unknown fields, an unknown country or service, or a
    /// service the country does not offer.
    async fn refuse_non_orders(&self, body: &OrderBody, catalog: &Catalog) -> Result<()> {
        let checked = self.check_order(body, Utc::now(), catalog).await?;
        let blocking: Vec<_> = checked.problems.into_iter().filter(blocks_draft).collect();
        if blocking.is_empty() {
            Ok(())
        } else {
            Err(problems_error(blocking))
        }
    }

    /// What the check finds wrong with the order now (empty when it can be submitted).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn problems(
        &self,
        order: &Order,
        catalog: &Catalog,
    ) -> Result<Vec<didhub_core::order::Problem>> {
        let at = order.submitted_at.unwrap_or_else(Utc::now);
        let body = self.with_attached(order).await?;
        Ok(self.check_order(&body, at, catalog).await?.problems)
    }

    /// The order's body with the kinds of the documents attached to it added to those it
    /// lists, as the check counts them.
    async fn with_attached(&self, order: &Order) -> Result<OrderBody> {
        let attached = self
            .documents()
            .list_for(Scope::All, subject(order.id))
            .await?;
        let mut body = order.body.clone();
        if !attached.is_empty() {
            let kinds = body.documents.get_or_insert_with(Vec::new);
            for d in attached {
                let k = d.kind.as_str().to_string();
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
        }
        Ok(body)
    }

    /// Changes the order's fields while it is open (quote, draft, awaiting documents): a JSON
    /// merge patch over its body (`null` removes a field). The country and service must stay
    /// known and offered.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn update_order(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        version: Option<i64>,
        patch: &Value,
        catalog: &Catalog,
    ) -> Result<OrderDetail> {
        if !patch.is_object() {
            return Err(StoreError::invalid(
                "body",
                "a change to an order is a JSON object",
            ));
        }
        retry(|| async {
            let cur = self.order_row(scope, id).await?.into_order();
            if !cur.state.is_editable() {
                return Err(StoreError::Conflict(format!(
                    "order #{} is {}: its fields can no longer change",
                    cur.order_ref, cur.state
                )));
            }
            let mut v =
                serde_json::to_value(&cur.body).map_err(|e| StoreError::invalid("body", e))?;
            merge_patch(&mut v, patch);
            let body: OrderBody =
                serde_json::from_value(v).map_err(|e| StoreError::invalid("body", e))?;
            self.refuse_non_orders(&body, catalog).await?;
            let text = serde_json::to_string(&body).map_err(|e| StoreError::invalid("body", e))?;
            let before = serde_json::to_string(&cur.body).unwrap_or_default();
            let mut tx = self.begin().await?;
            versioned(&cur, version, "order.update")
                .apply(
                    &mut tx,
                    actor,
                    vec![
                        col("body", &before, &text),
                        col("country", &cur.country, &body.country.trim().to_uppercase()),
                        col("service", &cur.service, &body.service.trim().to_string()),
                    ],
                    vec![],
                )
                .await?;
            tx.commit().await
        })
        .await?;
        self.get_order(scope, id).await
    }

    /// Confirms a quote: it becomes an order to finalise (address, porting date, documents…)
    /// and submit.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn confirm_quote(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        version: Option<i64>,
    ) -> Result<OrderDetail> {
        self.change_state(actor, scope, id, version, Side::Partner, |_| async {
            Ok(vec![(
                OrderState::Draft,
                Change {
                    reason: Some("quote confirmed".into()),
                    ..Change::default()
                },
            )])
        })
        .await
    }

    /// Submits an order: every rule of the check must hold, except the documents, whose
    /// absence leaves it awaiting them. The promise is fixed now (or at signing, AE/SA), and
    /// the numbers of a porting or outbound order are recorded, each to be registered or
    /// rejected on its own.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn submit_order(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        version: Option<i64>,
        catalog: &Catalog,
    ) -> Result<OrderDetail> {
        let detail = self
            .change_state(actor, scope, id, version, Side::Partner, |cur| async move {
                let at = Utc::now();
                let body = self.with_attached(&cur).await?;
                let checked = self.check_order(&body, at, catalog).await?;
                let (docs, other): (Vec<_>, Vec<_>) = checked
                    .problems
                    .into_iter()
                    .partition(|p| p.field == "documents" && p.code == "required");
                if !other.is_empty() {
                    return Err(problems_error(other));
                }
                let country = didhub_core::number::Country::parse(&cur.country)
                    .map_err(|e| StoreError::invalid("country", e))?;
                let agreement = catalog.offer(country).agreement_ready_days.is_some();
                let ivp_by = match cur.body.ivp {
                    Some(true) => {
                        let cal = self.calendar().calendar(&cur.country).await?;
                        let days = |d, n| cal.add_working_days(d, n).map_err(|e| e.to_string());
                        Some(
                            order_flow::ivp_promise(catalog, at.date_naive(), days)
                                .map_err(|e| StoreError::invalid("ivp", e))?,
                        )
                    }
                    _ => None,
                };
                let mut steps = Vec::new();
                if cur.state != OrderState::AwaitingSignature {
                    steps.push((
                        OrderState::Submitted,
                        Change {
                            reason: Some("submitted".into()),
                            detail: Some(json!({"promised_by": checked.promised_by,
                                "ivp_by": ivp_by})),
                            columns: vec![
                                col("submitted_at", cur.submitted_at, &Some(at)),
                                col("promised_by", cur.promised_by, &checked.promised_by),
                                col("ivp_by", cur.ivp_by, &ivp_by),
                            ],
                            retire_porting: false,
                        },
                    ));
                }
                if let Some(next) = order_flow::after_submit(!docs.is_empty(), agreement) {
                    let why = match next {
                        OrderState::AwaitingDocuments => docs
                            .iter()
                            .map(|p| p.message.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                        _ => "an e-signed agreement precedes delivery in this country".into(),
                    };
                    steps.push((
                        next,
                        Change {
                            reason: Some(why),
                            ..Change::default()
                        },
                    ));
                }
                Ok(steps)
            })
            .await?;
        if order_flow::lists_numbers(
            detail
                .order
                .service
                .parse::<Service>()
                .map_err(|e| StoreError::invalid("service", e))?,
        ) {
            self.record_numbers(id, &detail.order.body).await?;
            return self.get_order(scope, id).await;
        }
        Ok(detail)
    }

    /// The order's listed numbers, pending, replacing those of an earlier submission.
    async fn record_numbers(&self, id: Uuid, body: &OrderBody) -> Result<()> {
        let numbers: Vec<String> = body
            .numbers
            .iter()
            .flatten()
            .filter_map(|n| normalise_number(n))
            .collect();
        retry(|| async {
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM order_numbers WHERE order_id = $1 AND state = 'pending'"
            )
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            for chunk in numbers.chunks(500) {
                let mut sql =
                    Sql::new("INSERT INTO order_numbers (order_id, number, state) VALUES ");
                for (i, n) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push(",");
                    }
                    sql.push("(")
                        .bind(Param::Uuid(id))
                        .push(",")
                        .bind(Param::Text(n.clone()))
                        .push(",'pending')");
                }
                sql.push(" ON CONFLICT (order_id, number) DO NOTHING");
                on_tx!(&mut tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
            }
            tx.commit().await
        })
        .await
    }
}

/// An order_events row: at, actor, from, to, reason, detail (JSON text).
pub(super) type EventRow = (
    DateTime<Utc>,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

/// One step: the rule, the versioned update of the state and columns (audited), the timeline,
/// and the status mail to the order's contact and its partner, queued in the same
/// transaction (the outbox sends it once the change has committed, and only then).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_change(
    db: &crate::Db,
    tx: &mut Tx,
    actor: &Actor,
    cur: &Order,
    version: Option<i64>,
    to: OrderState,
    side: Side,
    change: Change,
) -> Result<()> {
    if to != cur.state {
        order_flow::check_transition(cur.state, to, side).map_err(flow_error)?;
    }
    let mut columns = change.columns;
    columns.push(col("state", cur.state.as_str(), &to.as_str().to_string()));
    let action = format!("order.{to}");
    let update = versioned(cur, version, &action);
    let changed = update.apply(tx, actor, columns, vec![]).await?;
    if !changed && to == cur.state && change.detail.is_some() {
        // A change that leaves the row as it was (numbers rejected) still bumps the version,
        // so that clients holding the old one reload.
        on_tx!(tx, |c| sqlx::query(
            "UPDATE orders SET version = version + 1, updated_at = $2 WHERE id = $1"
        )
        .bind(cur.id)
        .bind(now())
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    if change.retire_porting {
        crate::ordering::porting::retire_porting(tx, cur.id, true).await?;
    }
    event(
        tx,
        actor,
        cur.id,
        Some(cur.state),
        to,
        change.reason.as_deref(),
        change.detail.as_ref(),
    )
    .await?;
    status_mail(db, tx, cur, to, change.reason.as_deref()).await
}

/// Queues the mail of a change of state: to the order's contact and its partner's admins.
async fn status_mail(
    db: &crate::Db,
    tx: &mut Tx,
    cur: &Order,
    to: OrderState,
    reason: Option<&str>,
) -> Result<()> {
    let (customer, promised): (String, Option<NaiveDate>) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT c.name, o.promised_by FROM orders o JOIN customers c ON c.id = o.customer_id \
         WHERE o.id = $1"
    )
    .bind(cur.id)
    .fetch_one(&mut *c)
    .await?);
    let recipients =
        crate::mail::partner_contacts(tx, cur.partner_id, cur.body.contact_email.as_deref())
            .await?;
    if recipients.is_empty() {
        return Ok(());
    }
    let template =
        didhub_core::mail::MailTemplate::OrderStatus(didhub_core::mail::OrderStatusMail {
            order_id: format!("#{}", cur.order_ref),
            customer,
            state: to.as_str().to_string(),
            reason: reason.map(str::to_string),
            promised_date: promised,
        });
    let about = didhub_core::mail::MailRef {
        kind: didhub_core::mail::RefKind::Order,
        id: cur.id,
    };
    let mail = db.mail().compose(&template, &recipients, Some(about))?;
    let mail = crate::mail::threaded(tx, mail).await?;
    crate::mail::enqueue(tx, &mail).await?;
    Ok(())
}

pub(super) fn versioned<'a>(
    cur: &Order,
    version: Option<i64>,
    action: &'a str,
) -> VersionedUpdate<'a> {
    VersionedUpdate {
        table: "orders",
        key: "id",
        noun: "order",
        entity: "order",
        id: cur.id,
        client: version,
        read: cur.version,
        action,
        subject: Some(format!("#{}", cur.order_ref)),
        unique: None,
    }
}

/// The next order number. PostgreSQL takes it from a sequence (concurrent writers); SQLite's
/// single writer reads the highest.
async fn next_ref(tx: &mut Tx) -> Result<i64> {
    Ok(match tx {
        Tx::Postgres(t) => {
            sqlx::query_scalar("SELECT nextval('orders_ref_seq')")
                .fetch_one(&mut **t)
                .await?
        }
        Tx::Sqlite(t) => {
            sqlx::query_scalar("SELECT COALESCE(MAX(ref), 0) + 1 FROM orders")
                .fetch_one(&mut **t)
                .await?
        }
    })
}

async fn event(
    tx: &mut Tx,
    actor: &Actor,
    order_id: Uuid,
    from: Option<OrderState>,
    to: OrderState,
    reason: Option<&str>,
    detail: Option<&Value>,
) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO order_events (id, order_id, at, actor, from_state, to_state, reason, detail) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
    )
    .bind(new_id())
    .bind(order_id)
    .bind(now())
    .bind(actor.as_str())
    .bind(from.map(|s| s.as_str()))
    .bind(to.as_str())
    .bind(reason)
    .bind(detail.map(|d| d.to_string()))
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1]});
        merge_patch(&mut t, &json!({"a": [2, 3], "n": 1}));
        assert_eq!(t, json!({"a": [2, 3], "n": 1}));
    }
}
