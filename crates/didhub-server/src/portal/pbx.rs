//! A PBX: its license and services. Adding a service shows its pro-rata quote (the store's
//! `quote_service`) before it is confirmed (`add_service`); a service is cancelled; the license
//! set (`set_license`) or renewed; the PBX edited (with the version read) or deleted. Scoped as
//! the API scopes them.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use didhub_core::access::Need;
use didhub_core::licensing::TermKind;
use didhub_store::accounts::orgs::NewPbx;
use didhub_store::licensing::licenses::{ServiceQuote, ServiceRequest};
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::{render, shown, Chrome, Errors, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::AppState;

pub struct ServiceView {
    pub id: Uuid,
    pub kind: String,
    pub term: String,
    pub start: String,
    pub expires: String,
    pub charges: Vec<String>,
}

pub struct QuoteView {
    pub amount: String,
    pub list_price: String,
    pub days: i64,
    pub period_days: i64,
    pub start: String,
    pub expires: String,
    pub term: String,
}

fn quote_view(q: &ServiceQuote) -> QuoteView {
    QuoteView {
        amount: format!("{} {}", q.amount, q.currency),
        list_price: format!("{} {}", q.list_price, q.currency),
        days: q.days,
        period_days: q.period_days,
        start: q.period_start.to_string(),
        expires: q.expires.to_string(),
        term: q.term_kind.as_str().replace('_', " "),
    }
}

#[derive(Template)]
#[template(path = "portal/pbx.html")]
struct PbxPage {
    chrome: Chrome,
    id: Uuid,
    name: String,
    serial: String,
    customer: String,
    customer_href: String,
    license: Option<String>,
    license_version: String,
    version: i64,
    /// The edit and license forms' values: what was typed, or the PBX's and license's own.
    edit: Form,
    terms: Vec<Choice>,
    services: Vec<ServiceView>,
    seen: usize,
    kinds: Vec<Choice>,
    /// Whether the viewer may change it (the API's `OrgWrite`).
    write: bool,
    form: Form,
    errors: Errors,
    others: Vec<String>,
    quote: Option<QuoteView>,
    done: Option<String>,
}

const FIELDS: &[&str] = &[
    "kind",
    "currency",
    "service_start",
    "license",
    "service",
    "pbx_name",
    "serial_number",
    "region",
    "edit",
    "term_kind",
    "period_start",
    "delete",
];

struct Shown {
    form: Form,
    errors: Errors,
    quote: Option<QuoteView>,
    done: Option<String>,
}

async fn pbx_page(s: &AppState, v: &Viewer, id: Uuid, shown_: Shown) -> PageResult {
    let scope = v.principal.scope();
    let fail = |e: StoreError| v.fail(e);
    let pbx = s.store.accounts().get_pbx(scope, id).await.map_err(fail)?;
    let customer = s
        .store
        .accounts()
        .get_customer(scope, pbx.customer_id)
        .await
        .map_err(fail)?;
    let lic = s.store.licensing();
    let license = lic.get_license(scope, id).await.map_err(fail)?;
    let services = lic.list_services(scope, id).await.map_err(fail)?;
    let kinds = lic.list_service_kinds().await.map_err(fail)?;
    let Shown {
        form,
        errors,
        quote,
        done,
    } = shown_;
    let own = [
        ("pbx_name", pbx.name.clone()),
        ("serial_number", pbx.serial_number.clone()),
        ("region", pbx.region.clone().unwrap_or_default()),
        (
            "term_kind",
            license
                .as_ref()
                .map(|l| l.term_kind.as_str().to_string())
                .unwrap_or_default(),
        ),
        (
            "period_start",
            license
                .as_ref()
                .map(|l| l.period_start.to_string())
                .unwrap_or_default(),
        ),
    ];
    let edit = Form(
        own.into_iter()
            .map(|(k, mine)| {
                let v = form.get(k).map(str::to_string).unwrap_or(mine);
                (k.to_string(), v)
            })
            .collect(),
    );
    let page = PbxPage {
        version: pbx.version,
        terms: choices(
            TermKind::ALL
                .iter()
                .map(|t| (t.as_str().to_string(), t.as_str().replace('_', " "))),
            edit.value("term_kind"),
            Some("Choose a term"),
        ),
        edit,
        chrome: v.chrome(&format!("PBX {}", shown(&pbx.name)), "/customers"),
        id,
        name: shown(&pbx.name),
        serial: shown(&pbx.serial_number),
        customer: shown(&customer.name),
        customer_href: format!("/customers/{}", customer.id),
        license: license.as_ref().map(|l| {
            format!(
                "{}, {} to {}{}",
                l.term_kind.as_str().replace('_', " "),
                l.period_start,
                l.expires,
                if l.active { "" } else { " (not active)" }
            )
        }),
        license_version: license
            .as_ref()
            .map(|l| l.version.to_string())
            .unwrap_or_default(),
        seen: services.len(),
        services: services
            .iter()
            .map(|x| ServiceView {
                id: x.id,
                kind: shown(&x.kind),
                term: x.term_kind.as_str().replace('_', " "),
                start: x.service_start.to_string(),
                expires: x.expires.to_string(),
                charges: x
                    .charges
                    .iter()
                    .map(|c| format!("from {}: {} {}", c.period_start, c.amount, x.currency))
                    .collect(),
            })
            .collect(),
        kinds: choices(
            kinds.iter().map(|k| (k.code.clone(), shown(&k.name))),
            form.value("kind"),
            Some("Choose a service"),
        ),
        write: v.principal.role.allows(Need::OrgWrite),
        others: errors.others(FIELDS),
        form,
        errors,
        quote,
        done,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

fn id_of(id: &str) -> Option<Uuid> {
    id.parse().ok()
}

fn not_found(v: &Viewer) -> super::PageError {
    v.fail(ApiError::NotFound("PBX".into()))
}

fn nothing() -> Shown {
    Shown {
        form: Form::default(),
        errors: Errors::default(),
        quote: None,
        done: None,
    }
}

pub async fn page(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id = id_of(&id).ok_or_else(|| not_found(&v))?;
    pbx_page(&s, &v, id, nothing()).await
}

/// The service request of the form; `None` with the errors beside the fields.
fn request(form: &Form, errors: &mut Errors) -> Option<ServiceRequest> {
    let kind = form.value("kind").trim().to_string();
    if kind.is_empty() {
        errors.add("kind", "choose the service");
    }
    let currency = form.value("currency").trim().to_uppercase();
    if currency.is_empty() {
        errors.add("currency", "say the currency (EUR, GBP, …)");
    }
    let start = match form.value("service_start").trim() {
        "" => None,
        d => match d.parse::<NaiveDate>() {
            Ok(d) => Some(d),
            Err(_) => {
                errors.add(
                    "service_start",
                    format!("'{}' is not a day (YYYY-MM-DD)", shown(d)),
                );
                None
            }
        },
    };
    errors.is_empty().then_some(ServiceRequest {
        kind,
        currency,
        service_start: start,
        term_kind: None,
    })
}

fn beside(errors: &mut Errors, e: StoreError, field: &str) -> Result<(), ApiError> {
    match e {
        StoreError::Invalid { field: f, message } => {
            let f = if FIELDS.contains(&f.as_str()) {
                f
            } else {
                field.to_string()
            };
            errors.add(f, message);
            Ok(())
        }
        StoreError::InvalidFields(list) => {
            for (f, m) in list {
                let f = if FIELDS.contains(&f.as_str()) {
                    f
                } else {
                    field.to_string()
                };
                errors.add(f, m);
            }
            Ok(())
        }
        e @ (StoreError::Conflict(_)
        | StoreError::InUse(_)
        | StoreError::VersionMismatch { .. }) => {
            errors.add(field, e);
            Ok(())
        }
        e => Err(e.into()),
    }
}

/// The quote of the service before it is added: nothing is stored.
pub async fn preview(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&id).ok_or_else(|| not_found(&v))?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let Some(req) = request(&form, &mut errors) else {
        return pbx_page(&s, &v, id, with_form(form, errors)).await;
    };
    match s
        .store
        .licensing()
        .quote_service(v.principal.scope(), id, &req)
        .await
    {
        Ok((_, q)) => {
            let quote = Some(quote_view(&q));
            pbx_page(
                &s,
                &v,
                id,
                Shown {
                    form,
                    errors,
                    quote,
                    done: None,
                },
            )
            .await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            beside(&mut errors, e, "kind").map_err(|e| v.fail(e))?;
            pbx_page(&s, &v, id, with_form(form, errors)).await
        }
    }
}

/// Adds the service quoted. A second submit of the same confirmation (the services seen
/// then are no longer the services now) is refused rather than adding it twice.
pub async fn add(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&id).ok_or_else(|| not_found(&v))?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let Some(req) = request(&form, &mut errors) else {
        return pbx_page(&s, &v, id, with_form(form, errors)).await;
    };
    let scope = v.principal.scope();
    let now = s
        .store
        .licensing()
        .list_services(scope, id)
        .await
        .map_err(|e| v.fail(e))?
        .len();
    if form.value("seen").trim().parse::<usize>().ok() != Some(now) {
        errors.add(
            "service",
            "the services of this PBX changed since the quote; look at them and ask again",
        );
        return pbx_page(&s, &v, id, with_form(form, errors)).await;
    }
    let added = s
        .store
        .licensing()
        .add_service(&v.principal.actor(), scope, id, &req)
        .await
        .map(|(svc, q)| {
            format!(
                "The service {} is added: {} {} charged.",
                shown(&svc.kind),
                q.amount,
                q.currency
            )
        });
    after(&s, &v, id, added, "kind", form).await
}

pub async fn cancel(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path((id, service)): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&id).ok_or_else(|| not_found(&v))?;
    let service = id_of(&service).ok_or_else(|| not_found(&v))?;
    let form = Form::parse(&body);
    let reason = Some(form.value("reason").trim()).filter(|r| !r.is_empty());
    let cancelled = s
        .store
        .licensing()
        .cancel_service(
            &v.principal.actor(),
            v.principal.scope(),
            id,
            service,
            reason,
        )
        .await
        .map(|c| {
            format!(
                "The service {} is cancelled; {} {} credited.",
                shown(&c.service.kind),
                c.credit,
                c.currency
            )
        });
    after(&s, &v, id, cancelled, "service", Form::default()).await
}

