//! Numbers ported in. At registration they enter the inventory as `porting` (outbound calls
//! work at once; inbound ones too when instant virtual porting forwards them: the DID then
//! has a destination). At completion they are assigned to the customer under a client
//! package, through the assignment room's own rules; a number rejected, or an order cancelled,
//! takes its porting DIDs out of service (`archive`).

use didhub_core::did::DidStatus;
use didhub_core::number::classify;
use didhub_core::order_flow::{OrderState, Side};
use serde_json::json;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::assignment::assign::{AssignRequest, Moved};
use crate::assignment::blocks::{StockDelta, StockTally};
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::inventory::dids::{insert_rows, NewRow};
use crate::ordering::orders::{apply_change, Change, Order, OrderDetail};
use crate::{new_id, now, on, retry, Actor, Ordering, Result, StoreError};

/// A porting DID of an order: id, number, operator, country, number type.
type PortingDid = (Uuid, String, Uuid, String, String);

impl Ordering<'_> {
    /// Registers a porting order: its pending numbers enter the inventory as `porting` with
    /// `operator_id`, forwarded to `destination` when the order asked for instant virtual
    /// porting.
    pub(crate) async fn register_porting(
        &self,
        actor: &Actor,
        cur: &Order,
        version: Option<i64>,
        operator_id: Option<Uuid>,
        destination: Option<&str>,
    ) -> Result<OrderDetail> {
        let ivp = cur.body.ivp == Some(true);
        let mut errors = Vec::new();
        if operator_id.is_none() {
            errors.push((
                "operator_id".to_string(),
                "the operator the numbers are ported to is required".to_string(),
            ));
        }
        let destination = destination.map(str::trim).filter(|d| !d.is_empty());
        if ivp && destination.is_none() {
            errors.push((
                "destination".to_string(),
                "instant virtual porting forwards inbound calls: where to is required".to_string(),
            ));
        }
        let Some(operator_id) = operator_id.filter(|_| errors.is_empty()) else {
            return Err(StoreError::InvalidFields(errors));
        };
        self.inventory()
            .get_operator(operator_id)
            .await
            .map_err(|_| {
                StoreError::invalid(
                    "operator_id",
                    format!("operator {operator_id} does not exist"),
                )
            })?;
        let destination = if ivp {
            destination.map(str::to_string)
        } else {
            None
        };
        let pending: Vec<String> = on!(self, |p| {
            sqlx::query_scalar(
            "SELECT number FROM order_numbers WHERE order_id = $1 AND state = 'pending' ORDER BY number"
        )
        .bind(cur.id)
        .fetch_all(p)
        .await?
        });
        let mut rows = Vec::with_capacity(pending.len());
        for n in &pending {
            let cl = classify(n, None)
                .map_err(|e| StoreError::invalid("numbers", format!("{n}: {e}")))?;
            rows.push(NewRow {
                number: n.clone(),
                country: cl.country.to_string(),
                number_type: cl.number_type.as_str(),
                operator_id,
                status: DidStatus::Porting,
                after_hold: DidStatus::Archive,
                tag: None,
                notes: Some(format!("porting in: order #{}", cur.order_ref)),
            });
        }
        let order_reason = format!("order #{}", cur.order_ref);
        retry(|| async {
            let batch_id = new_id();
            let mut tx = self.begin().await?;
            let existing = insert_rows(&mut tx, &rows, batch_id, &mut StockTally::default()).await?;
            if !existing.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "already in the inventory: {}",
                    existing.join(", ")
                )));
            }
            // A second version, so that other instances' routing followers (which read changed
            // rows, not imports) see the new numbers.
            on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE dids SET destination = $1, version = version + 1, updated_at = $2 WHERE batch_id = $3"
            )
            .bind(destination.as_deref())
            .bind(now())
            .bind(batch_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            on_tx!(&mut tx, |c| sqlx::query(
                "UPDATE order_numbers SET state = 'registered', did_id = (SELECT d.id FROM dids d WHERE \
                 d.number = order_numbers.number) WHERE order_id = $1 AND state = 'pending'"
            )
            .bind(cur.id)
            .execute(&mut *c)
            .await?
            .rows_affected());
            write_audit(
                &mut tx,
                AuditWrite {
                    id: Some(batch_id),
                    actor,
                    action: "did.create",
                    entity: "batch",
                    entity_id: Some(batch_id),
                    subject: (rows.len() == 1).then(|| rows[0].number.clone()),
                    changes: json!({"count": rows.len(), "first": rows.first().map(|r| &r.number),
                        "last": rows.last().map(|r| &r.number), "status": "porting",
                        "order": format!("#{}", cur.order_ref)}),
                    reason: Some(&order_reason),
                },
            )
            .await?;
            let change = Change {
                reason: Some(format!("{} numbers entered the inventory as porting", rows.len())),
                detail: Some(json!({"numbers": rows.len(), "ivp": ivp})),
                columns: vec![],
                retire_porting: false,
            };
            apply_change(&mut tx, actor, cur, version, OrderState::Registered, Side::Operations, change).await?;
            tx.commit().await
        })
        .await?;
        let moved: Vec<Moved> = rows
            .iter()
            .map(|r| Moved {
                number: r.number.clone(),
                status: DidStatus::Porting,
                destination: destination.clone(),
                pending_until: None,
            })
            .collect();
        self.hooks.routing_moved(&moved);
        self.get_order(Scope::All, cur.id).await
    }

    /// Completes a porting order: its registered numbers are assigned to the customer under
    /// `cp_id` (the assignment room's rules: allowance, package rule, destination). They pass
    /// through stock for the length of that call; should it refuse, they return to `porting`
    /// and the order stays as it was.
    pub(crate) async fn complete_porting(
        &self,
        actor: &Actor,
        cur: &Order,
        cp_id: Option<Uuid>,
        destination: Option<&str>,
    ) -> Result<()> {
        let dids: Vec<PortingDid> = on!(self, |p| {
            sqlx::query_as(
            "SELECT d.id, d.number, d.operator_id, d.country, d.number_type FROM order_numbers n \
             JOIN dids d ON d.id = n.did_id WHERE n.order_id = $1 AND n.state = 'registered' AND \
             d.status = 'porting' ORDER BY d.number"
        )
        .bind(cur.id)
        .fetch_all(p)
        .await?
        });
        if dids.is_empty() {
            return Ok(());
        }
        let mut errors = Vec::new();
        if cp_id.is_none() {
            errors.push((
                "client_package_id".to_string(),
                "ported numbers are assigned under a client package of the customer: name it"
                    .to_string(),
            ));
        }
        let destination = destination.map(str::trim).filter(|d| !d.is_empty());
        if destination.is_none() {
            errors.push((
                "destination".to_string(),
                "where the numbers' calls go is required".to_string(),
            ));
        }
        let (Some(cp_id), Some(destination)) = (cp_id.filter(|_| errors.is_empty()), destination)
        else {
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
        let reason = format!("order #{}: port completed", cur.order_ref);
        self.move_porting(
            actor,
            &dids,
            DidStatus::Porting,
            DidStatus::InStock,
            &reason,
        )
        .await?;
        let req = AssignRequest {
            did_ids: dids.iter().map(|d| d.0).collect(),
            numbers: vec![],
            destination: destination.to_string(),
            reason: Some(reason.clone()),
        };
        if let Err(e) = self.assignment().assign_dids(actor, cp_id, &req).await {
            self.move_porting(
                actor,
                &dids,
                DidStatus::InStock,
                DidStatus::Porting,
                "assignment refused",
            )
            .await?;
            return Err(e);
        }
        Ok(())
    }

    /// Moves porting DIDs between `porting` and stock, with their stock counts and history.
    async fn move_porting(
        &self,
        actor: &Actor,
        dids: &[PortingDid],
        from: DidStatus,
        to: DidStatus,
        reason: &str,
    ) -> Result<()> {
        retry(|| async {
            let mut tx = self.begin().await?;
            let ids: Vec<Uuid> = dids.iter().map(|d| d.0).collect();
            let mut sql = Sql::new("UPDATE dids SET status = ");
            sql.bind(Param::Text(to.as_str().into()))
                .push(", destination = NULL, version = version + 1, updated_at = ")
                .bind(Param::Time(now()))
                .push(" WHERE status = ")
                .bind(Param::Text(from.as_str().into()))
                .push(" AND");
            sql.push_in_uuids(matches!(tx, Tx::Postgres(_)), "id", &ids);
            let n = on_tx!(&mut tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
                .execute(&mut *c)
                .await?
                .rows_affected());
            if n as usize != dids.len() {
                return Err(StoreError::Conflict(
                    "the order's numbers changed meanwhile; try again".into(),
                ));
            }
            let mut stock = StockTally::default();
            let delta = if to == DidStatus::InStock { 1 } else { -1 };
            for (id, number, operator_id, country, number_type) in dids {
                stock.add(&StockDelta {
                    number,
                    operator_id: *operator_id,
                    country,
                    number_type,
                    delta,
                });
                write_audit(
                    &mut tx,
                    AuditWrite {
                        id: None,
                        actor,
                        action: "did.update",
                        entity: "did",
                        entity_id: Some(*id),
                        subject: Some(number.clone()),
                        changes: json!({"status": [from, to]}),
                        reason: Some(reason),
                    },
                )
                .await?;
            }
            stock.write(&mut tx).await?;
            tx.commit().await
        })
        .await
    }
}

