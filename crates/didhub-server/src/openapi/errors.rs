//! The per-route error table: which errors (all `application/problem+json`) and headers each
//! operation answers, worked out once from what the server does with a route of its kind (its
//! access policy, body, parameters, `If-Match` and `Idempotency-Key`). Apart from `mod.rs`,
//! which assembles the document and states the form of the inputs.

use didhub_core::access::Role;
use serde_json::{json, Map, Value};

use super::constrain_parameters;
use crate::api::{policy_for, Policy};

const PROBLEM: &str = "application/problem+json";
const PROBLEM_REF: &str = "#/components/schemas/Problem";

/// Creates that answer the new record's `ETag` (as well as its `version`).
const CREATES_WITH_ETAG: &[(&str, &str)] = &[
    ("POST", "/api/v1/partners"),
    ("POST", "/api/v1/customers"),
    ("POST", "/api/v1/pbxs"),
];

/// Writes that never answer 409: they change no record another request could be changing.
const NO_CONFLICT: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/licenses/quote"),
    ("POST", "/api/v1/pbxs/{id}/services/preview"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{id}"),
    ("PUT", "/api/v1/users/{id}/password"),
];

/// What the server does with one operation, read from its annotation and its policy.
pub(super) struct Kind {
    policy: Option<Policy>,
    json_body: bool,
    multipart: bool,
    /// A DELETE whose reason may come as a JSON body (it reads the body whatever it is).
    raw_body: bool,
    query: bool,
    path_params: bool,
    /// A path parameter that is not an id (it is checked, not looked up).
    checked_path: bool,
    if_match: Option<bool>,
    idempotency_key: bool,
    /// A record some method of this path edits with `If-Match`: its GET and that method
    /// answer its version as `ETag`.
    versioned_path: bool,
}

pub(super) fn kind_of(
    method: &str,
    path: &str,
    op: &Map<String, Value>,
    item: &Map<String, Value>,
) -> Kind {
    let params: Vec<&Map<String, Value>> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let param = |name: &str, place: &str| {
        params
            .iter()
            .find(|p| {
                p.get("name").and_then(Value::as_str) == Some(name)
                    && p.get("in").and_then(Value::as_str) == Some(place)
            })
            .copied()
    };
    let is_in =
        |p: &&Map<String, Value>, place: &str| p.get("in").and_then(Value::as_str) == Some(place);
    let content: Vec<&String> = op
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .map(|c| c.keys().collect())
        .unwrap_or_default();
    let query = params.iter().any(|p| is_in(p, "query"));
    Kind {
        policy: policy_for(&method.parse().unwrap_or(axum::http::Method::GET), path),
        json_body: content.iter().any(|c| *c == "application/json"),
        multipart: content.iter().any(|c| *c == "multipart/form-data"),
        raw_body: method == "DELETE" && param("reason", "query").is_some(),
        query,
        path_params: params.iter().any(|p| is_in(p, "path")),
        checked_path: params.iter().any(|p| {
            is_in(p, "path")
                && p.get("schema")
                    .and_then(|s| s.get("format"))
                    .and_then(Value::as_str)
                    != Some("uuid")
        }),
        if_match: param("If-Match", "header")
            .map(|p| p.get("required").and_then(Value::as_bool).unwrap_or(false)),
        idempotency_key: param("Idempotency-Key", "header").is_some(),
        versioned_path: (method == "GET" || param("If-Match", "header").is_some())
            && item.values().any(has_if_match),
    }
}

/// Whether an operation takes `If-Match`.
fn has_if_match(op: &Value) -> bool {
    op.get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p.get("name").and_then(Value::as_str) == Some("If-Match"))
        })
}

