//! An order's rules: what each service needs in each country (from the catalog), every problem
//! reported at once with the field it concerns, and the date promised (working days of the
//! order's country). The API, `didhub orders check` and the order pages all call [`check`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{Catalog, DocumentKind, Offer, Service};
use crate::number::Country;

/// An order as a request writes it. Every key but `country`, `service` (and `submitted_at`
/// for a check) may be absent; the rules say when one is required.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderBody {
    pub country: String,
    pub service: String,
    /// `regular` (when absent) or `mobile`; new DIDs only.
    pub did_option: Option<String>,
    pub range_size: Option<i64>,
    pub quantity: Option<i64>,
    /// Numbers to port or to present (international format).
    pub numbers: Option<Vec<String>>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<Address>,
    pub area_code: Option<String>,
    /// Identifiers by kind (`siret`, `nif`, …).
    pub identifiers: Option<BTreeMap<String, String>>,
    /// Kinds of the documents attached: `loa`, `invoice`, `agreement`, `other`.
    pub documents: Option<Vec<String>>,
    /// Preferred porting date, `YYYY-MM-DD`.
    pub preferred_date: Option<String>,
    /// Instant virtual porting (full porting only).
    pub ivp: Option<bool>,
    /// A virtual number to forward to (outbound only).
    pub virtual_number: Option<bool>,
    pub comments: Option<String>,
    /// Keys this shape does not have, reported as problems rather than ignored.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = OrderAddress)]
