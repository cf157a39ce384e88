//! The inventory's forms: add DIDs (one, several or ranges, read by the store's own range
//! parsing), export the list's filter as CSV (the store's export), bulk edit and delete of a
//! selection or of a whole filter, with the count confirmed before anything changes.

use askama::Template;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use didhub_core::did::DidStatus;
use didhub_core::number::Country;
use didhub_store::inventory::dids::{DidPatch, NewDids, Selection, Target};
use didhub_store::{DidFilter, StoreError};
use uuid::Uuid;

use super::inventory::{choices, status_label, Choice};
use super::{render, shown, thousands, Chrome, Errors, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::extract::query_of;
use crate::AppState;

/// The filter's fields, as the list's address names them.
const FILTER_FIELDS: &[&str] = &[
    "prefix",
    "country",
    "type",
    "status",
    "operator_id",
    "operator",
    "tag",
    "notes",
];

/// Created DIDs linked on the result of an add (the rest are in the list).
const SHOWN_CREATED: usize = 20;

/// The statuses a form offers for `field`, as the core's rule allows them.
fn allowed_statuses(allowed: fn(DidStatus) -> bool) -> Vec<(String, String)> {
    DidStatus::ALL
        .iter()
        .filter(|s| allowed(**s))
        .map(|s| (s.as_str().to_string(), status_label(*s).to_string()))
        .collect()
}

async fn operator_choices(
    s: &AppState,
    current: &str,
    any: Option<&str>,
) -> Result<Vec<Choice>, ApiError> {
    let ops = s.store.inventory().operator_names().await?;
    Ok(choices(
        ops.iter().map(|(id, name)| (id.to_string(), shown(name))),
        current,
        any,
    ))
}

/// A store refusal of several fields (or one) taken as errors beside the fields; an entry of
/// the numbers (`numbers[3]`) is reported beside the numbers with the entry it concerns.
fn take_all(errors: &mut Errors, e: ApiError, entries: &[String]) -> Result<(), ApiError> {
    let list = match e {
        ApiError::Store(StoreError::InvalidFields(list)) => list,
        ApiError::Store(StoreError::Invalid { field, message }) => vec![(field, message)],
        e => return errors.take(e),
    };
    for (field, message) in list {
        let entry = field
            .strip_prefix("numbers[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|i| i.parse::<usize>().ok());
        match entry {
            Some(i) => {
                let what = entries.get(i).map(|e| shown(e)).unwrap_or_default();
                errors.add("numbers", format!("'{what}': {message}"));
            }
            None => errors.add(field, message),
        }
    }
    Ok(())
}

/// One message per field: several refusals of the numbers read as one paragraph.
fn joined(errors: Errors) -> Errors {
    let mut out = Errors::default();
    for (field, message) in errors.0 {
        match out.0.iter_mut().find(|(f, _)| *f == field) {
            Some((_, m)) => {
                m.push_str("; ");
                m.push_str(&message);
            }
            None => out.add(field, message),
        }
    }
    out
}

pub struct CreatedView {
    pub id: Uuid,
    pub number: String,
}

#[derive(Template)]
#[template(path = "portal/did_add.html")]
struct AddPage {
    chrome: Chrome,
    form: Form,
    errors: Errors,
    others: Vec<String>,
    operators: Vec<Choice>,
    statuses: Vec<Choice>,
    after_holds: Vec<Choice>,
    /// After an add: how many, and the first of them.
    created: Option<String>,
    created_items: Vec<CreatedView>,
}

const ADD_FIELDS: &[&str] = &[
    "numbers",
    "country",
    "operator_id",
    "status",
    "after_hold",
    "tag",
    "notes",
    "reason",
];

async fn add_page(
    s: &AppState,
    v: &Viewer,
    form: Form,
    errors: Errors,
    created: Option<(usize, Vec<CreatedView>)>,
) -> PageResult {
    let errors = joined(errors);
    let status_now = form
        .get("status")
        .filter(|x| !x.is_empty())
        .unwrap_or("in_stock");
    let after_now = form
        .get("after_hold")
        .filter(|x| !x.is_empty())
        .unwrap_or("in_stock");
    let page = AddPage {
        chrome: v.chrome("Add DIDs", "/dids"),
        others: errors.others(ADD_FIELDS),
        operators: operator_choices(s, form.value("operator_id"), Some("Choose an operator"))
            .await
            .map_err(|e| v.fail(e))?,
        statuses: choices(allowed_statuses(|s| s.initial().is_ok()), status_now, None),
        after_holds: choices(
            allowed_statuses(|s| s.after_hold().is_ok()),
            after_now,
            None,
        ),
        created: created.as_ref().map(|(n, _)| thousands(*n as i64)),
        created_items: created.map(|(_, items)| items).unwrap_or_default(),
        form,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

pub async fn add_form(State(s): State<AppState>, v: Viewer) -> PageResult {
    add_page(&s, &v, Form::default(), Errors::default(), None).await
}

/// The numbers of the form: one entry a line (or separated by commas); an entry is a number
/// or a range `FIRST-LAST`, read by the store.
fn entries(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

fn status_field(errors: &mut Errors, field: &str, v: &str) -> Option<DidStatus> {
    match v.trim() {
        "" => Some(DidStatus::InStock),
        v => match v.parse::<DidStatus>() {
            Ok(s) => Some(s),
            Err(e) => {
                errors.add(field, e);
                None
            }
        },
    }
}

fn text_field(form: &Form, name: &str) -> Option<String> {
    form.get(name)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

pub async fn add(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let numbers = entries(form.value("numbers"));
    let country = match form.value("country").trim() {
        "" => None,
        c => match Country::parse(c) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.add("country", e);
                None
            }
        },
    };
    let operator_id = match form.value("operator_id").trim() {
        "" => {
            errors.add("operator_id", "choose the operator of these numbers");
            None
        }
        o => match o.parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add("operator_id", "not an operator of this list");
                None
            }
        },
    };
    let status = status_field(&mut errors, "status", form.value("status"));
    let after_hold = status_field(&mut errors, "after_hold", form.value("after_hold"));
    let (Some(operator_id), Some(status), Some(after_hold), true) =
        (operator_id, status, after_hold, errors.is_empty())
    else {
        return add_page(&s, &v, form, errors, None).await;
    };
    let req = NewDids {
        numbers: numbers.clone(),
        country,
        operator_id,
        status,
        after_hold,
        tag: text_field(&form, "tag"),
        notes: text_field(&form, "notes"),
        reason: text_field(&form, "reason"),
    };
    match s
        .store
        .inventory()
        .create_dids(&v.principal.actor(), req)
        .await
    {
        Ok(c) => {
            let items = c
                .items
                .iter()
                .take(SHOWN_CREATED)
                .map(|d| CreatedView {
                    id: d.id,
                    number: d.number.clone(),
                })
                .collect();
            // The form starts again empty but for the operator and statuses, which a run of
            // adds usually shares.
            let kept = Form(
                form.0
                    .into_iter()
                    .filter(|(k, _)| ["operator_id", "status", "after_hold"].contains(&k.as_str()))
                    .collect(),
            );
            add_page(&s, &v, kept, errors, Some((c.created, items))).await
        }
        Err(e) => {
            take_all(&mut errors, e.into(), &numbers).map_err(|e| v.fail(e))?;
            add_page(&s, &v, form, errors, None).await
        }
    }
}

/// The filter part of an address or a form, as the API reads it (blank fields left out).
fn filter_query(form: &Form) -> String {
    form.encode(FILTER_FIELDS)
}

/// The list's filter as a CSV download (the store's export, streamed). A refused filter is the
/// list page with the error beside its field.
pub async fn export(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let q = form.encode_except(&["sort", "order", "cursor"]);
    let filter = query_of::<DidFilter>(&q);
    let checked = match filter {
        Ok(f) => s
            .store
            .inventory()
            .check_filter(&f)
            .await
            .map(|_| f)
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let f = match checked {
        Ok(f) => f,
        Err(_) => {
            let back: Uri = format!("/dids?{q}")
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/dids"));
            return super::inventory::dids(State(s), v, back).await;
        }
    };
    let (mut w, r) = tokio::io::duplex(256 * 1024);
    let store = s.store.clone();
    let writer = tokio::spawn(async move {
        let done = store.inventory().export_dids(&f, &mut w).await;
        if let Err(e) = &done {
            tracing::error!("export failed mid-stream: {e}");
        }
        done
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"dids.csv\"",
            ),
        ],
        crate::api::inventory::dids::streamed(r, writer),
    )
        .into_response())
}

/// What a bulk action applies to: the DIDs ticked on the list (with the versions shown), or
/// every DID the filter matches.
enum Chosen {
    Ids(Vec<Target>),
    Filter(DidFilter, String),
}

impl Chosen {
    /// Reads `did=<id>:<version>` fields, else the filter's fields.
    fn read(form: &Form) -> Result<Chosen, ApiError> {
        let ticked: Vec<&str> = form
            .0
            .iter()
            .filter(|(k, _)| k == "did")
            .map(|(_, v)| v.as_str())
            .collect();
        if !ticked.is_empty() {
            let mut ids = Vec::new();
            for t in ticked {
                let (id, version) = t.split_once(':').unwrap_or((t, ""));
                let id = id
                    .trim()
                    .parse::<Uuid>()
                    .map_err(|_| ApiError::field("did", format!("'{}' is not a DID", shown(t))))?;
                let version = match version.trim() {
                    "" => None,
                    v => Some(v.parse::<i64>().map_err(|_| {
                        ApiError::field("did", format!("'{}' is not a DID", shown(t)))
                    })?),
                };
                ids.push(Target { id, version });
            }
            return Ok(Chosen::Ids(ids));
        }
        let q = match form.get("filter") {
            Some(q) => Form::parse(q.as_bytes()).encode(FILTER_FIELDS),
            None => filter_query(form),
        };
        let f = query_of::<DidFilter>(&q)?;
        Ok(Chosen::Filter(f, q))
    }

    fn selection(&self) -> Selection {
        match self {
            Chosen::Ids(ids) => Selection::Ids(ids.clone()),
            Chosen::Filter(f, _) => Selection::Filter(f.clone()),
        }
    }

    /// How many DIDs it holds now.
    async fn count(&self, s: &AppState) -> Result<i64, ApiError> {
        Ok(match self {
            Chosen::Ids(ids) => ids.len() as i64,
            Chosen::Filter(f, _) => s.store.inventory().count_dids(f).await?,
        })
    }

    /// The hidden fields that carry it from the confirmation to the action.
    fn hidden(&self) -> Vec<(String, String)> {
        match self {
            Chosen::Ids(ids) => ids
                .iter()
                .map(|t| {
                    let v = t.version.map(|v| v.to_string()).unwrap_or_default();
                    ("did".to_string(), format!("{}:{v}", t.id))
                })
                .collect(),
            Chosen::Filter(_, q) => vec![("filter".to_string(), q.clone())],
        }
    }

    /// The list showing these DIDs (for a filter), to go back to.
    fn back(&self) -> String {
        match self {
            Chosen::Filter(_, q) if !q.is_empty() => format!("/dids?{q}"),
            _ => "/dids".to_string(),
        }
    }

    /// The filter in words, or the number of ticked DIDs.
    fn describe(&self) -> Vec<String> {
        match self {
            Chosen::Ids(_) => Vec::new(),
            Chosen::Filter(_, q) => Form::parse(q.as_bytes())
                .0
                .into_iter()
                .map(|(k, v)| format!("{}: {}", label_of(&k), shown(&v)))
                .collect(),
        }
    }
}

fn label_of(field: &str) -> &'static str {
    match field {
        "prefix" => "Number prefix",
        "country" => "Country",
        "type" => "Number type",
        "status" => "Status",
        "operator_id" => "Operator (id)",
        "operator" => "Operator",
        "tag" => "Tag",
        "notes" => "Notes contain",
        _ => "Other",
    }
}

