//! Documents through the API: uploads of each accepted type, refusals that store nothing,
//! one content kept once, partner scope, the bytes downloaded as uploaded; on SQLite and
//! PostgreSQL.

use crate::common;
use crate::common::TestApp;

use didhub_core::access::Role;
use didhub_core::documents::{loa_pdf, LoaData, DEFAULT_MAX_DOCUMENT_BYTES};
use didhub_store::accounts::orgs::Scope;
use didhub_store::documents::Subject;
use didhub_store::Actor;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use uuid::Uuid;

/// A 1×1 PNG.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\
    \rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";
/// The start of a JFIF JPEG.
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";
/// An empty ZIP archive (its end record only).
const ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

fn pdf() -> Vec<u8> {
    loa_pdf(&LoaData {
        customer: "Acme".into(),
        country: "IT".into(),
        numbers: vec!["+390612345678".into()],
        date: chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
        ..Default::default()
    })
}

/// A user of `role` (of `partner`) and a token of theirs.
async fn user(app: &TestApp, role: Role, partner: Option<Uuid>, email: &str) -> String {
    let sys = Actor::system();
    let u = app
        .store
        .accounts()
        .create_user(&sys, None, email, role, partner, None)
        .await
        .unwrap();
    app.store
        .accounts()
        .create_token(&sys, u.id, "t", None)
        .await
        .unwrap()
        .1
}

async fn partner(app: &TestApp, name: &str) -> Uuid {
    app.store
        .accounts()
        .create_partner(&Actor::system(), name)
        .await
        .unwrap()
        .id
}

fn form(kind: &str, name: &str, bytes: &[u8]) -> Form {
    Form::new().text("kind", kind.to_string()).part(
        "file",
        Part::bytes(bytes.to_vec()).file_name(name.to_string()),
    )
}

async fn upload(app: &TestApp, token: &str, form: Form) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/api/v1/documents"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn count_rows(app: &TestApp) -> i64 {
    didhub_store::on!(app.store, |p| sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM documents"
    )
    .fetch_one(p)
    .await
    .unwrap())
}

/// The files under the documents directory.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(d: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.data_dir().join("documents"), &mut out);
    out
}

async fn each_type_goes_up_and_comes_back_as_it_was(app: &TestApp) {
    let p = partner(app, "Uploader").await;
    let pdf = pdf();
    for (kind, name, bytes, ct, saved) in [
        (
            "loa",
            "LOA signed.pdf",
            &pdf[..],
            "application/pdf",
            "LOA signed.pdf",
        ),
        ("other", "scan", PNG, "image/png", "scan.png"),
        (
            "invoice",
            "invoice.jpeg",
            JPEG,
            "image/jpeg",
            "invoice.jpeg",
        ),
        (
            "agreement",
            "../../contract.zip",
            ZIP,
            "application/zip",
            "contract.zip",
        ),
    ] {
        let f = form(kind, name, bytes).text("partner_id", p.to_string());
        let (s, d) = upload(app, &app.token, f).await;
        assert_eq!(s, 201, "{kind}: {d}");
        assert_eq!(d["kind"], kind);
        assert_eq!(d["content_type"], ct);
        assert_eq!(d["file_name"], saved);
        assert_eq!(d["size"], bytes.len());
        assert_eq!(d["partner_id"], p.to_string());
        assert_eq!(d["subject_kind"], Value::Null);
        let id = d["id"].as_str().unwrap();
        let (s, meta) = app.get_json(&format!("/api/v1/documents/{id}")).await;
        assert_eq!((s, &meta), (200, &d));
        let r = app
            .get(&format!("/api/v1/documents/{id}/content"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h["content-type"], ct);
        assert_eq!(h["x-content-type-options"], "nosniff");
        let disposition = h["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with(&format!("attachment; filename=\"{saved}\"")),
            "{disposition}"
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), bytes, "{kind}");
    }
    // The upload is audited.
    let (s, log) = app.get_json("/api/v1/audit?action=document.upload").await;
    assert_eq!(s, 200, "{log}");
    let entries = log["items"].as_array().or(log.as_array()).unwrap();
    assert_eq!(entries.len(), 4, "{log}");
}
both_backends!(each_type, each_type_goes_up_and_comes_back_as_it_was);

