//! The package catalog: the list, a package's page with its definition, and for inventory
//! admins the forms to create, edit (with the version read) and delete one. The store's
//! package functions check every field, as for the API.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_core::number::{Country, NumberType};
use didhub_store::assignment::assign::{NewPackage, Package};
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::{render, shown, thousands, Chrome, Errors, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::AppState;

pub struct PackageView {
    pub href: String,
    pub name: String,
    pub allowance: String,
    pub tag: String,
    pub country: String,
    pub number_type: String,
    pub prices: Vec<String>,
}

fn view(p: &Package) -> PackageView {
    PackageView {
        href: format!("/packages/{}", p.id),
        name: shown(&p.name),
        allowance: thousands(p.did_allowance as i64),
        tag: p.tag.as_deref().map(shown).unwrap_or_default(),
        country: p.country.clone().unwrap_or_default(),
        number_type: p
            .number_type
            .as_deref()
            .map(|t| t.replace('_', " "))
            .unwrap_or_default(),
        prices: p
            .prices
            .iter()
            .map(|pr| {
                format!(
                    "{} {} {}",
                    pr.term_kind.as_str().replace('_', " "),
                    pr.amount,
                    pr.currency
                )
            })
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "portal/packages.html")]
struct ListPage {
    chrome: Chrome,
    form: Form,
    sorts: Vec<Choice>,
    rows: Vec<PackageView>,
    count: String,
    admin: bool,
}

/// The catalog (a provider has tens of packages: whole, filtered and sorted here).
pub async fn list(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let form = Form::query(&uri);
    let mut list = s
        .store
        .assignment()
        .list_packages()
        .await
        .map_err(|e| v.fail(e))?;
    let q = form.value("name").trim().to_lowercase();
    if !q.is_empty() {
        list.retain(|p| p.name.to_lowercase().contains(&q));
    }
    let sort = match form.value("sort") {
        "allowance" => "allowance",
        _ => "name",
    };
    if sort == "allowance" {
        list.sort_by_key(|p| std::cmp::Reverse(p.did_allowance));
    }
    let page = ListPage {
        chrome: v.chrome("Packages", "/packages"),
        sorts: choices(
            [("name", "Name"), ("allowance", "Largest allowance")]
                .iter()
                .map(|(v, l)| (v.to_string(), l.to_string())),
            sort,
            None,
        ),
        count: thousands(list.len() as i64),
        rows: list.iter().map(view).collect(),
        admin: v.principal.role.allows(Need::InventoryAdmin),
        form,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "portal/package.html")]
struct PackagePage {
    chrome: Chrome,
    /// `None`: a new package.
    package: Option<PackageView>,
    action: String,
    version: String,
    admin: bool,
    form: Form,
    errors: Errors,
    others: Vec<String>,
    types: Vec<Choice>,
    done: Option<String>,
}

const FIELDS: &[&str] = &["name", "did_allowance", "tag", "country", "number_type"];

/// The form's values: what was typed, or the package's own.
fn form_of(p: &Package) -> Form {
    Form(vec![
        ("name".into(), p.name.clone()),
        ("did_allowance".into(), p.did_allowance.to_string()),
        ("tag".into(), p.tag.clone().unwrap_or_default()),
        ("country".into(), p.country.clone().unwrap_or_default()),
        (
            "number_type".into(),
            p.number_type.clone().unwrap_or_default(),
        ),
    ])
}

fn package_page(
    v: &Viewer,
    p: Option<&Package>,
    form: Form,
    errors: Errors,
    done: Option<String>,
) -> axum::response::Response {
    let title = match p {
        Some(p) => format!("Package {}", shown(&p.name)),
        None => "New package".to_string(),
    };
    let page = PackagePage {
        chrome: v.chrome(&title, "/packages"),
        action: p
            .map(|p| format!("/packages/{}", p.id))
            .unwrap_or_else(|| "/packages/new".to_string()),
        version: p.map(|p| p.version.to_string()).unwrap_or_default(),
        package: p.map(view),
        admin: v.principal.role.allows(Need::InventoryAdmin),
        others: errors.others(FIELDS),
        types: choices(
            NumberType::ALL
                .iter()
                .map(|t| (t.as_str().to_string(), t.as_str().replace('_', " "))),
            form.value("number_type"),
            Some("Any type"),
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
    render(status, &page)
}

async fn load(s: &AppState, id: &str) -> Result<Package, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::NotFound("package".into()))?;
    Ok(s.store.assignment().get_package(id).await?)
}

pub async fn page(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let p = load(&s, &id).await.map_err(|e| v.fail(e))?;
    let form = form_of(&p);
    Ok(package_page(&v, Some(&p), form, Errors::default(), None))
}

pub async fn new_form(v: Viewer) -> PageResult {
    Ok(package_page(
        &v,
        None,
        Form::default(),
        Errors::default(),
        None,
    ))
}

/// The definition in the form, with `prices` (the form does not edit them: kept as they are).
fn read(
    form: &Form,
    errors: &mut Errors,
    prices: Vec<didhub_store::licensing::licenses::Price>,
) -> Option<NewPackage> {
    let allowance = match form.value("did_allowance").trim().parse::<i32>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.add("did_allowance", "a whole number of DIDs");
            None
        }
    };
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
    let number_type = match form.value("number_type").trim() {
        "" => None,
        t => match t.parse::<NumberType>() {
            Ok(t) => Some(t),
            Err(e) => {
                errors.add("number_type", e);
                None
            }
        },
    };
    let tag = Some(form.value("tag").trim().to_string()).filter(|t| !t.is_empty());
    if !errors.is_empty() {
        return None;
    }
    Some(NewPackage {
        name: form.value("name").to_string(),
        did_allowance: allowance?,
        tag,
        country,
        number_type,
        prices,
    })
}

