//! Accounts, tenancy, the access matrix and licensing, on SQLite and PostgreSQL.

use crate::common;

use std::collections::BTreeSet;

use crate::common::TestApp;
use didhub_core::access::{Need, Role};
use didhub_server::api::{Policy, POLICY};
use didhub_store::accounts::orgs::{NewPbx, Scope};
use didhub_store::Actor;
use serde_json::{json, Value};
use uuid::Uuid;

/// A user of a role with a token.
struct Caller {
    role: Role,
    partner: Option<Uuid>,
    token: String,
}

struct World {
    partner_a: Uuid,
    partner_b: Uuid,
    customer_a: Uuid,
    pbx_a: Uuid,
    user_a: Uuid,
    operator: Uuid,
    did: Uuid,
    package: Uuid,
    client_package_a: Uuid,
    /// An import's kept rejected rows, of a user who is none of the callers.
    rejects: Uuid,
    /// An order of customer A.
    order_a: Uuid,
    /// A document of partner A.
    document_a: Uuid,
    /// A ticket of partner A.
    ticket_a: Uuid,
    callers: Vec<Caller>,
}

async fn caller(app: &TestApp, role: Role, partner: Option<Uuid>, n: usize) -> Caller {
    let sys = Actor::system();
    let u = app
        .store
        .accounts()
        .create_user(
            &sys,
            None,
            &format!("{}{n}@example.com", role.as_str()),
            role,
            partner,
            None,
        )
        .await
        .unwrap();
    let (_, token) = app
        .store
        .accounts()
        .create_token(&sys, u.id, "t", None)
        .await
        .unwrap();
    Caller {
        role,
        partner,
        token,
    }
}

async fn world(app: &TestApp) -> World {
    let sys = Actor::system();
    let s = &app.store;
    let pa = s
        .accounts()
        .create_partner(&sys, "Partner A")
        .await
        .unwrap()
        .id;
    let pb = s
        .accounts()
        .create_partner(&sys, "Partner B")
        .await
        .unwrap()
        .id;
    let ca = s
        .accounts()
        .create_customer(&sys, Scope::All, pa, "Customer A")
        .await
        .unwrap()
        .id;
    s.accounts()
        .create_customer(&sys, Scope::All, pb, "Customer B")
        .await
        .unwrap();
    let pbx = s
        .accounts()
        .create_pbx(
            &sys,
            Scope::All,
            ca,
            &NewPbx {
                name: "pbx".into(),
                serial_number: "SN-A-1".into(),
                region: Some("EU".into()),
            },
        )
        .await
        .unwrap()
        .id;
    s.licensing()
        .set_license(
            &sys,
            Scope::All,
            pbx,
            didhub_core::licensing::TermKind::Yearly,
            "2020-05-15".parse().unwrap(),
        )
        .await
        .unwrap();
    s.licensing()
        .create_service_kind(
            &sys,
            "sip_trunk",
            "SIP trunk",
            &[didhub_store::licensing::licenses::Price {
                term_kind: didhub_core::licensing::TermKind::Yearly,
                currency: "EUR".into(),
                amount: "1200.00".parse().unwrap(),
            }],
        )
        .await
        .unwrap();
    // A service, so that an allowed DELETE of the PBX is refused by the rule, not carried out.
    s.licensing()
        .add_service(
            &sys,
            Scope::All,
            pbx,
            &didhub_store::licensing::licenses::ServiceRequest {
                kind: "sip_trunk".into(),
                currency: "EUR".into(),
                service_start: Some("2020-06-01".parse().unwrap()),
                term_kind: None,
            },
        )
        .await
        .unwrap();
    let user_a = s
        .accounts()
        .create_user(
            &sys,
            None,
            "member@a.example",
            Role::PartnerMember,
            Some(pa),
            None,
        )
        .await
        .unwrap()
        .id;
    let op = s.inventory().create_operator(&sys, "Op").await.unwrap().id;
    let created = s
        .inventory()
        .create_dids(
            &sys,
            didhub_store::inventory::dids::NewDids {
                numbers: vec!["+442079460100".into()],
                country: None,
                operator_id: op,
                status: didhub_core::did::DidStatus::InStock,
                after_hold: didhub_core::did::DidStatus::InStock,
                tag: None,
                notes: None,
                reason: None,
            },
        )
        .await
        .unwrap();
    let did = created.items[0].id;
    // In use, so that an allowed DELETE is refused by the rule, not carried out.
    common::assign(&app.store, did).await;
    let package = s
        .assignment()
        .create_package(
            &sys,
            &didhub_store::assignment::assign::NewPackage {
                name: "Basic".into(),
                did_allowance: 5,
                tag: None,
                country: None,
                number_type: None,
                prices: vec![],
            },
        )
        .await
        .unwrap()
        .id;
    let client_package_a = s
        .assignment()
        .create_client_package(&sys, ca, package, "2026-01-01".parse().unwrap())
        .await
        .unwrap()
        .id;
    let importer = s
        .accounts()
        .create_user(
            &sys,
            None,
            "importer@example.com",
            Role::Operations,
            None,
            None,
        )
        .await
        .unwrap()
        .id;
    let csv = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(csv.path(), "row,value,reason\n2,x,not a number\n").unwrap();
    let rejects = s
        .inventory()
        .keep_import_rejects(importer, csv.path())
        .await
        .unwrap();
    let order: didhub_core::order::OrderBody =
        serde_json::from_value(json!({"country": "GB", "service": "full_porting",
            "numbers": ["+442079460999"]}))
        .unwrap();
    let order_a = s
        .ordering()
        .create_order(
            &sys,
            didhub_store::accounts::orgs::Scope::All,
            ca,
            order,
            didhub_core::catalog::Catalog::builtin(),
        )
        .await
        .unwrap()
        .order
        .id;
    let document_a = s
        .documents()
        .put(
            &sys,
            Scope::All,
            pa,
            didhub_core::documents::DocumentKind::Loa,
            "loa.pdf",
            bytes::Bytes::from_static(b"%PDF-1.4\n%%EOF\n"),
            None,
        )
        .await
        .unwrap()
        .id;
    let ticket: didhub_store::support::tickets::NewTicket = serde_json::from_value(json!({
        "partner_id": pa, "subject": "s", "message": "m", "type": "non_technical",
        "topic": "billing"}))
    .unwrap();
    let author = didhub_store::support::Author {
        name: "sys".into(),
        side: didhub_core::ticket::Side::Staff,
    };
    let ticket_a = s
        .support()
        .create_ticket(&sys, &author, Scope::All, &ticket, &Default::default())
        .await
        .unwrap()
        .ticket
        .id;
    let mut callers = Vec::new();
    for (i, (role, partner)) in [
        (Role::Admin, None),
        (Role::Operations, None),
        (Role::Support, None),
        (Role::PartnerAdmin, Some(pa)),
        (Role::PartnerMember, Some(pa)),
        (Role::PartnerAdmin, Some(pb)),
        (Role::PartnerMember, Some(pb)),
    ]
    .into_iter()
    .enumerate()
    {
        callers.push(caller(app, role, partner, i).await);
    }
    World {
        partner_a: pa,
        partner_b: pb,
        customer_a: ca,
        pbx_a: pbx,
        user_a,
        operator: op,
        did,
        package,
        client_package_a,
        rejects,
        order_a,
        document_a,
        ticket_a,
        callers,
    }
}

