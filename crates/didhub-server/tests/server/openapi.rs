//! The OpenAPI document says what the server answers: every route's errors are documented, as
//! problem+json, and requests are taken in the form the document gives. (The full check runs
//! schemathesis against a server: scripts/schemathesis.sh, from .ci/run.)

use crate::common;

use crate::common::TestApp;
use didhub_server::api::{Policy, POLICY};
use serde_json::{json, Value};

const PROBLEM: &str = "application/problem+json";

async fn spec(app: &TestApp) -> Value {
    let r = app.get("/api/openapi.json").send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// A concrete path for a route template: ids that name nothing, a number for `{number}`.
fn concrete(template: &str) -> String {
    template
        .replace("{number}", "+442079460000")
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                uuid::Uuid::now_v7().to_string()
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Checks that `r` is one of the answers `op` documents, with a documented content type;
/// returns the status.
async fn documented(op: &Value, what: &str, r: reqwest::Response) -> u16 {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    let doc = &op["responses"][status.to_string()];
    assert!(
        doc.is_object(),
        "{what}: {status} is not documented ({body})"
    );
    for (name, h) in doc["headers"].as_object().into_iter().flatten() {
        if h["required"] == true {
            assert!(
                headers.contains_key(name.as_str()),
                "{what}: {status} without {name}"
            );
        }
    }
    match ct {
        Some(ct) => assert!(
            doc["content"].get(&ct).is_some(),
            "{what}: {status} answered {ct}, documented {:?}",
            doc["content"]
                .as_object()
                .map(|c| c.keys().collect::<Vec<_>>())
        ),
        None => assert!(body.is_empty(), "{what}: a body without a content type"),
    }
    if status >= 400 {
        let p: Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(p["status"], status, "{what}: not a problem: {body}");
    }
    status
}

async fn document_story(app: &TestApp) {
    let spec = spec(app).await;
    let paths = spec["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{} {path}", method.to_uppercase());
            let policy = POLICY
                .iter()
                .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && p == path)
                .map(|(_, _, policy)| *policy)
                .unwrap_or_else(|| panic!("{what}: no policy"));
            let responses = op["responses"].as_object().unwrap();
            // Every error is problem+json (the import's refusal also answers its report).
            for (status, r) in responses {
                if status.as_str() >= "400" {
                    assert_eq!(
                        r["content"][PROBLEM]["schema"]["$ref"], "#/components/schemas/Problem",
                        "{what} {status}"
                    );
                    let others: Vec<&String> = r["content"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .filter(|k| *k != PROBLEM)
                        .collect();
                    assert!(
                        others.is_empty() || (path == "/api/v1/dids/import" && status == "422"),
                        "{what} {status}: {others:?}"
                    );
                    assert!(!r["description"].as_str().unwrap().is_empty());
                }
            }
            assert!(responses.contains_key("422"), "{what}: 422");
            if policy != Policy::Public {
                assert_eq!(
                    responses["401"]["headers"]["WWW-Authenticate"]["required"], true,
                    "{what}"
                );
            }
            let json_body = op["requestBody"]["content"]
                .get("application/json")
                .is_some();
            if json_body {
                for s in ["400", "413", "422"] {
                    assert!(responses.contains_key(s), "{what}: {s}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                if name == "If-Match" {
                    assert!(responses.contains_key("412"), "{what}: 412");
                    assert_eq!(
                        p["schema"]["pattern"],
                        didhub_server::openapi::IF_MATCH_PATTERN
                    );
                }
                if name == "Idempotency-Key" {
                    assert!(responses.contains_key("409"), "{what}: 409");
                    assert_eq!(
                        p["schema"]["pattern"],
                        didhub_server::openapi::IDEMPOTENCY_KEY_PATTERN
                    );
                }
            }
            operations += 1;
        }
    }
    assert_eq!(operations, POLICY.len());

    // What the routes answer is what they document: without credentials; with a body that is
    // not JSON; with ids that name nothing and an empty object for a body.
    for (method, template, policy) in POLICY {
        let op = &paths[*template][method.to_lowercase()];
        let what = format!("{method} {template}");
        let url = app.url(&concrete(template));
        let m: reqwest::Method = method.parse().unwrap();
        if *policy != Policy::Public {
            let r = app.client.request(m.clone(), &url).send().await.unwrap();
            assert_eq!(documented(op, &what, r).await, 401, "{what}");
        }
        if op["requestBody"]["content"]
            .get("application/json")
            .is_some()
        {
            let r = app
                .client
                .request(m.clone(), &url)
                .bearer_auth(&app.token)
                .header("content-type", "text/plain")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(documented(op, &what, r).await, 400, "{what}");
        }
        let mut r = app.client.request(m.clone(), &url).bearer_auth(&app.token);
        if !matches!(*method, "GET" | "DELETE") {
            r = r.json(&json!({}));
        }
        documented(op, &what, r.send().await.unwrap()).await;
    }
}
both_backends!(document, document_story);

/// Requests the document calls invalid are refused: a JSON body is an object, never an array
/// of its fields; `If-Match` is a version in one of its three forms; a service kind code is
/// what was written.
async fn strict_inputs_story(app: &TestApp) {
    let (status, user) = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "strict@example.com", "role": "support", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let users = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    for body in [json!([null, null]), json!([null, true])] {
        let r = app.patch(&users).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], "body", "{p}");
    }
    let (status, _) = app.post_json("/api/v1/operators", &json!(["Acme"])).await;
    assert_eq!(status, 422);
    let (status, p) = app
        .post_json(
            "/api/v1/service-kinds",
            &json!({"code": "x", "name": "X", "prices": [["yearly", "EUR", "1.00"]]}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "prices[0]", "{p}");
    let (_, u) = app.get_json(&users).await;
    assert_eq!(u["disabled"], false, "nothing changed");

    // If-Match: "N", W/"N" or N; nothing else, whatever a lenient reading could make of it.
    let op = app.operator("Strict Telecom").await;
    let created = app.create(&op, &["+442079460300"]).await;
    let id = created["items"][0]["id"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| panic!("{created}"));
    let dids = format!("/api/v1/dids/{id}");
    for bad in [
        "W/1",
        "\"1",
        "1\"",
        "\"\"1\"\"",
        "W/W/\"1\"",
        "+1",
        "-1",
        "1.0",
        "*",
        "null",
        "\"\"",
        "1234567890123456789",
    ] {
        let r = app
            .patch(&dids)
            .header("If-Match", bad)
            .json(&json!({"notes": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "If-Match {bad}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], "If-Match", "{p}");
    }
    for (n, good) in ["\"1\"", "W/\"2\"", "3", " \"4\" "].iter().enumerate() {
        let r = app
            .patch(&dids)
            .header("If-Match", *good)
            .json(&json!({"notes": format!("edit {n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "If-Match {good}");
    }

    // A record edited with If-Match answers its version as ETag, read or edited.
    let (status, partner) = app
        .post_json("/api/v1/partners", &json!({"name": "Versioned"}))
        .await;
    assert_eq!(status, 201, "{partner}");
    let partners = format!("/api/v1/partners/{}", partner["id"].as_str().unwrap());
    let r = app.get(&partners).send().await.unwrap();
    assert_eq!(r.headers()["etag"], "\"1\"");
    let r = app
        .patch(&partners)
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "Versioned 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let spec = spec(app).await;
    for (path, method) in [
        ("/api/v1/partners/{id}", "get"),
        ("/api/v1/partners/{id}", "patch"),
        ("/api/v1/client-packages/{id}", "get"),
        ("/api/v1/client-packages/{id}", "patch"),
        ("/api/v1/dids/{id}", "get"),
    ] {
        assert_eq!(
            spec["paths"][path][method]["responses"]["200"]["headers"]["ETag"]["required"], true,
            "{method} {path}"
        );
    }

    // A service kind code: letters, digits, '_' and '-', checked as written (the Kelvin sign
    // would lower to an ASCII 'k').
    let price = json!([{"term_kind": "yearly", "currency": "EUR", "amount": "1.00"}]);
    let (status, p) = app
        .post_json(
            "/api/v1/service-kinds",
            &json!({"code": "\u{212A}ey", "name": "Key", "prices": price}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "code");
    let (status, k) = app
        .post_json(
            "/api/v1/service-kinds",
            &json!({"code": " Sip-Trunk_2 ", "name": "SIP", "prices": price}),
        )
        .await;
    assert_eq!(status, 201, "{k}");
    assert_eq!(k["code"], "sip-trunk_2");
}
both_backends!(strict_inputs, strict_inputs_story);
