//! The package catalog: the list, a package's page with its definition, and for inventory
//! admins the forms to create, edit (with the version read) and delete one. The store's
//! package functions check every field, as for the API.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Need;
use didhub_core::licensing::TermKind;
use didhub_core::number::{Country, NumberType};
use didhub_store::assignment::assign::{NewPackage, Package};
use didhub_store::licensing::licenses::Price;
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
    prices: Vec<PriceRow>,
    done: Option<String>,
}

const FIELDS: &[&str] = &[
    "name",
    "did_allowance",
    "tag",
    "country",
    "number_type",
    "prices",
];

/// At most this many price lines are read from a form (a package has a handful).
const MAX_PRICES: usize = 40;

/// One line of the prices in the form: term kind, currency, amount (`price_term_<i>`, …).
pub struct PriceRow {
    pub n: usize,
    pub currency: String,
    pub amount: String,
    pub terms: Vec<Choice>,
}

impl PriceRow {
    pub fn label(&self, what: &str) -> String {
        format!("{what} of price {}", self.n)
    }
    pub fn name(&self, what: &str) -> String {
        format!("price_{what}_{}", self.n - 1)
    }
    pub fn term_choices(&self) -> &[Choice] {
        &self.terms
    }
}

/// How many price lines a form carries (the highest index seen, plus one).
fn price_lines(form: &Form) -> usize {
    form.0
        .iter()
        .filter_map(|(k, _)| {
            ["price_term_", "price_currency_", "price_amount_"]
                .iter()
                .find_map(|p| k.strip_prefix(p))
                .and_then(|i| i.parse::<usize>().ok())
        })
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
        .min(MAX_PRICES)
}

/// The price lines to show: those of the form, and one blank line to add another.
fn price_rows(form: &Form) -> Vec<PriceRow> {
    (0..=price_lines(form))
        .map(|i| {
            let term = form.value(&format!("price_term_{i}")).to_string();
            PriceRow {
                n: i + 1,
                terms: choices(
                    TermKind::ALL
                        .iter()
                        .map(|t| (t.as_str().to_string(), t.as_str().replace('_', " "))),
                    &term,
                    Some("Choose a term"),
                ),
                currency: form.value(&format!("price_currency_{i}")).to_string(),
                amount: form.value(&format!("price_amount_{i}")).to_string(),
            }
        })
        .collect()
}

/// The prices of the form, with the line each came from (a blank line is no price): the
/// term chosen and the amount read by the core's `parse_amount` (the API's reading); the
/// currency and the amount's precision are the store's checks.
fn read_prices(form: &Form, errors: &mut Errors) -> (Vec<Price>, Vec<usize>) {
    let mut prices = Vec::new();
    let mut lines = Vec::new();
    for i in 0..price_lines(form) {
        let currency = form.value(&format!("price_currency_{i}")).trim();
        let amount = form.value(&format!("price_amount_{i}")).trim();
        if currency.is_empty() && amount.is_empty() {
            continue;
        }
        let term = match form.value(&format!("price_term_{i}")).trim() {
            "" => {
                errors.add(
                    format!("price_term_{i}"),
                    "choose the term this price is for",
                );
                None
            }
            t => match t.parse::<TermKind>() {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.add(format!("price_term_{i}"), e);
                    None
                }
            },
        };
        if currency.is_empty() {
            errors.add(
                format!("price_currency_{i}"),
                "say the currency (EUR, GBP, …)",
            );
        }
        let amount = match didhub_core::money::parse_amount(amount) {
            Ok(a) => Some(a),
            Err(e) => {
                errors.add(format!("price_amount_{i}"), e);
                None
            }
        };
        if let (Some(term_kind), Some(amount)) = (term, amount) {
            prices.push(Price {
                term_kind,
                currency: currency.to_string(),
                amount,
            });
            lines.push(i);
        }
    }
    (prices, lines)
}

/// The form's values: what was typed, or the package's own.
fn form_of(p: &Package) -> Form {
    let mut f = Form(vec![
        ("name".into(), p.name.clone()),
        ("did_allowance".into(), p.did_allowance.to_string()),
        ("tag".into(), p.tag.clone().unwrap_or_default()),
        ("country".into(), p.country.clone().unwrap_or_default()),
        (
            "number_type".into(),
            p.number_type.clone().unwrap_or_default(),
        ),
    ]);
    for (i, pr) in p.prices.iter().enumerate() {
        f.0.push((format!("price_term_{i}"), pr.term_kind.as_str().to_string()));
        f.0.push((format!("price_currency_{i}"), pr.currency.clone()));
        f.0.push((format!("price_amount_{i}"), pr.amount.to_string()));
    }
    f
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
        others: errors
            .others(FIELDS)
            .into_iter()
            .filter(|e| !e.starts_with("price_"))
            .collect(),
        prices: price_rows(&form),
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

/// The definition in the form, its prices with the line each came from.
fn read(form: &Form, errors: &mut Errors) -> Option<(NewPackage, Vec<usize>)> {
    let (prices, lines) = read_prices(form, errors);
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
    let new = NewPackage {
        name: form.value("name").to_string(),
        did_allowance: allowance?,
        tag,
        country,
        number_type,
        prices,
    };
    Some((new, lines))
}

/// The form field of a store refusal: `prices[j].currency` is the currency of the line the
/// j-th price came from.
fn field_of(field: &str, lines: &[usize]) -> String {
    if let Some(rest) = field.strip_prefix("prices[") {
        if let Some((j, what)) = rest.split_once("].") {
            if let Some(i) = j.parse::<usize>().ok().and_then(|j| lines.get(j)) {
                return format!("price_{what}_{i}");
            }
        }
        return "prices".to_string();
    }
    if FIELDS.contains(&field) {
        field.to_string()
    } else {
        "name".to_string()
    }
}

fn beside(errors: &mut Errors, e: StoreError, lines: &[usize]) -> Result<(), ApiError> {
    match e {
        StoreError::Invalid { field, message } => {
            let f = field_of(&field, lines);
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
    let Some((new, lines)) = read(&form, &mut errors) else {
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
            beside(&mut errors, e, &lines).map_err(|e| v.fail(e))?;
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
    let Some((new, lines)) = read(&form, &mut errors) else {
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
            beside(&mut errors, e, &lines).map_err(|e| v.fail(e))?;
            Ok(package_page(&v, Some(&cur), form, errors, None))
        }
    }
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
        Ok(()) => Ok(super::deleted(
            &v,
            "Package deleted",
            "/packages",
            format!("The package {} is deleted.", shown(&cur.name)),
            "/packages".into(),
        )),
        Err(e) => {
            let mut errors = Errors::default();
            beside(&mut errors, e, &[]).map_err(|e| v.fail(e))?;
            let form = form_of(&cur);
            Ok(package_page(&v, Some(&cur), form, errors, None))
        }
    }
}