async fn refusals_name_the_field_and_store_nothing(app: &TestApp) {
    let p = partner(app, "Refused").await;
    let with_partner = |f: Form| f.text("partner_id", p.to_string());
    // A type that is not accepted, whatever its name says.
    let (s, v) = upload(
        app,
        &app.token,
        with_partner(form("loa", "photo.pdf", b"GIF89a\x01\0")),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "file", "{v}");
    let msg = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("'photo.pdf'") && msg.contains("PDF, PNG, JPEG or ZIP"),
        "{msg}"
    );
    // Empty.
    let (s, v) = upload(app, &app.token, with_partner(form("loa", "empty.pdf", b""))).await;
    assert_eq!(
        (s, v["errors"][0]["field"].as_str()),
        (422, Some("file")),
        "{v}"
    );
    // Over the limit, declared: refused before the body is read.
    let big = {
        let mut b = b"%PDF-1.4\n".to_vec();
        b.resize(DEFAULT_MAX_DOCUMENT_BYTES as usize + 1, b' ');
        b
    };
    let (s, v) = upload(app, &app.token, with_partner(form("loa", "big.pdf", &big))).await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["type"], "urn:didhub:problem:too-large");
    assert_eq!(v["errors"][0]["field"], "file", "{v}");
    // Over the limit, streamed without a length: refused as it passes the limit.
    let f = Form::new()
        .text("kind", "loa")
        .text("partner_id", p.to_string())
        .part("file", Part::stream(big.clone()).file_name("big.pdf"));
    let (s, v) = upload(app, &app.token, f).await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["errors"][0]["field"], "file", "{v}");
    // Exactly the limit is accepted (and then stored).
    let mut at_limit = big.clone();
    at_limit.pop();
    let fields = [
        (form("passport", "a.pdf", &pdf()), "kind"),
        (
            Form::new()
                .text("kind", "loa")
                .text("partner_id", p.to_string()),
            "file",
        ),
        (
            Form::new()
                .part("file", Part::bytes(pdf()).file_name("a.pdf"))
                .text("partner_id", p.to_string()),
            "kind",
        ),
        (form("loa", "a.pdf", &pdf()), "partner_id"),
        (
            with_partner(form("loa", "a.pdf", &pdf())).text("colour", "red"),
            "colour",
        ),
        (
            with_partner(form("loa", "a.pdf", &pdf())).text("subject_kind", "order"),
            "subject_id",
        ),
        (
            with_partner(form("loa", "a.pdf", &pdf()))
                .text("subject_kind", "order")
                .text("subject_id", "x"),
            "subject_id",
        ),
        (
            with_partner(form("loa", "a.pdf", &pdf()))
                .text("subject_kind", "order")
                .text("subject_id", Uuid::now_v7().to_string()),
            "subject_id",
        ),
        (
            form("loa", "a.pdf", &pdf()).text("partner_id", Uuid::now_v7().to_string()),
            "partner_id",
        ),
    ];
    for (f, field) in fields {
        let (s, v) = upload(app, &app.token, f).await;
        assert_eq!(s, 422, "{field}: {v}");
        assert_eq!(v["errors"][0]["field"], field, "{v}");
    }
    // Not multipart at all.
    let (s, v) = app
        .post_json("/api/v1/documents", &json!({"kind": "loa"}))
        .await;
    assert!([400, 422].contains(&s), "{s} {v}");
    assert_eq!(count_rows(app).await, 0);
    assert!(stored_files(app).is_empty(), "{:?}", stored_files(app));
    let (s, v) = upload(
        app,
        &app.token,
        with_partner(form("loa", "limit.pdf", &at_limit)),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(count_rows(app).await, 1);
}
both_backends!(refusals, refusals_name_the_field_and_store_nothing);

