//! The list of orders: the API's filters (state, customer, attention) read from the same query
//! string, keyset pages of the store's `list_orders` (newest first), and the count of matches
//! (`count_orders`). Operations' overdue and at-risk lists are this list filtered by
//! attention (the store gives them whole, oldest promise first). Scoped as the API scopes it.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_core::order_flow::OrderState;
use didhub_store::ordering::orders::{Order, OrderSort};
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::order_form::service_label;
use super::{render, shown, thousands, Chrome, Errors, Form, PageResult, Viewer};
use crate::api::ordering::orders::OrderQuery;
use crate::extract::query_of;
use crate::AppState;

/// Orders on one page of the list.
const PAGE_SIZE: u32 = 50;

/// The list's fields, as the API's query string names them.
const FIELDS: &[&str] = &["state", "customer_id", "attention", "sort", "cursor"];

pub struct OrderRow {
    pub href: String,
    pub reference: String,
    pub customer: String,
    pub country: String,
    pub service: String,
    pub state: String,
    pub promised: String,
    pub attention: &'static str,
}

/// A state or service name as words.
pub fn words(s: &str) -> String {
    s.replace('_', " ")
}

pub fn attention_label(o: &Order) -> &'static str {
    match o.attention.map(|a| a.as_str()) {
        Some("overdue") => "overdue",
        Some("at_risk") => "at risk",
        _ => "",
    }
}

#[derive(Template)]
#[template(path = "portal/orders.html")]
struct ListPage {
    chrome: Chrome,
    errors: Errors,
    stray: Vec<String>,
    states: Vec<Choice>,
    customers: Vec<Choice>,
    attentions: Vec<Choice>,
    sorts: Vec<Choice>,
    heading: &'static str,
    order_note: &'static str,
    rows: Vec<OrderRow>,
    count: Option<String>,
    next: Option<String>,
    first: Option<String>,
    /// Whether the viewer may create orders (`OrgWrite`).
    writer: bool,
}

pub async fn list(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let mut errors = Errors::default();
    let scope = v.principal.scope();
    let customers = s
        .store
        .accounts()
        .list_customers(scope, None)
        .await
        .map_err(|e| v.fail(e))?;
    let name_of = |id: Uuid| {
        customers
            .iter()
            .find(|c| c.id == id)
            .map(|c| shown(&c.name))
            .unwrap_or_default()
    };
    // The API's own reading of its query string: unknown parameters and bad values refused.
    let filter = match query_of::<OrderQuery>(&form.encode(FIELDS))
        .and_then(|q| q.filter().map(|f| (f, q)))
    {
        Ok(f) => Some(f),
        Err(e) => {
            errors.take(e).map_err(|e| v.fail(e))?;
            None
        }
    };
    for (k, _) in &form.0 {
        if !FIELDS.contains(&k.as_str()) {
            errors.add(k.clone(), "not a filter of orders");
        }
    }
    let (mut rows, mut count, mut next) = (Vec::new(), None, None);
    let attention = filter.as_ref().and_then(|(f, _)| f.attention);
    if let (Some((f, q)), true) = (&filter, errors.is_empty()) {
        let ordering = s.store.ordering();
        match ordering
            .list_orders(scope, f, q.cursor.as_deref(), PAGE_SIZE)
            .await
        {
            Ok(page) => {
                rows = page
                    .items
                    .iter()
                    .map(|o| OrderRow {
                        href: format!("/orders/{}", o.id),
                        reference: format!("#{}", o.order_ref),
                        customer: name_of(o.customer_id),
                        country: o.country.clone(),
                        service: o
                            .service
                            .parse()
                            .map(|sv| service_label(sv).to_string())
                            .unwrap_or_else(|_| words(&o.service)),
                        state: words(o.state.as_str()),
                        promised: o.promised_by.map(|d| d.to_string()).unwrap_or_default(),
                        attention: attention_label(o),
                    })
                    .collect();
                let n = ordering
                    .count_orders(scope, f)
                    .await
                    .map_err(|e| v.fail(e))?;
                count = Some(thousands(n));
                next = page.next_cursor.map(|c| {
                    let mut q = form.encode_except(&["cursor"]);
                    let mut more = form_urlencoded::Serializer::new(String::new());
                    more.append_pair("cursor", &c);
                    if !q.is_empty() {
                        q.push('&');
                    }
                    q.push_str(&more.finish());
                    format!("/orders?{q}")
                });
            }
            Err(e) => errors.take(e.into()).map_err(|e| v.fail(e))?,
        }
    }
    let first = form.get("cursor").map(|_| {
        let q = form.encode_except(&["cursor"]);
        if q.is_empty() {
            "/orders".to_string()
        } else {
            format!("/orders?{q}")
        }
    });
    let (heading, order_note) = match attention.map(|a| a.as_str()) {
        Some("overdue") => (
            "Orders past their promised date",
            "Oldest promise first; the whole list on one page.",
        ),
        Some(_) => (
            "Orders at risk (promised within a working day)",
            "Oldest promise first; the whole list on one page.",
        ),
        None => (
            "Orders",
            match filter.as_ref().map(|(f, _)| f.sort) {
                Some(OrderSort::Oldest) => "Oldest first.",
                _ => "Newest first.",
            },
        ),
    };
    let page = ListPage {
        chrome: v.chrome(heading, "/orders"),
        stray: errors.others(&["state", "customer_id", "attention", "sort"]),
        states: choices(
            OrderState::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), words(s.as_str()))),
            form.value("state"),
            Some("Any state"),
        ),
        customers: choices(
            customers.iter().map(|c| (c.id.to_string(), shown(&c.name))),
            form.value("customer_id"),
            Some("Any customer"),
        ),
        attentions: choices(
            [("overdue", "Past their promise"), ("at_risk", "At risk")]
                .iter()
                .map(|(v, l)| (v.to_string(), l.to_string())),
            form.value("attention"),
            Some("Every order"),
        ),
        sorts: choices(
            OrderSort::ALL.iter().map(|s| {
                let label = match s {
                    OrderSort::Newest => "Newest first",
                    OrderSort::Oldest => "Oldest first",
                };
                (s.as_str().to_string(), label.to_string())
            }),
            form.get("sort")
                .filter(|s| !s.is_empty())
                .unwrap_or("newest"),
            None,
        ),
        heading,
        order_note,
        writer: v.principal.role.allows(Need::OrgWrite),
        errors,
        rows,
        count,
        next,
        first,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}
