//! Client packages: the list and a client package's page (its DIDs and where each routes),
//! with its state changes (activate, deactivate → hold, terminate), DIDs assigned to it and a
//! block allocated to it; the routing check of a number. Scoped as the API scopes them.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_core::assignment::{PackageState, Route};
use didhub_core::number::{Country, NumberType};
use didhub_store::assignment::assign::AssignRequest;
use didhub_store::assignment::blocks::BlockRequest;
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, Choice, DidView};
use super::{render, shown, thousands, Chrome, Errors, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::AppState;

pub struct CpView {
    pub href: String,
    pub customer: String,
    pub package: String,
    pub state: String,
    pub start: String,
    pub dids: String,
    pub allowance: String,
}

#[derive(Template)]
#[template(path = "portal/client_packages.html")]
struct ListPage {
    chrome: Chrome,
    form: Form,
    customers: Vec<Choice>,
    states: Vec<Choice>,
    sorts: Vec<Choice>,
    rows: Vec<CpView>,
    count: String,
}

const STATES: &[PackageState] = &[
    PackageState::Active,
    PackageState::Pending,
    PackageState::Inactive,
    PackageState::Terminated,
];

/// The client packages the viewer may see, with their customer, state and package name as
/// filters. The store gives them whole (per customer, tens), so there are no further pages.
pub async fn list(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let scope = v.principal.scope();
    let customers = s
        .store
        .accounts()
        .list_customers(scope, None)
        .await
        .map_err(|e| v.fail(e))?;
    let customer = form.value("customer_id").trim().parse::<Uuid>().ok();
    let mut list = s
        .store
        .assignment()
        .list_client_packages(scope, customer)
        .await
        .map_err(|e| v.fail(e))?;
    let state = form.value("state").trim();
    if !state.is_empty() {
        list.retain(|c| c.state == state);
    }
    let q = form.value("package").trim().to_lowercase();
    if !q.is_empty() {
        list.retain(|c| c.package.to_lowercase().contains(&q));
    }
    let name_of = |id: Uuid| {
        customers
            .iter()
            .find(|c| c.id == id)
            .map(|c| shown(&c.name))
            .unwrap_or_default()
    };
    let sort = match form.value("sort") {
        s @ ("package" | "start" | "dids") => s,
        _ => "customer",
    };
    let mut rows: Vec<(CpView, String, i64, chrono::NaiveDate)> = list
        .iter()
        .map(|c| {
            let customer = name_of(c.customer_id);
            (
                CpView {
                    href: format!("/client-packages/{}", c.id),
                    customer: customer.clone(),
                    package: shown(&c.package),
                    state: c.state.clone(),
                    start: c.start_date.to_string(),
                    dids: thousands(c.did_count),
                    allowance: thousands(c.did_allowance as i64),
                },
                customer.to_lowercase(),
                c.did_count,
                c.start_date,
            )
        })
        .collect();
    match sort {
        "package" => rows.sort_by(|a, b| a.0.package.cmp(&b.0.package).then(a.1.cmp(&b.1))),
        "start" => rows.sort_by(|a, b| b.3.cmp(&a.3).then(a.1.cmp(&b.1))),
        "dids" => rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1))),
        _ => rows.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.package.cmp(&b.0.package))),
    }
    let page = ListPage {
        chrome: v.chrome("Client packages", "/client-packages"),
        customers: choices(
            customers.iter().map(|c| (c.id.to_string(), shown(&c.name))),
            form.value("customer_id"),
            Some("Any customer"),
        ),
        states: choices(
            STATES
                .iter()
                .map(|s| (s.as_str().to_string(), s.as_str().to_string())),
            state,
            Some("Any state"),
        ),
        sorts: choices(
            [
                ("customer", "Customer"),
                ("package", "Package"),
                ("start", "Latest start"),
                ("dids", "Most DIDs"),
            ]
            .iter()
            .map(|(v, l)| (v.to_string(), l.to_string())),
            sort,
            None,
        ),
        count: thousands(rows.len() as i64),
        rows: rows.into_iter().map(|r| r.0).collect(),
        form,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A DID of the package with where a call to it goes now.
pub struct RoutedDid {
    pub did: DidView,
    pub route: String,
}

/// A route in words.
fn route_text(r: &Route) -> String {
    match (&r.destination, r.reachable) {
        (Some(d), true) => format!("reachable: {}", shown(d)),
        _ => format!(
            "unreachable ({})",
            r.reason
                .as_deref()
                .unwrap_or("not in service")
                .replace('_', " ")
        ),
    }
}

#[derive(Template)]
#[template(path = "portal/client_package.html")]
struct CpPage {
    chrome: Chrome,
    id: Uuid,
    customer: String,
    customer_href: String,
    package: String,
    state: String,
    start: String,
    allowance: String,
    version: i64,
    dids: Vec<RoutedDid>,
    /// Whether the viewer may change it (the API's `InventoryAdmin`).
    admin: bool,
    did_links: bool,
    /// The state changes open from its state, as (value, label).
    moves: Vec<(&'static str, &'static str)>,
    form: Form,
    errors: Errors,
    /// Which form the errors and typed values belong to.
    which: &'static str,
    sizes: Vec<Choice>,
    types: Vec<Choice>,
    operators: Vec<Choice>,
    done: Option<String>,
}

impl CpPage {
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

async fn cp_page(
    s: &AppState,
    v: &Viewer,
    id: Uuid,
    which: &'static str,
    form: Form,
    errors: Errors,
    done: Option<String>,
) -> PageResult {
    let scope = v.principal.scope();
    let cp = s
        .store
        .assignment()
        .get_client_package(scope, id)
        .await
        .map_err(|e| v.fail(e))?;
    let customer = s
        .store
        .accounts()
        .get_customer(scope, cp.customer_id)
        .await
        .map_err(|e| v.fail(e))?;
    let dids = s
        .store
        .assignment()
        .customer_dids(scope, cp.customer_id)
        .await
        .map_err(|e| v.fail(e))?;
    let admin = v.principal.role.allows(Need::InventoryAdmin);
    let operators = if admin {
        s.store
            .inventory()
            .operator_names()
            .await
            .map_err(|e| v.fail(e))?
    } else {
        Vec::new()
    };
    let moves = match cp.state_set.as_str() {
        "active" => vec![
            ("inactive", "Deactivate (its DIDs go on hold)"),
            ("terminated", "Terminate (its DIDs are released)"),
        ],
        "inactive" => vec![
            ("active", "Activate (its DIDs come back)"),
            ("terminated", "Terminate (its DIDs are released)"),
        ],
        _ => Vec::new(),
    };
    let current = |name: &str| {
        if which == "block" {
            form.value(name).to_string()
        } else {
            String::new()
        }
    };
    let page = CpPage {
        chrome: v.chrome(
            &format!(
                "Client package {} of {}",
                shown(&cp.package),
                shown(&customer.name)
            ),
            "/client-packages",
        ),
        id: cp.id,
        customer_href: format!("/customers/{}", customer.id),
        customer: shown(&customer.name),
        package: shown(&cp.package),
        state: cp.state.clone(),
        start: cp.start_date.to_string(),
        allowance: format!(
            "{} of {}",
            thousands(cp.did_count),
            thousands(cp.did_allowance as i64)
        ),
        version: cp.version,
        dids: dids
            .iter()
            .filter(|d| d.client_package_id == Some(cp.id))
            .map(|d| {
                let route = match didhub_core::number::E164::lookup_key(&d.number) {
                    Ok(k) => route_text(&s.routing.lookup(&k)),
                    Err(_) => "unknown".to_string(),
                };
                RoutedDid {
                    did: DidView::new(d),
                    route,
                }
            })
            .collect(),
        admin,
        did_links: v.principal.role.allows(Need::InventoryRead),
        moves,
        sizes: choices(
            ["10", "100", "1000", "10000"]
                .iter()
                .map(|s| (s.to_string(), thousands(s.parse().unwrap_or(0)))),
            &{
                let c = current("size");
                if c.is_empty() {
                    "10".to_string()
                } else {
                    c
                }
            },
            None,
        ),
        types: choices(
            NumberType::ALL
                .iter()
                .map(|t| (t.as_str().to_string(), t.as_str().replace('_', " "))),
            &current("number_type"),
            Some("Choose a type"),
        ),
        operators: choices(
            operators
                .iter()
                .map(|(id, name)| (id.to_string(), shown(name))),
            &current("operator_id"),
            Some("Any operator"),
        ),
        which,
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

/// A client package's id from the address; anything else is "not found".
fn id_of(v: &Viewer, id: &str) -> Result<Uuid, Box<super::PageError>> {
    id.parse()
        .map_err(|_| Box::new(v.fail(ApiError::NotFound("client package".into()))))
}

pub async fn page(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    cp_page(&s, &v, id, "", Form::default(), Errors::default(), None).await
}

/// A store refusal beside `field` of the form, unless it names one of the form's own fields.
fn beside(
    errors: &mut Errors,
    e: StoreError,
    fields: &[&str],
    field: &str,
) -> Result<(), ApiError> {
    match e {
        StoreError::Invalid { field: f, message } => {
            let f = if fields.contains(&f.as_str()) {
                f
            } else {
                field.to_string()
            };
            errors.add(f, message);
            Ok(())
        }
        StoreError::InvalidFields(list) => {
            for (f, m) in list {
                let f = if fields.contains(&f.as_str()) {
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
        | StoreError::VersionMismatch { .. }
        | StoreError::Raced { .. }) => {
            errors.add(field, e);
            Ok(())
        }
        e => Err(e.into()),
    }
}

pub async fn set_state(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let to = match form.value("state").parse::<PackageState>() {
        Ok(t) => Some(t),
        Err(e) => {
            errors.add("state", e);
            None
        }
    };
    let version = form.value("version").trim().parse::<i64>().ok();
    let Some(to) = to else {
        return cp_page(&s, &v, id, "state", form, errors, None).await;
    };
    match s
        .store
        .assignment()
        .set_client_package_state_if(&v.principal.actor(), id, to, s.hold, version)
        .await
    {
        Ok((cp, moved)) => {
            let done = format!(
                "The client package is {} now; {} DIDs moved.",
                cp.state,
                thousands(moved.len() as i64)
            );
            cp_page(&s, &v, id, "", Form::default(), errors, Some(done)).await
        }
        Err(StoreError::NotFound { entity, id: nf }) => {
            Err(v.fail(StoreError::NotFound { entity, id: nf }))
        }
        Err(e) => {
            beside(&mut errors, e, &[], "state").map_err(|e| v.fail(e))?;
            cp_page(&s, &v, id, "state", form, errors, None).await
        }
    }
}

fn text(form: &Form, name: &str) -> Option<String> {
    form.get(name)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

pub async fn assign(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let numbers: Vec<String> = form
        .value("numbers")
        .split(['\n', ','])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    if numbers.is_empty() {
        errors.add("numbers", "give at least one number");
    }
    let destination = form.value("destination").trim().to_string();
    if destination.is_empty() {
        errors.add("destination", "say where calls to these numbers go");
    }
    if !errors.is_empty() {
        return cp_page(&s, &v, id, "assign", form, errors, None).await;
    }
    let req = AssignRequest {
        did_ids: Vec::new(),
        numbers,
        destination,
        reason: text(&form, "reason"),
    };
    match s
        .store
        .assignment()
        .assign_dids(&v.principal.actor(), id, &req)
        .await
    {
        Ok(dids) => {
            let done = format!("{} DIDs assigned.", thousands(dids.len() as i64));
            cp_page(&s, &v, id, "", Form::default(), errors, Some(done)).await
        }
        Err(
            e @ StoreError::NotFound {
                entity: "client package",
                ..
            },
        ) => Err(v.fail(e)),
        Err(e) => {
            beside(&mut errors, e, &["destination", "reason"], "numbers").map_err(|e| v.fail(e))?;
            cp_page(&s, &v, id, "assign", form, errors, None).await
        }
    }
}

pub async fn allocate(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id = id_of(&v, &id).map_err(|e| *e)?;
    // The block form's fields carry a prefix (the assign form on the same page has a
    // destination and a reason too); read without it.
    let form = Form(
        Form::parse(&body)
            .0
            .into_iter()
            .map(|(k, v)| (k.strip_prefix("b-").unwrap_or(&k).to_string(), v))
            .collect(),
    );
    let mut errors = Errors::default();
    let size = match form.value("size").trim().parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.add("size", "choose 10, 100, 1,000 or 10,000");
            None
        }
    };
    let country = match Country::parse(form.value("country").trim()) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.add("country", e);
            None
        }
    };
    let number_type = match form.value("number_type").trim() {
        "" => {
            errors.add("number_type", "choose the number type");
            None
        }
        t => match t.parse::<NumberType>() {
            Ok(t) => Some(t),
            Err(e) => {
                errors.add("number_type", e);
                None
            }
        },
    };
    let operator_id = match form.value("operator_id").trim() {
        "" => None,
        o => match o.parse::<Uuid>() {
            Ok(o) => Some(o),
            Err(_) => {
                errors.add("operator_id", "not an operator of this list");
                None
            }
        },
    };
    let destination = form.value("destination").trim().to_string();
    if destination.is_empty() {
        errors.add("destination", "say where calls to these numbers go");
    }
    let (Some(size), Some(country), Some(number_type), true) =
        (size, country, number_type, errors.is_empty())
    else {
        return cp_page(&s, &v, id, "block", form, errors, None).await;
    };
    let req = BlockRequest {
        size,
        country,
        number_type,
        operator_id,
        within: text(&form, "within"),
    };
    match s
        .store
        .assignment()
        .allocate_block(
            &v.principal.actor(),
            id,
            &req,
            &destination,
            text(&form, "reason").as_deref(),
        )
        .await
    {
        Ok((a, _)) => {
            let done = format!(
                "Block {} – {} allocated: {} DIDs assigned.",
                a.block.first,
                a.block.last,
                thousands(a.assigned as i64)
            );
            cp_page(&s, &v, id, "", Form::default(), errors, Some(done)).await
        }
        Err(
            e @ StoreError::NotFound {
                entity: "client package",
                ..
            },
        ) => Err(v.fail(e)),
        Err(e) => {
            beside(
                &mut errors,
                e,
                &[
                    "size",
                    "country",
                    "number_type",
                    "operator_id",
                    "within",
                    "destination",
                    "reason",
                ],
                "size",
            )
            .map_err(|e| v.fail(e))?;
            cp_page(&s, &v, id, "block", form, errors, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "portal/routing.html")]
struct RoutingPage {
    chrome: Chrome,
    form: Form,
    errors: Errors,
    route: Option<Route>,
    destination: String,
    reason: String,
}

/// Where a call to a number goes now: the routing table's answer (the API's `/routing`).
pub async fn routing(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let mut errors = Errors::default();
    let number = form.value("number").trim();
    let route = if number.is_empty() {
        None
    } else {
        match didhub_core::number::E164::lookup_key(number) {
            Ok(k) => Some(s.routing.lookup(&k)),
            Err(e) => {
                errors.add("number", format!("'{}': {e}", shown(number)));
                None
            }
        }
    };
    let page = RoutingPage {
        chrome: v.chrome("Routing check", "/routing"),
        destination: route
            .as_ref()
            .and_then(|r| r.destination.as_deref())
            .map(shown)
            .unwrap_or_default(),
        reason: route
            .as_ref()
            .and_then(|r| r.reason.as_deref())
            .map(|r| r.replace('_', " "))
            .unwrap_or_default(),
        route,
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
