//! The OpenAPI document as the server answers. The route annotations say what a route is for,
//! what it answers on success and the errors of its own (a name taken, a record in use); this
//! completes every route once, from what the server does with a route of its kind: the errors
//! its access policy, body, parameters and headers can bring (all `application/problem+json`),
//! and the exact form of the inputs the server checks, from the core's text rules and limits.
//! `scripts/schemathesis.sh` holds the result to the server's answers (docs/API.md).
//!
//! This file holds the assembly (`complete`) and the form of the inputs (`Rule`, the body and
//! query rules, the header patterns); the errors and headers each route answers are worked out
//! in `errors.rs`.

use didhub_core::did::{MAX_NOTES, MAX_OPERATOR_NAME, MAX_REASON, MAX_TAG};
use didhub_core::number::NumberType;
use serde_json::{json, Map, Value};

mod errors;

use errors::{complete_operation, kind_of, Kind};

/// The document of `doc`, completed.
pub fn complete(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            let kinds: Vec<(String, Kind)> = item
                .iter()
                .filter_map(|(m, op)| {
                    let m = m.to_ascii_uppercase();
                    let k = kind_of(&m, path, op.as_object()?, item);
                    Some((m, k))
                })
                .collect();
            for (method, k) in kinds {
                if let Some(op) = item
                    .get_mut(&method.to_ascii_lowercase())
                    .and_then(Value::as_object_mut)
                {
                    complete_operation(&method, path, op, k);
                }
            }
        }
    }
    if let Some(schemas) = v
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (schema, property, rule) in BODY_RULES {
            let target = schemas
                .get_mut(*schema)
                .and_then(|s| s.get_mut("properties"))
                .and_then(|p| p.get_mut(*property))
                .and_then(Value::as_object_mut);
            if let Some(target) = target {
                rule.apply(target);
            }
        }
    }
    v
}

// ---------------------------------------------------------------------------------------
// The form of the inputs.

/// Characters `str::trim` removes around free text (Unicode `White_Space`).
const WS: &str =
    r"\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// Characters stored text refuses (`didhub_core::did::optional_text`): control characters
/// but tab and newline, and the bidirectional embeddings, overrides and isolates.
const REFUSED: &str = r"\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069";
/// Control characters (`char::is_control`).
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// Bidirectional embeddings, overrides and isolates (`didhub_core::did::is_bidi_control`).
const BIDI: &str = r"\u202A-\u202E\u2066-\u2069";

/// Free text as `optional_text` takes it: trimmed, then at most `max` characters with none of
/// `REFUSED`; `required` refuses what is blank after trimming. The length is counted after
/// trimming, so it is part of the pattern rather than a `maxLength`.
fn text_pattern(max: usize, required: bool) -> String {
    // The first and last kept characters are not blank; those between may be.
    let core = match max {
        0 | 1 => format!("[^{WS}{REFUSED}]"),
        n => format!(
            "[^{WS}{REFUSED}](?:[^{REFUSED}]{{0,{}}}[^{WS}{REFUSED}])?",
            n - 2
        ),
    };
    if required {
        format!("^[{WS}]*{core}[{WS}]*$")
    } else {
        format!("^[{WS}]*(?:{core})?[{WS}]*$")
    }
}

/// What the server takes for a field or parameter, as far as a schema can say it.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// A required name: trimmed, 1 to `n` characters, no control characters.
    Name(usize),
    /// Optional free text: trimmed (blank is none), at most `n` characters.
    Text(usize),
    Email,
    Password,
    /// ISO 3166 alpha-2 (any case); `true`: blank is none.
    Country(bool),
    /// ISO 4217 code (any case).
    Currency,
    /// A service kind code: letters, digits, `_` and `-`.
    Code,
    /// A number type by its API name; `true`: blank is none.
    NumberType(bool),
    /// A decimal amount, as a JSON string or number.
    Amount,
    /// A whole number from 0 to `u32::MAX`.
    U32,
    /// A whole number from 0 to `i32::MAX`.
    NonNegativeI32,
    /// One of these values.
    OneOf(&'static [u32]),
    /// One of these strings.
    Words(&'static [&'static str]),
}