pub(super) fn complete_operation(method: &str, path: &str, op: &mut Map<String, Value>, k: Kind) {
    constrain_parameters(op);
    let unsafe_method = !matches!(method, "GET" | "HEAD" | "OPTIONS");
    let need = match k.policy {
        Some(Policy::Need(n)) => Some(n),
        _ => None,
    };
    let staff_refused =
        need.is_some_and(|n| Role::ALL.iter().any(|r| !r.is_partner() && !r.allows(n)));
    let partner_refused =
        need.is_some_and(|n| Role::ALL.iter().any(|r| r.is_partner() && !r.allows(n)));

    let mut add: Vec<(u16, String)> = Vec::new();
    if k.json_body || k.multipart || k.raw_body {
        let why = if k.multipart {
            "Bad request: the body is not well-formed multipart/form-data."
        } else if k.raw_body {
            "Bad request: a body that is not a JSON object `{\"reason\": …}` with `Content-Type: application/json`."
        } else {
            "Bad request: the body is not JSON, or lacks `Content-Type: application/json`."
        };
        add.push((400, why.into()));
    }
    if need.is_some() {
        add.push((
            401,
            "No credentials, or ones that are not valid (a token unknown, expired or revoked; a session ended).".into(),
        ));
    }
    if need.is_some() && (staff_refused || unsafe_method) {
        let mut why = Vec::new();
        if staff_refused {
            why.push("the caller's role may not do this");
        }
        if unsafe_method {
            why.push("a session cookie came without its `X-CSRF-Token`");
        }
        add.push((403, format!("Forbidden: {}.", why.join("; "))));
    }
    if k.path_params || partner_refused {
        add.push((
            404,
            "Not found: no such record the caller may see (also for an id that is not one).".into(),
        ));
    }
    let writes = unsafe_method && !NO_CONFLICT.contains(&(method, path));
    if writes || k.idempotency_key {
        let mut why = Vec::new();
        if writes {
            why.push(
                "the request collides with the current state (a unique value taken, a record \
                in use or held), or a record kept changing under concurrent edits (retry)",
            );
        }
        if k.idempotency_key {
            why.push(
                "a request with this `Idempotency-Key` is still in progress, or never finished",
            );
        }
        add.push((409, format!("Conflict: {}.", why.join("; "))));
    }
    if k.if_match.is_some() {
        add.push((
            412,
            "Changed by someone else: the version in `If-Match` is stale; nothing changed.".into(),
        ));
    }
    if k.json_body || k.multipart || k.raw_body {
        add.push((
            413,
            "Payload too large: the body is over this route's limit.".into(),
        ));
    }
    // Every route refuses a query string it does not take.
    let mut invalid = vec!["a query parameter this route does not take"];
    if k.json_body || k.multipart {
        invalid.push("a field of the body is missing, unknown or invalid");
    }
    if k.query {
        invalid.push("a query parameter is invalid");
    }
    if k.checked_path {
        invalid.push("the path parameter is invalid");
    }
    if k.if_match.is_some() {
        invalid.push("`If-Match` is not a version");
    }
    if k.idempotency_key {
        invalid.push("`Idempotency-Key` is malformed, or was used for a different request");
    }
    add.push((
        422,
        format!(
            "Invalid request: {} (`errors` names it).",
            invalid.join("; ")
        ),
    ));
    if k.if_match == Some(true) {
        add.push((
            428,
            "Precondition required: send `If-Match` with the version read.".into(),
        ));
    }

    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else { return };
    for (status, description) in add {
        responses
            .entry(status.to_string())
            .or_insert_with(|| json!({"description": description}));
        // An annotated response keeps its own description when it has one.
        if let Some(r) = responses
            .get_mut(&status.to_string())
            .and_then(Value::as_object_mut)
        {
            if r.get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                r.insert("description".into(), description.into());
            }
        }
    }
    for (status, r) in responses.iter_mut() {
        let Some(r) = r.as_object_mut() else { continue };
        let code: u16 = status.parse().unwrap_or(0);
        if code >= 400 {
            as_problem(r);
        }
        // OpenAPI asks every answer for a description; the annotations leave most empty.
        if r.get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let what = axum::http::StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Answer");
            r.insert("description".into(), what.into());
        }
        if code == 401 {
            header(
                r,
                "WWW-Authenticate",
                true,
                json!({"type": "string", "const": "Bearer"}),
            );
        }
        if code == 429 {
            header(
                r,
                "Retry-After",
                true,
                json!({"type": "string", "pattern": "^[0-9]+$"}),
            );
        }
        if code == 200 && k.versioned_path
            || code == 201 && CREATES_WITH_ETAG.contains(&(method, path))
        {
            header(
                r,
                "ETag",
                true,
                json!({"type": "string", "pattern": "^\"[0-9]+\"$"}),
            );
        }
        if (200..300).contains(&code) && k.idempotency_key {
            header(
                r,
                "Idempotent-Replayed",
                false,
                json!({"type": "string", "const": "true"}),
            );
        }
    }
}

/// An error response as the server sends it: problem+json (as well as any other body the
/// route documents for that status, such as the import's report).
fn as_problem(r: &mut Map<String, Value>) {
    let content = r
        .entry("content")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(content) = content else { return };
    let is_problem =
        |c: &Value| c.pointer("/schema/$ref").and_then(Value::as_str) == Some(PROBLEM_REF);
    if content.get("application/json").is_some_and(is_problem) {
        content.remove("application/json");
    }
    content.insert(PROBLEM.into(), json!({"schema": {"$ref": PROBLEM_REF}}));
}

fn header(r: &mut Map<String, Value>, name: &str, required: bool, schema: Value) {
    let headers = r.entry("headers").or_insert_with(|| json!({}));
    if let Some(h) = headers.as_object_mut() {
        h.insert(name.into(), json!({"required": required, "schema": schema}));
    }
}
