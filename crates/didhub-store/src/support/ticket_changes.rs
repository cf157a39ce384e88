//! Changes of a ticket's state, class and assignee: each through the versioned update, on the
//! timeline and in the audit log. Apart from `tickets.rs` (opening, field edits, reads) because
//! these follow the core's state rule and are shared with the conversation (`messages.rs`).

use didhub_core::sla::TicketClass;
use didhub_core::ticket::{
    self, check_class, check_transition, CriticalCriterion, FieldErrors, Side, TicketState,
};
use uuid::Uuid;

use super::tickets::update;
use super::{event, fields, TicketDetail, TicketRow};
use crate::accounts::orgs::Scope;
use crate::db::sql::{on_tx, Tx};
use crate::db::versioned::{col, Column};
use crate::{now, retry, Actor, Result, StoreError, Support};

impl Support<'_> {
    /// Moves a ticket to another state (the core's rule says who may). Closing is final.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    #[allow(clippy::too_many_arguments)]
    pub async fn set_state(
        &self,
        actor: &Actor,
        side: Side,
        scope: Scope,
        id: Uuid,
        version: Option<i64>,
        to: TicketState,
        reason: Option<&str>,
    ) -> Result<TicketDetail> {
        let reason = crate::audit::check_reason(reason)?;
        retry(|| async {
            let cur = self.ticket_row(scope, id).await?;
            let mut tx = self.begin().await?;
            change_state(&mut tx, actor, &cur, version, to, side, reason.as_deref()).await?;
            tx.commit().await
        })
        .await?;
        self.get_ticket(scope, id).await
    }

    /// Sets the class of service (support staff): a critical class names its criterion. The
    /// first-response deadline is computed again from the ticket's creation.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn set_class(
        &self,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        class: TicketClass,
        criterion: Option<CriticalCriterion>,
        reason: Option<&str>,
    ) -> Result<TicketDetail> {
        let reason = crate::audit::check_reason(reason)?;
        let mut errors = FieldErrors::new();
        let criterion = check_class(&mut errors, class, criterion);
        fields(errors)?;
        retry(|| async {
            let cur = self.ticket_row(Scope::All, id).await?;
            refuse_closed(&cur)?;
            let centre = self.get_centre(&cur.centre).await?;
            let due = self
                .first_response_due(&centre, class, cur.created_at)
                .await?;
            let mut tx = self.begin().await?;
            let columns = vec![
                col("class", &cur.class, &class.as_str().to_string()),
                col(
                    "criterion",
                    &cur.criterion,
                    &criterion.map(|c| c.to_string()),
                ),
                col("class_set_by", &cur.class_set_by, &"staff".to_string()),
                col("first_response_due", cur.first_response_due, &due),
            ];
            if update(&cur, version, "ticket.class")
                .apply(&mut tx, actor, columns, vec![])
                .await?
            {
                let after = match criterion {
                    Some(c) => format!("{class} ({c})"),
                    None => class.to_string(),
                };
                let before = match &cur.criterion {
                    Some(c) => format!("{} ({c})", cur.class),
                    None => cur.class.clone(),
                };
                if due != cur.first_response_due {
                    // A new deadline: its alerts are mailed afresh.
                    on_tx!(&mut tx, |c| sqlx::query(
                        "UPDATE tickets SET sla_alert = NULL WHERE id = $1"
                    )
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                }
                event(
                    &mut tx,
                    actor,
                    id,
                    "class",
                    Some(&before),
                    Some(&after),
                    reason.as_deref(),
                )
                .await?;
            }
            tx.commit().await
        })
        .await?;
        self.get_ticket(Scope::All, id).await
    }

    /// Gives the ticket to a member of support staff (support or admin), or to nobody.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn assign_ticket(
        &self,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        assignee: Option<Uuid>,
    ) -> Result<TicketDetail> {
        if let Some(u) = assignee {
            let user = self.accounts().get_user(None, u).await.ok();
            let staff = user.as_ref().is_some_and(|u| {
                !u.disabled
                    && matches!(
                        u.role,
                        didhub_core::access::Role::Support | didhub_core::access::Role::Admin
                    )
            });
            if !staff {
                return Err(StoreError::invalid(
                    "assignee_id",
                    format!("{u} is not an active support or admin user"),
                ));
            }
        }
        retry(|| async {
            let cur = self.ticket_row(Scope::All, id).await?;
            refuse_closed(&cur)?;
            let mut tx = self.begin().await?;
            let changed = update(&cur, version, "ticket.assign")
                .apply(
                    &mut tx,
                    actor,
                    vec![col("assignee_id", cur.assignee_id, &assignee)],
                    vec![],
                )
                .await?;
            if changed {
                let show = |u: Option<Uuid>| u.map(|u| u.to_string());
                let (b, a) = (show(cur.assignee_id), show(assignee));
                event(
                    &mut tx,
                    actor,
                    id,
                    "assignee",
                    b.as_deref(),
                    a.as_deref(),
                    None,
                )
                .await?;
            }
            tx.commit().await
        })
        .await?;
        self.get_ticket(Scope::All, id).await
    }
}

impl TicketRow {
    pub(crate) fn state(&self) -> TicketState {
        self.state.parse().unwrap_or(TicketState::Open)
    }
}

/// A closed ticket changes no more (409, saying to open a new case referencing it).
pub(crate) fn refuse_closed(cur: &TicketRow) -> Result<()> {
    if cur.state() == TicketState::Closed {
        return Err(StoreError::Conflict(ticket::closed_refusal(cur.number)));
    }
    Ok(())
}

/// One change of state in the caller's transaction: the rule, the versioned update (with
/// `extra` columns), the timeline.
pub(crate) async fn change_state(
    tx: &mut Tx,
    actor: &Actor,
    cur: &TicketRow,
    version: Option<i64>,
    to: TicketState,
    side: Side,
    reason: Option<&str>,
) -> Result<()> {
    change_state_with(tx, actor, cur, version, to, side, reason, Vec::new()).await
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn change_state_with(
    tx: &mut Tx,
    actor: &Actor,
    cur: &TicketRow,
    version: Option<i64>,
    to: TicketState,
    side: Side,
    reason: Option<&str>,
    mut columns: Vec<Column>,
) -> Result<()> {
    let from = cur.state();
    if from != to {
        check_transition(cur.number, from, to, side)
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        columns.push(col("state", &cur.state, &to.as_str().to_string()));
        if to == TicketState::Closed {
            columns.push(col("closed_at", cur.closed_at, &Some(now())));
        }
    } else if columns.is_empty() {
        // Asked for the state it is in: nothing to do, but say so when it is closed.
        return refuse_closed(cur);
    }
    // A message that leaves the state as it is changes only the first response.
    let action = if from != to {
        format!("ticket.{to}")
    } else {
        "ticket.reply".to_string()
    };
    update(cur, version, &action)
        .apply(tx, actor, columns, vec![])
        .await?;
    if from != to {
        event(
            tx,
            actor,
            cur.id,
            "state",
            Some(from.as_str()),
            Some(to.as_str()),
            reason,
        )
        .await?;
    }
    Ok(())
}
