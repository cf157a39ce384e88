//! The help desk's lists: tickets (the API's `TicketQuery`, read from the address as the API
//! reads it: state, class, partner, customer, assignee (staff), sort; a partner user sees its
//! partner's), the desk's tickets at risk and past their first-response deadline (`at_risk`, `breached`), and
//! the SLA report as a chart with its table.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use chrono::Utc;
use didhub_core::access::Need;
use didhub_core::sla::TicketClass;
use didhub_core::ticket::{SlaStatus, TicketState};
use didhub_store::support::lists::TicketSort;
use didhub_store::support::sla::TicketSummary;
use didhub_store::support::Ticket;
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::svg::{percent_bars, BarChart};
use super::{
    machine_time, render, shown, thousands, when, Chrome, Errors, Form, PageResult, Viewer,
};
use crate::api::support::desk::report_months;
use crate::api::support::tickets::TicketQuery;
use crate::error::ApiError;
use crate::extract::query_of;
use crate::AppState;

/// Tickets on one page of a list.
const PAGE_SIZE: u32 = 50;

/// The fields the filter form shows (a refusal of any other parameter is shown above it).
const FILTER_FIELDS: &[&str] = &[
    "state",
    "class",
    "partner_id",
    "customer_id",
    "assignee_id",
    "sort",
];

pub fn sort_label(s: TicketSort) -> &'static str {
    match s {
        TicketSort::Newest => "Newest first",
        TicketSort::Oldest => "Oldest first",
        TicketSort::Due => "First response due soonest",
    }
}

pub fn sla_label(s: SlaStatus) -> &'static str {
    match s {
        SlaStatus::Met => "met",
        SlaStatus::Breached => "breached",
        SlaStatus::AtRisk => "at risk",
        SlaStatus::Running => "running",
    }
}

/// A ticket as a list row shows it.
pub struct TicketRow {
    pub href: String,
    pub number: String,
    pub subject: String,
    pub partner: String,
    pub customer: String,
    pub state: &'static str,
    pub class: &'static str,
    pub sla: &'static str,
    pub due: String,
    pub due_machine: String,
    pub created: String,
}

/// Partner and customer names the viewer may read, for the rows.
pub struct Names {
    partners: HashMap<Uuid, String>,
    customers: HashMap<Uuid, String>,
}

impl Names {
    pub async fn load(s: &AppState, v: &Viewer) -> Result<Names, ApiError> {
        let scope = v.principal.scope();
        let acc = s.store.accounts();
        let partners = acc.list_partners(scope).await?;
        let customers = acc.list_customers(scope, None).await?;
        Ok(Names {
            partners: partners.iter().map(|p| (p.id, shown(&p.name))).collect(),
            customers: customers.iter().map(|c| (c.id, shown(&c.name))).collect(),
        })
    }

    fn partner(&self, id: Uuid) -> String {
        self.partners.get(&id).cloned().unwrap_or_default()
    }

    fn customer(&self, id: Option<Uuid>) -> String {
        id.and_then(|c| self.customers.get(&c).cloned())
            .unwrap_or_default()
    }

    /// The customers as choices of a filter.
    fn customer_choices(&self, current: &str) -> Vec<Choice> {
        let mut all: Vec<(String, String)> = self
            .customers
            .iter()
            .map(|(id, n)| (id.to_string(), n.clone()))
            .collect();
        all.sort_by_key(|a| a.1.to_lowercase());
        choices(all, current, Some("Any customer"))
    }

    /// The partners as choices of a filter.
    fn choices(&self, current: &str) -> Vec<Choice> {
        let mut all: Vec<(String, String)> = self
            .partners
            .iter()
            .map(|(id, n)| (id.to_string(), n.clone()))
            .collect();
        all.sort_by_key(|a| a.1.to_lowercase());
        choices(all, current, Some("Any partner"))
    }
}

fn row_of(t: &Ticket, names: &Names) -> TicketRow {
    TicketRow {
        href: format!("/tickets/{}", t.id),
        number: format!("#{}", t.number),
        subject: shown(&t.subject),
        partner: names.partner(t.partner_id),
        customer: names.customer(t.customer_id),
        state: t.state.as_str(),
        class: t.class.as_str(),
        sla: sla_label(t.sla),
        due: when(&t.first_response_due),
        due_machine: machine_time(&t.first_response_due),
        created: when(&t.created_at),
    }
}

fn summary_row(t: &TicketSummary, names: &Names) -> TicketRow {
    TicketRow {
        href: format!("/tickets/{}", t.id),
        number: format!("#{}", t.number),
        subject: shown(&t.subject),
        partner: names.partner(t.partner_id),
        customer: names.customer(t.customer_id),
        state: t.state.as_str(),
        class: t.class.as_str(),
        sla: sla_label(t.sla),
        due: when(&t.first_response_due),
        due_machine: machine_time(&t.first_response_due),
        created: when(&t.created_at),
    }
}