fn beside(errors: &mut Errors, e: StoreError) -> Result<(), ApiError> {
    match e {
        StoreError::Invalid { field, message } => {
            let f = if FIELDS.contains(&field.as_str()) {
                field
            } else {
                "name".to_string()
            };
            errors.add(f, message);
            Ok(())
        }
        e @ (StoreError::Conflict(_)
        | StoreError::InUse(_)
        | StoreError::VersionMismatch { .. }
        | StoreError::Raced { .. }) => {
            errors.add("package", e);
            Ok(())
        }
        e => Err(e.into()),
    }
}

pub async fn create(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let Some(new) = read(&form, &mut errors, Vec::new()) else {
        return Ok(package_page(&v, None, form, errors, None));
    };
    match s
        .store
        .assignment()
        .create_package(&v.principal.actor(), &new)
        .await
    {
        Ok(p) => Ok(package_page(
            &v,
            Some(&p),
            form_of(&p),
            errors,
            Some("The package is created.".into()),
        )),
        Err(e) => {
            beside(&mut errors, e).map_err(|e| v.fail(e))?;
            Ok(package_page(&v, None, form, errors, None))
        }
    }
}

pub async fn update(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let cur = load(&s, &id).await.map_err(|e| v.fail(e))?;
    let form = Form::parse(&body);
    let mut errors = Errors::default();
    let Some(new) = read(&form, &mut errors, cur.prices.clone()) else {
        return Ok(package_page(&v, Some(&cur), form, errors, None));
    };
    let version = form.value("version").trim().parse::<i64>().ok();
    match s
        .store
        .assignment()
        .update_package(&v.principal.actor(), cur.id, version, &new)
        .await
    {
        Ok(p) => Ok(package_page(
            &v,
            Some(&p),
            form_of(&p),
            errors,
            Some("The package is saved.".into()),
        )),
        Err(e) => {
            beside(&mut errors, e).map_err(|e| v.fail(e))?;
            Ok(package_page(&v, Some(&cur), form, errors, None))
        }
    }
}

#[derive(Template)]
#[template(path = "portal/did_deleted.html")]
struct DeletedPage {
    chrome: Chrome,
    done: String,
    back: String,
}

pub async fn delete(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let cur = load(&s, &id).await.map_err(|e| v.fail(e))?;
    match s
        .store
        .assignment()
        .delete_package(&v.principal.actor(), cur.id)
        .await
    {
        Ok(()) => Ok(render(
            StatusCode::OK,
            &DeletedPage {
                chrome: v.chrome("Package deleted", "/packages"),
                done: format!("The package {} is deleted.", shown(&cur.name)),
                back: "/packages".into(),
            },
        )),
        Err(e) => {
            let mut errors = Errors::default();
            beside(&mut errors, e).map_err(|e| v.fail(e))?;
            let form = form_of(&cur);
            Ok(package_page(&v, Some(&cur), form, errors, None))
        }
    }
}
