//! The audit log: the store's `AuditFilter`, newest first, in keyset pages.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use chrono::{NaiveDate, TimeZone, Utc};
use didhub_store::AuditFilter;

use super::inventory::{event, Event};
use super::{render, thousands, Chrome, Errors, Form, PageResult, Viewer};
use crate::AppState;

const PAGE_SIZE: u32 = 50;

#[derive(Template)]
#[template(path = "portal/audit.html")]
struct AuditPage {
    chrome: Chrome,
    form: Form,
    errors: Errors,
    rows: Vec<Row>,
    count: Option<String>,
    next: Option<String>,
    first: Option<String>,
}

pub struct Row {
    pub event: Event,
    pub entity: String,
    pub subject: String,
    /// A link to the DID the entry is about, when it is one.
    pub href: Option<String>,
}

/// A day of the form (`YYYY-MM-DD`, as a date field sends it) as the instant it starts.
fn day(f: &Form, field: &str, errors: &mut Errors) -> Option<chrono::DateTime<Utc>> {
    let v = f.value(field).trim();
    if v.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) => d.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t)),
        Err(_) => {
            errors.add(
                field,
                format!("'{v}' is not a date; write it as YYYY-MM-DD"),
            );
            None
        }
    }
}

pub async fn page(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let mut errors = Errors::default();
    let text = |name: &str| Some(form.value(name).trim().to_string()).filter(|t| !t.is_empty());
    let since = day(&form, "since", &mut errors);
    // The last day is included: entries before the start of the next.
    let until = day(&form, "until", &mut errors).map(|t| t + chrono::Duration::days(1));
    if let (Some(a), Some(b)) = (since, until) {
        if a >= b {
            errors.add("until", "the last day is before the first");
        }
    }
    let filter = AuditFilter {
        entity: text("entity"),
        entity_id: None,
        action: text("action"),
        actor: text("actor"),
        subject: text("subject"),
        since,
        until,
    };
    let (mut rows, mut count, mut next) = (Vec::new(), None, None);
    if errors.is_empty() {
        let audit = s.store.audit();
        let cursor = form.get("cursor").filter(|c| !c.trim().is_empty());
        match audit.list_audit(&filter, PAGE_SIZE, cursor).await {
            Ok(page) => {
                rows = page
                    .items
                    .iter()
                    .map(|e| Row {
                        event: event(e),
                        entity: super::shown(&e.entity),
                        subject: e.subject.as_deref().map(super::shown).unwrap_or_default(),
                        href: (e.entity == "did")
                            .then_some(e.entity_id)
                            .flatten()
                            .map(|id| format!("/dids/{id}")),
                    })
                    .collect();
                let n = audit.count_audit(&filter).await.map_err(|e| v.fail(e))?;
                count = Some(thousands(n));
                next = page.next_cursor.map(|c| {
                    let mut q = form_urlencoded::Serializer::new(String::new());
                    q.append_pair("cursor", &c);
                    let rest = form.encode_except(&["cursor"]);
                    if rest.is_empty() {
                        format!("/audit?{}", q.finish())
                    } else {
                        format!("/audit?{rest}&{}", q.finish())
                    }
                });
            }
            Err(e) => errors.take(e.into()).map_err(|e| v.fail(e))?,
        }
    }
    let first = form.get("cursor").map(|_| {
        let q = form.encode_except(&["cursor"]);
        if q.is_empty() {
            "/audit".to_string()
        } else {
            format!("/audit?{q}")
        }
    });
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = AuditPage {
        chrome: v.chrome("Audit log", "/audit"),
        form,
        errors,
        rows,
        count,
        next,
        first,
    };
    Ok(render(status, &page))
}