/// The address of the next page: the same query with the store's cursor.
fn next_href(path: &str, form: &Form, cursor: &str) -> String {
    let mut q = form.encode_except(&["cursor"]);
    let mut more = form_urlencoded::Serializer::new(String::new());
    more.append_pair("cursor", cursor);
    if !q.is_empty() {
        q.push('&');
    }
    q.push_str(&more.finish());
    format!("{path}?{q}")
}

fn first_href(path: &str, form: &Form) -> Option<String> {
    form.get("cursor").map(|_| {
        let q = form.encode_except(&["cursor"]);
        if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        }
    })
}

#[derive(Template)]
#[template(path = "portal/tickets.html")]
struct TicketsPage {
    chrome: Chrome,
    errors: Errors,
    stray: Vec<String>,
    states: Vec<Choice>,
    classes: Vec<Choice>,
    sorts: Vec<Choice>,
    /// Staff filter by partner; a partner user has one.
    partners: Option<Vec<Choice>>,
    customers: Vec<Choice>,
    /// Staff filter by assignee (support staff who may take a ticket); partners have none.
    assignees: Option<Vec<Choice>>,
    rows: Vec<TicketRow>,
    count: Option<String>,
    next: Option<String>,
    first: Option<String>,
    /// Whether the viewer reads the desk's lists (the links to them).
    desk: bool,
}

/// Tickets: the API's filters and sort from the address, newest first by default, pages of
/// 50 and the count of matches.
pub async fn list(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let mut errors = Errors::default();
    let (mut rows, mut count, mut next) = (Vec::new(), None, None);
    let names = Names::load(&s, &v).await.map_err(|e| v.fail(e))?;
    let query = match query_of::<TicketQuery>(&form.encode_except(&[])) {
        Ok(q) => match q.filter() {
            Ok(f) => Some((q, f)),
            Err(e) => {
                errors.take(e).map_err(|e| v.fail(e))?;
                None
            }
        },
        Err(e) => {
            errors.take(e).map_err(|e| v.fail(e))?;
            None
        }
    };
    if let Some((q, f)) = query {
        let desk = s.store.support();
        let scope = v.principal.scope();
        let limit = q.limit.unwrap_or(PAGE_SIZE);
        match desk
            .list_tickets(scope, &f, q.cursor.as_deref(), limit)
            .await
        {
            Ok(page) => {
                rows = page.items.iter().map(|t| row_of(t, &names)).collect();
                let n = desk.count_tickets(scope, &f).await.map_err(|e| v.fail(e))?;
                count = Some(thousands(n));
                next = page.next_cursor.map(|c| next_href("/tickets", &form, &c));
            }
            Err(e) => errors.take(e.into()).map_err(|e| v.fail(e))?,
        }
    }
    let staff = !v.principal.role.is_partner();
    let assignees = if staff {
        Some(
            assignee_choices(&s, form.value("assignee_id"))
                .await
                .map_err(|e| v.fail(e))?,
        )
    } else {
        None
    };
    let page = TicketsPage {
        chrome: v.chrome("Tickets", "/tickets"),
        stray: errors.others(FILTER_FIELDS),
        states: choices(
            TicketState::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), s.as_str().to_string())),
            form.value("state"),
            Some("Any state"),
        ),
        classes: choices(
            TicketClass::ALL
                .iter()
                .map(|c| (c.as_str().to_string(), c.as_str().to_string())),
            form.value("class"),
            Some("Any class"),
        ),
        sorts: choices(
            TicketSort::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), sort_label(*s).to_string())),
            form.get("sort")
                .filter(|s| !s.is_empty())
                .unwrap_or("newest"),
            None,
        ),
        partners: staff.then(|| names.choices(form.value("partner_id"))),
        customers: names.customer_choices(form.value("customer_id")),
        assignees,
        first: first_href("/tickets", &form),
        desk: v.principal.role.allows(Need::SupportDesk),
        rows,
        count,
        next,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

/// The users a ticket may be assigned to (enabled staff who read the desk, as the ticket's
/// assignment form offers them), and the one the address names if it is no longer among them.
async fn assignee_choices(s: &AppState, current: &str) -> Result<Vec<Choice>, ApiError> {
    let users = s.store.accounts().list_users(None).await?;
    let mut all: Vec<(String, String)> = users
        .iter()
        .filter(|u| {
            let offered = !u.disabled && !u.role.is_partner() && u.role.allows(Need::SupportDesk);
            offered || u.id.to_string() == current
        })
        .map(|u| (u.id.to_string(), shown(&u.email)))
        .collect();
    all.sort_by_key(|a| a.1.to_lowercase());
    Ok(choices(all, current, Some("Anyone")))
}

