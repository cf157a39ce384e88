//! The dashboard's "needs attention" and the order and ticket pages it links to.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::common::TestApp;
use crate::support::*;

/// An order in Saudi Arabia signed `days_ago`: promised 3 working days after signing.
pub async fn signed_order(app: &TestApp, customer: uuid::Uuid, days_ago: i64) -> String {
    let (s, o) = app
        .post_json(
            "/api/v1/orders",
            &json!({"customer_id": customer, "country": "SA",
            "service": "new_dids", "range_size": 1, "quantity": 1, "area_code": "11",
            "contact_email": "it@example.com",
            "address": {"street": "King Fahd Road 5", "city": "Riyadh", "postcode": "12211"}}),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_str().expect("id").to_string();
    for step in ["confirm", "submit"] {
        let (s, o) = app
            .post_json(&format!("/api/v1/orders/{id}/{step}"), &Value::Null)
            .await;
        assert_eq!(s, 200, "{step}: {o}");
    }
    let signed = (Utc::now() - Duration::days(days_ago)).date_naive();
    let (s, o) = app
        .post_json(
            &format!("/api/v1/orders/{id}/sign"),
            &json!({"signed_at": format!("{signed}T10:00:00Z")}),
        )
        .await;
    assert_eq!((s, o["state"].as_str()), (200, Some("submitted")), "{o}");
    id
}

/// A ticket opened by partner A's user through the API (the portal's session), its
/// first-response deadline then moved to `due_in` from now.
pub async fn ticket(app: &TestApp, s: &Session, subject: &str, due_in: Duration) -> String {
    let csrf = s.csrf().await;
    let r = s
        .http
        .post(format!("{}/api/v1/tickets", s.base))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", csrf)
        .json(
            &json!({"subject": subject, "message": "<script>alert('m')</script> an invoice",
            "type": "non_technical", "topic": "invoices"}),
        )
        .send()
        .await
        .expect("open a ticket");
    let status = r.status();
    let t: Value = r.json().await.unwrap_or_default();
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_str().expect("id").to_string();
    let due = Utc::now() + due_in;
    match &app.store.backend {
        didhub_store::Backend::Sqlite(p) => {
            sqlx::query("UPDATE tickets SET first_response_due = $1 WHERE id = $2")
                .bind(due)
                .bind(id.parse::<uuid::Uuid>().expect("uuid"))
                .execute(p)
                .await
                .expect("move the deadline");
        }
        didhub_store::Backend::Postgres(p) => {
            sqlx::query("UPDATE tickets SET first_response_due = $1 WHERE id = $2")
                .bind(due)
                .bind(id.parse::<uuid::Uuid>().expect("uuid"))
                .execute(p)
                .await
                .expect("move the deadline");
        }
    }
    id
}

#[tokio::test]
async fn the_dashboard_lists_what_needs_attention_and_links_each_page() {
    for db in [crate::common::Db::Sqlite, crate::common::Db::Postgres] {
        let Some(app) = start_on(db, false).await else {
            continue;
        };
        attention_on(&app).await;
        app.stop().await;
    }
}

/// The dashboard's lists and the pages they link to, on one engine.
async fn attention_on(app: &TestApp) {
    let seed = seed(app).await;
    let late = signed_order(app, seed.customer_a, 20).await;
    let partner = login(app, PARTNER_USER).await;
    let breached = ticket(
        app,
        &partner,
        "<b>Late</b> \"invoice\"",
        -Duration::hours(3),
    )
    .await;
    let risky = ticket(app, &partner, "Soon due", Duration::minutes(30)).await;
    let s = login(app, ADMIN).await;
    let (status, html) = s.page("/dashboard").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Needs attention"), "{html}");
    let section = |id: &str| {
        let from = html
            .find(&format!("<h3 id=\"{id}\">"))
            .unwrap_or_else(|| panic!("{id}: {html}"));
        let rest = &html[from..];
        let end = rest[4..].find("<h3").map(|e| e + 4).unwrap_or(rest.len());
        rest[..end].to_string()
    };
    assert!(section("overdue").contains(&format!("/orders/{late}")));
    assert!(section("at-risk-orders").contains("None."));
    assert!(section("breached").contains(&format!("/tickets/{breached}")));
    assert!(section("breached").contains(&escaped("<b>Late</b> \"invoice\"")));
    assert!(section("at-risk-tickets").contains(&format!("/tickets/{risky}")));
    assert!(!section("at-risk-tickets").contains(&breached));
    assert_eq!(html.matches("<script").count(), 1);
    // The order's page: its timeline.
    let (status, html) = s.page(&format!("/orders/{late}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<dd id=\"state\">submitted</dd>"), "{html}");
    assert!(html.contains("awaiting signature → submitted"), "{html}");
    assert!(html.contains(&escaped(EVIL_CUSTOMER)), "{html}");
    // The ticket's page: the conversation, as text.
    let (status, html) = s.page(&format!("/tickets/{breached}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&escaped("<script>alert('m')</script> an invoice")),
        "{html}"
    );
    // htmx and the countdown, nothing planted.
    assert_eq!(html.matches("<script").count(), 2);
}

#[tokio::test]
async fn partners_see_their_own_orders_and_tickets_and_no_dashboard() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let order_a = signed_order(&app, seed.customer_a, 20).await;
    let order_b = signed_order(&app, seed.customer_b, 20).await;
    let partner = login(&app, PARTNER_USER).await;
    let t = ticket(&app, &partner, "Ours", -Duration::hours(1)).await;
    assert_eq!(partner.page("/dashboard").await.0, 404);
    assert_eq!(partner.page(&format!("/orders/{order_a}")).await.0, 200);
    assert_eq!(partner.page(&format!("/orders/{order_b}")).await.0, 404);
    assert_eq!(partner.page(&format!("/tickets/{t}")).await.0, 200);
    assert_eq!(partner.page("/tickets/not-a-ticket").await.0, 404);
    // Another partner's user: not found.
    user(
        &app,
        "bob@partner-b.example",
        didhub_core::access::Role::PartnerAdmin,
        Some(seed.partner_b),
    )
    .await;
    let bob = login(&app, "bob@partner-b.example").await;
    assert_eq!(bob.page(&format!("/tickets/{t}")).await.0, 404);
    assert_eq!(bob.page(&format!("/orders/{order_a}")).await.0, 404);
}
