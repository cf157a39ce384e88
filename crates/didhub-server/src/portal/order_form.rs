//! The order form, built from the catalog: which fields an order of a country, service and
//! DID option carries (the catalog's services, sizes, mobile prefixes, identifiers, required
//! fields and documents), the form read into the API's order body, and the core's check
//! (`Ordering::check_order`, `problems`, `create_order`) shown beside each field. The new
//! order page is here; the order page (`order_page`) edits an open order with the same form.

use std::collections::{BTreeMap, HashSet};

use askama::Template;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::Utc;
use didhub_core::catalog::{Catalog, Offer, Service};
use didhub_core::number::Country;
use didhub_core::order::{Address, OrderBody, Problem};
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::{render, shown, Chrome, Errors, Form, PageResult, Viewer};
use crate::error::ApiError;
use crate::AppState;

/// One field of the order form as the template draws it.
pub struct FieldView {
    pub name: String,
    pub label: String,
    /// `text`, `email`, `tel`, `date`, `area`, `check` or `select`.
    pub kind: &'static str,
    pub value: String,
    /// A select's choices, or a text field's suggestions (a `datalist`).
    pub options: Vec<Choice>,
    pub error: Option<String>,
    pub hint: String,
    /// The ids that describe the field (its error, its hint).
    pub described: String,
}

/// What the catalog says an order of the form's country, service and option carries.
struct Shape<'a> {
    offer: Option<&'a Offer>,
    service: Option<Service>,
    mobile: bool,
    required: HashSet<String>,
}

fn shape<'a>(catalog: &'a Catalog, form: &Form) -> Shape<'a> {
    let offer = Country::parse(form.value("country").trim())
        .ok()
        .map(|c| catalog.offer(c));
    let service = form
        .value("service")
        .parse::<Service>()
        .ok()
        .filter(|s| offer.is_some_and(|o| o.offers(*s)));
    let (Some(o), Some(s)) = (offer, service) else {
        return Shape {
            offer,
            service: None,
            mobile: false,
            required: HashSet::new(),
        };
    };
    let mobile = s == Service::NewDids
        && match form.value("did_option").trim() {
            "mobile" => true,
            "" => !o.regular_dids && o.mobile(),
            _ => false,
        };
    let rules = catalog.rules(s);
    let mut required: HashSet<String> = rules.required.iter().cloned().collect();
    if !mobile {
        required.extend(rules.required_regular.iter().cloned());
    }
    for k in o.identifiers.get(&s).into_iter().flatten() {
        required.insert(format!("identifiers.{k}"));
    }
    if o.region_required && matches!(s, Service::NewDids | Service::NewTollFree) {
        required.insert("address.region".into());
    }
    if o.agreement_ready_days.is_some() {
        required.insert("contact_email".into());
    }
    Shape {
        offer,
        service: Some(s),
        mobile,
        required,
    }
}

impl Shape<'_> {
    /// Whether the catalog has the form show `name` for this country, service and option.
    fn wants(&self, name: &str) -> bool {
        use Service::*;
        let Some(s) = self.service else {
            return false;
        };
        match name {
            "did_option" => s == NewDids,
            "range_size" | "quantity" => matches!(s, NewDids | NewTollFree),
            "area_code" => s == NewDids && !self.mobile,
            "numbers" => matches!(s, FullPorting | OutboundOnly),
            "preferred_date" | "ivp" => s == FullPorting,
            "virtual_number" => s == OutboundOnly,
            n if n.starts_with("address.") => {
                self.required.iter().any(|r| r.starts_with("address."))
            }
            n if n.starts_with("identifiers.") => self.required.contains(n),
            _ => true,
        }
    }
}

/// Errors of the form by its field: a problem about `numbers[2]` goes beside the numbers (its
/// line named), one about `documents[0]` beside the documents; several join.
pub fn errors_of(problems: &[Problem]) -> Errors {
    let mut list: Vec<(String, String)> = Vec::new();
    for p in problems {
        add_error(&mut list, &p.field, &p.message);
    }
    Errors(list)
}