#[derive(Template)]
#[template(path = "portal/tickets_desk.html")]
struct DeskPage {
    chrome: Chrome,
    heading: &'static str,
    intro: &'static str,
    rows: Vec<TicketRow>,
    count: String,
    next: Option<String>,
    first: Option<String>,
    errors: Errors,
}

/// Unanswered tickets at risk of missing their first response (critical within 15 minutes,
/// standard within 2 hours), soonest first: the desk's `at_risk`, whole (it holds only what
/// falls due within two hours).
pub async fn at_risk(State(s): State<AppState>, v: Viewer) -> PageResult {
    let names = Names::load(&s, &v).await.map_err(|e| v.fail(e))?;
    let list = s
        .store
        .support()
        .at_risk(Utc::now())
        .await
        .map_err(|e| v.fail(e))?;
    let page = DeskPage {
        chrome: v.chrome("Tickets at risk", "/tickets/at-risk"),
        heading: "Tickets at risk",
        intro: "Unanswered tickets whose first response is due soon: critical within 15 \
                minutes, standard within 2 hours. Soonest first.",
        count: format!("{} tickets at risk.", thousands(list.len() as i64)),
        rows: list.iter().map(|t| summary_row(t, &names)).collect(),
        next: None,
        first: None,
        errors: Errors::default(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// Unanswered tickets past their first-response deadline, longest overdue first, pages of
/// 50 (the desk's `breached`).
pub async fn breached(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let names = Names::load(&s, &v).await.map_err(|e| v.fail(e))?;
    let mut errors = Errors::default();
    let cursor = form.get("cursor").filter(|c| !c.trim().is_empty());
    let (mut rows, mut next, mut count) = (Vec::new(), None, String::new());
    match s
        .store
        .support()
        .breached(Utc::now(), cursor, PAGE_SIZE)
        .await
    {
        Ok(page) => {
            rows = page.items.iter().map(|t| summary_row(t, &names)).collect();
            count = if page.next_cursor.is_some() {
                format!("{} shown here; more on the next page.", rows.len())
            } else if cursor.is_some() {
                format!("{} more past their deadline.", rows.len())
            } else {
                format!("{} tickets past their deadline.", rows.len())
            };
            next = page
                .next_cursor
                .map(|c| next_href("/tickets/breached", &form, &c));
        }
        Err(e) => errors.take(e.into()).map_err(|e| v.fail(e))?,
    }
    let page = DeskPage {
        chrome: v.chrome("Tickets past their deadline", "/tickets/breached"),
        heading: "Tickets past their first-response deadline",
        intro: "Unanswered tickets whose first response is overdue. Longest overdue first.",
        first: first_href("/tickets/breached", &form),
        rows,
        count,
        next,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

pub struct ReportRow {
    pub month: String,
    pub centre: String,
    pub class: &'static str,
    pub tickets: String,
    pub met: String,
    pub breached: String,
    pub running: String,
    pub attainment: String,
}

#[derive(Template)]
#[template(path = "portal/sla_report.html")]
struct ReportPage {
    chrome: Chrome,
    errors: Errors,
    from: String,
    to: String,
    rows: Vec<ReportRow>,
    chart: BarChart,
}

/// First-response attainment per month, centre and class: the API's report (its default
/// months), drawn as bars of attainment with the table as their text alternative.
pub async fn report(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let mut errors = Errors::default();
    let blank = |f: &str| Some(form.value(f).trim().to_string()).filter(|v| !v.is_empty());
    let now = Utc::now();
    let (from, to) = report_months(now, blank("from"), blank("to"));
    let list = match s.store.support().sla_report(now, &from, &to).await {
        Ok(l) => l,
        Err(e) => {
            errors.take(e.into()).map_err(|e| v.fail(e))?;
            Vec::new()
        }
    };
    let label = |r: &didhub_store::support::sla::SlaReportRow| {
        format!("{} {} {}", r.month, r.centre, r.class.as_str())
    };
    let chart = percent_bars(
        &list
            .iter()
            .map(|r| (label(r), r.attainment))
            .collect::<Vec<_>>(),
        "nothing decided yet",
    );
    let page = ReportPage {
        chrome: v.chrome("SLA report", "/tickets/report"),
        rows: list
            .iter()
            .map(|r| ReportRow {
                month: r.month.clone(),
                centre: shown(&r.centre),
                class: r.class.as_str(),
                tickets: thousands(r.tickets),
                met: thousands(r.met),
                breached: thousands(r.breached),
                running: thousands(r.running),
                attainment: r
                    .attainment
                    .map(|a| format!("{:.1} %", a * 100.0))
                    .unwrap_or_else(|| "nothing decided yet".into()),
            })
            .collect(),
        chart,
        from,
        to,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}
