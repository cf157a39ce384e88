//! The inventory's pages: the DID list (the store's `DidFilter`, read from the address as the
//! API reads it), a DID with its history, the operators.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_core::did::DidStatus;
use didhub_core::number::NumberType;
use didhub_store::{Did, DidFilter, DidSort};
use serde_json::Value;
use uuid::Uuid;

use super::{
    machine_time, render, shown, thousands, when, Chrome, Errors, Form, PageResult, Viewer,
};
use crate::error::ApiError;
use crate::extract::query_of;
use crate::AppState;

/// DIDs on one page of the list.
const PAGE_SIZE: u32 = 50;

/// The filter's fields, as the API's query string names them.
const FILTER_FIELDS: &[&str] = &[
    "prefix",
    "country",
    "type",
    "status",
    "operator_id",
    "tag",
    "notes",
];
/// The page's own fields.
const PAGE_FIELDS: &[&str] = &["sort", "order", "cursor"];

const SORTS: &[(&str, &str)] = &[
    ("number", "Number"),
    ("country", "Country"),
    ("status", "Status"),
    ("created", "Created"),
    ("updated", "Last changed"),
];

/// A choice of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub fn choices<'a>(
    all: impl IntoIterator<Item = (String, String)>,
    current: &'a str,
    any: Option<&'a str>,
) -> Vec<Choice> {
    let mut out = Vec::new();
    if let Some(any) = any {
        out.push(Choice {
            value: String::new(),
            label: any.to_string(),
            selected: current.is_empty(),
        });
    }
    out.extend(all.into_iter().map(|(value, label)| Choice {
        selected: value == current,
        value,
        label,
    }));
    out
}

/// A DID as a list row or a page shows it.
pub struct DidView {
    pub id: Uuid,
    pub version: i64,
    pub number: String,
    pub country: String,
    pub number_type: String,
    pub operator: String,
    pub status: &'static str,
    pub after_hold: &'static str,
    pub tag: String,
    pub notes: String,
    pub customer_id: Option<Uuid>,
    pub destination: String,
    pub hold_until: String,
    pub created: String,
    pub updated: String,
    pub updated_machine: String,
}

impl DidView {
    pub fn new(d: &Did) -> DidView {
        DidView {
            id: d.id,
            version: d.version,
            number: d.number.clone(),
            country: d.country.clone(),
            number_type: d.number_type.replace('_', " "),
            operator: shown(&d.operator),
            status: status_label(d.status),
            after_hold: status_label(d.after_hold),
            tag: d.tag.as_deref().map(shown).unwrap_or_default(),
            notes: d.notes.as_deref().map(shown).unwrap_or_default(),
            customer_id: d.customer_id,
            destination: d.destination.as_deref().map(shown).unwrap_or_default(),
            hold_until: d.hold_until.as_ref().map(when).unwrap_or_default(),
            created: when(&d.created_at),
            updated: when(&d.updated_at),
            updated_machine: machine_time(&d.updated_at),
        }
    }
}

pub fn status_label(s: DidStatus) -> &'static str {
    match s {
        DidStatus::InStock => "in stock",
        DidStatus::Reserved => "reserved",
        DidStatus::Assigned => "assigned",
        DidStatus::Porting => "porting",
        DidStatus::Hold => "on hold",
        DidStatus::Archive => "archived",
    }
}

#[derive(Template)]
#[template(path = "portal/dids.html")]
struct DidsPage {
    chrome: Chrome,
    form: Form,
    errors: Errors,
    stray: Vec<String>,
    types: Vec<Choice>,
    statuses: Vec<Choice>,
    operators: Vec<Choice>,
    sorts: Vec<Choice>,
    orders: Vec<Choice>,
    rows: Vec<DidView>,
    /// How many DIDs the filter matches, as a sentence (none when the filter was refused).
    count: Option<String>,
    /// The link to edit or delete all of them, with their count when it is exact.
    all_link: String,
    next: Option<String>,
    first: Option<String>,
    /// Whether the viewer may add, export, edit and delete (the forms' need).
    admin: bool,
    /// The filter as a query string, for export and bulk edit of the whole filter.
    filter_q: String,
}