#[derive(Template)]
#[template(path = "portal/did_bulk.html")]
struct BulkPage {
    chrome: Chrome,
    /// "the 3 ticked DIDs" or "the 1,234 DIDs matching".
    ticked: bool,
    count: String,
    expected: i64,
    conditions: Vec<String>,
    hidden: Vec<(String, String)>,
    back: String,
    form: Form,
    errors: Errors,
    others: Vec<String>,
    operators: Vec<Choice>,
    statuses: Vec<Choice>,
    after_holds: Vec<Choice>,
    /// After an action: what was done.
    done: Option<String>,
}

const EDIT_FIELDS: &[&str] = &[
    "operator_id",
    "status",
    "after_hold",
    "tag",
    "clear_tag",
    "notes",
    "clear_notes",
    "reason",
    "delete_reason",
    "expected",
];

async fn bulk_page(
    s: &AppState,
    v: &Viewer,
    chosen: &Chosen,
    form: Form,
    errors: Errors,
    done: Option<String>,
) -> PageResult {
    let n = chosen.count(s).await.map_err(|e| v.fail(e))?;
    let errors = joined(errors);
    let page = BulkPage {
        chrome: v.chrome("Edit or delete DIDs", "/dids"),
        ticked: matches!(chosen, Chosen::Ids(_)),
        count: thousands(n),
        expected: n,
        conditions: chosen.describe(),
        hidden: chosen.hidden(),
        back: chosen.back(),
        others: errors.others(EDIT_FIELDS),
        operators: operator_choices(s, form.value("operator_id"), Some("Leave as it is"))
            .await
            .map_err(|e| v.fail(e))?,
        statuses: choices(
            DidStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), status_label(*s).to_string())),
            form.value("status"),
            Some("Leave as it is"),
        ),
        after_holds: choices(
            allowed_statuses(|s| s.after_hold().is_ok()),
            form.value("after_hold"),
            Some("Leave as it is"),
        ),
        form,
        errors,
        done,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