impl Rule {
    fn apply(self, s: &mut Map<String, Value>) {
        let set = |s: &mut Map<String, Value>, k: &str, v: Value| {
            s.insert(k.to_string(), v);
        };
        let describe = |s: &mut Map<String, Value>, what: String| {
            let d = match s.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{d}\n\n{what}"),
                _ => what,
            };
            s.insert("description".into(), Value::String(d));
        };
        match self {
            Rule::Name(n) => {
                set(s, "pattern", text_pattern(n, true).into());
                describe(s, format!("Trimmed; 1 to {n} characters, no control characters but newline and tab, no \
                    bidirectional controls."));
            }
            Rule::Text(n) => {
                set(s, "pattern", text_pattern(n, false).into());
                describe(s, format!("Trimmed (blank is none); at most {n} characters, no control characters but \
                    newline and tab, no bidirectional controls."));
            }
            Rule::Email => {
                let part = format!("[^@.{WS}{CONTROL}{BIDI}]+");
                set(
                    s,
                    "pattern",
                    format!("^[{WS}]*[^@{WS}{CONTROL}{BIDI}]+@{part}(?:\\.{part})*[{WS}]*$").into(),
                );
                describe(
                    s,
                    "An e-mail address (trimmed, at most 254 bytes; compared in lower case)."
                        .into(),
                );
            }
            Rule::Password => {
                set(s, "minLength", 12.into());
                set(s, "maxLength", didhub_core::access::MAX_PASSWORD.into());
            }
            Rule::Country(optional) => {
                let p = if optional {
                    format!("^[{WS}]*(?:[A-Za-z]{{2}}[{WS}]*)?$")
                } else {
                    format!("^[{WS}]*[A-Za-z]{{2}}[{WS}]*$")
                };
                set(s, "pattern", p.into());
            }
            Rule::Currency => {
                set(
                    s,
                    "pattern",
                    format!("^[{WS}]*[A-Za-z]{{3}}[{WS}]*$").into(),
                );
            }
            Rule::Code => {
                set(
                    s,
                    "pattern",
                    format!("^[{WS}]*[A-Za-z0-9_-]{{1,64}}[{WS}]*$").into(),
                );
                describe(
                    s,
                    "1 to 64 letters, digits, `_` and `-` (kept in lower case).".into(),
                );
            }
            Rule::NumberType(optional) => {
                let names: Vec<&str> = NumberType::ALL.iter().map(|t| t.as_str()).collect();
                if optional {
                    set(
                        s,
                        "pattern",
                        format!("^(?:{}|[{WS}]*)$", names.join("|")).into(),
                    );
                } else {
                    set(s, "enum", json!(names));
                }
            }
            Rule::Amount => {
                set(s, "type", json!(["string", "number"]));
            }
            Rule::U32 => {
                s.remove("format");
                set(s, "minimum", 0.into());
                set(s, "maximum", u32::MAX.into());
            }
            Rule::NonNegativeI32 => {
                set(s, "minimum", 0.into());
            }
            Rule::OneOf(values) => {
                s.remove("format");
                s.remove("minimum");
                set(s, "enum", json!(values));
            }
            Rule::Words(words) => {
                set(s, "enum", json!(words));
            }
        }
    }
}

/// Sort keys of `GET /dids` (`DidSort`), blank for the default.
const SORTS: &[&str] = &[
    "",
    "number",
    "created",
    "created_at",
    "updated",
    "updated_at",
    "status",
    "country",
];

/// Properties of the request bodies, by component schema: what the store checks them against.
pub const BODY_RULES: &[(&str, &str, Rule)] = &[
    ("NameBody", "name", Rule::Name(200)),
    ("CustomerBody", "name", Rule::Name(200)),
    ("OperatorBody", "name", Rule::Name(MAX_OPERATOR_NAME)),
    ("PbxBody", "name", Rule::Name(200)),
    ("PbxBody", "serial_number", Rule::Name(100)),
    ("PbxBody", "region", Rule::Text(100)),
    ("NewPbx", "name", Rule::Name(200)),
    ("NewPbx", "serial_number", Rule::Name(100)),
    ("NewPbx", "region", Rule::Text(100)),
    ("TokenBody", "name", Rule::Name(200)),
    ("UserBody", "email", Rule::Email),
    ("UserBody", "password", Rule::Password),
    ("PasswordBody", "password", Rule::Password),
    ("ServiceKindBody", "code", Rule::Code),
    ("ServiceKindBody", "name", Rule::Name(200)),
    ("Price", "currency", Rule::Currency),
    ("Price", "amount", Rule::Amount),
    ("QuoteBody", "currency", Rule::Currency),
    ("QuoteBody", "price", Rule::Amount),
    ("ServiceRequest", "currency", Rule::Currency),
    ("NewPackage", "name", Rule::Name(200)),
    ("NewPackage", "tag", Rule::Text(MAX_TAG)),
    ("NewPackage", "country", Rule::Country(true)),
    ("NewPackage", "number_type", Rule::NumberType(true)),
    ("NewPackage", "did_allowance", Rule::NonNegativeI32),
    ("CreateBody", "country", Rule::Country(true)),
    ("CreateBody", "tag", Rule::Text(MAX_TAG)),
    ("CreateBody", "notes", Rule::Text(MAX_NOTES)),
    ("CreateBody", "reason", Rule::Text(MAX_REASON)),
    ("PatchBody", "tag", Rule::Text(MAX_TAG)),
    ("PatchBody", "notes", Rule::Text(MAX_NOTES)),
    ("PatchBody", "reason", Rule::Text(MAX_REASON)),
    ("DidPatch", "tag", Rule::Text(MAX_TAG)),
    ("DidPatch", "notes", Rule::Text(MAX_NOTES)),
    ("BulkEditBody", "reason", Rule::Text(MAX_REASON)),
    ("BulkDeleteBody", "reason", Rule::Text(MAX_REASON)),
    ("DidFilter", "country", Rule::Country(true)),
    ("DidFilter", "type", Rule::NumberType(true)),
    ("DidFilter", "tag", Rule::Text(MAX_NOTES)),
    ("DidFilter", "notes", Rule::Text(MAX_NOTES)),
    ("AssignRequest", "reason", Rule::Text(MAX_REASON)),
    (
        "BlockBody",
        "size",
        Rule::OneOf(&didhub_core::blocks::ORDERABLE),
    ),
    ("BlockBody", "country", Rule::Country(false)),
    ("BlockBody", "number_type", Rule::NumberType(false)),
    ("BlockBody", "reason", Rule::Text(MAX_REASON)),
];

