//! An order's page: its facts, numbers, documents and timeline; for an open order the form
//! of its fields (the catalog's, with the store's `problems` beside them) and the document
//! upload (the store's `documents().put`, attached to the order, as the API's upload); the
//! letter of authorisation of a porting order (the API's `loa.pdf`); and the changes of state
//! the viewer may make, each a form with the version read, offered where the core's
//! transition rule allows them and calling the store function the API's handler calls.

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use didhub_core::access::Need;
use didhub_core::catalog::Service;
use didhub_core::documents::{DocumentKind, SubjectKind};
use didhub_core::order_flow::{check_transition, OrderState, RejectReason, Side};
use didhub_store::documents::Subject;
use didhub_store::ordering::fulfil::{CompleteOrder, RegisterOrder};
use didhub_store::ordering::orders::OrderDetail;
use didhub_store::StoreError;
use uuid::Uuid;

use super::attention::EventView;
use super::inventory::{change_lines, choices, Choice};
use super::order_form::{
    add_error, beside, body_of, errors_of, field_names, fields, form_of, service_label, FieldView,
};
use super::orders::{attention_label, words};
use super::{machine_time, render, shown, thousands, when, Chrome, Errors, Form, PageResult};
use super::{PageError, Viewer};
use crate::error::ApiError;
use crate::AppState;

pub struct DocView {
    pub kind: &'static str,
    pub name: String,
    pub size: String,
    pub href: String,
    pub at: String,
}

/// The actions offered, each `(value, label)`, in the order the page shows them.
pub struct Moves {
    pub confirm: bool,
    pub submit: bool,
    pub sign: bool,
    pub cancel: bool,
    pub register: bool,
    pub schedule: bool,
    pub complete: bool,
    pub reject: bool,
}

#[derive(Template)]
#[template(path = "portal/order.html")]
struct OrderPage {
    chrome: Chrome,
    id: Uuid,
    version: i64,
    reference: String,
    customer: String,
    customer_href: String,
    country: String,
    service: String,
    state: String,
    promised: String,
    ivp_by: String,
    scheduled: String,
    attention: &'static str,
    missing: String,
    porting: bool,
    numbers: Vec<(String, String)>,
    documents: Vec<DocView>,
    events: Vec<EventView>,
    /// What stops the submission now (an open order), as the check says it.
    problems: Vec<String>,
    /// The order's fields, for an open order the viewer may change.
    fields: Vec<FieldView>,
    editable: bool,
    edit_others: Vec<String>,
    docs_problem: String,
    uploads: bool,
    kinds: Vec<Choice>,
    needed: String,
    moves: Moves,
    codes: Vec<Choice>,
    packages: Vec<Choice>,
    operators: Vec<Choice>,
    form: Form,
    errors: Errors,
    /// The form the errors and typed values belong to.
    which: &'static str,
    done: Option<String>,
}

impl OrderPage {
    fn field(&self, form: &str, name: &str) -> &str {
        if self.which == form {
            self.form.value(name)
        } else {
            ""
        }
    }

    fn error(&self, form: &str, name: &str) -> Option<&str> {
        if self.which == form {
            self.errors.get(name)
        } else {
            None
        }
    }
}

fn id_of(v: &Viewer, id: &str) -> Result<Uuid, Box<PageError>> {
    id.parse()
        .map_err(|_| Box::new(v.fail(ApiError::NotFound("order".into()))))
}

/// The side a viewer acts on for the partner's changes: the API's rule for cancelling.
fn side_of(v: &Viewer) -> Side {
    if v.principal.role.is_partner() {
        Side::Partner
    } else {
        Side::Operations
    }
}

fn moves(v: &Viewer, state: OrderState) -> Moves {
    let role = v.principal.role;
    let writer = role.allows(Need::OrgWrite);
    let ops = role.allows(Need::InventoryAdmin);
    let may = |to, side| check_transition(state, to, side).is_ok();
    Moves {
        confirm: writer && state == OrderState::Quote && may(OrderState::Draft, Side::Partner),
        submit: writer && state.is_editable() && may(OrderState::Submitted, Side::Partner),
        sign: writer
            && state == OrderState::AwaitingSignature
            && may(OrderState::Submitted, Side::Partner),
        cancel: writer && may(OrderState::Cancelled, side_of(v)),
        register: ops && may(OrderState::Registered, Side::Operations),
        schedule: ops && may(OrderState::Scheduled, Side::Operations),
        complete: ops && may(OrderState::Completed, Side::Operations),
        reject: ops && may(OrderState::Rejected, Side::Operations),
    }
}