/// Reads the list's address: the filter as the API's `DidFilter` (blank fields left out, so
/// an empty form field filters nothing), sort and order as the API reads them.
fn read_list(
    f: &Form,
    errors: &mut Errors,
) -> Result<Option<(DidFilter, DidSort, bool)>, ApiError> {
    let filter = f.encode_except(PAGE_FIELDS);
    let filter = match query_of::<DidFilter>(&filter) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.take(e)?;
            None
        }
    };
    let sort = match f.value("sort").trim() {
        "" => Some(DidSort::Number),
        v => match v.parse::<DidSort>() {
            Ok(s) => Some(s),
            Err(e) => {
                errors.add("sort", e);
                None
            }
        },
    };
    let desc = match f.value("order").trim() {
        "" | "asc" => Some(false),
        "desc" => Some(true),
        o => {
            errors.add("order", format!("'{o}' is not asc or desc"));
            None
        }
    };
    Ok(match (filter, sort, desc) {
        (Some(f), Some(s), Some(d)) => Some((f, s, d)),
        _ => None,
    })
}

/// The list counts matches up to this many; beyond, it says "more than" (an exact count of a
/// broad filter over a large inventory costs more than the page: docs/PORTAL.md).
const COUNT_CAP: u32 = 10_000;

/// "1 DID matches.", "120 DIDs match.", "More than 10,000 DIDs match." (`n` counted up to
/// `COUNT_CAP` + 1).
fn matches_sentence(n: i64) -> String {
    match n {
        1 => "1 DID matches.".to_string(),
        n if n > i64::from(COUNT_CAP) => {
            format!("More than {} DIDs match.", thousands(i64::from(COUNT_CAP)))
        }
        n => format!("{} DIDs match.", thousands(n)),
    }
}

pub async fn dids(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let mut errors = Errors::default();
    let mut rows = Vec::new();
    let (mut count, mut next) = (None, None);
    if let Some((filter, sort, desc)) = read_list(&form, &mut errors).map_err(|e| v.fail(e))? {
        let inv = s.store.inventory();
        let cursor = form.get("cursor").filter(|c| !c.trim().is_empty());
        match inv.list_dids(&filter, sort, desc, PAGE_SIZE, cursor).await {
            Ok(page) => {
                rows = page.items.iter().map(DidView::new).collect();
                let n = inv
                    .count_dids_upto(&filter, COUNT_CAP)
                    .await
                    .map_err(|e| v.fail(e))?;
                count = Some(n);
                next = page.next_cursor.map(|c| {
                    let mut q = form.encode_except(&["cursor"]);
                    let mut more = form_urlencoded::Serializer::new(String::new());
                    more.append_pair("cursor", &c);
                    if !q.is_empty() {
                        q.push('&');
                    }
                    q.push_str(&more.finish());
                    format!("/dids?{q}")
                });
            }
            Err(e) => errors.take(e.into()).map_err(|e| v.fail(e))?,
        }
    }
    let first = form.get("cursor").map(|_| {
        let q = form.encode_except(&["cursor"]);
        if q.is_empty() {
            "/dids".to_string()
        } else {
            format!("/dids?{q}")
        }
    });
    let operators = s
        .store
        .inventory()
        .operator_names()
        .await
        .map_err(|e| v.fail(e))?;
    let mut shown_fields = FILTER_FIELDS.to_vec();
    shown_fields.extend(PAGE_FIELDS);
    let page = DidsPage {
        chrome: v.chrome("DIDs", "/dids"),
        stray: errors.others(&shown_fields),
        types: choices(
            NumberType::ALL
                .iter()
                .map(|t| (t.as_str().to_string(), t.as_str().replace('_', " "))),
            form.value("type"),
            Some("Any type"),
        ),
        statuses: choices(
            DidStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), status_label(*s).to_string())),
            form.value("status"),
            Some("Any status"),
        ),
        operators: choices(
            operators
                .iter()
                .map(|(id, name)| (id.to_string(), shown(name))),
            form.value("operator_id"),
            Some("Any operator"),
        ),
        sorts: choices(
            SORTS.iter().map(|(v, l)| (v.to_string(), l.to_string())),
            form.get("sort")
                .filter(|s| !s.is_empty())
                .unwrap_or("number"),
            None,
        ),
        orders: choices(
            [("asc", "Ascending"), ("desc", "Descending")]
                .iter()
                .map(|(v, l)| (v.to_string(), l.to_string())),
            form.get("order").filter(|s| !s.is_empty()).unwrap_or("asc"),
            None,
        ),
        admin: v.principal.role.allows(Need::InventoryAdmin),
        filter_q: form.encode(FILTER_FIELDS),
        form,
        errors,
        rows,
        all_link: match count {
            Some(n) if n <= i64::from(COUNT_CAP) => {
                format!("Edit or delete all {} matching", thousands(n))
            }
            _ => "Edit or delete all matching".to_string(),
        },
        count: count.map(matches_sentence),
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