fn path_for(w: &World, template: &str) -> String {
    if template == "/api/v1/stock/blocks" {
        return format!("{template}?country=GB&number_type=fixed_line");
    }
    let id = if template.starts_with("/api/v1/partners/") {
        w.partner_a
    } else if template.starts_with("/api/v1/customers/") {
        w.customer_a
    } else if template.starts_with("/api/v1/pbxs/") {
        w.pbx_a
    } else if template.starts_with("/api/v1/users/") {
        w.user_a
    } else if template.starts_with("/api/v1/dids/import/rejects/") {
        w.rejects
    } else if template.starts_with("/api/v1/operators/") {
        w.operator
    } else if template.starts_with("/api/v1/dids/") {
        w.did
    } else if template.starts_with("/api/v1/packages/") {
        w.package
    } else if template.starts_with("/api/v1/client-packages/") {
        w.client_package_a
    } else if template.starts_with("/api/v1/orders/") {
        w.order_a
    } else if template.starts_with("/api/v1/documents/") {
        w.document_a
    } else if template.starts_with("/api/v1/tickets/") {
        w.ticket_a
    } else {
        Uuid::now_v7()
    };
    template
        .replace("{id}", &id.to_string())
        .replace("{did_id}", &w.did.to_string())
        // No service of the world's: an allowed cancel is answered, not carried out.
        .replace("{service_id}", &Uuid::now_v7().to_string())
        .replace("{number}", "+442079460100")
        .replace("{country}", "GB")
}

/// Routes whose `{id}` names partner A's data: invisible to partner B.
fn partner_a_data(template: &str) -> bool {
    [
        "/api/v1/partners/{id}",
        "/api/v1/customers/{id}",
        "/api/v1/pbxs/{id}",
        "/api/v1/users/{id}",
        "/api/v1/client-packages/{id}",
        "/api/v1/orders/{id}",
        "/api/v1/documents/{id}",
        "/api/v1/tickets/{id}",
    ]
    .iter()
    .any(|p| template.starts_with(p))
}

