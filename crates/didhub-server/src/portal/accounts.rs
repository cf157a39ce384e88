//! Customers: the list and a customer's page with its PBXs and DIDs, scoped as the API scopes
//! them (a partner user sees its partner's only; another's is "not found").

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use uuid::Uuid;

use super::inventory::{choices, DidView};
use super::{render, shown, thousands, when, Chrome, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::AppState;

pub struct CustomerView {
    pub href: String,
    pub name: String,
    pub partner: String,
    pub active: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "portal/customers.html")]
struct CustomersPage {
    chrome: Chrome,
    form: Form,
    /// Staff choose a partner; a partner user has one.
    partners: Option<Vec<super::inventory::Choice>>,
    partner_error: Option<String>,
    rows: Vec<CustomerView>,
    count: String,
}

/// The customers the viewer may see (the store's scope), by name; a name filter and, for
/// staff, a partner. The store gives them whole, by name, so there are no further pages.
pub async fn customers(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let scope = v.principal.scope();
    let accounts = s.store.accounts();
    let partners = accounts.list_partners(scope).await.map_err(|e| v.fail(e))?;
    let mut partner_error = None;
    let partner = match form.value("partner_id").trim() {
        "" => None,
        p => match p.parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => {
                partner_error = Some("choose a partner from the list".to_string());
                None
            }
        },
    };
    let mut list = if partner_error.is_none() {
        accounts
            .list_customers(scope, partner)
            .await
            .map_err(|e| v.fail(e))?
    } else {
        Vec::new()
    };
    let q = form.value("name").trim().to_lowercase();
    if !q.is_empty() {
        list.retain(|c| c.name.to_lowercase().contains(&q));
    }
    let name_of = |id: Uuid| {
        partners
            .iter()
            .find(|p| p.id == id)
            .map(|p| shown(&p.name))
            .unwrap_or_default()
    };
    let staff = !v.principal.role.is_partner();
    let page = CustomersPage {
        chrome: v.chrome("Customers", "/customers"),
        partners: staff.then(|| {
            choices(
                partners.iter().map(|p| (p.id.to_string(), shown(&p.name))),
                form.value("partner_id"),
                Some("Any partner"),
            )
        }),
        count: thousands(list.len() as i64),
        rows: list
            .iter()
            .map(|c| CustomerView {
                href: format!("/customers/{}", c.id),
                name: shown(&c.name),
                partner: name_of(c.partner_id),
                active: c.active,
                created: when(&c.created_at),
            })
            .collect(),
        partner_error,
        form,
    };
    Ok(render(StatusCode::OK, &page))
}

pub struct PbxView {
    pub id: Uuid,
    pub serial: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "portal/customer.html")]
struct CustomerPage {
    chrome: Chrome,
    name: String,
    partner: String,
    active: bool,
    pbxs: Vec<PbxView>,
    dids: Vec<DidView>,
    /// Whether the viewer may open a DID's page.
    did_links: bool,
}

pub async fn customer(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id
        .parse()
        .map_err(|_| v.fail(ApiError::NotFound("customer".into())))?;
    let scope = v.principal.scope();
    let c = s
        .store
        .accounts()
        .get_customer(scope, id)
        .await
        .map_err(|e| v.fail(e))?;
    let partner = s
        .store
        .accounts()
        .get_partner(scope, c.partner_id)
        .await
        .map_err(|e| v.fail(e))?;
    let pbxs = s
        .store
        .accounts()
        .list_pbxs(scope, Some(id))
        .await
        .map_err(|e| v.fail(e))?;
    let dids = s
        .store
        .assignment()
        .customer_dids(scope, id)
        .await
        .map_err(|e| v.fail(e))?;
    let page = CustomerPage {
        chrome: v.chrome(&format!("Customer {}", shown(&c.name)), "/customers"),
        name: shown(&c.name),
        partner: shown(&partner.name),
        active: c.active,
        pbxs: pbxs
            .iter()
            .map(|p| PbxView {
                id: p.id,
                serial: shown(&p.serial_number),
                name: shown(&p.name),
            })
            .collect(),
        dids: dids.iter().map(DidView::new).collect(),
        did_links: v.principal.role.allows(Need::InventoryRead),
    };
    Ok(render(StatusCode::OK, &page))
}