pub fn add_error(list: &mut Vec<(String, String)>, field: &str, message: &str) {
    let (field, message) = match field.split_once('[') {
        Some((base, rest)) => {
            let line = rest
                .trim_end_matches(']')
                .parse::<usize>()
                .map(|i| format!("line {}: ", i + 1))
                .unwrap_or_default();
            (base.to_string(), format!("{line}{message}"))
        }
        None => (field.to_string(), message.to_string()),
    };
    match list.iter_mut().find(|(f, _)| *f == field) {
        Some((_, m)) => {
            m.push_str("; ");
            m.push_str(&message);
        }
        None => list.push((field, message)),
    }
}

/// A store refusal beside the fields it names; a conflict (a state or version that moved)
/// beside `whole`. Anything else is the page's failure.
pub fn beside(errors: &mut Errors, e: StoreError, whole: &str) -> Result<(), ApiError> {
    let mut list = std::mem::take(&mut errors.0);
    let out = match e {
        StoreError::Invalid { field, message } | StoreError::TooLarge { field, message } => {
            add_error(&mut list, &field, &message);
            Ok(())
        }
        StoreError::InvalidFields(fields) => {
            for (f, m) in fields {
                add_error(&mut list, &f, &m);
            }
            Ok(())
        }
        e @ (StoreError::Conflict(_)
        | StoreError::InUse(_)
        | StoreError::VersionMismatch { .. }
        | StoreError::Raced { .. }) => {
            add_error(&mut list, whole, &e.to_string());
            Ok(())
        }
        e => Err(e.into()),
    };
    errors.0 = list;
    out
}

/// The fields of the order form that its labels and the check name.
const FIXED: &[&str] = &[
    "did_option",
    "range_size",
    "quantity",
    "area_code",
    "numbers",
    "preferred_date",
    "ivp",
    "virtual_number",
    "address.street",
    "address.city",
    "address.postcode",
    "address.region",
];
const CONTACT: &[&str] = &["contact_name", "contact_email", "contact_phone", "comments"];

/// Every field name the form may carry (besides `customer_id`, `country`, `service`).
pub fn field_names(form: &Form, catalog: &Catalog) -> Vec<String> {
    let sh = shape(catalog, form);
    let mut out: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    let mut ids: Vec<String> = sh
        .required
        .iter()
        .filter(|r| r.starts_with("identifiers."))
        .cloned()
        .collect();
    for (k, _) in &form.0 {
        if k.starts_with("identifiers.") && !ids.contains(k) {
            ids.push(k.clone());
        }
    }
    ids.sort();
    out.extend(ids);
    out.extend(CONTACT.iter().map(|s| s.to_string()));
    out
}

