//! What needs attention: orders overdue or at risk (the ordering room's own lists) and tickets
//! at risk or past their first-response deadline (the support desk's), each linking to an
//! order's page (its timeline) or a ticket's (its conversation, `ticket`). Scoped as the API
//! scopes them.

use chrono::Utc;
use didhub_core::access::Need;
use didhub_core::order_flow::Attention;
use didhub_store::ordering::orders::{Order, OrderFilter};
use didhub_store::support::sla::TicketSummary;
use uuid::Uuid;

use super::{machine_time, shown, when, Viewer};
use crate::error::ApiError;
use crate::AppState;

/// Rows of each list on the dashboard; the rest are counted.
const SHOWN: u32 = 20;

pub struct OrderRow {
    pub href: String,
    pub reference: String,
    pub customer: String,
    pub service: String,
    pub state: String,
    pub promised: String,
}

pub struct TicketRow {
    pub href: String,
    pub number: String,
    pub subject: String,
    pub class: String,
    pub due: String,
    pub due_machine: String,
}

/// The dashboard's "needs attention": each list `None` when the viewer's role may not read it.
pub struct NeedsAttention {
    pub overdue: Option<Vec<OrderRow>>,
    pub at_risk: Option<Vec<OrderRow>>,
    pub tickets_at_risk: Option<Vec<TicketRow>>,
    pub breached: Option<Vec<TicketRow>>,
    pub breached_more: bool,
}

fn order_row(o: &Order, customer: String) -> OrderRow {
    OrderRow {
        href: format!("/orders/{}", o.id),
        reference: format!("#{}", o.order_ref),
        customer,
        service: o.service.replace('_', " "),
        state: o.state.to_string().replace('_', " "),
        promised: o.promised_by.map(|d| d.to_string()).unwrap_or_default(),
    }
}

fn ticket_row(t: &TicketSummary) -> TicketRow {
    TicketRow {
        href: format!("/tickets/{}", t.id),
        number: format!("#{}", t.number),
        subject: shown(&t.subject),
        class: t.class.to_string(),
        due: when(&t.first_response_due),
        due_machine: machine_time(&t.first_response_due),
    }
}

async fn orders(
    s: &AppState,
    v: &Viewer,
    attention: Attention,
    names: &(dyn Fn(Uuid) -> String + Sync),
) -> Result<Vec<OrderRow>, ApiError> {
    let f = OrderFilter {
        state: None,
        customer_id: None,
        attention: Some(attention),
        ..Default::default()
    };
    let page = s
        .store
        .ordering()
        .list_orders(v.principal.scope(), &f, None, SHOWN)
        .await?;
    Ok(page
        .items
        .iter()
        .map(|o| order_row(o, names(o.customer_id)))
        .collect())
}

/// The lists the viewer's role may read (the API's needs: orders `OrgRead`, the desk's lists
/// `SupportDesk`).
pub async fn needs_attention(s: &AppState, v: &Viewer) -> Result<NeedsAttention, ApiError> {
    let role = v.principal.role;
    let mut out = NeedsAttention {
        overdue: None,
        at_risk: None,
        tickets_at_risk: None,
        breached: None,
        breached_more: false,
    };
    if role.allows(Need::OrgRead) {
        let customers = s
            .store
            .accounts()
            .list_customers(v.principal.scope(), None)
            .await?;
        let names = |id: Uuid| {
            customers
                .iter()
                .find(|c| c.id == id)
                .map(|c| shown(&c.name))
                .unwrap_or_default()
        };
        out.overdue = Some(orders(s, v, Attention::Overdue, &names).await?);
        out.at_risk = Some(orders(s, v, Attention::AtRisk, &names).await?);
    }
    if role.allows(Need::SupportDesk) {
        let now = Utc::now();
        let desk = s.store.support();
        let risk = desk.at_risk(now).await?;
        out.tickets_at_risk = Some(risk.iter().take(SHOWN as usize).map(ticket_row).collect());
        let late = desk.breached(now, None, SHOWN).await?;
        out.breached_more = late.next_cursor.is_some();
        out.breached = Some(late.items.iter().map(ticket_row).collect());
    }
    Ok(out)
}

pub struct EventView {
    pub at: String,
    pub at_machine: String,
    pub actor: String,
    pub what: String,
    pub details: Vec<String>,
    pub reason: String,
}