/// Query parameters, by name (each name means the same on every route that takes it), and
/// what the server checks them against. A text filter is compared as stored text is checked.
pub const QUERY_RULES: &[(&str, Rule)] = &[
    ("country", Rule::Country(true)),
    ("type", Rule::NumberType(true)),
    ("number_type", Rule::NumberType(false)),
    ("tag", Rule::Text(MAX_NOTES)),
    ("notes", Rule::Text(MAX_NOTES)),
    ("entity", Rule::Text(MAX_NOTES)),
    ("action", Rule::Text(MAX_NOTES)),
    ("actor", Rule::Text(MAX_NOTES)),
    ("subject", Rule::Text(MAX_NOTES)),
    ("reason", Rule::Text(MAX_REASON)),
    ("limit", Rule::U32),
    ("sort", Rule::Words(SORTS)),
    ("order", Rule::Words(&["", "asc", "desc"])),
];

/// `If-Match` as `api::if_match` reads it: a version, quoted, weak or bare.
pub const IF_MATCH_PATTERN: &str = r#"^[\t ]*(?:(?:W/)?"[0-9]{1,18}"|[0-9]{1,18})[\t ]*$"#;
/// `Idempotency-Key` as `api::idempotent` reads it: 1 to 200 visible ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = r"^[\t ]*[!-~](?:[\t -~]{0,198}[!-~])?[\t ]*$";