/// Renews the license. The form carries the license's version: a second submit of the same
/// form (the license moved on) is refused rather than renewing twice.
pub async fn renew(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&id).ok_or_else(|| not_found(&v))?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let scope = v.principal.scope();
    let cur = s
        .store
        .licensing()
        .get_license(scope, id)
        .await
        .map_err(|e| v.fail(e))?;
    let sent = form.value("version").trim().parse::<i64>().ok();
    if cur.as_ref().map(|l| l.version) != sent {
        errors.add(
            "license",
            "the license changed since you read it; look at it again",
        );
        return pbx_page(&s, &v, id, with_form(Form::default(), errors)).await;
    }
    let renewed = s
        .store
        .licensing()
        .renew_license(&v.principal.actor(), scope, id)
        .await
        .map(|l| format!("The license is renewed to {}.", l.expires));
    after(&s, &v, id, renewed, "license", Form::default()).await
}

fn with_form(form: Form, errors: Errors) -> Shown {
    Shown {
        form,
        errors,
        quote: None,
        done: None,
    }
}

/// The page after a step of the service and license forms: the step's message, or the
/// store's refusal beside `field` with `form` as sent (a PBX or service out of reach is the
/// 404 page).
async fn after(
    s: &AppState,
    v: &Viewer,
    id: Uuid,
    outcome: Result<String, StoreError>,
    field: &str,
    form: Form,
) -> PageResult {
    match outcome {
        Ok(message) => pbx_page(s, v, id, done(message)).await,
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            let mut errors = Errors::default();
            beside(&mut errors, e, field).map_err(|e| v.fail(e))?;
            pbx_page(s, v, id, with_form(form, errors)).await
        }
    }
}

