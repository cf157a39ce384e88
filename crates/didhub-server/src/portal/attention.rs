//! What needs attention: orders overdue or at risk (the ordering room's own lists) and tickets
//! at risk or past their first-response deadline (the support desk's), each linking to an
//! order's page (its timeline) or a ticket's (its conversation). Scoped as the API scopes them.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use didhub_core::access::Need;
use didhub_core::order_flow::Attention;
use didhub_store::ordering::orders::{Order, OrderFilter};
use didhub_store::support::sla::TicketSummary;
use uuid::Uuid;

use super::{machine_time, render, shown, when, Chrome, PageResult, Viewer};
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

pub struct MessageView {
    pub at: String,
    pub at_machine: String,
    pub author: String,
    pub side: &'static str,
    pub internal: bool,
    pub body: String,
}

#[derive(Template)]
#[template(path = "portal/ticket.html")]
struct TicketPage {
    chrome: Chrome,
    number: String,
    subject: String,
    state: String,
    class: String,
    sla: String,
    due: String,
    due_machine: String,
    messages: Vec<MessageView>,
}

pub async fn ticket(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id
        .parse()
        .map_err(|_| v.fail(ApiError::NotFound("ticket".into())))?;
    let scope = v.principal.scope();
    let desk = s.store.support();
    let d = desk.get_ticket(scope, id).await.map_err(|e| v.fail(e))?;
    // Internal notes are the desk's: a partner user never reads them (the API's rule).
    let staff = !v.principal.role.is_partner();
    let messages = desk
        .list_messages(scope, id, staff)
        .await
        .map_err(|e| v.fail(e))?;
    let t = &d.ticket;
    let page = TicketPage {
        chrome: v.chrome(&format!("Ticket #{}", t.number), "/dashboard"),
        number: format!("#{}", t.number),
        subject: shown(&t.subject),
        state: t.state.to_string(),
        class: t.class.to_string(),
        sla: t.sla.to_string().replace('_', " "),
        due: when(&t.first_response_due),
        due_machine: machine_time(&t.first_response_due),
        messages: messages
            .iter()
            .map(|m| MessageView {
                at: when(&m.at),
                at_machine: machine_time(&m.at),
                author: shown(&m.author),
                side: m.side.as_str(),
                internal: m.visibility.to_string() == "internal",
                body: shown(&m.body),
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}