/// The confirmation page of a bulk action: what is chosen and how many, the edit and delete
/// forms.
pub async fn bulk_form(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let chosen = Chosen::read(&form).map_err(|e| v.fail(e))?;
    if let Chosen::Filter(f, _) = &chosen {
        if f == &DidFilter::default() {
            return Err(v.fail(ApiError::field(
                "filter",
                "choose a filter or tick DIDs on the list first: a bulk action never means \
                 every DID",
            )));
        }
    }
    bulk_page(&s, &v, &chosen, Form::default(), Errors::default(), None).await
}

/// Whether the count the user confirmed is still the count: a filter that matches more (or
/// fewer) DIDs than the user saw must be confirmed again.
async fn confirmed(
    s: &AppState,
    chosen: &Chosen,
    form: &Form,
    errors: &mut Errors,
) -> Result<(), ApiError> {
    let now = chosen.count(s).await?;
    match form.value("expected").trim().parse::<i64>() {
        Ok(n) if n == now => {}
        Ok(n) => errors.add(
            "expected",
            format!(
                "you confirmed {} DIDs but {} are chosen now; check the count and confirm again",
                thousands(n),
                thousands(now)
            ),
        ),
        Err(_) => errors.add("expected", "confirm the number of DIDs"),
    }
    Ok(())
}