/// The headers and query parameters in the form the server takes them.
fn constrain_parameters(op: &mut Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params.iter_mut().filter_map(Value::as_object_mut) {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let place = p
            .get("in")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match (place.as_str(), name.as_str()) {
            ("header", "If-Match") => {
                p.insert(
                    "schema".into(),
                    json!({"type": "string", "pattern": IF_MATCH_PATTERN}),
                );
                p.entry("description").or_insert_with(|| {
                    "The version read (its `ETag`): `\"3\"`, `W/\"3\"` or `3`.".into()
                });
            }
            ("header", "Idempotency-Key") => {
                p.insert(
                    "schema".into(),
                    json!({"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN}),
                );
                p.entry("description").or_insert_with(|| {
                    "1 to 200 visible ASCII characters, chosen by the client; a retry with the \
                        same key and request gets the first answer."
                        .into()
                });
            }
            ("query", _) => {
                if let Some((_, rule)) = QUERY_RULES.iter().find(|(n, _)| *n == name) {
                    if let Some(s) = p.get_mut("schema").and_then(Value::as_object_mut) {
                        rule.apply(s);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! The document's patterns against the checks they describe: a value the document allows
    //! must be one the server takes, and one it refuses one the server refuses.

    use axum::http::{HeaderMap, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    fn regex(pattern: &str) -> regex::Regex {
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 26)
            .build()
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    /// Characters that exercise the text rules: letters, blanks the trim removes, control
    /// characters (tab and newline allowed inside), bidirectional controls and marks.
    fn tricky() -> impl Strategy<Value = String> {
        let chars = prop::sample::select(vec![
            'a', 'Z', '7', 'é', 'ש', ' ', '\t', '\n', '\r', '\u{0B}', '\u{0C}', '\u{85}', '\u{A0}',
            '\u{2003}', '\u{2028}', '\u{3000}', '\u{0}', '\u{1B}', '\u{7F}', '\u{9F}', '\u{200F}',
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{FEFF}', '@', '.', '"', '/', 'W',
        ]);
        prop::collection::vec(chars, 0..9).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn text_patterns_are_the_text_rules(s in tricky(), max in 1usize..6) {
            let name = regex(&text_pattern(max, true));
            let text = regex(&text_pattern(max, false));
            prop_assert_eq!(
                name.is_match(&s),
                didhub_core::did::name("name", &s, max).is_ok(),
                "name {:?} max {}", s, max
            );
            prop_assert_eq!(
                text.is_match(&s),
                didhub_core::did::optional_text("notes", Some(&s), max).is_ok(),
                "text {:?} max {}", s, max
            );
        }

        #[test]
        fn the_email_pattern_is_the_email_rule(s in tricky()) {
            let mut m = Map::new();
            Rule::Email.apply(&mut m);
            let p = regex(m["pattern"].as_str().unwrap());
            prop_assert_eq!(p.is_match(&s), didhub_core::access::email(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn the_if_match_pattern_is_what_if_match_takes(
            s in "[ \t]?(W/)?\"?[-+]?[0-9]{0,20}\"?\"?[ \t]?|[0-9W/\" a-]{0,6}"
        ) {
            let Ok(v) = HeaderValue::from_str(&s) else { return Ok(()) };
            let mut h = HeaderMap::new();
            h.insert(axum::http::header::IF_MATCH, v);
            prop_assert_eq!(
                regex(IF_MATCH_PATTERN).is_match(&s),
                crate::api::if_match(&h).is_ok(),
                "{:?}", s
            );
        }

        #[test]
        fn the_idempotency_key_pattern_is_what_the_key_takes(
            s in "[ \t]{0,2}[ -~\t]{0,3}|[!-~]{198,202}"
        ) {
            let Ok(v) = HeaderValue::from_str(&s) else { return Ok(()) };
            let mut h = HeaderMap::new();
            h.insert("idempotency-key", v);
            prop_assert_eq!(
                regex(IDEMPOTENCY_KEY_PATTERN).is_match(&s),
                crate::api::idempotency_key(&h).is_ok(),
                "{:?}", s
            );
        }

        /// Looser than the server where a list decides (countries, currencies), never
        /// stricter: what the pattern refuses, the server refuses.
        #[test]
        fn country_and_currency_patterns_never_refuse_what_the_server_takes(
            s in "[ a-zA-Z\t]{0,5}"
        ) {
            let mut m = Map::new();
            Rule::Country(true).apply(&mut m);
            let blank_or_country = s.trim().is_empty()
                || didhub_core::number::Country::parse_recorded(&s).is_ok();
            if blank_or_country {
                prop_assert!(regex(m["pattern"].as_str().unwrap()).is_match(&s), "{:?}", s);
            }
            let mut m = Map::new();
            Rule::Currency.apply(&mut m);
            if didhub_core::money::currency(&s).is_ok() {
                prop_assert!(regex(m["pattern"].as_str().unwrap()).is_match(&s), "{:?}", s);
            }
        }
    }

    #[test]
    fn the_real_limits_compile_and_hold() {
        for max in [MAX_TAG, 100, 200, MAX_REASON, MAX_NOTES] {
            let name = regex(&text_pattern(max, true));
            assert!(name.is_match(&format!("  {}  ", "x".repeat(max))));
            assert!(!name.is_match(&"x".repeat(max + 1)));
            assert!(!name.is_match(" \t "));
        }
        let t = regex(&text_pattern(MAX_TAG, false));
        assert!(t.is_match("") && t.is_match("  "));
        let mut m = Map::new();
        Rule::NumberType(true).apply(&mut m);
        let p = regex(m["pattern"].as_str().unwrap());
        for ty in NumberType::ALL {
            assert!(p.is_match(ty.as_str()));
        }
        assert!(p.is_match(" ") && !p.is_match("Mobile") && !p.is_match(" mobile"));
    }

    #[test]
    fn every_rule_names_a_property_that_exists() {
        let (_, doc) = utoipa_axum::router::OpenApiRouter::<crate::AppState>::new()
            .merge(crate::api::routes())
            .split_for_parts();
        let v = serde_json::to_value(&doc).unwrap();
        for (schema, property, _) in BODY_RULES {
            assert!(
                v.pointer(&format!(
                    "/components/schemas/{schema}/properties/{property}"
                ))
                .is_some(),
                "{schema}.{property}: no such property; update BODY_RULES"
            );
        }
        let mut query = std::collections::BTreeSet::new();
        for item in v["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "query" {
                        query.insert(p["name"].as_str().unwrap().to_string());
                    }
                }
            }
        }
        for (name, _) in QUERY_RULES {
            assert!(
                query.contains(*name),
                "query parameter {name}: no route takes it"
            );
        }
    }
}
