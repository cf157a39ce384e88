//! Black-box stories through a real server, on SQLite and PostgreSQL.

use crate::common;

use crate::common::TestApp;
use serde_json::{json, Value};

async fn auth_is_required(app: &TestApp) {
    let r = app
        .client
        .get(app.url("/api/v1/dids"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:didhub:problem:unauthorized");
    assert_eq!(p["status"], 401);
    let r = app
        .client
        .get(app.url("/api/v1/operators"))
        .bearer_auth("dh_0000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(app.url("/api/v1/dids"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (s, _) = app.get_json("/api/v1/dids").await;
    assert_eq!(s, 200);
    // Public endpoints.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The description of the API is public (no data in it); the API itself is not.
    let spec: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/dids",
        "/api/v1/dids/import",
        "/api/v1/dids/export",
        "/api/v1/operators",
        "/api/v1/audit",
        "/api/v1/dids/{id}/history",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    assert_eq!(
        app.client
            .get(app.url("/api/docs"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // An import, so that the import counter has something to count.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"number\n+442079460900\n+442079460901\n".to_vec())
                .file_name("m.csv"),
        )
        .text("operator", "Metrics Op");
    let r = app
        .post("/api/v1/dids/import")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Not multipart: a problem naming the field, like every other refusal.
    let r = app
        .post("/api/v1/dids/import")
        .header("content-type", "text/csv")
        .body("number\n+442079460902\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "file", "{p}");
    let m = app.metrics().await;
    assert!(m.contains("didhub_http_requests_total"), "{m}");
    assert!(m.contains("didhub_db_pool_connections"));
    // Latencies by route template (never by raw path), in buckets.
    assert!(
        m.lines().any(
            |l| l.starts_with("didhub_http_request_duration_seconds_bucket{")
                && l.contains("route=\"/api/v1/dids/import\"")
        ),
        "{m}"
    );
    assert!(
        !m.contains("route=\"/api/v1/dids/0"),
        "raw paths must not be labels"
    );
    // Nor made-up methods: any token is a method to HTTP, so they all count as OTHER.
    let weird = reqwest::Method::from_bytes(b"QQ7321").unwrap();
    let r = reqwest::Client::new()
        .request(weird, app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let m = app.metrics().await;
    assert!(!m.contains("QQ7321"), "{m}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("didhub_http_requests_total{")
                && l.contains("method=\"OTHER\"")
                && l.contains("route=\"/healthz\"")),
        "{m}"
    );
    // Rows imported (the process's recorder is shared by every test: at least ours).
    let imported = app
        .metric("didhub_import_rows_total")
        .await
        .unwrap_or_else(|| panic!("no didhub_import_rows_total in {m}"));
    assert!(imported >= 2.0, "{imported}");
}
both_backends!(auth, auth_is_required);

async fn operators_story(app: &TestApp) {
    let op = app.operator("Upstream One").await;
    let (s, p) = app
        .post_json("/api/v1/operators", &json!({"name": "upstream one"}))
        .await;
    assert_eq!(s, 409, "names are unique case-insensitively: {p}");
    let (s, p) = app
        .post_json("/api/v1/operators", &json!({"name": "  "}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "name");
    // Rename with a stale version is refused.
    let r = app
        .patch(&format!("/api/v1/operators/{op}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "Upstream 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let r = app
        .patch(&format!("/api/v1/operators/{op}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "Other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    // Renamed to the name it has: nothing changes, no new version, no entry.
    let r = app
        .patch(&format!("/api/v1/operators/{op}"))
        .header("If-Match", "\"2\"")
        .json(&json!({"name": " Upstream 1 "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    // Delete refused while DIDs reference it.
    app.create(&op, &["+442079460001"]).await;
    let r = app
        .delete(&format!("/api/v1/operators/{op}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let (_, list) = app.get_json("/api/v1/operators").await;
    assert_eq!(list[0]["did_count"], 1);
    assert_eq!(list[0]["name"], "Upstream 1");
    let op2 = app.operator("Spare").await;
    assert_eq!(
        app.delete(&format!("/api/v1/operators/{op2}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/operators/{op2}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.get("/api/v1/operators/not-a-uuid")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let (_, audit) = app.get_json("/api/v1/audit?entity=operator").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "operator.delete",
            "operator.create",
            "operator.update",
            "operator.create"
        ]
    );
}
both_backends!(operators, operators_story);

async fn create_story(app: &TestApp) {
    let op = app.operator("op").await;
    let v = app
        .create(
            &op,
            &[
                "+442079460100-+442079460199",
                "+33 1 23 45 67 89",
                "+44 7400 123456",
            ],
        )
        .await;
    assert_eq!(v["created"], 102, "{v}");
    // National number without a country is refused and nothing is created.
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079460300", "07400 123457"]}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "numbers[1]");
    let (_, c) = app.get_json("/api/v1/dids/count").await;
    assert_eq!(c["count"], 102);
    // Every wrong field is reported at once, in order; still nothing is created.
    let long_tag = "t".repeat(500);
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["bad", "+442079460301", "worse"], "tag": long_tag}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tag", "numbers[0]", "numbers[2]"], "{p}");
    // Entries count against the request's size whether or not they are valid (the second
    // range is no real US number).
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079000000-+442079059999", "+12120000000-+12120059999"]}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert!(
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "numbers" && e["message"].as_str().unwrap().contains("100000")),
        "{p}"
    );
    // The bound is on the whole request: a full range and one number more is refused.
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079200000-+442079299999", "+442079300000"]}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "numbers", "{p}");
    let (_, c) = app.get_json("/api/v1/dids/count").await;
    assert_eq!(c["count"], 102);
    // With a default country it works, classified as a UK mobile.
    let (s, v) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "country": "GB",
        "numbers": ["07400 123457"], "status": "reserved", "tag": "vip"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let d = &v["items"][0];
    assert_eq!(d["number"], "+447400123457");
    assert_eq!(d["country"], "GB");
    assert_eq!(d["type"], "mobile");
    assert_eq!(d["status"], "reserved");
    assert_eq!(d["tag"], "vip");
    assert_eq!(d["version"], 1);
    // Already in the inventory: conflict, nothing created.
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079460500", "+442079460150"]}),
        )
        .await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("+442079460150"));
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 103);
    // Too many numbers, bad status, reversed range.
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442070000000-+442079999999"]}),
        )
        .await;
    assert_eq!(s, 422);
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("100000"),
        "{p}"
    );
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079460600"], "status": "assigned"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "status");
    let (s, _) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079460609-+442079460600"]}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079460600"], "status": "bogus"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let r = app
        .post("/api/v1/dids")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 103);
}
both_backends!(create, create_story);

/// The seed's short range form (`+442079460400-499`: the second end replaces the first's last
/// digits) creates what the long form does; a second end longer than the first, or one that
/// reads below the start, is refused by name and nothing is created.
async fn short_range_story(app: &TestApp) {
    let op = app.operator("op").await;
    let v = app
        .create(&op, &["+442079460400-499", "+44 20 7946 0500-0509"])
        .await;
    assert_eq!(v["created"], 110, "{v}");
    let (_, l) = app
        .get_json("/api/v1/dids?prefix=%2B44207946049&limit=20")
        .await;
    let numbers: Vec<&str> = l["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (490..500).map(|i| format!("+442079460{i}")).collect();
    assert_eq!(numbers, want);
    for (entry, says) in [
        ("+442079460600-+4420794606999", "more digits"),
        ("+442079460600-599", "read as +442079460599"),
    ] {
        let (s, p) = app
            .post_json(
                "/api/v1/dids",
                &json!({"operator_id": op, "numbers": ["+442079460700", entry]}),
            )
            .await;
        assert_eq!(s, 422, "{p}");
        assert_eq!(p["errors"][0]["field"], "numbers[1]", "{p}");
        let message = p["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{entry}: {message}");
    }
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 110);
}
both_backends!(short_range, short_range_story);

async fn idempotency_story(app: &TestApp) {
    for _ in 0..2 {
        let r = app
            .post("/api/v1/operators")
            .header("Idempotency-Key", "op-1")
            .json(&json!({"name": "Once"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    assert_eq!(
        app.get_json("/api/v1/operators")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let op = app.operator("op").await;
    let body = json!({"operator_id": op, "numbers": ["+442079460700-+442079460709"]});
    let send = |b: Value| {
        app.post("/api/v1/dids")
            .header("Idempotency-Key", "k-1")
            .json(&b)
            .send()
    };
    let r1 = send(body.clone()).await.unwrap();
    assert_eq!(r1.status(), 201);
    let v1: Value = r1.json().await.unwrap();
    let r2 = send(body.clone()).await.unwrap();
    assert_eq!(r2.status(), 201);
    assert_eq!(r2.headers()["idempotent-replayed"], "true");
    let v2: Value = r2.json().await.unwrap();
    assert_eq!(v1["batch_id"], v2["batch_id"]);
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 10);
    let r3 = send(json!({"operator_id": op, "numbers": ["+442079460800"]}))
        .await
        .unwrap();
    assert_eq!(r3.status(), 422);
    // An import with a key: the retry replays the report and imports nothing more.
    let upload = || {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"number\n+442079460900-+442079460904\n".to_vec())
                    .file_name("again.csv"),
            )
            .text("operator", "op");
        app.post("/api/v1/dids/import")
            .header("Idempotency-Key", "import-1")
            .multipart(form)
            .send()
    };
    let first = upload().await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["imported"], 5, "{first}");
    let again = upload().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["batch_id"], first["batch_id"]);
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 15);
    let (_, a) = app.get_json("/api/v1/audit?action=did.import").await;
    assert_eq!(a["items"].as_array().unwrap().len(), 1, "one import: {a}");
}
both_backends!(idempotency, idempotency_story);

async fn list_story(app: &TestApp) {
    let op = app.operator("op").await;
    let other = app.operator("other").await;
    app.create(&op, &["+442079460000-+442079460249"]).await;
    app.create(&other, &["+33123456700-+33123456749"]).await;
    let (s, v) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op,
        "numbers": ["+442079461000-+442079461009"], "tag": "blue", "notes": "Customer 50% discount",
        "status": "archive"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // Prefix, country, operator, status, tag, notes.
    let count = |q: &'static str| async move {
        app.get_json(&format!("/api/v1/dids/count?{q}")).await.1["count"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(count("prefix=%2B44207946").await, 260);
    assert_eq!(count("prefix=44207946001").await, 10);
    assert_eq!(count("country=FR").await, 50);
    assert_eq!(count("country=fr").await, 50);
    assert_eq!(
        count(Box::leak(format!("operator_id={other}").into_boxed_str())).await,
        50
    );
    assert_eq!(count("status=archive").await, 10);
    assert_eq!(count("tag=blue").await, 10);
    assert_eq!(count("notes=50%25").await, 10);
    assert_eq!(count("notes=discount&prefix=%2B33").await, 0);
    assert_eq!(count("type=fixed_line").await, 310);
    // Non-geographic numbers are recorded as XX, and can be filtered by it.
    let free = app.create(&other, &["+80012345678"]).await;
    assert_eq!(free["items"][0]["country"], "XX", "{free}");
    assert_eq!(count("country=XX").await, 1);
    assert_eq!(count("country=xx").await, 1);
    let id = free["items"][0]["id"].as_str().unwrap();
    let r = app
        .delete(&format!("/api/v1/dids/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, p) = app.get_json("/api/v1/dids/count?country=ZZ").await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "country");
    // Bad filters are named.
    let (s, p) = app.get_json("/api/v1/dids?prefix=abc").await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "prefix");
    let (s, p) = app.get_json("/api/v1/dids?status=gone").await;
    assert_eq!(s, 422, "{p}");
    let (s, p) = app.get_json("/api/v1/dids?sort=colour").await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "sort");
    let (s, _) = app.get_json("/api/v1/dids?cursor=zz").await;
    assert_eq!(s, 422);
    // Keyset pagination visits every row once, in order, for each sort.
    for (sort, order) in [
        ("number", "asc"),
        ("number", "desc"),
        ("created", "asc"),
        ("status", "desc"),
        ("country", "asc"),
        ("updated", "desc"),
    ] {
        let mut seen = Vec::new();
        let mut keys: Vec<(String, String)> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/dids?sort={sort}&order={order}&limit=37");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (s, page) = app.get_json(&path).await;
            assert_eq!(s, 200, "{page}");
            for d in page["items"].as_array().unwrap() {
                let field = |f: &str| d[f].as_str().unwrap().to_string();
                // The sort key, then the number that breaks its ties.
                let key = match sort {
                    "number" => String::new(),
                    "created" => field("id"),
                    "updated" => {
                        let t = chrono::DateTime::parse_from_rfc3339(&field("updated_at")).unwrap();
                        format!("{:020}", t.timestamp_nanos_opt().unwrap())
                    }
                    other => field(other),
                };
                keys.push((key, field("number")));
                seen.push(field("number"));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 310, "{sort} {order}");
        let mut uniq = seen.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 310, "{sort} {order}: no row twice");
        let mut sorted = keys.clone();
        sorted.sort();
        if order == "desc" {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{sort} {order}: in order across pages");
    }
}
both_backends!(list, list_story);

async fn prefix_uses_index(app: &TestApp) {
    let op = app.operator("op").await;
    app.create(&op, &["+442079400000-+442079419999"]).await;
    if let didhub_store::Backend::Postgres(p) = &app.store.backend {
        sqlx::query("ANALYZE dids").execute(p).await.unwrap();
    }
    // The plan of the very statement the list runs, first page and a later one.
    let f = didhub_store::DidFilter {
        prefix: Some("+4420794".into()),
        ..Default::default()
    };
    let first = app
        .get_json("/api/v1/dids?prefix=%2B4420794&limit=100")
        .await
        .1;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    for cursor in [None, Some(cursor.as_str())] {
        let plan = app
            .store
            .inventory()
            .explain_list_dids(&f, didhub_store::DidSort::Number, false, 100, cursor)
            .await
            .unwrap();
        assert!(
            plan.iter().any(|l| l.contains("dids_number_key")),
            "{plan:?}"
        );
        assert!(
            !plan
                .iter()
                .any(|l| l.contains("Seq Scan on dids") || l.starts_with("SCAN d")),
            "{plan:?}"
        );
    }
}
both_backends!(prefix_index, prefix_uses_index);

async fn edit_story(app: &TestApp) {
    let op = app.operator("op").await;
    let op2 = app.operator("op2").await;
    let v = app.create(&op, &["+442079460100-+442079460104"]).await;
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    // Single edit needs If-Match.
    let r = app
        .patch(&format!("/api/v1/dids/{id}"))
        .json(&json!({"tag": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 428);
    let r = app
        .patch(&format!("/api/v1/dids/{id}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"tag": "x", "status": "reserved", "reason": "held for ACME"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["tag"], "x");
    assert_eq!(d["status"], "reserved");
    // Stale version.
    let r = app
        .patch(&format!("/api/v1/dids/{id}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"tag": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:didhub:problem:version-mismatch");
    // Status set by workflows cannot be set by an edit.
    let r = app
        .patch(&format!("/api/v1/dids/{id}"))
        .header("If-Match", "2")
        .json(&json!({"status": "assigned"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Clearing the tag with null.
    let r = app
        .patch(&format!("/api/v1/dids/{id}"))
        .header("If-Match", "2")
        .json(&json!({"tag": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["tag"], Value::Null);
    // Bulk edit by filter.
    let (s, v) = app.post_json("/api/v1/dids/bulk-edit",
        &json!({"selection": {"filter": {"prefix": "+44207946010"}}, "patch": {"operator_id": op2,
        "after_hold": "archive", "notes": "moved"}, "reason": "migration"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["updated"], 5);
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["operator"] == "op2" && d["after_hold"] == "archive"));
    // Bulk edit by ids with a stale version fails as a whole.
    let items = v["items"].as_array().unwrap();
    let sel: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"id": d["id"], "version": if i == 0 {
        json!(1) } else { d["version"].clone() }})
        })
        .collect();
    let (s, _) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"ids": sel}, "patch": {"tag": "z"}}),
        )
        .await;
    assert_eq!(s, 412);
    assert_eq!(app.get_json("/api/v1/dids/count?tag=z").await.1["count"], 0);
    // History of the DID: create batch, edits with diffs and the reason.
    let (s, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["did.create", "did.status", "did.update", "did.update"]
    );
    assert_eq!(h[1]["changes"]["status"], json!(["in_stock", "reserved"]));
    assert_eq!(h[1]["changes"]["tag"], json!([null, "x"]));
    assert_eq!(h[1]["reason"], "held for ACME");
    assert_eq!(h[3]["changes"]["operator"], json!(["op", "op2"]));
    assert_eq!(h[3]["reason"], "migration");
    assert_eq!(h[0]["actor"], "user:admin@localhost (token test)");
}
both_backends!(edit, edit_story);

/// The API reads a status as the CLI and import cells do: `In Stock`, `in-stock`, `IN_STOCK`.
async fn status_spellings_story(app: &TestApp) {
    let op = app.operator("op").await;
    let (s, v) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079460200"], "status": "Reserved", "after_hold": "in-stock"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"filter": {"status": "RESERVED"}}, "patch": {"status": "In Stock"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["updated"], 1, "{v}");
    assert_eq!(
        v["items"][0]["status"], "in_stock",
        "written snake_case: {v}"
    );
    for q in ["In%20Stock", "in-stock", "IN_STOCK"] {
        let (s, v) = app
            .get_json(&format!("/api/v1/dids/count?status={q}"))
            .await;
        assert_eq!(s, 200, "{q}: {v}");
        assert_eq!(v["count"], 1, "{q}: {v}");
    }
    let (s, v) = app.get_json("/api/v1/dids/count?status=gone").await;
    assert_eq!(s, 422, "{v}");
    assert!(v.to_string().contains("gone"), "{v}");
}
both_backends!(status_spellings, status_spellings_story);

async fn concurrent_edit_story(app: &TestApp) {
    let op = app.operator("op").await;
    let v = app.create(&op, &["+442079460100"]).await;
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    // Many rounds: two clients edit with the same version; exactly one wins each round.
    for round in 0..10 {
        let (_, d) = app.get_json(&format!("/api/v1/dids/{id}")).await;
        let ver = d["version"].as_i64().unwrap();
        let a = app
            .patch(&format!("/api/v1/dids/{id}"))
            .header("If-Match", ver.to_string())
            .json(&json!({"notes": format!("a{round}")}))
            .send();
        let b = app
            .patch(&format!("/api/v1/dids/{id}"))
            .header("If-Match", ver.to_string())
            .json(&json!({"notes": format!("b{round}")}))
            .send();
        let (a, b) = tokio::join!(a, b);
        let mut codes = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        codes.sort();
        assert_eq!(codes, [200, 412], "round {round}");
        let (_, d) = app.get_json(&format!("/api/v1/dids/{id}")).await;
        assert_eq!(d["version"].as_i64().unwrap(), ver + 1);
    }
    let (_, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
    assert_eq!(
        h.as_array().unwrap().len(),
        11,
        "one create + one entry per winning edit"
    );
}
both_backends!(concurrent_edit, concurrent_edit_story);

async fn delete_story(app: &TestApp) {
    let op = app.operator("op").await;
    let v = app.create(&op, &["+442079460100-+442079460103"]).await;
    let ids: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    // Put one DID into use the way the assignment workflow will.
    let assigned = uuid::Uuid::parse_str(&ids[1]).unwrap();
    common::assign(&app.store, assigned).await;
    let r = app
        .delete(&format!("/api/v1/dids/{}", ids[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("assigned"), "{p}");
    // Bulk delete including it is refused for all.
    let (s, _) = app
        .post_json(
            "/api/v1/dids/bulk-delete",
            &json!({"selection": {"ids": [{"id": ids[0]}, {"id": ids[1]}]}}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 4);
    // A DID being ported is refused the same way.
    let porting = app.create(&op, &["+442079460104"]).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let porting_id = uuid::Uuid::parse_str(&porting).unwrap();
    didhub_store::on!(app.store, |p| sqlx::query(
        "UPDATE dids SET status = 'porting' WHERE id = $1"
    )
    .bind(porting_id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    let r = app
        .delete(&format!("/api/v1/dids/{porting}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("a DID being ported"),
        "{p}"
    );
    let (s, _) = app
        .post_json(
            "/api/v1/dids/bulk-delete",
            &json!({"selection": {"ids": [{"id": ids[0]}, {"id": porting}]}}),
        )
        .await;
    assert_eq!(s, 409);
    // A delete that names a version the DID no longer has changes nothing: 412.
    let r = app
        .delete(&format!("/api/v1/dids/{}", ids[0]))
        .header("If-Match", "\"99\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let (s, p) = app
        .post_json(
            "/api/v1/dids/bulk-delete",
            &json!({"selection": {"ids": [{"id": ids[2], "version": 1}, {"id": ids[3], "version": 99}]}}),
        )
        .await;
    assert_eq!(s, 412, "{p}");
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 5);
    let r = app
        .delete(&format!("/api/v1/dids/{}?reason=returned", ids[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, v) = app
        .post_json(
            "/api/v1/dids/bulk-delete",
            &json!({"selection": {"ids": [{"id": ids[2]}, {"id": ids[3]}]}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["deleted"], 2);
    assert_eq!(
        app.get(&format!("/api/v1/dids/{}", ids[0]))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let (_, a) = app
        .get_json("/api/v1/audit?action=did.delete&subject=%2B442079460100")
        .await;
    assert_eq!(a["items"][0]["reason"], "returned");
    assert_eq!(a["items"][0]["changes"]["number"], "+442079460100");
    // A deleted DID keeps its history, by its id and by its number.
    let (s, h) = app
        .get_json(&format!("/api/v1/dids/{}/history", ids[0]))
        .await;
    assert_eq!(s, 200, "{h}");
    let actions: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["did.create", "did.delete"], "{h}");
    let by_number = app
        .store
        .audit()
        .number_history("+442079460100")
        .await
        .unwrap();
    assert_eq!(by_number.len(), 2);
    assert_eq!(by_number[1].reason.as_deref(), Some("returned"));
    let (s, _) = app
        .get_json(&format!("/api/v1/dids/{}/history", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(s, 404, "an id no entry names");
    let (s, _) = app.get_json(&format!("/api/v1/dids/{op}/history")).await;
    assert_eq!(s, 404, "an operator's id is no DID's");
    // Created again: its history holds both lives, each with the create that began it.
    let again = app.create(&op, &["+442079460100"]).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&again, &ids[0]] {
        let (_, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
        let actions: Vec<&str> = h
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["did.create", "did.delete", "did.create"], "{h}");
    }
    // The audit log is append-only at the database level: its own triggers refuse the
    // statements, and every entry is still there as it was.
    let count = || async {
        let n: i64 = didhub_store::on!(app.store, |p| sqlx::query_scalar(
            "SELECT count(*) FROM audit_log"
        )
        .fetch_one(p)
        .await)
        .unwrap();
        let actors: i64 = didhub_store::on!(app.store, |p| sqlx::query_scalar(
            "SELECT count(*) FROM audit_log WHERE actor = 'x'"
        )
        .fetch_one(p)
        .await)
        .unwrap();
        (n, actors)
    };
    let before = count().await;
    assert!(before.0 > 0);
    let refused = |r: Result<(), sqlx::Error>, what: &str| {
        let e = r.expect_err(what).to_string();
        assert!(e.contains("append-only"), "{what}: {e}");
    };
    refused(
        didhub_store::on!(app.store, |p| sqlx::query(
            "UPDATE audit_log SET actor = 'x'"
        )
        .execute(p)
        .await
        .map(|_| ())),
        "UPDATE",
    );
    refused(
        didhub_store::on!(app.store, |p| sqlx::query("DELETE FROM audit_log")
            .execute(p)
            .await
            .map(|_| ())),
        "DELETE",
    );
    if let didhub_store::Backend::Postgres(p) = &app.store.backend {
        // TRUNCATE fires no row trigger; its own refuses it.
        refused(
            sqlx::query("TRUNCATE audit_log")
                .execute(p)
                .await
                .map(|_| ()),
            "TRUNCATE",
        );
    }
    assert_eq!(count().await, before, "the entries are all still there");
}
both_backends!(delete, delete_story);

/// The global audit log filters by actor, entity id and time window, and pages.
async fn audit_filters_story(app: &TestApp) {
    let op = app.operator("Audit Op").await;
    let before = chrono::Utc::now() - chrono::Duration::milliseconds(5);
    let v = app.create(&op, &["+442079460700", "+442079460701"]).await;
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.create(&op, &["+442079460702"]).await;
    let ts =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let items = |v: &Value| v["items"].as_array().unwrap().clone();
    // By entity id: the operator's entries only (a DID's own history is /dids/{id}/history).
    let (s, a) = app.get_json(&format!("/api/v1/audit?entity_id={op}")).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(items(&a).len(), 1, "{a}");
    assert_eq!(items(&a)[0]["action"], "operator.create");
    let (_, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
    assert_eq!(h[0]["action"], "did.create", "{h}");
    // By time: the window before `between` holds the first create (two DIDs, one batch
    // entry), the one after it the second.
    let (s, a) = app
        .get_json(&format!(
            "/api/v1/audit?action=did.create&since={}&until={}",
            ts(before),
            ts(between)
        ))
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(items(&a).len(), 1, "{a}");
    assert_eq!(items(&a)[0]["changes"]["count"], 2, "{a}");
    assert_eq!(items(&a)[0]["changes"]["first"], "+442079460700", "{a}");
    let (_, a) = app
        .get_json(&format!(
            "/api/v1/audit?action=did.create&since={}",
            ts(between)
        ))
        .await;
    assert_eq!(items(&a).len(), 1, "{a}");
    assert_eq!(items(&a)[0]["subject"], "+442079460702");
    // By actor: everything here was done with the test token; nobody else did anything.
    let actor = items(&a)[0]["actor"].as_str().unwrap().to_string();
    let (_, mine) = app
        .get_json(&format!("/api/v1/audit?actor={}", urlencode(&actor)))
        .await;
    assert_eq!(items(&mine).len(), 3, "an operator and two creates: {mine}");
    assert!(items(&mine).iter().all(|e| e["actor"] == actor.as_str()));
    let (_, none) = app.get_json("/api/v1/audit?actor=user:nobody").await;
    assert!(items(&none).is_empty(), "{none}");
    // Pages: limit and cursor walk the same entries without repeats.
    let (s, p1) = app
        .get_json(&format!(
            "/api/v1/audit?actor={}&limit=2",
            urlencode(&actor)
        ))
        .await;
    assert_eq!(s, 200, "{p1}");
    assert_eq!(items(&p1).len(), 2);
    let cursor = p1["next_cursor"].as_str().expect("a next page");
    let (_, p2) = app
        .get_json(&format!(
            "/api/v1/audit?actor={}&limit=2&cursor={}",
            urlencode(&actor),
            urlencode(cursor)
        ))
        .await;
    assert_eq!(items(&p2).len(), 1, "{p2}");
    assert!(p2["next_cursor"].is_null(), "{p2}");
    assert!(items(&p1).iter().all(|e| e["id"] != items(&p2)[0]["id"]));
    // A time that is not one: the parameter is named.
    let (s, p) = app.get_json("/api/v1/audit?since=yesterday").await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "since", "{p}");
}
both_backends!(audit_filters, audit_filters_story);

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A request body or query string that does not fit names the field, changes nothing.
async fn field_errors_story(app: &TestApp) {
    let op = app.operator("Fields").await;
    let cases = [
        (
            json!({"operator_id": op, "numbers": ["+442079460100"], "status": "lost"}),
            "status",
            "unknown value 'lost'; expected one of in_stock",
        ),
        (
            json!({"operator_id": op, "numbers": "+442079460100"}),
            "numbers",
            "invalid type",
        ),
        (
            json!({"operator_id": op, "numbers": [7]}),
            "numbers[0]",
            "invalid type",
        ),
        (
            json!({"numbers": ["+442079460100"]}),
            "operator_id",
            "missing field",
        ),
        (
            json!({"operator_id": "not-a-uuid", "numbers": ["+442079460100"]}),
            "operator_id",
            "UUID",
        ),
    ];
    for (body, field, says) in cases {
        let (s, p) = app.post_json("/api/v1/dids", &body).await;
        assert_eq!(s, 422, "{body} → {p}");
        assert_eq!(p["errors"][0]["field"], field, "{body} → {p}");
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains(says),
            "{p}"
        );
    }
    // Not JSON at all, or cut short: 400, no field to name.
    for raw in ["{\"operator_id\": ", "numbers=1"] {
        let r = app
            .post("/api/v1/dids")
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{raw}");
    }
    let r = app.post("/api/v1/dids").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 400, "no content type");
    // Query strings name the parameter.
    let (s, p) = app.get_json("/api/v1/dids?status=lost").await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "status", "{p}");
    let (s, p) = app.get_json("/api/v1/dids?limit=many").await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "limit", "{p}");
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 0);
}
both_backends!(field_errors, field_errors_story);

/// An operator deleted while an import naming it runs: whichever commits first wins, and the
/// other is refused with a clear error (never a 5xx). The import is all or nothing, and no DID
/// is left naming an operator that is gone.
async fn operator_delete_races_import_story(app: &TestApp) {
    const N: i64 = 10_000;
    let mut outcomes = Vec::new();
    for (i, delay_ms) in [0u64, 2, 10, 40, 150, 400, 2500].into_iter().enumerate() {
        let name = format!("Race {i}");
        let op = app.operator(&name).await;
        let first = 442071000000 + i as i64 * 100_000;
        let csv = format!("number\n+{first}-+{}\n", first + N - 1);
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("race.csv"),
            )
            .text("operator", name.clone());
        let import = app.post("/api/v1/dids/import").multipart(form).send();
        let delete = async {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            app.delete(&format!("/api/v1/operators/{op}")).send().await
        };
        let (imp, del) = tokio::join!(import, delete);
        let (imp, del) = (imp.unwrap(), del.unwrap());
        let (imp_status, del_status) = (imp.status().as_u16(), del.status().as_u16());
        let imp_body: Value = imp.json().await.unwrap_or(Value::Null);
        let del_body: Value = del.json().await.unwrap_or(Value::Null);
        let prefix = format!("/api/v1/dids/count?prefix=%2B{}", first / 100_000);
        let count = app.get_json(&prefix).await.1["count"].as_i64().unwrap();
        let (_, ops) = app.get_json("/api/v1/operators").await;
        let alive: Vec<&Value> = ops
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["name"] == name.as_str())
            .collect();
        match (imp_status, del_status) {
            // The import held the operator first: the delete waited and saw its DIDs.
            (200, 409) => {
                assert_eq!(count, N, "{imp_body}");
                assert_eq!(alive.len(), 1);
                assert_eq!(alive[0]["id"], op.as_str());
                let detail = del_body["detail"].as_str().unwrap_or_default();
                assert!(
                    detail.contains(&name) && detail.contains("DID"),
                    "{del_body}"
                );
            }
            // The delete went first and the import made the operator again (it names it).
            (200, 204) => {
                assert_eq!(count, N, "{imp_body}");
                assert_eq!(alive.len(), 1);
                assert_ne!(alive[0]["id"], op.as_str(), "a new operator of that name");
                assert_eq!(imp_body["operators_created"], json!([name]), "{imp_body}");
            }
            // The delete went first after the import had looked the operator up: refused,
            // nothing written.
            (422, 204) => {
                assert_eq!(count, 0, "{imp_body}");
                assert!(alive.is_empty());
                assert!(
                    imp_body.to_string().contains("does not exist"),
                    "{imp_body}"
                );
            }
            other => panic!("import {other:?}: {imp_body} / delete: {del_body}"),
        }
        outcomes.push((imp_status, del_status));
    }
    eprintln!("{:?} outcomes (import, delete): {outcomes:?}", app.db);
    // Whatever the interleaving, no DID names a missing operator.
    let orphans: i64 = didhub_store::on!(app.store, |p| sqlx::query_scalar(
        "SELECT count(*) FROM dids d LEFT JOIN operators o ON o.id = d.operator_id WHERE o.id IS NULL"
    ).fetch_one(p).await).unwrap();
    assert_eq!(orphans, 0, "{outcomes:?}");
}
both_backends!(
    operator_delete_races_import,
    operator_delete_races_import_story
);

async fn import_export_story(app: &TestApp) {
    let csv = "DID;Operator;Status;Tag\n+442079460100-+442079460109;Carrier \
        A;reserved;t1\n+33 1 23 45 67 89;;;\nbogus;;;\n+442079460105;;;\n";
    let form = || {
        reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("dids.csv"),
            )
            .text("operator", "Default Op")
    };
    // Strict: refused, nothing changed, every bad row named.
    let r = app
        .post("/api/v1/dids/import")
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["imported"], 0);
    let rows: Vec<i64> = rep["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, [4, 5], "{rep}");
    assert_eq!(rep["duplicates"], 1);
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 0);
    assert_eq!(
        app.get_json("/api/v1/operators")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        0,
        "operators of a refused import are not kept"
    );
    // Dry run with skip: reports, changes nothing.
    let r = app
        .post("/api/v1/dids/import")
        .multipart(form().text("skip_invalid", "true").text("dry_run", "true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["valid"], 11);
    assert_eq!(rep["imported"], 0);
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 0);
    // Skip invalid: imports the good rows and creates the operators.
    let r = app
        .post("/api/v1/dids/import")
        .multipart(form().text("skip_invalid", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["imported"], 11, "{rep}");
    let mut created: Vec<&str> = rep["operators_created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    created.sort();
    assert_eq!(created, ["Carrier A", "Default Op"]);
    let (_, d) = app.get_json("/api/v1/dids?prefix=%2B33").await;
    assert_eq!(d["items"][0]["operator"], "Default Op");
    assert_eq!(d["items"][0]["status"], "in_stock");
    // One audit entry for the import; each DID's history shows it.
    let (_, a) = app.get_json("/api/v1/audit?action=did.import").await;
    assert_eq!(a["items"].as_array().unwrap().len(), 1);
    assert_eq!(a["items"][0]["changes"]["imported"], 11);
    let id = d["items"][0]["id"].as_str().unwrap();
    let (_, h) = app.get_json(&format!("/api/v1/dids/{id}/history")).await;
    assert_eq!(h[0]["action"], "did.import");
    assert_eq!(h[0]["id"], rep["batch_id"]);
    // Export with a filter.
    let r = app
        .get("/api/v1/dids/export?prefix=%2B4420794601&status=reserved")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "number,country,type,operator,status,after_hold,tag,notes,created_at,updated_at"
    );
    assert_eq!(lines.len(), 11);
    assert!(lines[1].starts_with("+442079460100,GB,fixed_line,Carrier A,reserved,in_stock,t1,,"));
    let (s, _) = app.get_json("/api/v1/dids/export?country=ZZ").await;
    assert_eq!(s, 422);
    // Missing file.
    let r = app
        .post("/api/v1/dids/import")
        .multipart(reqwest::multipart::Form::new().text("operator", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "file");
}
both_backends!(import_export, import_export_story);

/// `serve` hands connections to its HTTP threads: more connections than threads, each
/// answering, then a clean stop when the shutdown future resolves.
async fn http_threads_story(app: &TestApp) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(didhub_server::serve(
        listener,
        app.state.clone(),
        3,
        async move {
            let _ = stopped.await;
        },
    ));
    // Seven clients: seven connections, spread over three threads, each used twice.
    let clients: Vec<reqwest::Client> = (0..7).map(|_| reqwest::Client::new()).collect();
    for round in 0..2 {
        let answers = futures::future::join_all(clients.iter().map(|c| {
            c.get(format!("http://{addr}/api/v1/dids?limit=1"))
                .bearer_auth(&app.token)
                .send()
        }))
        .await;
        for r in answers {
            assert_eq!(r.unwrap().status(), 200, "round {round}");
        }
    }
    let _ = stop.send(());
    drop(clients);
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("serve stops after its shutdown future resolves");
    assert!(matches!(r, Ok(Ok(()))), "serve ended with {r:?}");
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err(),
        "nothing listens after the stop"
    );
    // The pool opens every connection when asked (PostgreSQL; SQLite has nothing to open).
    // (Counted while held: once released, a loaded host may close some again.)
    let held = app.store.warm_up().await.unwrap();
    if app.db == common::Db::Postgres {
        assert_eq!(held, 8, "warm_up opens the whole pool");
    } else {
        assert_eq!(held, 0, "SQLite has nothing to open");
    }
}
both_backends!(http_threads, http_threads_story);

/// Bulk edit by ids past PostgreSQL's 65,535 bind parameters: the id list is one parameter,
/// so 70,000 ids are edited at once, and one stale version among them refuses them all.
async fn bulk_edit_many_ids_story(app: &TestApp) {
    const N: usize = 70_000;
    let op = app.operator("Many").await;
    for (first, last) in [
        ("+442071000000", "+442071049999"),
        ("+442071050000", "+442071069999"),
    ] {
        let (s, v) = app
            .post_json(
                "/api/v1/dids",
                &json!({"operator_id": op, "numbers": [format!("{first}-{last}")]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let mut sel = Vec::with_capacity(N);
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/dids?prefix=%2B4420710&limit=1000".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (s, page) = app.get_json(&path).await;
        assert_eq!(s, 200, "{page}");
        for d in page["items"].as_array().unwrap() {
            sel.push(json!({"id": d["id"], "version": d["version"]}));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(sel.len(), N);
    // One stale version among 70,000: nothing changes.
    let mut stale = sel.clone();
    stale[N - 1]["version"] = json!(99);
    let (s, _) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"ids": stale}, "patch": {"tag": "many"}}),
        )
        .await;
    assert_eq!(s, 412);
    assert_eq!(
        app.get_json("/api/v1/dids/count?tag=many").await.1["count"],
        0
    );
    let (s, v) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"ids": sel}, "patch": {"tag": "many"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        app.get_json("/api/v1/dids/count?tag=many").await.1["count"],
        N
    );
}
both_backends!(
    #[ignore = "heavy tier: cargo test -- --ignored"]
    bulk_edit_many_ids,
    bulk_edit_many_ids_story
);

/// Input meant to hurt: selections that would silently widen to the whole inventory, NUL
/// bytes, hostile filter text, import defaults written loosely, ranges of many dashes, and a
/// file of wide ranges. Each is a clear 422 (or the right reading), and nothing changes.
async fn hostile_input_story(app: &TestApp) {
    let op = app.operator("Acme").await;
    app.create(&op, &["+442079460100-+442079460104"]).await;
    let count = || async { app.get_json("/api/v1/dids/count").await.1["count"].clone() };
    // A filter with a misspelt key, no key, or blank values would select every DID.
    for (selection, field) in [
        (json!({"filter": {"operater": "Acme"}}), "selection.filter"),
        (json!({"filter": {}}), "selection.filter"),
        (
            json!({"filter": {"tag": "  ", "prefix": ""}}),
            "selection.filter",
        ),
        (
            json!({"ids": [{"id": uuid::Uuid::nil(), "versoin": 1}]}),
            "selection.ids[0]",
        ),
    ] {
        for path in ["/api/v1/dids/bulk-delete", "/api/v1/dids/bulk-edit"] {
            let body = json!({"selection": selection, "patch": {"status": "archive"}});
            let mut body = body;
            if path.ends_with("delete") {
                body.as_object_mut().unwrap().remove("patch");
            }
            let (s, p) = app.post_json(path, &body).await;
            assert_eq!(s, 422, "{path} {selection}: {p}");
            let named = p["errors"][0]["field"].as_str().unwrap_or_default();
            assert!(named.starts_with(field), "{path} {selection}: {p}");
        }
    }
    assert_eq!(count().await, 5);
    let (_, d) = app.get_json("/api/v1/dids?status=archive").await;
    assert_eq!(
        d["items"].as_array().unwrap().len(),
        0,
        "nothing was edited"
    );

    // NUL bytes: refused by name, before PostgreSQL could call them a server error.
    for (path, field) in [
        ("/api/v1/dids?tag=%00", "tag"),
        ("/api/v1/dids?notes=a%00b", "notes"),
        ("/api/v1/dids/export?tag=%00", "tag"),
        ("/api/v1/audit?actor=%00", "actor"),
        ("/api/v1/audit?subject=x%00", "subject"),
    ] {
        let (s, p) = app.get_json(path).await;
        assert_eq!(s, 422, "{path}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{path}: {p}");
    }
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": ["+442079460200"], "reason": "a\u{0}b"}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "reason", "{p}");
    let (s, p) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": "all", "patch": {"tag": "x"}, "reason": "r".repeat(2001)}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "reason", "{p}");
    assert_eq!(count().await, 5);
    let (_, d) = app.get_json("/api/v1/dids?tag=x").await;
    assert_eq!(
        d["items"].as_array().unwrap().len(),
        0,
        "nothing was edited"
    );

    // A tag that would close a quoted literal: the export still reads it as text.
    let hostile = "x\\'); DELETE FROM dids; --";
    let (s, p) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"filter": {"prefix": "+44207946010"}}, "patch": {"tag": hostile}}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    let r = app
        .get("/api/v1/dids/export")
        .query(&[("tag", hostile)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert_eq!(count().await, 5);

    // Said in so many words, "all" selects every DID.
    let (s, p) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": "all", "patch": {"tag": "everything"}}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    let (_, d) = app.get_json("/api/v1/dids?tag=everything").await;
    assert_eq!(d["items"].as_array().unwrap().len(), 5);

    // An entry of many dashes is read in one pass and refused as what it is.
    let entry = format!("+1{}", "-1".repeat(200_000));
    let (s, p) = app
        .post_json(
            "/api/v1/dids",
            &json!({"operator_id": op, "numbers": [entry]}),
        )
        .await;
    assert_eq!(s, 422, "{p}");

    // Import defaults are read as cells are: " Acme " is the operator Acme, a blank tag none.
    let import = |csv: &'static str, operator: &'static str, skip: bool| {
        let mut form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("f.csv"),
            )
            .text("operator", operator)
            .text("tag", "   ");
        if skip {
            form = form.text("skip_invalid", "true");
        }
        app.post("/api/v1/dids/import").multipart(form).send()
    };
    let r = import("number\n+442079460300\n", "  Acme ", false)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["imported"], 1, "{rep}");
    assert_eq!(rep["operators_created"], json!([]), "{rep}");
    let (_, d) = app.get_json("/api/v1/dids?prefix=%2B442079460300").await;
    assert_eq!(d["items"][0]["operator"], "Acme");
    assert_eq!(d["items"][0]["tag"], Value::Null);
    let (_, ops) = app.get_json("/api/v1/operators").await;
    assert_eq!(ops.as_array().unwrap().len(), 1, "{ops}");
    // Every row already in stock: nothing imported, and the operator the file names is not
    // reported as made (the import rolled back).
    let r = import("number,operator\n+442079460300,Newco\n", "Acme", true)
        .await
        .unwrap();
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["imported"], 0, "{rep}");
    assert_eq!(rep["duplicates"], 1, "{rep}");
    assert_eq!(rep["operators_created"], json!([]), "{rep}");
    let (_, ops) = app.get_json("/api/v1/operators").await;
    assert_eq!(ops.as_array().unwrap().len(), 1, "{ops}");
    let r = import("number\n+442079460301\n", "\u{7}Bell", false)
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "operator", "{p}");

    // Cursors: one made for another sort or order is refused, not read as a wrong position;
    // a forged one is refused whatever it holds.
    let (_, page) = app.get_json("/api/v1/dids?sort=country&limit=2").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (s, _) = app
        .get_json(&format!(
            "/api/v1/dids?sort=country&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(s, 200);
    for other in ["sort=number", "sort=status", "sort=country&order=desc"] {
        let (s, p) = app
            .get_json(&format!("/api/v1/dids?{other}&cursor={cursor}"))
            .await;
        assert_eq!(s, 422, "{other}: {p}");
        assert_eq!(p["errors"][0]["field"], "cursor", "{other}: {p}");
    }
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for forged in [
        "[\"number\",\"ASC\",\"\0\"]",
        "[\"status\",\"ASC\",\"\0\",\"+1\"]",
        "[\"status\",\"ASC\",\"in_stock\",\"+1\0\"]",
        "[\"country\",\"ASC\",\"Z\0\",\"+1\"]",
        r#"["updated","ASC","yesterday","+1"]"#,
        r#"["created","ASC",7]"#,
        r#"["number","ASC","GB"]"#,
        r#"["number","ASC","+12345678901234567"]"#,
        r#"["status","ASC","assigned!","+1"]"#,
        r#"["created","ASC","not-a-uuid"]"#,
        "[\"\0\"]",
        "{}",
    ] {
        let sort = forged
            .split('"')
            .nth(1)
            .filter(|s| ["number", "status", "country", "updated", "created"].contains(s))
            .unwrap_or("number");
        let (s, p) = app
            .get_json(&format!("/api/v1/dids?sort={sort}&cursor={}", hex(forged)))
            .await;
        assert_eq!(s, 422, "{forged}: {p}");
        assert_eq!(p["errors"][0]["field"], "cursor", "{forged}: {p}");
    }

    // A small file of wide ranges: refused as a whole past the import's bound.
    let csv = "number\n+442079000000-+442079009999\n+442079010000-+442079019999\n+442079020000-+442079029999\n";
    let opts = |dry_run| didhub_store::inventory::import::ImportOptions {
        defaults: didhub_core::import::Defaults {
            operator: Some("Acme".into()),
            ..Default::default()
        },
        skip_invalid: true,
        dry_run,
        file_name: "wide.csv".into(),
        reason: None,
        max_numbers: 25_000,
        rejects_csv: None,
        rejects_csv_limit: None,
    };
    let actor = didhub_store::Actor("test".into());
    let e = app
        .state
        .store
        .inventory()
        .import_dids(&actor, csv.as_bytes().to_vec(), opts(false), None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("row 4") && e.to_string().contains("25000"),
        "{e}"
    );
    assert_eq!(count().await, 6);
    let rep = app
        .state
        .store
        .inventory()
        .import_dids(
            &actor,
            csv.lines()
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            opts(true),
            None,
        )
        .await
        .unwrap();
    assert_eq!(rep.valid, 20_000, "two ranges are within the bound");
}
both_backends!(hostile_input, hostile_input_story);

/// Bulk edits by filter name no version: one that finds a DID changed between its read and
/// its write runs again on the new state, rather than failing with a precondition the
/// client never set. Edits by ids with versions still get 412 (see `concurrency`).
async fn concurrent_filter_edits_story(app: &TestApp) {
    let op = app.operator("Race Op").await;
    app.create(&op, &["+442079461000-+442079461049"]).await;
    let edits = (0..4).map(|i| {
        app.post("/api/v1/dids/bulk-edit")
            .json(&json!({
                "selection": {"filter": {"prefix": "+4420794610"}},
                "patch": {"tag": format!("t{i}")},
            }))
            .send()
    });
    for r in futures::future::join_all(edits).await {
        let r = r.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    // One tag won everywhere: the last edit applied to all 50 DIDs.
    let (_, d) = app
        .get_json("/api/v1/dids?prefix=%2B4420794610&limit=100")
        .await;
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert!(items.iter().all(|i| i["tag"] == items[0]["tag"]), "{d}");
    let (_, a) = app
        .get_json("/api/v1/audit?action=did.update&limit=1000")
        .await;
    assert_eq!(
        a["items"].as_array().unwrap().len(),
        4 * 50,
        "each of the four edits is audited once per DID"
    );
}
both_backends!(concurrent_filter_edits, concurrent_filter_edits_story);

/// The race of the story above, forced (PostgreSQL): another writer changes one of the DIDs
/// after the edit by filter has read it and before its write. The edit waits for the row, finds
/// its version gone, runs again on the new state and answers 200; neither change is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filter_edit_reruns_on_a_race_postgres() {
    let Some(app) = common::spawn_app(common::Db::Postgres).await else {
        eprintln!("{} not set: PostgreSQL run skipped", common::PG_ENV);
        return;
    };
    let op = app.operator("Raced Op").await;
    app.create(&op, &["+442079466000-+442079466002"]).await;
    let other = app.another_store().await;
    let didhub_store::Backend::Postgres(pool) = &other.backend else {
        panic!("a PostgreSQL app has a PostgreSQL store");
    };
    let mut tx = pool.begin().await.unwrap();
    let holder = common::backend_pid(&mut tx).await;
    sqlx::query("UPDATE dids SET notes = 'changed meanwhile', version = version + 1 WHERE number = '+442079466001'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let edit = app
        .post("/api/v1/dids/bulk-edit")
        .json(&json!({
            "selection": {"filter": {"prefix": "+44207946600"}},
            "patch": {"tag": "after"},
        }))
        .send();
    let commit = async {
        common::someone_waits_for(pool, holder).await;
        tx.commit().await.unwrap();
    };
    let (r, ()) = tokio::join!(edit, commit);
    let r = r.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["updated"], 3, "{v}");
    let (_, d) = app
        .get_json("/api/v1/dids?prefix=%2B44207946600&limit=10")
        .await;
    for d in d["items"].as_array().unwrap() {
        assert_eq!(d["tag"], "after", "{d}");
    }
    let raced = &d["items"][1];
    assert_eq!(raced["number"], "+442079466001");
    assert_eq!(
        raced["notes"], "changed meanwhile",
        "no lost update: {raced}"
    );
    assert_eq!(raced["version"], 3, "created, changed, edited: {raced}");
    // The first attempt rolled back: one entry per DID.
    let (_, a) = app
        .get_json("/api/v1/audit?action=did.update&limit=100")
        .await;
    assert_eq!(a["items"].as_array().unwrap().len(), 3, "{a}");
    other.close().await;
    app.stop().await;
}

/// Input a request does not know is refused, naming it, rather than ignored: a misspelt filter
/// must not widen a list, a count or an export to the whole inventory; an unknown import field
/// must not change how the file is imported. A DELETE's reason may come in a JSON body; bulk
/// selections may name DIDs by bare id.
async fn strict_input_story(app: &TestApp) {
    let op = app.operator("Strict Op").await;
    let v = app
        .create(&op, &["+442079464000-+442079464003", "+12015550100"])
        .await;
    let id_of = |number: &str| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["number"] == number)
            .map(|d| d["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let ids: Vec<String> = (0..4).map(|i| id_of(&format!("+44207946400{i}"))).collect();
    for path in [
        "/api/v1/dids?operater=Strict%20Op",
        "/api/v1/dids/count?stauts=reserved",
        "/api/v1/dids/export?operater=Strict%20Op",
        "/api/v1/audit?entity_ids=x",
    ] {
        let (s, p) = app.get_json(path).await;
        assert_eq!(s, 422, "{path}: {p}");
        let field = p["errors"][0]["field"].as_str().unwrap();
        assert!(
            ["operater", "stauts", "entity_ids"].contains(&field),
            "{path}: {p}"
        );
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("not a parameter"),
            "{path}: {p}"
        );
    }
    // The operator by name, as the CLI's `--operator` (case-insensitive); a name no operator
    // has is an error naming it, not an empty list.
    let (s, p) = app.get_json("/api/v1/dids?operator=strict%20op").await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["items"].as_array().map(Vec::len), Some(5), "{p}");
    let (s, csv) = app
        .get_text("/api/v1/dids/export?operator=Strict%20Op")
        .await;
    assert_eq!((s, csv.lines().count()), (200, 6), "{csv}");
    for path in [
        "/api/v1/dids?operator=No%20Such%20Op",
        "/api/v1/dids/count?operator=No%20Such%20Op",
        "/api/v1/dids/export?operator=No%20Such%20Op",
    ] {
        let (s, p) = app.get_json(path).await;
        assert_eq!(
            (s, p["errors"][0]["field"].as_str()),
            (422, Some("operator")),
            "{p}"
        );
        assert!(
            p["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("No Such Op"),
            "{p}"
        );
    }
    // A route that takes no query parameters refuses a query string rather than ignore it.
    let (s, p) = app.get_json("/api/v1/operators?name=Strict%20Op").await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "name", "{p}");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("takes no query parameters"),
        "{p}"
    );
    // Values are explained as a user reads them, not as a parser failed.
    let (s, p) = app.get_json("/api/v1/dids?limit=abc").await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "limit", "{p}");
    assert_eq!(
        p["errors"][0]["message"], "expected a whole number (digits only)",
        "{p}"
    );
    let (s, p) = app.get_json("/api/v1/dids?status=bogus").await;
    assert_eq!(s, 422);
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown value 'bogus'; expected"),
        "{p}"
    );
    let (s, p) = app.get_json("/api/v1/dids/not-an-id").await;
    assert_eq!(s, 404, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/dids/not-an-id (an id in it is not valid) not found"),
        "{p}"
    );
    let (s, p) = app.get_json("/api/v1/dids?limit=-1").await;
    assert_eq!(s, 422);
    assert_eq!(
        p["errors"][0]["message"], "expected a whole number (digits only)",
        "{p}"
    );
    // A '+' in a query string is a space: the hint says so.
    let (s, p) = app
        .get_json("/api/v1/audit?since=2026-11-29T10:00:00+01:00")
        .await;
    assert_eq!(s, 422);
    assert_eq!(p["errors"][0]["field"], "since", "{p}");
    assert!(
        p["errors"][0]["message"].as_str().unwrap().contains("%2B"),
        "{p}"
    );
    // A PATCH naming nothing to change is refused on its body.
    let r = app
        .patch(&format!("/api/v1/dids/{}", ids[0]))
        .header("If-Match", "\"1\"")
        .json(&json!({"reason": "nothing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "body", "{p}");

    // An unknown import field is refused before anything is imported.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"number\n+442079464100\n".to_vec()).file_name("s.csv"),
        )
        .text("operator", "Strict Op")
        .text("skipinvalid", "true");
    let r = app
        .post("/api/v1/dids/import")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "skipinvalid", "{p}");
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 5);

    // A bulk edit by bare ids (no versions).
    let (s, v) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"ids": [ids[0], ids[1]]}, "patch": {"tag": "bare"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["updated"], 2, "{v}");
    let (s, p) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"ids": ["nope"]}, "patch": {"tag": "bare"}}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("'nope' is not a DID id"),
        "{p}"
    );

    // An edit that names nothing to change is refused, not answered "updated 0".
    let (s, p) = app
        .post_json(
            "/api/v1/dids/bulk-edit",
            &json!({"selection": {"ids": [ids[0]]}, "patch": {}}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "patch", "{p}");
    // A token that is not valid is told apart from none at all.
    let r = app
        .client
        .get(format!("{}/api/v1/dids/count", app.base))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("not valid"), "{p}");
    let r = app
        .client
        .get(format!("{}/api/v1/dids/count", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("authentication required"),
        "{p}"
    );

    // A DELETE's reason in a JSON body is kept; given twice, differently, it is refused.
    let r = app
        .delete(&format!("/api/v1/dids/{}?reason=one", ids[2]))
        .json(&json!({"reason": "two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .delete(&format!("/api/v1/dids/{}", ids[2]))
        .json(&json!({"reason": "number returned to the carrier"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, a) = app
        .get_json("/api/v1/audit?action=did.delete&subject=%2B442079464002")
        .await;
    assert_eq!(
        a["items"][0]["reason"], "number returned to the carrier",
        "{a}"
    );
    // A misspelt key of a DELETE's body is named.
    let r = app
        .delete(&format!("/api/v1/dids/{}", ids[3]))
        .json(&json!({"reasn": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "reasn", "{p}");
    // A body that is not JSON is not silently dropped either.
    let r = app
        .delete(&format!("/api/v1/dids/{}", ids[3]))
        .body("reason=oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(app.get_json("/api/v1/dids/count").await.1["count"], 4);
}
both_backends!(strict_input, strict_input_story);