fn patch_of(form: &Form, errors: &mut Errors) -> DidPatch {
    let status_of = |errors: &mut Errors, field: &str| match form.value(field).trim() {
        "" => None,
        v => match v.parse::<DidStatus>() {
            Ok(s) => Some(s),
            Err(e) => {
                errors.add(field, e);
                None
            }
        },
    };
    let text_of = |name: &str, clear: &str| {
        if form.get(clear).is_some() {
            Some(None)
        } else {
            text_field(form, name).map(Some)
        }
    };
    let operator_id = match form.value("operator_id").trim() {
        "" => None,
        o => match o.parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add("operator_id", "not an operator of this list");
                None
            }
        },
    };
    DidPatch {
        operator_id,
        status: status_of(errors, "status"),
        after_hold: status_of(errors, "after_hold"),
        tag: text_of("tag", "clear_tag"),
        notes: text_of("notes", "clear_notes"),
    }
}

pub async fn bulk_edit(
    State(s): State<AppState>,
    v: Viewer,
    body: axum::body::Bytes,
) -> PageResult {
    let form = Form::parse(&body);
    let chosen = Chosen::read(&form).map_err(|e| v.fail(e))?;
    let mut errors = Errors::default();
    let patch = patch_of(&form, &mut errors);
    let nothing = patch.operator_id.is_none()
        && patch.status.is_none()
        && patch.after_hold.is_none()
        && patch.tag.is_none()
        && patch.notes.is_none();
    if nothing && errors.is_empty() {
        errors.add("operator_id", "choose at least one change");
    }
    confirmed(&s, &chosen, &form, &mut errors)
        .await
        .map_err(|e| v.fail(e))?;
    if !errors.is_empty() {
        return bulk_page(&s, &v, &chosen, form, errors, None).await;
    }
    let reason = text_field(&form, "reason");
    match s
        .store
        .inventory()
        .update_dids(
            &v.principal.actor(),
            &chosen.selection(),
            &patch,
            reason.as_deref(),
        )
        .await
    {
        Ok(c) => {
            let done = format!("{} DIDs changed.", thousands(c.updated as i64));
            bulk_page(&s, &v, &chosen, Form::default(), errors, Some(done)).await
        }
        Err(e) => {
            refused(&mut errors, e).map_err(|e| v.fail(e))?;
            bulk_page(&s, &v, &chosen, form, errors, None).await
        }
    }
}