async fn the_same_content_is_kept_once(app: &TestApp) {
    let p = partner(app, "Twice").await;
    let pdf = pdf();
    let (s1, a) = upload(
        app,
        &app.token,
        form("loa", "a.pdf", &pdf).text("partner_id", p.to_string()),
    )
    .await;
    let (s2, b) = upload(
        app,
        &app.token,
        form("invoice", "b.pdf", &pdf).text("partner_id", p.to_string()),
    )
    .await;
    assert_eq!((s1, s2), (201, 201), "{a} {b}");
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["sha256"], b["sha256"]);
    let files = stored_files(app);
    assert_eq!(files.len(), 1, "{files:?}");
    let hex = a["sha256"].as_str().unwrap();
    assert!(
        files[0].ends_with(format!("sha256/{}/{}/{hex}", &hex[0..2], &hex[2..4])),
        "{files:?}"
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), pdf);
    // Another content is another object.
    let (s, _) = upload(
        app,
        &app.token,
        form("other", "c.png", PNG).text("partner_id", p.to_string()),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(stored_files(app).len(), 2);
    for d in [&a, &b] {
        let r = app
            .get(&format!(
                "/api/v1/documents/{}/content",
                d["id"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), &pdf[..]);
    }
}
both_backends!(same_content_once, the_same_content_is_kept_once);

async fn partners_see_only_their_own(app: &TestApp) {
    let (pa, pb) = (partner(app, "A").await, partner(app, "B").await);
    let a = user(app, Role::PartnerMember, Some(pa), "a@example.com").await;
    let b = user(app, Role::PartnerAdmin, Some(pb), "b@example.com").await;
    let support = user(app, Role::Support, None, "support@example.com").await;
    // A partner user's own partner is implied.
    let (s, d) = upload(app, &a, form("loa", "mine.pdf", &pdf())).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["partner_id"], pa.to_string());
    assert!(
        d["uploaded_by"].as_str().unwrap().contains("a@example.com"),
        "{d}"
    );
    let id = d["id"].as_str().unwrap().to_string();
    // Naming their own partner is fine; naming another is as if it did not exist.
    let (s, _) = upload(
        app,
        &a,
        form("loa", "x.pdf", &pdf()).text("partner_id", pa.to_string()),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v) = upload(
        app,
        &b,
        form("loa", "x.pdf", &pdf()).text("partner_id", pa.to_string()),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "partner_id");
    let ghost = Uuid::now_v7();
    let (_, v2) = upload(
        app,
        &b,
        form("loa", "x.pdf", &pdf()).text("partner_id", ghost.to_string()),
    )
    .await;
    assert_eq!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .replace(&pa.to_string(), "ID"),
        v2["errors"][0]["message"]
            .as_str()
            .unwrap()
            .replace(&ghost.to_string(), "ID")
    );
    // Another partner's document does not exist for B, metadata and content alike.
    for path in [
        format!("/api/v1/documents/{id}"),
        format!("/api/v1/documents/{id}/content"),
    ] {
        for (token, expected) in [(&a, 200), (&b, 404), (&support, 200), (&app.token, 200)] {
            let r = app
                .client
                .get(app.url(&path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), expected, "{path}");
        }
        let r = app
            .client
            .get(app.url(&path.replace(&id, &Uuid::now_v7().to_string())))
            .bearer_auth(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    // Support reads but does not upload.
    let (s, _) = upload(
        app,
        &support,
        form("loa", "x.pdf", &pdf()).text("partner_id", pa.to_string()),
    )
    .await;
    assert_eq!(s, 403);
}
both_backends!(partner_scope, partners_see_only_their_own);

async fn documents_attach_to_an_order_of_their_partner(app: &TestApp) {
    let (pa, pb) = (partner(app, "A").await, partner(app, "B").await);
    let sys = Actor::system();
    let ca = app
        .store
        .accounts()
        .create_customer(&sys, Scope::All, pa, "Customer A")
        .await
        .unwrap()
        .id;
    let body = serde_json::from_value(json!({"country": "GB", "service": "full_porting"})).unwrap();
    let order = app
        .store
        .ordering()
        .create_order(
            &sys,
            Scope::All,
            ca,
            body,
            didhub_core::catalog::Catalog::builtin(),
        )
        .await
        .unwrap()
        .order
        .id;
    let a = user(app, Role::PartnerMember, Some(pa), "a@example.com").await;
    let b = user(app, Role::PartnerMember, Some(pb), "b@example.com").await;
    let on_order = |f: Form| {
        f.text("subject_kind", "order")
            .text("subject_id", order.to_string())
    };
    let (s, d) = upload(app, &a, on_order(form("loa", "loa.pdf", &pdf()))).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(
        (d["subject_kind"].as_str(), d["subject_id"].as_str()),
        (Some("order"), Some(&*order.to_string()))
    );
    // Partner B cannot attach to A's order: for B it does not exist.
    let (s, v) = upload(app, &b, on_order(form("loa", "loa.pdf", &pdf()))).await;
    assert_eq!(
        (s, v["errors"][0]["field"].as_str()),
        (422, Some("subject_id")),
        "{v}"
    );
    let subject = Subject {
        kind: didhub_core::documents::SubjectKind::Order,
        id: order,
    };
    let docs = app.store.documents();
    assert_eq!(
        docs.list_for(Scope::Partner(pa), subject)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        docs.list_for(Scope::Partner(pb), subject)
            .await
            .unwrap()
            .len(),
        0
    );
    // A document uploaded on its own is attached later, once.
    let (_, loose) = upload(app, &a, form("invoice", "inv.pdf", PNG)).await;
    let loose: Uuid = loose["id"].as_str().unwrap().parse().unwrap();
    let attached = docs
        .attach(&sys, Scope::Partner(pa), loose, subject)
        .await
        .unwrap();
    assert_eq!(attached.subject(), Some(subject));
    docs.attach(&sys, Scope::Partner(pa), loose, subject)
        .await
        .unwrap();
    let kinds: Vec<_> = docs
        .list_for(Scope::All, subject)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.kind.as_str())
        .collect();
    assert_eq!(kinds, ["loa", "invoice"]);
    assert!(docs
        .attach(&sys, Scope::Partner(pb), loose, subject)
        .await
        .is_err());
}
both_backends!(order_subject, documents_attach_to_an_order_of_their_partner);
