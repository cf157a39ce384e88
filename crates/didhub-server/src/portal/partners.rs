//! Partners: the list (a partner user: its own, as the API scopes it), each with a link to
//! its page and its customers; a new partner, renaming (with the version read) and deleting
//! one (refused while it has customers, users or documents) for staff admins, through the
//! store's partner functions as the API calls them. A partner's support centre is shown on
//! its page, and support staff move it to another (the API's `PUT …/support-centre`: the
//! store's `set_partner_centre`).

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::{render, shown, thousands, when, Chrome, Errors, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::AppState;

pub struct PartnerView {
    pub href: String,
    pub name: String,
    pub customers_href: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "portal/partners.html")]
struct PartnersPage {
    chrome: Chrome,
    filter: Form,
    rows: Vec<PartnerView>,
    count: String,
    admin: bool,
    form: Form,
    errors: Errors,
    done: Option<String>,
}

async fn partners_page(
    s: &AppState,
    v: &Viewer,
    filter: Form,
    form: Form,
    errors: Errors,
    done: Option<String>,
) -> PageResult {
    let mut list = s
        .store
        .accounts()
        .list_partners(v.principal.scope())
        .await
        .map_err(|e| v.fail(e))?;
    let q = filter.value("name").trim().to_lowercase();
    if !q.is_empty() {
        list.retain(|p| p.name.to_lowercase().contains(&q));
    }
    let page = PartnersPage {
        chrome: v.chrome("Partners", "/partners"),
        count: thousands(list.len() as i64),
        rows: list
            .iter()
            .map(|p| PartnerView {
                href: format!("/partners/{}", p.id),
                name: shown(&p.name),
                customers_href: format!("/customers?partner_id={}", p.id),
                created: when(&p.created_at),
            })
            .collect(),
        admin: v.principal.role.allows(Need::StaffAdmin),
        filter,
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

pub async fn list(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    partners_page(
        &s,
        &v,
        Form::query(&uri),
        Form::default(),
        Errors::default(),
        None,
    )
    .await
}

pub async fn create(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    match s
        .store
        .accounts()
        .create_partner(&v.principal.actor(), form.value("partner_name"))
        .await
    {
        Ok(p) => {
            let done = Some(format!("The partner {} is created.", shown(&p.name)));
            partners_page(&s, &v, Form::default(), Form::default(), errors, done).await
        }
        Err(StoreError::Invalid { message, .. }) => {
            errors.add("partner_name", message);
            partners_page(&s, &v, Form::default(), form, errors, None).await
        }
        Err(e @ StoreError::Conflict(_)) => {
            errors.add("partner_name", e);
            partners_page(&s, &v, Form::default(), form, errors, None).await
        }
        Err(e) => Err(v.fail(e)),
    }
}

#[derive(Template)]
#[template(path = "portal/partner.html")]
struct PartnerPage {
    chrome: Chrome,
    id: Uuid,
    name: String,
    created: String,
    customers: String,
    customers_href: String,
    version: i64,
    admin: bool,
    /// The partner's support centre (its name and zone).
    centre: String,
    /// The centres offered to support staff (the centre form); none for others.
    centres: Option<Vec<Choice>>,
    form: Form,
    errors: Errors,
    done: Option<String>,
}

/// A page's failure for an address whose id is none: not found, as the API says.
fn id_of_unknown(v: &Viewer) -> super::PageError {
    v.fail(ApiError::NotFound("partner".into()))
}

async fn partner_page(
    s: &AppState,
    v: &Viewer,
    id: Uuid,
    form: Option<Form>,
    errors: Errors,
    done: Option<String>,
) -> PageResult {
    let scope = v.principal.scope();
    let acc = s.store.accounts();
    let p = acc.get_partner(scope, id).await.map_err(|e| v.fail(e))?;
    let customers = acc
        .list_customers(scope, Some(id))
        .await
        .map_err(|e| v.fail(e))?
        .len();
    let desk = s.store.support();
    let centre = desk
        .partner_centre(scope, id)
        .await
        .map_err(|e| v.fail(e))?;
    let centres = if v.principal.role.allows(Need::SupportDesk) {
        let all = desk.list_centres().await.map_err(|e| v.fail(e))?;
        let current = form
            .as_ref()
            .and_then(|f| f.get("centre").map(str::to_string))
            .unwrap_or_else(|| centre.code.clone());
        Some(choices(
            all.iter().map(|c| {
                (
                    c.code.clone(),
                    format!("{} ({})", shown(&c.name), c.time_zone),
                )
            }),
            &current,
            None,
        ))
    } else {
        None
    };
    let form = form.unwrap_or_else(|| Form(vec![("name".into(), p.name.clone())]));
    let page = PartnerPage {
        centre: format!("{} ({})", shown(&centre.name), centre.time_zone),
        centres,
        chrome: v.chrome(&format!("Partner {}", shown(&p.name)), "/partners"),
        id,
        name: shown(&p.name),
        created: when(&p.created_at),
        customers: thousands(customers as i64),
        customers_href: format!("/customers?partner_id={id}"),
        version: p.version,
        admin: v.principal.role.allows(Need::StaffAdmin),
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

pub async fn page(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| id_of_unknown(&v))?;
    partner_page(&s, &v, id, None, Errors::default(), None).await
}

/// Renames a partner (the API's `rename_partner`, with the version the page read).
pub async fn rename(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| id_of_unknown(&v))?;
    let form = Form::parse(&body);
    let version = form.value("version").trim().parse::<i64>().ok();
    let mut errors = Errors::default();
    match s
        .store
        .accounts()
        .rename_partner(&v.principal.actor(), id, form.value("name"), version)
        .await
    {
        Ok(p) => {
            let done = Some(format!("The partner is renamed {}.", shown(&p.name)));
            partner_page(&s, &v, id, None, errors, done).await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            errors.store(e, &["name"], "name").map_err(|e| v.fail(e))?;
            partner_page(&s, &v, id, Some(form), errors, None).await
        }
    }
}

/// Moves a partner to another support centre (the API's `set_partner_centre`): its new
/// tickets run on that centre's hours. A centre that is none is refused beside the field.
pub async fn set_centre(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| id_of_unknown(&v))?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    match s
        .store
        .support()
        .set_partner_centre(&v.principal.actor(), id, form.value("centre"))
        .await
    {
        Ok(c) => {
            let done = Some(format!(
                "The partner's support centre is {}: its new tickets run on its hours.",
                shown(&c.name)
            ));
            partner_page(&s, &v, id, None, errors, done).await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            errors
                .store(e, &["centre"], "centre")
                .map_err(|e| v.fail(e))?;
            partner_page(&s, &v, id, Some(form), errors, None).await
        }
    }
}

/// Deletes a partner without customers, users or documents (the store refuses others).
pub async fn delete(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| id_of_unknown(&v))?;
    let acc = s.store.accounts();
    let p = acc
        .get_partner(v.principal.scope(), id)
        .await
        .map_err(|e| v.fail(e))?;
    let outcome = acc.delete_partner(&v.principal.actor(), id).await;
    let done = format!("The partner {} is deleted.", shown(&p.name));
    let again = |errors| partner_page(&s, &v, id, None, errors, None);
    super::after_delete(
        &v,
        outcome,
        ("Partner deleted", "/partners"),
        done,
        "/partners".into(),
        again,
    )
    .await
}