/// One entry of a DID's timeline.
pub struct Event {
    pub at: String,
    pub at_machine: String,
    pub actor: String,
    pub action: String,
    pub changes: Vec<String>,
    pub reason: String,
}

/// An audit entry's changes as lines: `field: before → after` for a diff, `key: value` for
/// the summary of a batch.
pub fn change_lines(changes: &Value) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => shown(s),
        other => shown(&other.to_string()),
    };
    match changes {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::Array(pair) if pair.len() == 2 => {
                    format!("{}: {} → {}", shown(k), text(&pair[0]), text(&pair[1]))
                }
                other => format!("{}: {}", shown(k), text(other)),
            })
            .collect(),
        Value::Null => Vec::new(),
        other => vec![text(other)],
    }
}

pub fn event(e: &didhub_store::AuditEntry) -> Event {
    Event {
        at: when(&e.at),
        at_machine: machine_time(&e.at),
        actor: shown(&e.actor),
        action: shown(&e.action),
        changes: change_lines(&e.changes),
        reason: e.reason.as_deref().map(shown).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "portal/did.html")]
struct DidPage {
    chrome: Chrome,
    did: DidView,
    /// Whether the viewer may open the customer's page.
    customer_link: bool,
    /// Whether the viewer may edit and delete it.
    admin: bool,
    events: Vec<Event>,
}

pub async fn did(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id
        .parse()
        .map_err(|_| v.fail(ApiError::NotFound("DID".into())))?;
    let d = s
        .store
        .inventory()
        .get_did(id)
        .await
        .map_err(|e| v.fail(e))?;
    let events = s
        .store
        .audit()
        .did_history(id)
        .await
        .map_err(|e| v.fail(e))?;
    let page = DidPage {
        chrome: v.chrome(&format!("DID {}", d.number), "/dids"),
        customer_link: v.principal.role.allows(Need::OrgRead),
        admin: v.principal.role.allows(Need::InventoryAdmin),
        did: DidView::new(&d),
        events: events.iter().map(event).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

pub struct OperatorView {
    pub name: String,
    pub dids: String,
    pub href: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "portal/operators.html")]
struct OperatorsPage {
    chrome: Chrome,
    form: Form,
    sorts: Vec<Choice>,
    rows: Vec<OperatorView>,
    count: String,
}

/// The operators, with their DID counts. The store gives them whole (a provider has tens),
/// so the name filter and the sort are applied here and there are no further pages.
pub async fn operators(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let mut ops = s
        .store
        .inventory()
        .list_operators()
        .await
        .map_err(|e| v.fail(e))?;
    let q = form.value("name").trim().to_lowercase();
    if !q.is_empty() {
        ops.retain(|o| o.name.to_lowercase().contains(&q));
    }
    let sort = match form.value("sort") {
        "dids" => "dids",
        _ => "name",
    };
    if sort == "dids" {
        ops.sort_by(|a, b| b.did_count.cmp(&a.did_count).then(a.name.cmp(&b.name)));
    }
    let page = OperatorsPage {
        chrome: v.chrome("Operators", "/operators"),
        sorts: choices(
            [("name", "Name"), ("dids", "Most DIDs")]
                .iter()
                .map(|(v, l)| (v.to_string(), l.to_string())),
            sort,
            None,
        ),
        count: thousands(ops.len() as i64),
        rows: ops
            .iter()
            .map(|o| {
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("operator_id", &o.id.to_string());
                OperatorView {
                    name: shown(&o.name),
                    dids: thousands(o.did_count),
                    href: format!("/dids?{}", q.finish()),
                    created: when(&o.created_at),
                }
            })
            .collect(),
        form,
    };
    Ok(render(StatusCode::OK, &page))
}
