//! Partners: the list (a partner user: its own, as the API scopes it), each with a link to
//! its customers; a new partner for staff admins.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_store::StoreError;

use super::{render, shown, thousands, when, Chrome, Errors, Form, PageResult, Viewer};
use crate::AppState;

pub struct PartnerView {
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