impl Ordering<'_> {
    /// Tells this instance's routing table (after commit) about the order's numbers taken out
    /// of service; other instances' followers read them from the database.
    pub(crate) async fn notify_retired(&self, order_id: Uuid) -> Result<()> {
        let numbers: Vec<String> = on!(self, |p| {
            sqlx::query_scalar(
            "SELECT d.number FROM order_numbers n JOIN dids d ON d.id = n.did_id WHERE n.order_id = $1 \
             AND d.status = 'archive'"
        )
        .bind(order_id)
        .fetch_all(p)
        .await?
        });
        let moved: Vec<Moved> = numbers
            .into_iter()
            .map(|number| Moved {
                number,
                status: DidStatus::Archive,
                destination: None,
                pending_until: None,
            })
            .collect();
        self.hooks.routing_moved(&moved);
        Ok(())
    }
}

/// Takes out of service (`archive`) the porting DIDs of an order's rejected numbers, or of
/// all its numbers (`all`: the order is cancelled), in the transaction of that change.
pub(crate) async fn retire_porting(tx: &mut Tx, order_id: Uuid, all: bool) -> Result<u64> {
    let which = if all { "" } else { " AND n.state = 'rejected'" };
    let sql = format!(
        "UPDATE dids SET status = 'archive', destination = NULL, version = version + 1, updated_at = $2 \
         WHERE status = 'porting' AND id IN (SELECT n.did_id FROM order_numbers n WHERE n.order_id = $1{which})"
    );
    Ok(on_tx!(tx, |c| sqlx::query(&sql)
        .bind(order_id)
        .bind(now())
        .execute(&mut *c)
        .await?
        .rows_affected()))
}