/// A refusal of the store beside the field it names; a version conflict or a DID in use
/// beside the confirmation (the user must look again).
fn refused(errors: &mut Errors, e: StoreError) -> Result<(), ApiError> {
    match e {
        e @ (StoreError::VersionMismatch { .. } | StoreError::Raced { .. }) => {
            errors.add("expected", e);
            Ok(())
        }
        StoreError::Conflict(m) | StoreError::InUse(m) => {
            errors.add("expected", m);
            Ok(())
        }
        StoreError::Invalid { field, message } => {
            let field = match field.as_str() {
                "patch" => "operator_id".to_string(),
                f if f.starts_with("selection") || f == "filter" || f == "ids" => {
                    "expected".to_string()
                }
                _ => field,
            };
            errors.add(field, message);
            Ok(())
        }
        e => take_all(errors, e.into(), &[]),
    }
}

pub async fn delete(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let chosen = Chosen::read(&form).map_err(|e| v.fail(e))?;
    let mut errors = Errors::default();
    let reason = text_field(&form, "delete_reason");
    if reason.is_none() {
        errors.add("delete_reason", "say why these DIDs are deleted");
    }
    confirmed(&s, &chosen, &form, &mut errors)
        .await
        .map_err(|e| v.fail(e))?;
    if !errors.is_empty() {
        return bulk_page(&s, &v, &chosen, form, errors, None).await;
    }
    let reason = match reason.as_deref() {
        Some(r) => {
            s.store
                .inventory()
                .delete_dids(&v.principal.actor(), &chosen.selection(), Some(r))
                .await
        }
        None => return bulk_page(&s, &v, &chosen, form, errors, None).await,
    };
    match reason {
        Ok(d) => {
            let done = format!("{} DIDs deleted.", thousands(d.deleted as i64));
            Ok(bulk_done(&v, &chosen, done))
        }
        Err(e) => {
            let e = match e {
                StoreError::Invalid { field, message } if field == "reason" => {
                    StoreError::Invalid {
                        field: "delete_reason".into(),
                        message,
                    }
                }
                e => e,
            };
            refused(&mut errors, e).map_err(|e| v.fail(e))?;
            bulk_page(&s, &v, &chosen, form, errors, None).await
        }
    }
}

/// After a delete the ticked DIDs are gone: the page says so and leads back to the list.
fn bulk_done(v: &Viewer, chosen: &Chosen, done: String) -> axum::response::Response {
    super::deleted(v, "DIDs deleted", "/dids", done, chosen.back())
}