const KINDS: [DocumentKind; 4] = [
    DocumentKind::Loa,
    DocumentKind::Invoice,
    DocumentKind::Agreement,
    DocumentKind::Other,
];

fn kind_label(k: DocumentKind) -> &'static str {
    match k {
        DocumentKind::Loa => "Letter of authorisation (LOA)",
        DocumentKind::Invoice => "Invoice",
        DocumentKind::Agreement => "Agreement",
        DocumentKind::Other => "Other",
        DocumentKind::Attachment => "Attachment",
    }
}

const CODES: [RejectReason; 7] = [
    RejectReason::NumberNotPortable,
    RejectReason::DetailsMismatch,
    RejectReason::DocumentsInvalid,
    RejectReason::OperatorRefused,
    RejectReason::NotAvailable,
    RejectReason::CustomerRequest,
    RejectReason::Other,
];

/// What the page shows besides the order: the form of its fields (`which == "edit"`: the
/// values typed, else the stored ones) and the outcome of the last action.
struct Shown {
    which: &'static str,
    form: Form,
    errors: Errors,
    done: Option<String>,
}

impl Shown {
    fn plain() -> Shown {
        Shown {
            which: "",
            form: Form::default(),
            errors: Errors::default(),
            done: None,
        }
    }
}

async fn order_page(s: &AppState, v: &Viewer, id: Uuid, out: Shown) -> PageResult {
    let scope = v.principal.scope();
    let ordering = s.store.ordering();
    let d: OrderDetail = ordering.get_order(scope, id).await.map_err(|e| v.fail(e))?;
    let events = ordering.timeline(scope, id).await.map_err(|e| v.fail(e))?;
    let customer = s
        .store
        .accounts()
        .get_customer(scope, d.order.customer_id)
        .await
        .map_err(|e| v.fail(e))?;
    let o = &d.order;
    let role = v.principal.role;
    let editable = o.state.is_editable() && role.allows(Need::OrgWrite);
    let uploads = !o.state.is_final() && role.allows(Need::OrgWrite);
    let service = o.service.parse::<Service>().ok();
    // The check's problems now (the API's `problems`), unless the page shows a refusal.
    let stored = if o.state.is_editable() {
        ordering
            .problems(o, &s.catalog)
            .await
            .map_err(|e| v.fail(e))?
    } else {
        Vec::new()
    };
    let refusal = !out.errors.is_empty();
    let which = out.which;
    let (edit_form, edit_errors, form, errors) = if which == "edit" {
        (out.form, out.errors, Form::default(), Errors::default())
    } else {
        (form_of(&o.body), errors_of(&stored), out.form, out.errors)
    };
    let field_views = if editable {
        fields(&s.catalog, &edit_form, &edit_errors, None)
    } else {
        Vec::new()
    };
    // Refusals of the form about no field it shows (a version that moved), and what the
    // check says of the documents (beside the upload).
    let edit_others: Vec<String> = edit_errors
        .0
        .iter()
        .filter(|(f, _)| f != "documents" && !field_views.iter().any(|v| v.name == *f))
        .map(|(f, m)| match f.as_str() {
            "action" => m.clone(),
            f => format!("{}: {m}", f.replace('_', " ")),
        })
        .collect();
    let docs_problem = edit_errors.get("documents").unwrap_or_default().to_string();
    let problems = stored.iter().map(|p| p.message.clone()).collect();
    let needed: Vec<&str> = service
        .map(|sv| {
            s.catalog
                .rules(sv)
                .documents
                .iter()
                .map(|k| k.as_str())
                .collect()
        })
        .unwrap_or_default();
    let moves = moves(v, o.state);
    let (packages, operators) = if moves.register || moves.complete {
        let cps = s
            .store
            .assignment()
            .list_client_packages(scope, Some(o.customer_id))
            .await
            .map_err(|e| v.fail(e))?;
        let ops = s
            .store
            .inventory()
            .operator_names()
            .await
            .map_err(|e| v.fail(e))?;
        (
            choices(
                cps.iter().map(|c| {
                    (
                        c.id.to_string(),
                        format!("{} ({})", shown(&c.package), c.state),
                    )
                }),
                form.value(&format!("{which}-client_package_id")),
                Some("None"),
            ),
            choices(
                ops.iter().map(|(id, name)| (id.to_string(), shown(name))),
                form.value("register-operator_id"),
                Some("None"),
            ),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let page = OrderPage {
        chrome: v.chrome(&format!("Order #{}", o.order_ref), "/orders"),
        id: o.id,
        version: o.version,
        reference: format!("#{}", o.order_ref),
        customer: shown(&customer.name),
        customer_href: format!("/customers/{}", customer.id),
        country: o.country.clone(),
        service: service
            .map(|sv| service_label(sv).to_string())
            .unwrap_or_else(|| words(&o.service)),
        state: words(o.state.as_str()),
        promised: o.promised_by.map(|d| d.to_string()).unwrap_or_default(),
        ivp_by: o.ivp_by.map(|d| d.to_string()).unwrap_or_default(),
        scheduled: o.scheduled_for.map(|d| d.to_string()).unwrap_or_default(),
        attention: attention_label(o),
        missing: o.missing.as_deref().map(shown).unwrap_or_default(),
        porting: service == Some(Service::FullPorting),
        numbers: d
            .numbers
            .iter()
            .map(|n| {
                let state = match &n.reject_code {
                    Some(c) => format!("{} ({})", n.state, words(c)),
                    None => n.state.clone(),
                };
                (shown(&n.number), shown(&state))
            })
            .collect(),
        documents: d
            .documents
            .iter()
            .map(|doc| DocView {
                kind: kind_label(doc.kind),
                name: shown(&doc.file_name),
                size: format!("{} bytes", thousands(doc.size)),
                href: format!("/api/v1/documents/{}/content", doc.id),
                at: when(&doc.created_at),
            })
            .collect(),
        events: events
            .iter()
            .map(|e| EventView {
                at: when(&e.at),
                at_machine: machine_time(&e.at),
                actor: shown(&e.actor),
                what: match &e.from_state {
                    Some(f) => format!("{} → {}", words(f), words(&e.to_state)),
                    None => words(&e.to_state),
                },
                details: e.detail.as_ref().map(change_lines).unwrap_or_default(),
                reason: e.reason.as_deref().map(shown).unwrap_or_default(),
            })
            .collect(),
        problems,
        fields: field_views,
        editable,
        edit_others,
        docs_problem,
        uploads,
        kinds: choices(
            KINDS.iter().map(|k| {
                let label = if needed.contains(&k.as_str()) {
                    format!("{} (needed)", kind_label(*k))
                } else {
                    kind_label(*k).to_string()
                };
                (k.as_str().to_string(), label)
            }),
            if which == "upload" {
                form.value("kind")
            } else {
                needed.first().copied().unwrap_or("other")
            },
            None,
        ),
        needed: needed
            .iter()
            .map(|k| kind_label(k.parse().unwrap_or(DocumentKind::Other)))
            .collect::<Vec<_>>()
            .join(" and "),
        moves,
        codes: choices(
            CODES
                .iter()
                .map(|c| (c.as_str().to_string(), words(c.as_str()))),
            if which == "reject" {
                form.value("reject-code")
            } else {
                ""
            },
            Some("Choose a reason"),
        ),
        packages,
        operators,
        form,
        errors,
        which,
        done: out.done,
    };
    let status = if refusal {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(status, &page))
}

pub async fn page(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    order_page(&s, &v, id, Shown::plain()).await
}

/// The order's fields saved (`action=save`: the store's `update_order`, a merge patch of the
/// whole form, with the version read), or only drawn again for a country or service changed
/// (`action=show`).
pub async fn update(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let order = body_of(&form, &s.catalog, &mut errors);
    if form.value("action") == "show" || !errors.is_empty() {
        let out = Shown {
            which: "edit",
            form,
            errors,
            done: None,
        };
        return order_page(&s, &v, id, out).await;
    }
    let mut patch =
        serde_json::to_value(&order).map_err(|e| v.fail(ApiError::BadRequest(e.to_string())))?;
    if let Some(p) = patch.as_object_mut() {
        // Documents are attached on this page, not listed by the form.
        p.remove("documents");
        // Identifiers no longer given are removed (a merge patch keeps what it does not name).
        let mut ids = serde_json::Map::new();
        for n in field_names(&form, &s.catalog) {
            if let Some(k) = n.strip_prefix("identifiers.") {
                let v = order.identifiers.as_ref().and_then(|i| i.get(k));
                ids.insert(
                    k.to_string(),
                    v.map_or(serde_json::Value::Null, |v| v.clone().into()),
                );
            }
        }
        p.insert("identifiers".into(), serde_json::Value::Object(ids));
    }
    let version = form.value("version").trim().parse::<i64>().ok();
    match s
        .store
        .ordering()
        .update_order(
            &v.principal.actor(),
            v.principal.scope(),
            id,
            version,
            &patch,
            &s.catalog,
        )
        .await
    {
        Ok(_) => {
            let out = Shown {
                which: "",
                form: Form::default(),
                errors: Errors::default(),
                done: Some("The order is saved.".into()),
            };
            order_page(&s, &v, id, out).await
        }
        Err(e) => {
            beside(&mut errors, e, "action").map_err(|e| v.fail(e))?;
            let out = Shown {
                which: "edit",
                form,
                errors,
                done: None,
            };
            order_page(&s, &v, id, out).await
        }
    }
}

fn opt_uuid(form: &Form, name: &str, errors: &mut Errors) -> Option<Uuid> {
    let v = form.value(name).trim();
    if v.is_empty() {
        return None;
    }
    match v.parse() {
        Ok(u) => Some(u),
        Err(_) => {
            errors.add(name, "choose one of the list");
            None
        }
    }
}

fn opt_text(form: &Form, name: &str) -> Option<String> {
    let v = form.value(name).trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// One change of state: the store function the API's handler of the same name calls.
async fn act(s: &AppState, v: &Viewer, id: Uuid, typed: Form, action: &'static str) -> PageResult {
    // Each action's fields are named after it (`cancel-reason`), so that the page's forms
    // never share an id; read here without the prefix.
    let prefix = format!("{action}-");
    let form = Form(
        typed
            .0
            .iter()
            .map(|(k, val)| {
                let k = k.strip_prefix(&prefix).unwrap_or(k);
                (k.to_string(), val.clone())
            })
            .collect(),
    );
    let version = form.value("version").trim().parse::<i64>().ok();
    let actor = v.principal.actor();
    let scope = v.principal.scope();
    let o = s.store.ordering();
    let mut errors = Errors::default();
    let result = match action {
        "confirm" => o.confirm_quote(&actor, scope, id, version).await,
        "submit" => o.submit_order(&actor, scope, id, version, &s.catalog).await,
        "sign" => {
            o.sign_order(&actor, scope, id, version, Utc::now(), &s.catalog)
                .await
        }
        "cancel" => {
            let reason = opt_text(&form, "reason");
            o.cancel_order(&actor, scope, side_of(v), id, version, reason.as_deref())
                .await
        }
        "register" => {
            let req = RegisterOrder {
                client_package_id: opt_uuid(&form, "client_package_id", &mut errors),
                destination: opt_text(&form, "destination"),
                operator_id: opt_uuid(&form, "operator_id", &mut errors),
            };
            if !errors.is_empty() {
                return refused(s, v, id, action, typed, errors).await;
            }
            o.register_order(&actor, id, version, &req).await
        }
        "schedule" => {
            let text = form.value("date").trim();
            let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") else {
                errors.add(
                    "date",
                    format!("'{}' is not a date (YYYY-MM-DD)", shown(text)),
                );
                return refused(s, v, id, action, typed, errors).await;
            };
            let reason = opt_text(&form, "reason");
            o.schedule_order(&actor, id, version, date, reason.as_deref())
                .await
        }
        "complete" => {
            let req = CompleteOrder {
                client_package_id: opt_uuid(&form, "client_package_id", &mut errors),
                destination: opt_text(&form, "destination"),
            };
            if !errors.is_empty() {
                return refused(s, v, id, action, typed, errors).await;
            }
            o.complete_order(&actor, id, version, &req).await
        }
        _ => {
            let code = serde_json::from_value::<RejectReason>(serde_json::Value::String(
                form.value("code").trim().to_string(),
            ));
            let Ok(code) = code else {
                errors.add("code", "choose the reason of the rejection");
                return refused(s, v, id, action, typed, errors).await;
            };
            let numbers: Vec<String> = form
                .value("numbers")
                .split(['\n', ','])
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
            let reason = opt_text(&form, "reason");
            let numbers = (!numbers.is_empty()).then_some(numbers);
            o.reject_order(
                &actor,
                id,
                version,
                code,
                reason.as_deref(),
                numbers.as_deref(),
            )
            .await
        }
    };
    match result {
        Ok(d) => {
            let out = Shown {
                which: "",
                form: Form::default(),
                errors: Errors::default(),
                done: Some(format!(
                    "Done: the order is {}.",
                    words(d.order.state.as_str())
                )),
            };
            order_page(s, v, id, out).await
        }
        // A submission refused by the check: its problems beside the order's fields.
        Err(StoreError::InvalidFields(list)) if action == "submit" => {
            let d = o.get_order(scope, id).await.map_err(|e| v.fail(e))?;
            beside(&mut errors, StoreError::InvalidFields(list), "action")
                .map_err(|e| v.fail(e))?;
            let out = Shown {
                which: "edit",
                form: form_of(&d.order.body),
                errors,
                done: None,
            };
            order_page(s, v, id, out).await
        }
        Err(e) => {
            beside(&mut errors, e, "action").map_err(|e| v.fail(e))?;
            refused(s, v, id, action, typed, errors).await
        }
    }
}

async fn refused(
    s: &AppState,
    v: &Viewer,
    id: Uuid,
    action: &'static str,
    form: Form,
    errors: Errors,
) -> PageResult {
    let out = Shown {
        which: action,
        form,
        errors: place(action, errors),
        done: None,
    };
    order_page(s, v, id, out).await
}

/// An action's errors under the names of its form's fields (`cancel-reason`); one about
/// anything else beside the action's buttons (`action`).
fn place(action: &str, errors: Errors) -> Errors {
    let known: &[&str] = match action {
        "cancel" => &["reason"],
        "schedule" => &["date", "reason"],
        "reject" => &["code", "reason", "numbers"],
        "register" => &["client_package_id", "destination", "operator_id"],
        "complete" => &["client_package_id", "destination"],
        "upload" => &["kind", "file"],
        _ => &[],
    };
    let mut list = Vec::new();
    for (f, m) in errors.0 {
        let f = match f.as_str() {
            f if known.contains(&f) && action == "upload" => f.to_string(),
            f if known.contains(&f) => format!("{action}-{f}"),
            _ => "action".to_string(),
        };
        add_error(&mut list, &f, &m);
    }
    Errors(list)
}

macro_rules! action {
    ($name:ident) => {
        pub async fn $name(
            State(s): State<AppState>,
            v: Viewer,
            axum::extract::Path(id): axum::extract::Path<String>,
            body: axum::body::Bytes,
        ) -> PageResult {
            let id = id_of(&v, &id).map_err(|e| *e)?;
            act(&s, &v, id, Form::parse(&body), stringify!($name)).await
        }
    };
}

action!(confirm);
action!(submit);
action!(sign);
action!(cancel);
action!(register);
action!(schedule);
action!(complete);
action!(reject);

/// A document uploaded to the order (multipart: `csrf`, `kind`, `file`): the store's `put`
/// as the API's upload calls it, the order's partner as the owner and the order as subject.
pub async fn upload(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    mut mp: Multipart,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let scope = v.principal.scope();
    let d = s
        .store
        .ordering()
        .get_order(scope, id)
        .await
        .map_err(|e| v.fail(e))?;
    let mut form = Form::default();
    let mut errors = Errors::default();
    let mut file: Option<(String, bytes::Bytes)> = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                errors.add("file", format!("the upload could not be read ({e})"));
                break;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let fname = field.file_name().unwrap_or("").to_string();
            match field.bytes().await {
                Ok(b) if !fname.is_empty() && !b.is_empty() => file = Some((fname, b)),
                Ok(_) => {}
                Err(e) => errors.add("file", format!("the upload could not be read ({e})")),
            }
            continue;
        }
        if let Ok(t) = field.text().await {
            if name == "kind" {
                form.0.push((name, t));
            }
        }
    }
    let kind = match form.value("kind").parse::<DocumentKind>() {
        Ok(k) if KINDS.contains(&k) => Some(k),
        _ => {
            errors.add("kind", "choose the kind of document");
            None
        }
    };
    if file.is_none() && errors.get("file").is_none() {
        errors.add("file", "choose the file: a PDF, PNG, JPEG or ZIP");
    }
    let (Some(kind), Some((file_name, bytes)), true) = (kind, file, errors.is_empty()) else {
        return refused(&s, &v, id, "upload", form, errors).await;
    };
    let subject = Subject {
        kind: SubjectKind::Order,
        id,
    };
    match s
        .store
        .documents()
        .put(
            &v.principal.actor(),
            scope,
            d.order.partner_id,
            kind,
            &file_name,
            bytes,
            Some(subject),
        )
        .await
    {
        Ok(doc) => {
            let out = Shown {
                which: "",
                form: Form::default(),
                errors: Errors::default(),
                done: Some(format!(
                    "{} is attached as {}.",
                    shown(&doc.file_name),
                    kind_label(doc.kind)
                )),
            };
            order_page(&s, &v, id, out).await
        }
        Err(e) => {
            beside(&mut errors, e, "file").map_err(|e| v.fail(e))?;
            refused(&s, &v, id, "upload", form, errors).await
        }
    }
}
