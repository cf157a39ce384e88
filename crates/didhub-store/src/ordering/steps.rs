//! Operations' steps on a submitted order: signing, scheduling, completing, rejecting (the
//! whole order or some of its numbers) and cancelling, each through the one path of change
//! (`apply_change`).

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::catalog::{Catalog, Service};
use didhub_core::order::normalise_number;
use didhub_core::order_flow::{self, OrderState, RejectReason, Side};
use serde_json::json;
use uuid::Uuid;

use super::orders::{apply_change, flow_error, Change, Order, OrderDetail};
use crate::accounts::orgs::Scope;
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::db::versioned::col;
use crate::{retry, Actor, Ordering, Result, StoreError};

impl Ordering<'_> {
    /// Records the signing of the agreement (AE, SA): the order is submitted again with its
    /// promise counted from the signing day.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn sign_order(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        version: Option<i64>,
        signed_at: DateTime<Utc>,
        catalog: &Catalog,
    ) -> Result<OrderDetail> {
        self.change_state(actor, scope, id, version, Side::Partner, |cur| async move {
            let country = didhub_core::number::Country::parse(&cur.country)
                .map_err(|e| StoreError::invalid("country", e))?;
            let cal = self.calendar().calendar(&cur.country).await?;
            let promised = order_flow::promised_after_signing(
                catalog,
                country,
                signed_at.date_naive(),
                |d, n| cal.add_working_days(d, n).map_err(|e| e.to_string()),
            )
            .map_err(|e| StoreError::invalid("signed_at", e))?;
            Ok(vec![(
                OrderState::Submitted,
                Change {
                    reason: Some("agreement signed".into()),
                    detail: Some(json!({"promised_by": promised})),
                    columns: vec![
                        col("signed_at", cur.signed_at, &Some(signed_at)),
                        col("promised_by", cur.promised_by, &promised),
                    ],
                    retire_porting: false,
                },
            )])
        })
        .await
    }

    /// Sets (or moves) the porting date. Moving it needs a reason, kept in the timeline; the
    /// promise follows the date.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn schedule_order(
        &self,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        date: NaiveDate,
        reason: Option<&str>,
    ) -> Result<OrderDetail> {
        let reason =
            didhub_core::did::reason(reason).map_err(|e| StoreError::invalid("reason", e))?;
        self.change_state(actor, Scope::All, id, version, Side::Operations, |cur| {
            let reason = reason.clone();
            async move {
                if cur.scheduled_for.is_some() && reason.is_none() {
                    return Err(StoreError::invalid(
                    "reason",
                    "moving a porting date needs a reason (it is shown in the order's timeline)",
                ));
                }
                if date < Utc::now().date_naive() {
                    return Err(StoreError::invalid(
                        "date",
                        format!("{date} is in the past"),
                    ));
                }
                Ok(vec![(
                    OrderState::Scheduled,
                    Change {
                        reason: reason
                            .clone()
                            .or_else(|| Some("porting date agreed".into())),
                        detail: Some(json!({"date": date, "before": cur.scheduled_for})),
                        columns: vec![
                            col("scheduled_for", cur.scheduled_for, &Some(date)),
                            col("promised_by", cur.promised_by, &Some(date)),
                        ],
                        retire_porting: false,
                    },
                )])
            }
        })
        .await
    }

    /// Completes an order: its registered numbers are completed. Numbers ported in are
    /// assigned to the customer first, under `req`'s client package and destination.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn complete_order(
        &self,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        req: &crate::ordering::fulfil::CompleteOrder,
    ) -> Result<OrderDetail> {
        let cur = self.order_row(Scope::All, id).await?.into_order();
        order_flow::check_transition(cur.state, OrderState::Completed, Side::Operations)
            .map_err(flow_error)?;
        if let Some(v) = version {
            crate::db::versioned::check_version("order", id, Some(v), cur.version)?;
        }
        if cur.service.parse::<Service>() == Ok(Service::FullPorting) {
            self.complete_porting(
                actor,
                &cur,
                req.client_package_id,
                req.destination.as_deref(),
            )
            .await?;
        }
        self.change_state(
            actor,
            Scope::All,
            id,
            version,
            Side::Operations,
            |_| async {
                Ok(vec![(
                    OrderState::Completed,
                    Change {
                        reason: Some("completed".into()),
                        ..Change::default()
                    },
                )])
            },
        )
        .await?;
        retry(|| async {
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE order_numbers SET state = 'completed' WHERE order_id = $1 AND state IN \
                 ('pending', 'registered')"
            )
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            tx.commit().await
        })
        .await?;
        self.get_order(Scope::All, id).await
    }

    /// Rejects an order with a reason code, or only some of its numbers: a porting order goes
    /// on with the rest, and is rejected only when no number is left.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn reject_order(
        &self,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        code: RejectReason,
        reason: Option<&str>,
        numbers: Option<&[String]>,
    ) -> Result<OrderDetail> {
        let reason =
            didhub_core::did::reason(reason).map_err(|e| StoreError::invalid("reason", e))?;
        let Some(numbers) = numbers.filter(|n| !n.is_empty()) else {
            return self
                .change_state(
                    actor,
                    Scope::All,
                    id,
                    version,
                    Side::Operations,
                    |_| async {
                        Ok(vec![(
                            OrderState::Rejected,
                            Change {
                                reason: reason.clone().or_else(|| Some(code.as_str().into())),
                                detail: Some(json!({"code": code})),
                                columns: vec![col(
                                    "reject_code",
                                    None::<String>,
                                    &Some(code.as_str().to_string()),
                                )],
                                retire_porting: true,
                            },
                        )])
                    },
                )
                .await;
        };
        let mut wanted = Vec::new();
        let mut errors = Vec::new();
        for (i, n) in numbers.iter().enumerate() {
            match normalise_number(n) {
                Some(e) => wanted.push(e),
                None => errors.push((
                    format!("numbers[{i}]"),
                    format!("'{n}' is not a phone number"),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(StoreError::InvalidFields(errors));
        }
        retry(|| async {
            let cur = self.order_row(Scope::All, id).await?.into_order();
            order_flow::check_transition(cur.state, OrderState::Rejected, Side::Operations)
                .map_err(flow_error)?;
            let mut tx = self.begin().await?;
            let mut sql = Sql::new("UPDATE order_numbers SET state = 'rejected', reject_code = ");
            sql.bind(Param::Text(code.as_str().into()))
                .push(" WHERE order_id = ")
                .bind(Param::Uuid(id))
                .push(" AND state IN ('pending', 'registered') AND");
            sql.push_in_texts(matches!(tx, Tx::Postgres(_)), "number", &wanted);
            let n = on_tx!(&mut tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
                .execute(&mut *c)
                .await?
                .rows_affected());
            if n as usize != wanted.len() {
                return Err(StoreError::invalid(
                    "numbers",
                    "every number must be one of the order's, not yet rejected or completed",
                ));
            }
            let left: i64 = on_tx!(&mut tx, |c| {
                sqlx::query_scalar(
                "SELECT count(*) FROM order_numbers WHERE order_id = $1 AND state <> 'rejected'"
            )
            .bind(id)
            .fetch_one(&mut *c)
            .await?
            });
            crate::ordering::porting::retire_porting(&mut tx, id, false).await?;
            let detail = json!({"code": code, "numbers": wanted});
            let change = |to| Change {
                reason: reason.clone().or_else(|| Some(code.as_str().into())),
                detail: Some(detail.clone()),
                columns: if to == OrderState::Rejected {
                    vec![col(
                        "reject_code",
                        &cur.reject_code,
                        &Some(code.as_str().to_string()),
                    )]
                } else {
                    vec![]
                },
                retire_porting: false,
            };
            // The state stays; the timeline shows the numbers rejected (or the whole order,
            // once none is left).
            let to = if left == 0 {
                OrderState::Rejected
            } else {
                cur.state
            };
            apply_change(
                self,
                &mut tx,
                actor,
                &cur,
                version,
                to,
                Side::Operations,
                change(to),
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.notify_retired(id).await?;
        self.get_order(Scope::All, id).await
    }

    /// Cancels an order: its partner until registration, operations until completion.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn cancel_order(
        &self,
        actor: &Actor,
        scope: Scope,
        side: Side,
        id: Uuid,
        version: Option<i64>,
        reason: Option<&str>,
    ) -> Result<OrderDetail> {
        let reason =
            didhub_core::did::reason(reason).map_err(|e| StoreError::invalid("reason", e))?;
        self.change_state(actor, scope, id, version, side, |_| async {
            Ok(vec![(
                OrderState::Cancelled,
                Change {
                    reason: reason.clone().or_else(|| Some("cancelled".into())),
                    retire_porting: true,
                    ..Change::default()
                },
            )])
        })
        .await
    }

    /// The one path of a change of state: reads the order, lets `plan` decide the steps (one
    /// or two states, each with its reason and columns), and writes them in one transaction,
    /// each checked by the core's transition rule, versioned, audited and on the timeline.
    pub(super) async fn change_state<F, Fut>(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        version: Option<i64>,
        side: Side,
        plan: F,
    ) -> Result<OrderDetail>
    where
        F: Fn(Order) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<(OrderState, Change)>>>,
    {
        retry(|| async {
            let cur = self.order_row(scope, id).await?.into_order();
            let steps = plan(cur.clone()).await?;
            let mut tx = self.begin().await?;
            let mut at = cur.clone();
            let mut client = version;
            for (to, change) in steps {
                apply_change(self, &mut tx, actor, &at, client, to, side, change).await?;
                at.state = to;
                at.version += 1;
                client = None;
            }
            tx.commit().await
        })
        .await?;
        let d = self.get_order(scope, id).await?;
        if matches!(d.order.state, OrderState::Rejected | OrderState::Cancelled) {
            self.notify_retired(id).await?;
        }
        Ok(d)
    }
}