async fn access_matrix(app: &TestApp) {
    // No route without a policy, no policy without a route.
    let spec: Value = app
        .get("/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                documented.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = POLICY
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, listed,
        "every route needs an entry in api::POLICY (and every entry a route)"
    );

    let w = world(app).await;
    let mut checked = 0;
    for (method, template, policy) in POLICY {
        if *policy == Policy::Public {
            continue;
        }
        let Policy::Need(need) = *policy else {
            unreachable!()
        };
        let url = app.url(&path_for(&w, template));
        // Without credentials: 401 everywhere.
        let r = app
            .client
            .request(method.parse().unwrap(), &url)
            .json(&json!({"__probe": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {template} without a token");
        for c in &w.callers {
            let r = app
                .client
                .request(method.parse().unwrap(), &url)
                .bearer_auth(&c.token)
                .json(&json!({"__probe": true}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            let what = format!(
                "{method} {template} as {} of {:?}: {status} {body}",
                c.role, c.partner
            );
            if !c.role.allows(need) {
                let expected = if c.role.is_partner() { 404 } else { 403 };
                assert_eq!(status, expected, "{what}");
            } else if c.role.is_partner()
                && c.partner == Some(w.partner_b)
                && partner_a_data(template)
            {
                // Partner A's data must look exactly like data that does not exist.
                let ghost = app.url(
                    &template
                        .replace("{id}", &Uuid::now_v7().to_string())
                        .replace("{did_id}", &w.did.to_string())
                        .replace("{service_id}", &Uuid::now_v7().to_string()),
                );
                let g = app
                    .client
                    .request(method.parse().unwrap(), &ghost)
                    .bearer_auth(&c.token)
                    .json(&json!({"__probe": true}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(status, g.status().as_u16(), "tenancy: {what}");
                assert!([404, 422].contains(&status), "tenancy: {what}");
            } else if template.starts_with("/api/v1/dids/import/rejects/") {
                // Only the user who imported may download them; to anyone else they do not
                // exist.
                assert_eq!(status, 404, "{what}");
            } else {
                // Allowed: past authorisation, the probe body is refused or the call served
                // (never a server error, never an auth refusal).
                assert!(
                    (200..300).contains(&status)
                        || [400, 404, 409, 412, 415, 422].contains(&status),
                    "{what}"
                );
                if *method == "GET" && !template.contains("/api/v1/tokens") {
                    assert_eq!(status, 200, "{what}");
                }
                if need == Need::Users
                    && c.role == Role::PartnerAdmin
                    && c.partner == Some(w.partner_a)
                    && *method == "GET"
                {
                    assert_eq!(status, 200, "{what}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= POLICY.len() * 6, "{checked}");
}
both_backends!(matrix, access_matrix);

async fn tenancy_story(app: &TestApp) {
    let w = world(app).await;
    let b = w
        .callers
        .iter()
        .find(|c| c.role == Role::PartnerAdmin && c.partner == Some(w.partner_b))
        .unwrap();
    let a = w
        .callers
        .iter()
        .find(|c| c.role == Role::PartnerMember && c.partner == Some(w.partner_a))
        .unwrap();
    let get = |tok: &str, path: &str| {
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth(tok.to_string())
            .send();
        async move {
            let r = r.await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (_, v) = get(&b.token, "/api/v1/customers").await;
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Customer B"]);
    let (_, v) = get(&a.token, "/api/v1/customers").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["name"], "Customer A");
    let (_, v) = get(&b.token, "/api/v1/partners").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["name"], "Partner B");
    let (_, v) = get(&b.token, "/api/v1/pbxs").await;
    assert_eq!(v.as_array().unwrap().len(), 0);
    // Filtering for another partner's customers shows nothing.
    let (_, v) = get(
        &b.token,
        &format!("/api/v1/customers?partner_id={}", w.partner_a),
    )
    .await;
    assert_eq!(v.as_array().unwrap().len(), 0);
    // Creating under another partner's customer: not found.
    let r = app
        .client
        .post(app.url("/api/v1/pbxs"))
        .bearer_auth(&b.token)
        .json(&json!({"customer_id": w.customer_a, "name": "x", "serial_number": "SN-X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = app
        .client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&b.token)
        .json(&json!({"partner_id": w.partner_a, "name": "sneaky"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Partner B creates its own customer without naming the partner.
    let r = app
        .client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&b.token)
        .json(&json!({"name": "New B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["partner_id"],
        w.partner_b.to_string()
    );
    // Partner admins manage their partner's users only, and only with partner roles.
    let r = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&b.token)
        .json(&json!({"email": "x@b.example", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&b.token)
        .json(&json!({"email": "x@b.example", "role": "partner_member", "partner_id": w.partner_a}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["partner_id"],
        w.partner_b.to_string(),
        "bound to the caller's partner"
    );
    let (_, users) = get(&b.token, "/api/v1/users").await;
    assert!(users
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["partner_id"] == w.partner_b.to_string()));
    let r = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", w.user_a)))
        .bearer_auth(&b.token)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
both_backends!(tenancy, tenancy_story);

async fn login_story(app: &TestApp) {
    let sys = Actor::system();
    let u = app
        .store
        .accounts()
        .create_user(
            &sys,
            None,
            "ops@example.com",
            Role::Operations,
            None,
            Some("correct horse battery"),
        )
        .await
        .unwrap();
    let login = |email: &str, pw: &str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": pw}))
            .send()
    };
    let r = login("ops@example.com", "wrong password!!").await.unwrap();
    assert_eq!(r.status(), 401);
    let r = login("nobody@example.com", "wrong password!!")
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "unknown accounts look the same");
    let r = login("OPS@example.com", "correct horse battery")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    let csrf = v["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(v["user"]["role"], "operations");
    // The session works; unsafe requests need the CSRF token.
    let r = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/api/v1/operators"))
        .header("cookie", &session)
        .json(&json!({"name": "via session"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(app.url("/api/v1/operators"))
        .header("cookie", &session)
        .header("x-csrf-token", "nope")
        .json(&json!({"name": "via session"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(app.url("/api/v1/operators"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "via session"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Tokens: created for yourself, shown once, listed, revoked.
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    let secret = t["secret"].as_str().unwrap().to_string();
    let tid = t["token"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.client
            .get(app.url("/api/v1/dids"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{tid}")))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.client
            .get(app.url("/api/v1/dids"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Logout ends the session.
    let r = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // A role change applies to existing tokens and is a security entry.
    let (_, tok) = app
        .store
        .accounts()
        .create_token(&sys, u.id, "t2", None)
        .await
        .unwrap();
    let r = app
        .patch(&format!("/api/v1/users/{}", u.id))
        .json(&json!({"role": "support"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.client
            .post(app.url("/api/v1/operators"))
            .bearer_auth(&tok)
            .json(&json!({"name": "n"}))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Disabled users' tokens stop working.
    app.patch(&format!("/api/v1/users/{}", u.id))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let (_, audit) = app.get_json("/api/v1/audit?entity=user&limit=100").await;
    let actions: BTreeSet<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "auth.login",
        "auth.login_failed",
        "auth.logout",
        "user.role",
        "user.disable",
        "user.create",
    ] {
        assert!(actions.contains(a), "{a} missing from {actions:?}");
    }
    let (_, audit) = app.get_json("/api/v1/audit?action=token.create").await;
    assert!(audit["items"].as_array().unwrap().len() >= 2);
    // Throttling per account: after 5 failures even the right password is refused.
    app.store
        .accounts()
        .create_user(
            &sys,
            None,
            "victim@example.com",
            Role::Support,
            None,
            Some("another long password"),
        )
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            login("victim@example.com", "guess guess guess")
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let r = login("victim@example.com", "another long password")
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
}
both_backends!(login, login_story);

async fn licensing_story(app: &TestApp) {
    let sys = Actor::system();
    let s = &app.store;
    let pa = s.accounts().create_partner(&sys, "P").await.unwrap().id;
    let ca = s
        .accounts()
        .create_customer(&sys, Scope::All, pa, "C")
        .await
        .unwrap()
        .id;
    let (st, pbx) = app
        .post_json(
            "/api/v1/pbxs",
            &json!({"customer_id": ca, "name": "HQ", "serial_number": "SN-1", "region": "EU"}),
        )
        .await;
    assert_eq!(st, 201, "{pbx}");
    let pbx = pbx["id"].as_str().unwrap().to_string();
    let (st, _) = app.post_json("/api/v1/service-kinds", &json!({"code": "sip_trunk", "name": "SIP trunk",
        "prices": [{"term_kind": "yearly", "currency": "EUR", "amount": "1200.00"}, {"term_kind": "monthly",
        "currency": "EUR", "amount": "110.00"}]})).await;
    assert_eq!(st, 201);
    // No license yet: refused.
    let (st, p) = app
        .post_json(
            &format!("/api/v1/pbxs/{pbx}/services"),
            &json!({"kind": "sip_trunk", "currency": "EUR", "service_start": "2020-08-10"}),
        )
        .await;
    assert_eq!(st, 422, "{p}");
    let r = app
        .client
        .put(app.url(&format!("/api/v1/pbxs/{pbx}/license")))
        .bearer_auth(&app.token)
        .json(&json!({"term_kind": "yearly", "period_start": "2020-05-15"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lic: Value = r.json().await.unwrap();
    assert_eq!(lic["expires"], "2021-05-15");
    // The seed's example, previewed then added.
    let body = json!({"kind": "sip_trunk", "currency": "EUR", "service_start": "2020-08-10"});
    let (st, q) = app
        .post_json(&format!("/api/v1/pbxs/{pbx}/services/preview"), &body)
        .await;
    assert_eq!(st, 200, "{q}");
    assert_eq!(
        (
            q["expires"].as_str(),
            q["days"].as_i64(),
            q["period_days"].as_i64(),
            q["amount"].as_str()
        ),
        (Some("2021-05-15"), Some(278), Some(365), Some("913.97"))
    );
    assert_eq!(
        app.get_json(&format!("/api/v1/pbxs/{pbx}/services"))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        0,
        "preview adds nothing"
    );
    let (st, added) = app
        .post_json(&format!("/api/v1/pbxs/{pbx}/services"), &body)
        .await;
    assert_eq!(st, 201, "{added}");
    assert_eq!(added["quote"]["amount"], "913.97");
    assert_eq!(added["service"]["term_kind"], "yearly");
    assert_eq!(added["service"]["expires"], "2021-05-15");
    // Refused: another term kind, on the expiry, before the period, unknown currency price.
    let (st, p) = app
        .post_json(
            &format!("/api/v1/pbxs/{pbx}/services"),
            &json!({"kind": "sip_trunk",
        "currency": "EUR", "service_start": "2020-08-10", "term_kind": "monthly"}),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(p["errors"][0]["field"], "term_kind");
    let (st, _) = app
        .post_json(
            &format!("/api/v1/pbxs/{pbx}/services"),
            &json!({"kind": "sip_trunk", "currency": "EUR", "service_start": "2021-05-15"}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = app
        .post_json(
            &format!("/api/v1/pbxs/{pbx}/services"),
            &json!({"kind": "sip_trunk", "currency": "EUR", "service_start": "2020-05-14"}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, p) = app
        .post_json(
            &format!("/api/v1/pbxs/{pbx}/services"),
            &json!({"kind": "sip_trunk", "currency": "USD", "service_start": "2020-08-10"}),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(p["errors"][0]["field"], "currency");
    // Replacing the term kind under existing services is refused; renewal renews them at full price.
    let r = app
        .client
        .put(app.url(&format!("/api/v1/pbxs/{pbx}/license")))
        .bearer_auth(&app.token)
        .json(&json!({"term_kind": "monthly", "period_start": "2020-05-15"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let (st, lic) = app
        .post_json(&format!("/api/v1/pbxs/{pbx}/license/renew"), &json!({}))
        .await;
    assert_eq!(st, 200, "{lic}");
    assert_eq!(
        (lic["period_start"].as_str(), lic["expires"].as_str()),
        (Some("2021-05-15"), Some("2022-05-15"))
    );
    let (_, services) = app.get_json(&format!("/api/v1/pbxs/{pbx}/services")).await;
    let charges = services[0]["charges"].as_array().unwrap();
    assert_eq!(charges.len(), 2);
    assert_eq!(
        (charges[0]["kind"].as_str(), charges[0]["amount"].as_str()),
        (Some("initial"), Some("913.97"))
    );
    assert_eq!(
        (
            charges[1]["kind"].as_str(),
            charges[1]["amount"].as_str(),
            charges[1]["days"].as_i64()
        ),
        (Some("renewal"), Some("1200.00"), Some(365))
    );
    assert_eq!(services[0]["expires"], "2022-05-15");
    // The stand-alone quote endpoint agrees with the CLI's contract.
    let (st, q) = app
        .post_json(
            "/api/v1/licenses/quote",
            &json!({"term_kind": "yearly",
        "period_start": "2020-05-15", "service_start": "2020-08-10", "price": "1200.00"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(q["amount"], "913.97");
    // A price beyond what can be priced pro rata is the request's error, not a crash.
    for price in ["1e28", "79228162514264337593543950335"] {
        let (st, p) = app
            .post_json(
                "/api/v1/licenses/quote",
                &json!({"term_kind": "yearly",
            "period_start": "2020-05-15", "service_start": "2020-08-10", "price": price}),
            )
            .await;
        assert_eq!(st, 422, "{price}: {p}");
        assert_eq!(p["errors"][0]["field"], "price", "{p}");
    }
    // A retried renewal or service add (same Idempotency-Key) happens once.
    let keyed = |path: String, key: &'static str, body: Value| {
        app.post(&path)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    for _ in 0..2 {
        let r = keyed(
            format!("/api/v1/pbxs/{pbx}/license/renew"),
            "renew-once",
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let lic: Value = r.json().await.unwrap();
        assert_eq!(lic["expires"], "2023-05-15", "{lic}");
    }
    for _ in 0..2 {
        let r = keyed(
            format!("/api/v1/pbxs/{pbx}/services"),
            "add-once",
            json!({"kind": "sip_trunk", "currency": "EUR", "service_start": "2022-06-01"}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
    }
    let (_, services) = app.get_json(&format!("/api/v1/pbxs/{pbx}/services")).await;
    assert_eq!(services.as_array().unwrap().len(), 2, "{services}");
    assert_eq!(
        services[0]["charges"].as_array().unwrap().len(),
        3,
        "one renewal charge, not two: {services}"
    );
    // Active customer: a PBX with a license active today (the 2020 license has expired).
    let (_, c) = app.get_json(&format!("/api/v1/customers/{ca}")).await;
    assert_eq!(c["active"], false);
    let today = chrono::Utc::now().date_naive();
    let (st, pbx2) = app
        .post_json(
            "/api/v1/pbxs",
            &json!({"customer_id": ca, "name": "Branch", "serial_number": "SN-2"}),
        )
        .await;
    assert_eq!(st, 201);
    let pbx2 = pbx2["id"].as_str().unwrap().to_string();
    app.client
        .put(app.url(&format!("/api/v1/pbxs/{pbx2}/license")))
        .bearer_auth(&app.token)
        .json(&json!({"term_kind": "monthly", "period_start": today}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.get_json(&format!("/api/v1/customers/{ca}")).await.1["active"],
        true,
        "no order is needed until ordering brings orders"
    );
    // Organisation changes are audited.
    let (_, a) = app.get_json("/api/v1/audit?entity=pbx").await;
    let actions: BTreeSet<&str> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for x in ["pbx.create", "license.set", "license.renew", "service.add"] {
        assert!(actions.contains(x), "{x} in {actions:?}");
    }
}
both_backends!(licensing, licensing_story);

/// A customer's `active`, as the API reads it (in SQL), agrees with the core rule on its PBXs'
/// licenses: periods ending before, on and after today, starting before, on and after it.
async fn customer_active_story(app: &TestApp) {
    use didhub_core::licensing::{customer_active, TermKind};
    let sys = Actor::system();
    let s = &app.store;
    let today = chrono::Utc::now().date_naive();
    let pa = s.accounts().create_partner(&sys, "P").await.unwrap().id;
    let mut seen = BTreeSet::new();
    let cases: &[&[i64]] = &[
        &[],
        &[-400],
        &[-40],
        &[-31],
        &[-30],
        &[-29],
        &[-1],
        &[0],
        &[1],
        &[30],
        &[-400, 0],
        &[-40, 5],
    ];
    for (i, offsets) in cases.iter().enumerate() {
        let c = s
            .accounts()
            .create_customer(&sys, Scope::All, pa, &format!("C{i}"))
            .await
            .unwrap();
        let mut periods = Vec::new();
        for (j, off) in offsets.iter().enumerate() {
            let pbx = s
                .accounts()
                .create_pbx(
                    &sys,
                    Scope::All,
                    c.id,
                    &NewPbx {
                        name: "P".into(),
                        serial_number: format!("SN-{i}-{j}"),
                        region: None,
                    },
                )
                .await
                .unwrap();
            let start = today + chrono::Duration::days(*off);
            let l = s
                .licensing()
                .set_license(&sys, Scope::All, pbx.id, TermKind::Monthly, start)
                .await
                .unwrap();
            periods.push((l.period_start, l.expires));
        }
        let want = customer_active(periods.iter().copied(), today);
        seen.insert(want);
        let (_, got) = app.get_json(&format!("/api/v1/customers/{}", c.id)).await;
        assert_eq!(got["active"], want, "licenses {periods:?} on {today}");
        let listed = s
            .accounts()
            .list_customers(Scope::All, Some(pa))
            .await
            .unwrap();
        let listed = listed.iter().find(|x| x.id == c.id).unwrap();
        assert_eq!(listed.active, want, "list: licenses {periods:?}");
    }
    assert_eq!(seen.len(), 2, "both answers were checked");
}
both_backends!(customer_active, customer_active_story);

/// A service can be cancelled: each charge with days left is credited by the core rule that
/// charged it, the audit entry keeps the service and the credit, and a PBX whose services are
/// all cancelled can be deleted.
async fn cancel_service_story(app: &TestApp) {
    use didhub_core::licensing::{credit, TermKind};
    use rust_decimal::Decimal;
    let sys = Actor::system();
    let s = &app.store;
    let today = chrono::Utc::now().date_naive();
    let pa = s.accounts().create_partner(&sys, "P").await.unwrap().id;
    let ca = s
        .accounts()
        .create_customer(&sys, Scope::All, pa, "C")
        .await
        .unwrap()
        .id;
    let new_pbx = |serial: &'static str| NewPbx {
        name: "HQ".into(),
        serial_number: serial.into(),
        region: None,
    };
    let pbx = s
        .accounts()
        .create_pbx(&sys, Scope::All, ca, &new_pbx("SN-C"))
        .await
        .unwrap()
        .id;
    let other = s
        .accounts()
        .create_pbx(&sys, Scope::All, ca, &new_pbx("SN-D"))
        .await
        .unwrap()
        .id;
    let (st, _) = app
        .post_json(
            "/api/v1/service-kinds",
            &json!({"code": "sip_trunk", "name": "SIP trunk",
        "prices": [{"term_kind": "yearly", "currency": "EUR", "amount": "1200.00"}]}),
        )
        .await;
    assert_eq!(st, 201);
    s.licensing()
        .set_license(
            &sys,
            Scope::All,
            pbx,
            TermKind::Yearly,
            today - chrono::Duration::days(30),
        )
        .await
        .unwrap();
    // One service that started ten days ago, one that starts in five days.
    let mut ids = Vec::new();
    for off in [-10, 5] {
        let start = today + chrono::Duration::days(off);
        let (st, v) = app
            .post_json(
                &format!("/api/v1/pbxs/{pbx}/services"),
                &json!({"kind": "sip_trunk", "currency": "EUR", "service_start": start}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        ids.push(v["service"]["id"].as_str().unwrap().to_string());
    }
    // Renewed: each service also has the next period's full charge.
    let (st, _) = app
        .post_json(&format!("/api/v1/pbxs/{pbx}/license/renew"), &json!({}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        app.delete(&format!("/api/v1/pbxs/{pbx}"))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    // Another PBX does not have it.
    let r = app
        .delete(&format!("/api/v1/pbxs/{other}/services/{}", ids[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (_, before) = app.get_json(&format!("/api/v1/pbxs/{pbx}/services")).await;
    for (i, id) in ids.iter().enumerate() {
        let service = before
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id.as_str())
            .unwrap()
            .clone();
        let r = if i == 0 {
            app.delete(&format!(
                "/api/v1/pbxs/{pbx}/services/{id}?reason=customer%20left"
            ))
            .send()
            .await
            .unwrap()
        } else {
            app.delete(&format!("/api/v1/pbxs/{pbx}/services/{id}"))
                .json(&json!({"reason": "customer left"}))
                .send()
                .await
                .unwrap()
        };
        assert_eq!(r.status(), 200);
        let c: Value = r.json().await.unwrap();
        let day: chrono::NaiveDate = c["cancelled_on"].as_str().unwrap().parse().unwrap();
        // The core rule on each charge, from the charges as they were.
        let mut want = Vec::new();
        for ch in service["charges"].as_array().unwrap() {
            let date = |k: &str| {
                ch[k]
                    .as_str()
                    .unwrap()
                    .parse::<chrono::NaiveDate>()
                    .unwrap()
            };
            let list: Decimal = ch["list_price"].as_str().unwrap().parse().unwrap();
            let q = credit(
                TermKind::Yearly,
                date("period_start"),
                date("charged_from"),
                day,
                list,
                2,
            )
            .unwrap();
            if q.days > 0 {
                want.push(q.amount);
            }
        }
        assert_eq!(want.len(), 2, "both periods have days left: {c}");
        let got: Vec<Decimal> = c["credits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["amount"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(got, want, "{c}");
        let total: Decimal = want.iter().copied().sum();
        assert_eq!(
            c["credit"].as_str().unwrap().parse::<Decimal>().unwrap(),
            total
        );
        assert_eq!(c["service"], service);
        if i == 1 {
            // Not begun: the whole of both charges comes back.
            let charged: Decimal = service["charges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["amount"].as_str().unwrap().parse::<Decimal>().unwrap())
                .sum();
            assert_eq!(total, charged);
        }
        let e = newest_entry(app, "service.cancel").await;
        assert_eq!(e["reason"], "customer left");
        assert_eq!(e["entity_id"], pbx.to_string());
        assert_eq!(e["changes"]["service"]["id"], id.as_str());
        assert_eq!(e["changes"]["credit"], total.to_string());
        assert_eq!(e["changes"]["credits"], c["credits"]);
        // Gone, once.
        let r = app
            .delete(&format!("/api/v1/pbxs/{pbx}/services/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    assert_eq!(
        app.get_json(&format!("/api/v1/pbxs/{pbx}/services"))
            .await
            .1,
        json!([])
    );
    assert_eq!(
        app.delete(&format!("/api/v1/pbxs/{pbx}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}
both_backends!(cancel_service, cancel_service_story);

/// The newest audit entry with this action.
async fn newest_entry(app: &TestApp, action: &str) -> Value {
    let (_, a) = app
        .get_json(&format!("/api/v1/audit?action={action}"))
        .await;
    a["items"][0].clone()
}

/// Edits of PBXs and licenses record the fields that changed, not the others.
async fn edit_entries_list_only_changes_story(app: &TestApp) {
    let sys = Actor::system();
    let s = &app.store;
    let pa = s.accounts().create_partner(&sys, "P").await.unwrap().id;
    let ca = s
        .accounts()
        .create_customer(&sys, Scope::All, pa, "C")
        .await
        .unwrap();
    let pbx = s
        .accounts()
        .create_pbx(
            &sys,
            Scope::All,
            ca.id,
            &NewPbx {
                name: "HQ".into(),
                serial_number: "SN-7".into(),
                region: Some("EU".into()),
            },
        )
        .await
        .unwrap();
    let r = app
        .patch(&format!("/api/v1/pbxs/{}", pbx.id))
        .json(&json!({"name": "Head office", "serial_number": "SN-7", "region": "EU"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        newest_entry(app, "pbx.update").await["changes"],
        json!({"name": ["HQ", "Head office"]})
    );
    let put = |start: &'static str| {
        app.client
            .put(app.url(&format!("/api/v1/pbxs/{}/license", pbx.id)))
            .bearer_auth(&app.token)
            .json(&json!({"term_kind": "yearly", "period_start": start}))
            .send()
    };
    assert_eq!(put("2020-05-15").await.unwrap().status(), 200);
    assert_eq!(put("2020-06-15").await.unwrap().status(), 200);
    assert_eq!(
        newest_entry(app, "license.set").await["changes"],
        json!({"period_start": ["2020-05-15", "2020-06-15"], "expires": ["2021-05-15", "2021-06-15"]}),
        "the term kind did not change"
    );
}
both_backends!(
    edit_entries_list_only_changes,
    edit_entries_list_only_changes_story
);

/// A method a route does not take is `405` with `Allow`, with or without credentials (the
/// handler never runs); a path that is no route is `404`.
async fn method_not_allowed_story(app: &TestApp) {
    for with_token in [false, true] {
        let mut rq = app
            .client
            .request(reqwest::Method::PUT, app.url("/api/v1/dids"))
            .json(&json!({}));
        if with_token {
            rq = rq.bearer_auth(&app.token);
        }
        let r = rq.send().await.unwrap();
        assert_eq!(r.status(), 405);
        let allow = r.headers()["allow"].to_str().unwrap().to_string();
        assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["type"], "urn:didhub:problem:method-not-allowed", "{p}");
    }
    let r = app
        .client
        .delete(app.url("/api/v1/operators"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = app
        .client
        .get(app.url("/api/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
both_backends!(method_not_allowed, method_not_allowed_story);

/// What the login door must hold against: bodies meant to fill memory, guesses sent in
/// parallel, sessions that outlive a password or a disabled account, the bootstrap admin's
/// address taken by someone else, and a misspelt field read as nothing.
async fn login_hardening_story(app: &TestApp) {
    let sys = Actor::system();
    let u = app
        .store
        .accounts()
        .create_user(
            &sys,
            None,
            "guard@example.com",
            Role::Operations,
            None,
            Some("the first long password"),
        )
        .await
        .unwrap();
    let login = |email: String, pw: String| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": pw}))
            .send()
    };
    // A login body over 16 KiB is refused before it is read; one within it but longer than
    // any password is wrong without being hashed or stored.
    let r = login("a@b.example".into(), "x".repeat(20_000))
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = login("a@b.example".into(), "x".repeat(2_000))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = login("x".repeat(10_000), "guess guess guess".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, a) = app
        .get_json("/api/v1/audit?action=auth.login_failed&limit=100")
        .await;
    assert!(
        a["items"].as_array().unwrap().is_empty(),
        "nothing kept of over-long attempts: {a}"
    );
    // Other routes take up to 16 MiB of JSON, no more (the import takes its file): a larger
    // declared body is refused from its headers, before a byte of it is read.
    let head = format!(
        "POST /api/v1/operators HTTP/1.1\r\nHost: didhub\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.token,
        17 * 1024 * 1024
    );
    let addr = app
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut conn, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut conn, &mut answer),
    )
    .await
    .expect("answered without the body")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("too-large"), "{answer}");

    // A failure is the client's, by its address.
    let r = login("guard@example.com".into(), "one plain guess".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, a) = app
        .get_json("/api/v1/audit?action=auth.login_failed&limit=100")
        .await;
    assert_eq!(a["items"][0]["changes"]["address"], "127.0.0.1", "{a}");
    // Guesses in parallel: each is written before it is counted, so no more than the
    // account's limit (5, one already used) are ever checked.
    let guesses = (0..12).map(|i| login("guard@example.com".into(), format!("guess number {i}")));
    let answers: Vec<u16> = futures::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let checked = answers.iter().filter(|s| **s == 401).count();
    assert!(
        checked <= 4 && answers.iter().all(|s| *s == 401 || *s == 429),
        "{answers:?}"
    );
    // A new password ends the sessions of the old one; disabling ends them too.
    let sessions_of = |email: &'static str, pw: &'static str| async move {
        let r = login(email.into(), pw.into()).await.unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        cookie.split(';').next().unwrap().to_string()
    };
    let me = |session: String| {
        app.client
            .get(app.url("/api/v1/auth/me"))
            .header("cookie", session)
            .send()
    };
    app.store
        .accounts()
        .create_user(
            &sys,
            None,
            "second@example.com",
            Role::Support,
            None,
            Some("second long password"),
        )
        .await
        .unwrap();
    let s1 = sessions_of("second@example.com", "second long password").await;
    assert_eq!(me(s1.clone()).await.unwrap().status(), 200);
    let second = app
        .store
        .accounts()
        .find_user("second@example.com")
        .await
        .unwrap()
        .unwrap();
    let r = app
        .client
        .put(app.url(&format!("/api/v1/users/{}/password", second.id)))
        .bearer_auth(&app.token)
        .json(&json!({"password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me(s1).await.unwrap().status(), 401, "the old session ended");
    let s2 = sessions_of("second@example.com", "a brand new password").await;
    assert_eq!(me(s2.clone()).await.unwrap().status(), 200);
    for disabled in [true, false] {
        let r = app
            .patch(&format!("/api/v1/users/{}", second.id))
            .json(&json!({"disabled": disabled}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        me(s2).await.unwrap().status(),
        401,
        "enabled again, the account signs in afresh"
    );

    // A misspelt field is an error, not a no-op.
    let r = app
        .patch(&format!("/api/v1/users/{}", u.id))
        .json(&json!({"disable": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // The bootstrap admin's address is not for anyone else.
    let e = app
        .store
        .accounts()
        .create_user(&sys, None, "admin@localhost", Role::Support, None, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("reserved"), "{e}");
}
both_backends!(login_hardening, login_hardening_story);
