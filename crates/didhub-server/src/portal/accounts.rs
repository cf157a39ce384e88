//! Customers: the list and a customer's page with its PBXs and DIDs, scoped as the API scopes
//! them (a partner user sees its partner's only; another's is "not found"). With the API's
//! `OrgWrite`: a new customer, renaming (with the version read) and deleting one, and a new PBX
//! of a customer, through the store's functions as the API calls them.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_store::accounts::orgs::NewPbx;
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, DidView};
use super::{render, shown, thousands, when, Chrome, Errors, Form, PageResult, Viewer};
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
    /// Whether the viewer may add one (the API's `OrgWrite`).
    write: bool,
    /// The new customer's partner, for staff.
    new_partners: Option<Vec<super::inventory::Choice>>,
    new: Form,
    errors: Errors,
    done: Option<String>,
}

/// The customers the viewer may see (the store's scope), by name; a name filter and, for
/// staff, a partner. The store gives them whole, by name, so there are no further pages.
pub async fn customers(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    customers_page(
        &s,
        &v,
        Form::query(&uri),
        Form::default(),
        Errors::default(),
        None,
    )
    .await
}

async fn customers_page(
    s: &AppState,
    v: &Viewer,
    form: Form,
    new: Form,
    errors: Errors,
    done: Option<String>,
) -> PageResult {
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
        write: v.principal.role.allows(Need::OrgWrite),
        new_partners: staff.then(|| {
            choices(
                partners.iter().map(|p| (p.id.to_string(), shown(&p.name))),
                new.value("customer_partner"),
                Some("Choose a partner"),
            )
        }),
        form,
        new,
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

/// A new customer: a partner user's is its partner's, staff choose the partner (the API's
/// rule: the partner is required for staff).
pub async fn create(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let new = Form::parse(&body);
    let mut errors = Errors::default();
    let partner = match v.principal.scope().partner() {
        Some(own) => Some(own),
        None => match new.value("customer_partner").trim().parse::<Uuid>() {
            Ok(p) => Some(p),
            Err(_) => {
                errors.add("customer_partner", "choose the customer's partner");
                None
            }
        },
    };
    let Some(partner) = partner else {
        return customers_page(&s, &v, Form::default(), new, errors, None).await;
    };
    match s
        .store
        .accounts()
        .create_customer(
            &v.principal.actor(),
            v.principal.scope(),
            partner,
            new.value("customer_name"),
        )
        .await
    {
        Ok(c) => {
            let done = Some(format!("The customer {} is created.", shown(&c.name)));
            customers_page(&s, &v, Form::default(), Form::default(), errors, done).await
        }
        Err(e) => {
            let e = match e {
                StoreError::Invalid { field, message } if field == "name" => {
                    StoreError::invalid("customer_name", message)
                }
                StoreError::Invalid { field, message } if field == "partner_id" => {
                    StoreError::invalid("customer_partner", message)
                }
                e => e,
            };
            errors
                .store(e, &["customer_name", "customer_partner"], "customer_name")
                .map_err(|e| v.fail(e))?;
            customers_page(&s, &v, Form::default(), new, errors, None).await
        }
    }
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
    id: Uuid,
    version: i64,
    /// Whether the viewer may change it (the API's `OrgWrite`).
    write: bool,
    form: Form,
    errors: Errors,
    done: Option<String>,
}

const CUSTOMER_FIELDS: &[&str] = &["name", "pbx_name", "serial_number", "region"];

/// A page's failure for an address whose id is none: not found, as the API says.
fn customer_id_unknown(v: &Viewer) -> super::PageError {
    v.fail(ApiError::NotFound("customer".into()))
}

pub async fn customer(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| customer_id_unknown(&v))?;
    customer_page(&s, &v, id, None, Errors::default(), None).await
}

async fn customer_page(
    s: &AppState,
    v: &Viewer,
    id: Uuid,
    form: Option<Form>,
    errors: Errors,
    done: Option<String>,
) -> PageResult {
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
        id,
        version: c.version,
        write: v.principal.role.allows(Need::OrgWrite),
        form: form.unwrap_or_else(|| Form(vec![("name".into(), c.name.clone())])),
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

/// Renames a customer (the API's `rename_customer`, with the version the page read).
pub async fn rename(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| customer_id_unknown(&v))?;
    let form = Form::parse(&body);
    let version = form.value("version").trim().parse::<i64>().ok();
    let mut errors = Errors::default();
    match s
        .store
        .accounts()
        .rename_customer(
            &v.principal.actor(),
            v.principal.scope(),
            id,
            form.value("name"),
            version,
        )
        .await
    {
        Ok(c) => {
            let done = Some(format!("The customer is renamed {}.", shown(&c.name)));
            customer_page(&s, &v, id, None, errors, done).await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            errors.store(e, &["name"], "name").map_err(|e| v.fail(e))?;
            customer_page(&s, &v, id, Some(form), errors, None).await
        }
    }
}

/// Deletes a customer without PBXs, orders or client packages (the store refuses others).
pub async fn delete(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| customer_id_unknown(&v))?;
    let acc = s.store.accounts();
    let scope = v.principal.scope();
    let c = acc.get_customer(scope, id).await.map_err(|e| v.fail(e))?;
    let outcome = acc.delete_customer(&v.principal.actor(), scope, id).await;
    let done = format!("The customer {} is deleted.", shown(&c.name));
    let again = |errors| customer_page(&s, &v, id, None, errors, None);
    let title = ("Customer deleted", "/customers");
    super::after_delete(&v, outcome, title, done, "/customers".into(), again).await
}

/// A new PBX of the customer (the API's `create_pbx`).
pub async fn add_pbx(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| customer_id_unknown(&v))?;
    let form = Form::parse(&body);
    let new = NewPbx {
        name: form.value("pbx_name").to_string(),
        serial_number: form.value("serial_number").to_string(),
        region: Some(form.value("region").trim().to_string()).filter(|r| !r.is_empty()),
    };
    let mut errors = Errors::default();
    match s
        .store
        .accounts()
        .create_pbx(&v.principal.actor(), v.principal.scope(), id, &new)
        .await
    {
        Ok(p) => {
            let done = Some(format!("The PBX {} is added.", shown(&p.name)));
            customer_page(&s, &v, id, None, errors, done).await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            let e = match e {
                StoreError::Invalid { field, message } if field == "name" => {
                    StoreError::invalid("pbx_name", message)
                }
                e => e,
            };
            errors
                .store(e, CUSTOMER_FIELDS, "serial_number")
                .map_err(|e| v.fail(e))?;
            // The rename form keeps the customer's name; the PBX form what was typed.
            let mut kept = form;
            kept.0.retain(|(k, _)| k != "name");
            let c = s
                .store
                .accounts()
                .get_customer(v.principal.scope(), id)
                .await
                .map_err(|e| v.fail(e))?;
            kept.0.push(("name".into(), c.name));
            customer_page(&s, &v, id, Some(kept), errors, None).await
        }
    }
}