pub struct Address {
    /// The street name and house number only.
    pub street: Option<String>,
    pub city: Option<String>,
    pub postcode: Option<String>,
    /// State or province (required for new numbers in the US and Canada: E911).
    pub region: Option<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// One problem, under the field it concerns (`address.street`, `numbers[2]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = OrderProblem)]
pub struct Problem {
    pub field: String,
    /// `required`, `unknown`, `not_offered`, `not_allowed`, `invalid`, `too_early`,
    /// `duplicate`, `wrong_country`, `not_international`.
    pub code: &'static str,
    pub message: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Checked {
    pub ok: bool,
    pub problems: Vec<Problem>,
    /// The date promised for delivery; null while problems remain or while an e-signed
    /// agreement is awaited (AE, SA).
    pub promised_by: Option<NaiveDate>,
}

/// What a check needs from outside the order: working days (the country's calendar with the
/// closures operators added) and identifier validation.
pub trait Context {
    /// The `n`-th working day of `country` after `from`.
    fn add_working_days(
        &self,
        country: Country,
        from: NaiveDate,
        n: u32,
    ) -> Result<NaiveDate, String>;
    /// Checks an identifier of a kind the catalog names for the country.
    fn check_identifier(&self, country: Country, kind: &str, value: &str) -> Result<(), String>;
}

mod numbers;

use numbers::check_numbers;
pub use numbers::{normalise_number, MAX_NUMBERS};

struct Problems(Vec<Problem>);

impl Problems {
    pub(super) fn add(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(Problem {
            field: field.into(),
            code,
            message: message.into(),
        });
    }
    fn required(&mut self, field: &str, why: &str) {
        self.add(field, "required", format!("{field} is required {why}"));
    }
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// Checks an order submitted at `submitted` against the catalog; see the module's text.
pub fn check(
    o: &OrderBody,
    submitted: DateTime<Utc>,
    catalog: &Catalog,
    ctx: &dyn Context,
) -> Checked {
    let mut p = Problems(Vec::new());
    for k in o.unknown.keys() {
        p.add(
            k.as_str(),
            "unknown",
            format!("'{k}' is not a field of an order"),
        );
    }
    if let Some(a) = &o.address {
        for k in a.unknown.keys() {
            p.add(
                format!("address.{k}"),
                "unknown",
                format!("'{k}' is not a field of an address"),
            );
        }
    }
    let country = match Country::parse(&o.country) {
        Ok(c) => Some(c),
        Err(e) => {
            p.add("country", "unknown", e.to_string());
            None
        }
    };
    let service = match o.service.parse::<Service>() {
        Ok(s) => Some(s),
        Err(e) => {
            p.add("service", "unknown", e);
            None
        }
    };
    let (Some(country), Some(service)) = (country, service) else {
        return done(p, None);
    };
    let offer = catalog.offer(country);
    if !offer.offers(service) {
        p.add(
            "service",
            "not_offered",
            format!(
                "{service} is not offered in {country} (offered: {})",
                list(&offer.services)
            ),
        );
        return done(p, None);
    }
    let mobile = check_option(&mut p, o, service, offer, country);
    check_sizes(&mut p, o, service, offer, mobile);
    check_required(&mut p, o, service, catalog, mobile);
    check_address(&mut p, o, service, offer, country);
    check_identifiers(&mut p, o, service, offer, country, ctx);
    if offer.agreement_ready_days.is_some() && blank(&o.contact_email) {
        p.required(
            "contact_email",
            &format!("in {country}: the agreement to sign is sent to it before delivery"),
        );
    }
    if let Some(e) = o.contact_email.as_deref().filter(|e| !e.trim().is_empty()) {
        if let Err(why) = crate::access::email(e) {
            p.add("contact_email", "invalid", why);
        }
    }
    check_numbers(&mut p, o, service, country);
    check_documents(&mut p, o, service, catalog);
    if o.ivp == Some(true) && service != Service::FullPorting {
        p.add(
            "ivp",
            "not_allowed",
            "instant virtual porting is for full porting only",
        );
    }
    if o.virtual_number == Some(true) && service != Service::OutboundOnly {
        p.add(
            "virtual_number",
            "not_allowed",
            "a virtual number is for outbound only",
        );
    }
    let submitted_day = submitted.date_naive();
    let preferred = check_preferred_date(&mut p, o, service, offer, country, submitted_day, ctx);
    let promised = if p.0.is_empty() {
        promise(
            service,
            offer,
            country,
            submitted_day,
            preferred,
            catalog,
            ctx,
            &mut p,
        )
    } else {
        None
    };
    done(p, promised)
}

fn done(p: Problems, promised_by: Option<NaiveDate>) -> Checked {
    Checked {
        ok: p.0.is_empty(),
        promised_by: if p.0.is_empty() { promised_by } else { None },
        problems: p.0,
    }
}

fn list(services: &[Service]) -> String {
    services
        .iter()
        .map(Service::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The DID option; true for mobile.
fn check_option(p: &mut Problems, o: &OrderBody, s: Service, offer: &Offer, c: Country) -> bool {
    let Some(opt) = o.did_option.as_deref() else {
        if s == Service::NewDids && !offer.regular_dids {
            p.add(
                "did_option",
                "not_offered",
                format!("new DIDs in {c} are mobile: send did_option mobile"),
            );
        }
        return false;
    };
    if s != Service::NewDids {
        p.add(
            "did_option",
            "not_allowed",
            "did_option is for new DIDs only",
        );
        return false;
    }
    match opt {
        "regular" if offer.regular_dids => false,
        "regular" => {
            p.add(
                "did_option",
                "not_offered",
                format!("regular new DIDs are not offered in {c}"),
            );
            false
        }
        "mobile" if offer.mobile() => true,
        "mobile" => {
            p.add(
                "did_option",
                "not_offered",
                format!("mobile new DIDs are not offered in {c}"),
            );
            true
        }
        other => {
            p.add(
                "did_option",
                "unknown",
                format!("'{other}' is not regular or mobile"),
            );
            false
        }
    }
}

fn check_sizes(p: &mut Problems, o: &OrderBody, s: Service, offer: &Offer, mobile: bool) {
    if !matches!(s, Service::NewDids | Service::NewTollFree) {
        return;
    }
    if let Some(size) = o.range_size {
        let allowed: Vec<u32> = if mobile {
            vec![1]
        } else {
            offer.range_sizes.clone()
        };
        if !u32::try_from(size).is_ok_and(|v| allowed.contains(&v)) {
            let sizes: Vec<String> = allowed.iter().map(u32::to_string).collect();
            let what = if mobile {
                "mobile DIDs come one at a time: "
            } else {
                ""
            };
            p.add(
                "range_size",
                "invalid",
                format!("{what}{size} is not one of {}", sizes.join(", ")),
            );
        }
    }
    if let Some(q) = o.quantity.filter(|q| *q < 1) {
        p.add(
            "quantity",
            "invalid",
            format!("quantity must be at least 1, not {q}"),
        );
    }
}

/// The present-or-not test of a field path of the order body.
fn present(o: &OrderBody, field: &str) -> bool {
    let a = o.address.as_ref();
    match field {
        "range_size" => o.range_size.is_some(),
        "quantity" => o.quantity.is_some(),
        "numbers" => o.numbers.is_some(),
        "preferred_date" => !blank(&o.preferred_date),
        "area_code" => !blank(&o.area_code),
        "contact_name" => !blank(&o.contact_name),
        "contact_email" => !blank(&o.contact_email),
        "contact_phone" => !blank(&o.contact_phone),
        "address.street" => a.is_some_and(|a| !blank(&a.street)),
        "address.city" => a.is_some_and(|a| !blank(&a.city)),
        "address.postcode" => a.is_some_and(|a| !blank(&a.postcode)),
        "address.region" => a.is_some_and(|a| !blank(&a.region)),
        // A catalog naming a field this shape lacks: never satisfied, so it shows.
        _ => false,
    }
}

fn check_required(p: &mut Problems, o: &OrderBody, s: Service, catalog: &Catalog, mobile: bool) {
    let rules = catalog.rules(s);
    let regular = (!mobile).then_some(&rules.required_regular);
    for f in rules.required.iter().chain(regular.into_iter().flatten()) {
        if !present(o, f) {
            p.required(f, &format!("for {s}"));
        }
    }
}

fn check_address(p: &mut Problems, o: &OrderBody, s: Service, offer: &Offer, c: Country) {
    if let Some(street) = o.address.as_ref().and_then(|a| a.street.as_deref()) {
        let t = street.trim();
        let has_number = t.chars().any(|c| c.is_ascii_digit());
        let has_name = t.chars().any(char::is_alphabetic);
        let complete = has_number && has_name;
        if !t.is_empty() && !complete {
            p.add(
                "address.street",
                "invalid",
                format!("'{t}' must hold the street name and the house number only"),
            );
        }
    }
    let new_numbers = matches!(s, Service::NewDids | Service::NewTollFree);
    if new_numbers && offer.region_required && !present(o, "address.region") {
        p.required(
            "address.region",
            &format!("for new numbers in {c} (emergency calls)"),
        );
    }
    if let Some(a) = o
        .area_code
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        if !a.bytes().all(|b| b.is_ascii_digit()) {
            p.add("area_code", "invalid", format!("'{a}' is not digits"));
        }
    }
}

fn check_identifiers(
    p: &mut Problems,
    o: &OrderBody,
    s: Service,
    offer: &Offer,
    c: Country,
    ctx: &dyn Context,
) {
    let Some(kinds) = offer.identifiers.get(&s) else {
        return;
    };
    for kind in kinds {
        let field = format!("identifiers.{kind}");
        match o
            .identifiers
            .as_ref()
            .and_then(|i| i.get(kind))
            .map(|v| v.trim())
        {
            None | Some("") => p.required(&field, &format!("for {s} in {c}")),
            Some(v) => {
                if let Err(why) = ctx.check_identifier(c, kind, v) {
                    p.add(field, "invalid", format!("'{v}': {why}"));
                }
            }
        }
    }
}

fn check_documents(p: &mut Problems, o: &OrderBody, s: Service, catalog: &Catalog) {
    let mut kinds = Vec::new();
    for (i, d) in o.documents.iter().flatten().enumerate() {
        match serde_json::from_value::<DocumentKind>(Value::String(d.trim().to_string())) {
            // Attachments are the support desk's, not an order's.
            Ok(k) if k != DocumentKind::Attachment => kinds.push(k),
            _ => p.add(
                format!("documents[{i}]"),
                "unknown",
                format!("'{d}' is not a document kind (loa, invoice, agreement, other)"),
            ),
        }
    }
    let missing: Vec<String> = catalog
        .rules(s)
        .documents
        .iter()
        .filter(|k| !kinds.contains(k))
        .map(|k| {
            serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    if !missing.is_empty() {
        p.add(
            "documents",
            "required",
            format!("{s} needs the documents {}", missing.join(" and ")),
        );
    }
}

fn check_preferred_date(
    p: &mut Problems,
    o: &OrderBody,
    s: Service,
    offer: &Offer,
    c: Country,
    submitted: NaiveDate,
    ctx: &dyn Context,
) -> Option<NaiveDate> {
    let text = o
        .preferred_date
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())?;
    let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") else {
        p.add(
            "preferred_date",
            "invalid",
            format!("'{text}' is not a date (YYYY-MM-DD)"),
        );
        return None;
    };
    if s != Service::FullPorting {
        return Some(date);
    }
    match ctx.add_working_days(c, submitted, offer.porting_lead_days) {
        Ok(earliest) if date < earliest => {
            p.add(
                "preferred_date",
                "too_early",
                format!(
                    "{date} is earlier than {earliest}: porting in {c} needs {} working days",
                    offer.porting_lead_days
                ),
            );
            None
        }
        Ok(_) => Some(date),
        Err(e) => {
            p.add("preferred_date", "invalid", e);
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn promise(
    s: Service,
    offer: &Offer,
    c: Country,
    submitted: NaiveDate,
    preferred: Option<NaiveDate>,
    catalog: &Catalog,
    ctx: &dyn Context,
    p: &mut Problems,
) -> Option<NaiveDate> {
    if offer.agreement_ready_days.is_some() {
        // Counted from the signing, which is still to come.
        return None;
    }
    let t = &catalog.time_frames;
    let days = match s {
        Service::FullPorting => return preferred,
        Service::NewDids => t.new_dids,
        Service::NewTollFree => t.new_toll_free,
        Service::OutboundOnly => t.outbound_only,
    };
    match ctx.add_working_days(c, submitted, days) {
        Ok(d) => Some(d),
        Err(e) => {
            p.add("submitted_at", "invalid", e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Weekday};
    use serde_json::json;

    /// Weekends only, and identifiers valid when they are digits: enough to test the order
    /// rules apart from the calendars and the identifier algorithms (tested on their own).
    struct Weekends;
    impl Context for Weekends {
        fn add_working_days(
            &self,
            _: Country,
            from: NaiveDate,
            n: u32,
        ) -> Result<NaiveDate, String> {
            let mut d = from;
            let mut left = n;
            while left > 0 {
                d = d.succ_opt().ok_or("out of range")?;
                if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                    left -= 1;
                }
            }
            Ok(d)
        }
        fn check_identifier(&self, _: Country, _: &str, v: &str) -> Result<(), String> {
            v.bytes()
                .all(|b| b.is_ascii_digit())
                .then_some(())
                .ok_or_else(|| "invalid checksum".into())
        }
    }

    fn run(v: serde_json::Value) -> Checked {
        let o: OrderBody = serde_json::from_value(v).unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
            .unwrap()
            .to_utc();
        check(&o, at, Catalog::builtin(), &Weekends)
    }

    fn fields(c: &Checked) -> Vec<&str> {
        let mut f: Vec<&str> = c.problems.iter().map(|p| p.field.as_str()).collect();
        f.sort();
        f
    }

    #[test]
    fn outbound_only_is_promised_in_two_working_days() {
        let c =
            run(json!({"country": "GB", "service": "outbound_only", "numbers": ["+442079460018"]}));
        assert!(c.ok, "{c:?}");
        assert_eq!(c.promised_by, NaiveDate::from_ymd_opt(2026, 11, 4));
    }

    #[test]
    fn outbound_only_refuses_mobile_and_national_numbers() {
        let c = run(json!({"country": "FR", "service": "outbound_only",
            "numbers": ["+33612345678", "0142685300"]}));
        assert_eq!(fields(&c), ["numbers[0]", "numbers[1]"], "{c:?}");
        assert_eq!((c.ok, c.promised_by), (false, None));
    }

    #[test]
    fn an_e_signed_agreement_needs_the_contact_email_and_promises_nothing_yet() {
        let sa = json!({"country": "SA", "service": "new_dids", "range_size": 1, "quantity": 1,
            "area_code": "11", "contact_name": "IT desk",
            "address": {"street": "King Fahd Road 5", "city": "Riyadh", "postcode": "12211"}});
        assert_eq!(fields(&run(sa.clone())), ["contact_email"]);
        let mut with = sa;
        with["contact_email"] = json!("it@example.com");
        let c = run(with);
        assert!(c.ok && c.promised_by.is_none(), "{c:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let c = run(
            json!({"country": "US", "service": "new_dids", "did_option": "mobile",
            "range_size": 7, "quantity": 0, "area_code": "2O1", "ivp": true, "colour": "red",
            "address": {"street": "Main Street", "city": ""}}),
        );
        assert_eq!(
            fields(&c),
            [
                "address.city",
                "address.postcode",
                "address.region",
                "address.street",
                "area_code",
                "colour",
                "did_option",
                "ivp",
                "quantity",
                "range_size"
            ],
            "{c:?}"
        );
    }

    #[test]
    fn unknown_country_or_service_is_a_problem_not_a_failure() {
        assert_eq!(
            fields(&run(json!({"country": "QQ", "service": "new_dids"}))),
            ["country"]
        );
        assert_eq!(
            fields(&run(json!({"country": "GB", "service": "fax"}))),
            ["service"]
        );
        // Offered elsewhere, not here.
        let c = run(json!({"country": "SA", "service": "full_porting"}));
        assert_eq!(
            (fields(&c), c.problems[0].code),
            (vec!["service"], "not_offered")
        );
    }

    #[test]
    fn porting_needs_documents_a_date_after_the_lead_time_and_good_numbers() {
        let base = json!({"country": "GB", "service": "full_porting",
            "numbers": ["+442079460018", "00442079460018", "+33142685300", "+4420"],
            "address": {"street": "1 Long Lane", "city": "London", "postcode": "EC1A 9HP"},
            "documents": ["loa"], "preferred_date": "2026-11-13"});
        let c = run(base.clone());
        assert_eq!(
            fields(&c),
            [
                "documents",
                "numbers[1]",
                "numbers[2]",
                "numbers[3]",
                "preferred_date"
            ],
            "{c:?}"
        );
        assert_eq!(
            c.problems
                .iter()
                .find(|p| p.field == "numbers[1]")
                .map(|p| p.code),
            Some("duplicate")
        );
        // Ten working days after Monday 2 November is Monday 16 November.
        let mut ok = base;
        ok["numbers"] = json!(["+442079460018"]);
        ok["documents"] = json!(["loa", "invoice"]);
        ok["preferred_date"] = json!("2026-11-16");
        ok["ivp"] = json!(true);
        let c = run(ok);
        assert!(c.ok, "{c:?}");
        assert_eq!(c.promised_by, NaiveDate::from_ymd_opt(2026, 11, 16));
    }

    #[test]
    fn identifiers_the_country_requires_are_checked() {
        let fr = json!({"country": "FR", "service": "new_dids", "range_size": 10, "quantity": 1,
            "area_code": "1", "address": {"street": "5 rue de la Paix", "city": "Paris", "postcode": "75002"}});
        assert_eq!(fields(&run(fr.clone())), ["identifiers.siret"]);
        let mut bad = fr.clone();
        bad["identifiers"] = json!({"siret": "7328A"});
        assert_eq!(run(bad).problems[0].code, "invalid");
        let mut good = fr;
        good["identifiers"] = json!({"siret": "73282932000074"});
        let c = run(good);
        assert_eq!(c.promised_by, NaiveDate::from_ymd_opt(2026, 11, 5), "{c:?}");
    }

    #[test]
    fn mobile_new_dids_come_one_at_a_time_where_offered() {
        let base = json!({"country": "GB", "service": "new_dids", "did_option": "mobile",
            "range_size": 10, "quantity": 2,
            "address": {"street": "1 Long Lane", "city": "London", "postcode": "EC1A 9HP"}});
        let c = run(base.clone());
        assert_eq!(fields(&c), ["range_size"], "{c:?}");
        let mut one = base;
        one["range_size"] = json!(1);
        assert!(run(one).ok, "no area code needed for mobile DIDs");
        let de = json!({"country": "DE", "service": "new_dids", "did_option": "mobile",
            "range_size": 1, "quantity": 1,
            "address": {"street": "Unter den Linden 1", "city": "Berlin", "postcode": "10117"}});
        assert_eq!(run(de).problems[0].code, "not_offered");
    }
}