/// The form's fields for its country, service and option, with their values and errors. A
/// field the catalog does not ask for still shows when it holds a value or an error, so
/// nothing typed is lost.
pub fn fields(
    catalog: &Catalog,
    form: &Form,
    errors: &Errors,
    customers: Option<Vec<Choice>>,
) -> Vec<FieldView> {
    let sh = shape(catalog, form);
    let mut out = Vec::new();
    let mut push = |name: &str, label: String, kind: &'static str, options, hint: String| {
        let error = errors.get(name).map(str::to_string);
        let label = if sh.required.contains(name) {
            format!("{label} (required)")
        } else {
            label
        };
        let mut described = Vec::new();
        if error.is_some() {
            described.push(format!("e-{name}"));
        }
        if !hint.is_empty() {
            described.push(format!("h-{name}"));
        }
        out.push(FieldView {
            name: name.to_string(),
            label,
            kind,
            value: form.value(name).to_string(),
            options,
            error,
            hint,
            described: described.join(" "),
        });
    };
    if let Some(c) = customers {
        push("customer_id", "Customer".into(), "select", c, String::new());
    }
    let countries = catalog
        .countries
        .values()
        .map(|o| (o.country.clone(), format!("{} ({})", o.name, o.country)));
    push(
        "country",
        "Country (ISO code)".into(),
        "text",
        choices(countries, "", None),
        "The catalog's countries are suggested; another country takes the offer for other \
         countries."
            .into(),
    );
    let offered: Vec<Service> = match sh.offer {
        Some(o) => o.services.clone(),
        None => Service::ALL.to_vec(),
    };
    let mut services: Vec<(String, String)> = offered
        .iter()
        .map(|s| (s.as_str().to_string(), service_label(*s).to_string()))
        .collect();
    let typed = form.value("service").trim();
    if !typed.is_empty() && !services.iter().any(|(v, _)| v == typed) {
        services.push((typed.to_string(), shown(typed)));
    }
    push(
        "service",
        "Service".into(),
        "select",
        choices(services, typed, Some("Choose a service")),
        String::new(),
    );
    let keep = |name: &str| {
        sh.wants(name) || !form.value(name).trim().is_empty() || errors.get(name).is_some()
    };
    for name in field_names(form, catalog) {
        if !keep(&name) {
            continue;
        }
        let value = form.value(&name).trim().to_string();
        let (label, kind, options, hint): (String, &'static str, Vec<Choice>, String) =
            match name.as_str() {
                "did_option" => {
                    let mut all = Vec::new();
                    if sh.offer.is_none_or(|o| o.regular_dids) {
                        all.push(("regular".to_string(), "Regular".to_string()));
                    }
                    if let Some(o) = sh.offer.filter(|o| o.mobile()) {
                        all.push((
                            "mobile".to_string(),
                            format!("Mobile ({})", o.mobile_prefixes.join(", ")),
                        ));
                    }
                    if !value.is_empty() && !all.iter().any(|(v, _)| *v == value) {
                        all.push((value.clone(), shown(&value)));
                    }
                    let current = if value.is_empty() {
                        all.first().map(|(v, _)| v.clone()).unwrap_or_default()
                    } else {
                        value.clone()
                    };
                    (
                        "DID option".into(),
                        "select",
                        choices(all, &current, None),
                        String::new(),
                    )
                }
                "range_size" => {
                    let sizes: Vec<u32> = match sh.offer {
                        _ if sh.mobile => vec![1],
                        Some(o) => o.range_sizes.clone(),
                        None => Vec::new(),
                    };
                    let mut all: Vec<(String, String)> = sizes
                        .iter()
                        .map(|n| (n.to_string(), n.to_string()))
                        .collect();
                    if !value.is_empty() && !all.iter().any(|(v, _)| *v == value) {
                        all.push((value.clone(), shown(&value)));
                    }
                    let hint = if sh.mobile {
                        "Mobile DIDs come one at a time."
                    } else {
                        "Numbers in each range."
                    };
                    (
                        "Range size".into(),
                        "select",
                        choices(all, &value, Some("Choose a size")),
                        hint.into(),
                    )
                }
                "quantity" => ("Quantity of ranges".into(), "text", vec![], String::new()),
                "area_code" => (
                    "Area code".into(),
                    "text",
                    vec![],
                    "The local area code, digits only.".into(),
                ),
                "numbers" => (
                    "Numbers".into(),
                    "area",
                    vec![],
                    "One a line, in international format (+ or 00).".into(),
                ),
                "preferred_date" => (
                    "Preferred porting date".into(),
                    "date",
                    vec![],
                    match sh.offer {
                        Some(o) => format!(
                            "At least {} working days after submission.",
                            o.porting_lead_days
                        ),
                        None => String::new(),
                    },
                ),
                "ivp" => (
                    "Instant virtual porting (incoming calls within 2 working days)".into(),
                    "check",
                    vec![],
                    String::new(),
                ),
                "virtual_number" => (
                    "A virtual number to forward calls to".into(),
                    "check",
                    vec![],
                    String::new(),
                ),
                "address.street" => (
                    "Street and house number".into(),
                    "text",
                    vec![],
                    "The street name and the house number only.".into(),
                ),
                "address.city" => ("City".into(), "text", vec![], String::new()),
                "address.postcode" => ("Postcode".into(), "text", vec![], String::new()),
                "address.region" => (
                    "Region (state or province)".into(),
                    "text",
                    vec![],
                    String::new(),
                ),
                "contact_name" => ("Contact name".into(), "text", vec![], String::new()),
                "contact_email" => ("Contact e-mail".into(), "email", vec![], String::new()),
                "contact_phone" => ("Contact phone".into(), "tel", vec![], String::new()),
                "comments" => ("Comments".into(), "area", vec![], String::new()),
                n => {
                    let kind = n.trim_start_matches("identifiers.");
                    (
                        format!("Identifier: {}", kind.to_uppercase()),
                        "text",
                        vec![],
                        String::new(),
                    )
                }
            };
        push(&name, label, kind, options, hint);
    }
    out
}