fn done(message: String) -> Shown {
    Shown {
        form: Form::default(),
        errors: Errors::default(),
        quote: None,
        done: Some(message),
    }
}

/// Edits the PBX's name, serial number and region (the API's `update_pbx`, with the version
/// the page read).
pub async fn update(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&id).ok_or_else(|| not_found(&v))?;
    let form = Form::parse(&body);
    let new = NewPbx {
        name: form.value("pbx_name").to_string(),
        serial_number: form.value("serial_number").to_string(),
        region: Some(form.value("region").trim().to_string()).filter(|r| !r.is_empty()),
    };
    let version = form.value("version").trim().parse::<i64>().ok();
    let mut errors = Errors::default();
    match s
        .store
        .accounts()
        .update_pbx(&v.principal.actor(), v.principal.scope(), id, &new, version)
        .await
    {
        Ok(p) => {
            pbx_page(
                &s,
                &v,
                id,
                done(format!("The PBX {} is saved.", shown(&p.name))),
            )
            .await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            let e = match e {
                StoreError::Invalid { field, message } if field == "name" => {
                    StoreError::invalid("pbx_name", message)
                }
                StoreError::Conflict(m) => StoreError::invalid("serial_number", m),
                e => e,
            };
            errors
                .store(e, &["pbx_name", "serial_number", "region"], "edit")
                .map_err(|e| v.fail(e))?;
            pbx_page(&s, &v, id, with_form(form, errors)).await
        }
    }
}

/// Sets the PBX's license: term kind and the start of its current period (the API's
/// `set_license`; the store refuses another period while services are tied to this one).
pub async fn set_license(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&id).ok_or_else(|| not_found(&v))?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let term = match form.value("term_kind").trim() {
        "" => {
            errors.add("term_kind", "choose the term");
            None
        }
        t => match t.parse::<TermKind>() {
            Ok(t) => Some(t),
            Err(e) => {
                errors.add("term_kind", e);
                None
            }
        },
    };
    let start = match form.value("period_start").trim() {
        "" => {
            errors.add("period_start", "say the day the period starts (YYYY-MM-DD)");
            None
        }
        d => match d.parse::<NaiveDate>() {
            Ok(d) => Some(d),
            Err(_) => {
                errors.add(
                    "period_start",
                    format!("'{}' is not a day (YYYY-MM-DD)", shown(d)),
                );
                None
            }
        },
    };
    let (Some(term), Some(start)) = (term, start) else {
        return pbx_page(&s, &v, id, with_form(form, errors)).await;
    };
    match s
        .store
        .licensing()
        .set_license(&v.principal.actor(), v.principal.scope(), id, term, start)
        .await
    {
        Ok(l) => {
            let message = format!(
                "The license is set: {}, {} to {}.",
                l.term_kind.as_str().replace('_', " "),
                l.period_start,
                l.expires
            );
            pbx_page(&s, &v, id, done(message)).await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            errors
                .store(e, &["term_kind", "period_start"], "license")
                .map_err(|e| v.fail(e))?;
            pbx_page(&s, &v, id, with_form(form, errors)).await
        }
    }
}

/// Deletes a PBX without services or DIDs routed to it (the API's `delete_pbx`; its license
/// goes with it).
pub async fn delete(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id = id_of(&id).ok_or_else(|| not_found(&v))?;
    let scope = v.principal.scope();
    let acc = s.store.accounts();
    let pbx = acc.get_pbx(scope, id).await.map_err(|e| v.fail(e))?;
    let outcome = acc.delete_pbx(&v.principal.actor(), scope, id).await;
    let done = format!("The PBX {} is deleted.", shown(&pbx.name));
    let back = format!("/customers/{}", pbx.customer_id);
    let again = |errors| pbx_page(&s, &v, id, with_form(Form::default(), errors));
    super::after_delete(
        &v,
        outcome,
        ("PBX deleted", "/customers"),
        done,
        back,
        again,
    )
    .await
}