pub fn service_label(s: Service) -> &'static str {
    match s {
        Service::NewDids => "New DIDs",
        Service::NewTollFree => "New toll-free numbers",
        Service::FullPorting => "Full porting",
        Service::OutboundOnly => "Outbound only",
    }
}

fn text(form: &Form, name: &str) -> Option<String> {
    let v = form.value(name).trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn whole(form: &Form, name: &str, errors: &mut Errors) -> Option<i64> {
    let v = text(form, name)?;
    match v.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.add(name, format!("'{}' is not a whole number", shown(&v)));
            None
        }
    }
}

/// The form as the API's order body (what a form must read itself: numbers as whole numbers,
/// one number a line). Blank fields are left out.
pub fn body_of(form: &Form, catalog: &Catalog, errors: &mut Errors) -> OrderBody {
    let numbers: Vec<String> = form
        .value("numbers")
        .split(['\n', ','])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    let address = Address {
        street: text(form, "address.street"),
        city: text(form, "address.city"),
        postcode: text(form, "address.postcode"),
        region: text(form, "address.region"),
        unknown: BTreeMap::new(),
    };
    let has_address = address.street.is_some()
        || address.city.is_some()
        || address.postcode.is_some()
        || address.region.is_some();
    let identifiers: BTreeMap<String, String> = field_names(form, catalog)
        .iter()
        .filter_map(|n| {
            let kind = n.strip_prefix("identifiers.")?;
            Some((kind.to_string(), text(form, n)?))
        })
        .collect();
    OrderBody {
        country: form.value("country").trim().to_uppercase(),
        service: form.value("service").trim().to_string(),
        did_option: text(form, "did_option"),
        range_size: whole(form, "range_size", errors),
        quantity: whole(form, "quantity", errors),
        numbers: (!numbers.is_empty()).then_some(numbers),
        contact_name: text(form, "contact_name"),
        contact_email: text(form, "contact_email"),
        contact_phone: text(form, "contact_phone"),
        address: has_address.then_some(address),
        area_code: text(form, "area_code"),
        identifiers: (!identifiers.is_empty()).then_some(identifiers),
        documents: None,
        preferred_date: text(form, "preferred_date"),
        ivp: form.get("ivp").map(|_| true),
        virtual_number: form.get("virtual_number").map(|_| true),
        comments: text(form, "comments"),
        unknown: BTreeMap::new(),
    }
}

/// A stored order body as the form's fields.
pub fn form_of(b: &OrderBody) -> Form {
    let mut f = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            f.push((k.to_string(), v));
        }
    };
    put("country", Some(b.country.clone()));
    put("service", Some(b.service.clone()));
    put("did_option", b.did_option.clone());
    put("range_size", b.range_size.map(|n| n.to_string()));
    put("quantity", b.quantity.map(|n| n.to_string()));
    put("numbers", b.numbers.as_ref().map(|n| n.join("\n")));
    put("preferred_date", b.preferred_date.clone());
    put("ivp", b.ivp.filter(|v| *v).map(|_| "1".into()));
    put(
        "virtual_number",
        b.virtual_number.filter(|v| *v).map(|_| "1".into()),
    );
    let a = b.address.clone().unwrap_or_default();
    put("address.street", a.street);
    put("address.city", a.city);
    put("address.postcode", a.postcode);
    put("address.region", a.region);
    put("area_code", b.area_code.clone());
    for (k, v) in b.identifiers.iter().flatten() {
        put(&format!("identifiers.{k}"), Some(v.clone()));
    }
    put("contact_name", b.contact_name.clone());
    put("contact_email", b.contact_email.clone());
    put("contact_phone", b.contact_phone.clone());
    put("comments", b.comments.clone());
    Form(f)
}

#[derive(Template)]
#[template(path = "portal/order_new.html")]
struct NewPage {
    chrome: Chrome,
    fields: Vec<FieldView>,
    others: Vec<String>,
    /// After a check without problems: what it found.
    checked: Option<String>,
    /// The documents the service needs, uploaded on the order's page once saved.
    documents: String,
}

fn new_page(
    s: &AppState,
    v: &Viewer,
    customers: Vec<Choice>,
    form: &Form,
    errors: Errors,
    checked: Option<String>,
) -> axum::response::Response {
    let mut shown_fields = field_names(form, &s.catalog);
    shown_fields.extend(["customer_id", "country", "service"].map(String::from));
    let names: Vec<&str> = shown_fields.iter().map(String::as_str).collect();
    let others = errors.others(&names);
    let documents = form
        .value("service")
        .parse::<Service>()
        .map(|sv| {
            let kinds: Vec<&str> = s
                .catalog
                .rules(sv)
                .documents
                .iter()
                .map(|k| k.as_str())
                .collect();
            kinds.join(" and ")
        })
        .unwrap_or_default();
    let page = NewPage {
        chrome: v.chrome("New order", "/orders"),
        documents,
        fields: fields(&s.catalog, form, &errors, Some(customers)),
        others,
        checked,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(status, &page)
}

async fn customer_choices(
    s: &AppState,
    v: &Viewer,
    current: &str,
) -> Result<Vec<Choice>, ApiError> {
    let customers = s
        .store
        .accounts()
        .list_customers(v.principal.scope(), None)
        .await?;
    Ok(choices(
        customers.iter().map(|c| (c.id.to_string(), shown(&c.name))),
        current,
        Some("Choose a customer"),
    ))
}

/// The new order form; `?customer_id=` chooses the customer.
pub async fn new_form(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    let q = Form::query(&uri);
    let mut form = Form::default();
    for k in ["customer_id", "country", "service"] {
        if let Some(val) = q.get(k) {
            form.0.push((k.to_string(), val.to_string()));
        }
    }
    let customers = customer_choices(&s, &v, form.value("customer_id"))
        .await
        .map_err(|e| v.fail(e))?;
    Ok(new_page(&s, &v, customers, &form, Errors::default(), None))
}

/// The new order form sent: `action=show` draws the fields of the country and service chosen
/// (nothing saved); `check` runs the core's check and shows every problem beside its field
/// (nothing saved); `save` creates the order (a draft, or a quote for a customer without an
/// active license) and goes to its page.
pub async fn create(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let customers = customer_choices(&s, &v, form.value("customer_id"))
        .await
        .map_err(|e| v.fail(e))?;
    let mut errors = Errors::default();
    let order = body_of(&form, &s.catalog, &mut errors);
    let action = form.value("action");
    if action == "show" {
        return Ok(new_page(&s, &v, customers, &form, Errors::default(), None));
    }
    let customer = form.value("customer_id").trim().parse::<Uuid>().ok();
    if customer.is_none() {
        errors.add("customer_id", "choose the customer the order is for");
    }
    if action == "check" {
        let checked = s
            .store
            .ordering()
            .check_order(&order, Utc::now(), &s.catalog)
            .await
            .map_err(|e| v.fail(e))?;
        // Documents are uploaded on the order's page once it is saved; their absence only
        // makes a submitted order wait for them (as `submit_order` counts it).
        let (docs, other): (Vec<_>, Vec<_>) = checked
            .problems
            .iter()
            .partition(|p| p.field == "documents" && p.code == "required");
        let mut list = std::mem::take(&mut errors.0);
        for p in other {
            add_error(&mut list, &p.field, &p.message);
        }
        errors.0 = list;
        let then = docs
            .first()
            .map(|p| format!(" Documents: {}; upload them on its page.", p.message))
            .unwrap_or_default();
        let said = errors.is_empty().then(|| match checked.promised_by {
            Some(d) => format!(
                "The order is complete: submitted today, it is promised by {d}. Save it, then \
                 submit it from its page.{then}"
            ),
            None => format!("The order is complete: save it, then submit it from its page.{then}"),
        });
        return Ok(new_page(&s, &v, customers, &form, errors, said));
    }
    let Some(customer) = customer.filter(|_| errors.is_empty()) else {
        return Ok(new_page(&s, &v, customers, &form, errors, None));
    };
    match s
        .store
        .ordering()
        .create_order(
            &v.principal.actor(),
            v.principal.scope(),
            customer,
            order,
            &s.catalog,
        )
        .await
    {
        Ok(d) => Ok((
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/orders/{}", d.order.id))],
        )
            .into_response()),
        Err(e) => {
            beside(&mut errors, e, "service").map_err(|e| v.fail(e))?;
            Ok(new_page(&s, &v, customers, &form, errors, None))
        }
    }
}
