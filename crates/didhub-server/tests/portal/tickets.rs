//! The help desk's pages: the ticket list (filters, sort, pages, count, a partner's scope),
//! the new-ticket form, the ticket's forms (reply, internal note, state, class, reveal), the
//! first-response countdown, the desk's at-risk and breached lists and the SLA report.

use chrono::Duration;
use didhub_core::access::Role;
use didhub_store::AuditFilter;

use crate::attention::ticket;
use crate::common::TestApp;
use crate::support::*;

/// Posts the new-ticket form with the session's token: (status, `Location` or the page).
pub async fn open(s: &Session, fields: &[(&str, &str)]) -> (u16, String) {
    let csrf = s.csrf().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = s.post("/tickets/new", &form).await;
    let status = r.status().as_u16();
    if status == 303 {
        let to = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_string();
        return (status, to);
    }
    (status, r.text().await.unwrap_or_default())
}

/// Posts a form of a ticket's page with the session's token: (status, page).
async fn send(s: &Session, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let csrf = s.csrf().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = s.post(path, &form).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// The ticket's id from the address the form sent the browser to.
pub fn id_from(location: &str) -> String {
    location
        .trim_start_matches("/tickets/")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The number (`#N`) a ticket's page heads with.
fn number_of(html: &str) -> String {
    let at = html.find("<h1>Ticket #").expect("ticket heading") + 12;
    html[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect()
}

fn invalid_beside(html: &str, field: &str) -> bool {
    html.contains(&format!("id=\"e-{field}\""))
        && html.contains(&format!("aria-describedby=\"e-{field}\""))
}

async fn partner_b_user(app: &TestApp, seed: &Seed) -> Session {
    user(
        app,
        "bob@partner-b.example",
        Role::PartnerAdmin,
        Some(seed.partner_b),
    )
    .await;
    login(app, "bob@partner-b.example").await
}

#[tokio::test]
async fn the_list_filters_sorts_counts_and_pages_within_the_partners_scope() {
    for db in [crate::common::Db::Sqlite, crate::common::Db::Postgres] {
        let Some(app) = start_on(db, false).await else {
            continue;
        };
        list_on(&app).await;
        app.stop().await;
    }
}

/// The list's filters, sorts, count and pages, on one engine.
async fn list_on(app: &TestApp) {
    let seed = seed(app).await;
    let alice = login(app, PARTNER_USER).await;
    // Deadlines in the opposite order of the numbers: the deadline sort reverses them.
    for (subject, hours) in [("First A", 9), ("Second A", 5), ("Third A", 2)] {
        ticket(app, &alice, subject, Duration::hours(hours)).await;
    }
    let bob = partner_b_user(app, &seed).await;
    ticket(app, &bob, "Only B", Duration::hours(1)).await;
    let admin = login(app, ADMIN).await;

    let (status, html) = admin.page("/tickets").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("4 tickets match."), "{html}");
    // Newest first by default; oldest first on asking.
    let first = |html: &str, a: &str, b: &str| html.find(a) < html.find(b);
    assert!(first(&html, "Only B", "First A"), "{html}");
    let (_, html) = admin.page("/tickets?sort=oldest").await;
    assert!(first(&html, "First A", "Only B"), "{html}");
    // The deadline soonest, a page at a time (the keyset of deadline and number).
    let mut seen = Vec::new();
    let mut path = "/tickets?sort=due&limit=1".to_string();
    loop {
        let (status, html) = admin.page(&path).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("4 tickets match."), "{html}");
        let name = ["Only B", "Third A", "Second A", "First A"]
            .into_iter()
            .find(|n| html.contains(n))
            .expect("one ticket a page");
        seen.push(name);
        let Some(at) = html.find("rel=\"next\"") else {
            break;
        };
        let href_at = html[..at].rfind("href=\"").expect("href") + 6;
        path = html[href_at..]
            .split('"')
            .next()
            .expect("href")
            .replace("&#38;", "&");
    }
    assert_eq!(seen, ["Only B", "Third A", "Second A", "First A"]);
    let (_, html) = admin
        .page(&format!("/tickets?partner_id={}", seed.partner_b))
        .await;
    assert!(html.contains("1 tickets match."), "{html}");
    assert!(
        html.contains("Only B") && !html.contains("First A"),
        "{html}"
    );
    let (_, html) = admin.page("/tickets?state=closed").await;
    assert!(html.contains("0 tickets match."), "{html}");
    let (_, html) = admin.page("/tickets?class=standard&state=open").await;
    assert!(html.contains("4 tickets match."), "{html}");

    // Keyset pages: two, then the rest, the count the filter's all along.
    let (_, html) = admin.page("/tickets?limit=3").await;
    assert!(html.contains("4 tickets match.") && !html.contains("First A"));
    let at = html.find("rel=\"next\"").expect("a next page");
    let href_at = html[..at].rfind("href=\"").expect("href") + 6;
    let href = html[href_at..].split('"').next().expect("href");
    let (status, next) = admin.page(&href.replace("&#38;", "&")).await;
    assert_eq!(status, 200, "{next}");
    assert!(
        next.contains("First A") && !next.contains("Only B"),
        "{next}"
    );
    assert!(next.contains("First page") && !next.contains("rel=\"next\""));

    // A refused filter: beside its field, the value kept; an unknown parameter named.
    let (status, html) = admin.page("/tickets?state=lost").await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "state"), "{html}");
    assert!(html.contains("Correct the filter"), "{html}");
    let (status, html) = admin.page("/tickets?colour=red").await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("colour"), "{html}");
    let (status, html) = admin.page("/tickets?cursor=zz").await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("cursor: not a cursor"), "{html}");

    // A partner user: its partner's tickets only, whatever partner the address names.
    let (_, html) = alice.page("/tickets").await;
    assert!(html.contains("3 tickets match."), "{html}");
    assert!(!html.contains("Only B"), "{html}");
    assert!(!html.contains("id=\"f-partner_id\""), "{html}");
    let (_, html) = alice
        .page(&format!("/tickets?partner_id={}", seed.partner_b))
        .await;
    assert!(html.contains("3 tickets match.") && !html.contains("Only B"));
    // One for the customer: the customer filter finds it alone.
    let (status, _) = open(
        &alice,
        &[
            ("subject", "For the customer"),
            ("message", "Their invoice"),
            ("type", "non_technical"),
            ("topic", "invoices"),
            ("customer_id", &seed.customer_a.to_string()),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, html) = alice
        .page(&format!("/tickets?customer_id={}", seed.customer_a))
        .await;
    assert!(html.contains("1 tickets match.") && html.contains("For the customer"));
    let (status, html) = admin.page("/tickets?customer_id=someone").await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "customer_id"), "{html}");
    // Operations have no desk: 403.
    user(app, "ops@example.com", Role::Operations, None).await;
    let ops = login(app, "ops@example.com").await;
    assert_eq!(ops.page("/tickets").await.0, 403);
}

#[tokio::test]
async fn a_refused_new_ticket_shows_each_error_beside_its_field_and_keeps_what_was_typed() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let (status, html) = alice.page("/tickets/new").await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("id=\"f-partner_id\""), "staff only: {html}");

    // The store's refusals: no message, a technical ticket without its product.
    let subject = "<b>Phones</b> \"down\"";
    let (status, html) = open(
        &alice,
        &[
            ("subject", subject),
            ("message", ""),
            ("type", "technical"),
            ("wms_version", "7.1"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "message"), "{html}");
    assert!(invalid_beside(&html, "pbx_serial"), "{html}");
    assert_eq!(
        input_value(&html, "subject").as_deref(),
        Some(escaped(subject).as_str())
    );
    assert_eq!(input_value(&html, "wms_version").as_deref(), Some("7.1"));
    assert!(!html.contains("<b>Phones"), "{html}");

    // The form's own reading: a reference that is not a ticket number.
    let (status, html) = open(
        &alice,
        &[
            ("subject", "Help"),
            ("message", "It rings once"),
            ("type", "technical"),
            ("device_serial", "W-AIR-77"),
            ("references", "#12, twelve"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "references"), "{html}");
    assert_eq!(
        input_value(&html, "references").as_deref(),
        Some("#12, twelve")
    );
    // A ticket the partner does not have: the store's refusal beside the field.
    let (status, html) = open(
        &alice,
        &[
            ("subject", "Help"),
            ("message", "It rings once"),
            ("type", "technical"),
            ("device_serial", "W-AIR-77"),
            ("references", "#999"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "references"), "{html}");
    assert!(html.contains("no ticket #999"), "{html}");
    let (_, list) = alice.page("/tickets").await;
    assert!(list.contains("0 tickets match."), "nothing opened: {list}");

    // Opened, then a follow-up referencing it: each names the other.
    let (status, to) = open(
        &alice,
        &[
            ("subject", "Help"),
            ("message", "It rings once"),
            ("type", "technical"),
            ("device_serial", "W-AIR-77"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{to}");
    let first = id_from(&to);
    let (_, html) = alice.page(&to).await;
    assert!(html.contains("The ticket is opened."), "{html}");
    let n = number_of(&html);
    let (status, to) = open(
        &alice,
        &[
            ("subject", "Still ringing once"),
            ("message", "Again"),
            ("type", "non_technical"),
            ("topic", "billing"),
            ("references", &format!("#{n}")),
        ],
    )
    .await;
    assert_eq!(status, 303, "{to}");
    let (_, html) = alice.page(&to).await;
    assert!(html.contains(&format!("/tickets/{first}")), "{html}");
    let (_, html) = alice.page(&format!("/tickets/{first}")).await;
    assert!(html.contains("id=\"referenced-by\""), "{html}");
    assert!(html.contains("Still ringing once"), "{html}");
}

#[tokio::test]
async fn a_reply_joins_the_conversation_and_an_internal_note_stays_with_staff() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let id = ticket(&app, &alice, "Invoice", Duration::hours(1)).await;
    let page = format!("/tickets/{id}");
    let desk = login(&app, SUPPORT).await;
    let (_, html) = desk.page(&page).await;
    assert!(html.contains("id=\"f-visibility\""), "{html}");

    let (status, html) = send(
        &desk,
        &format!("{page}/messages"),
        &[
            ("body", "Customer owes us; check first"),
            ("visibility", "internal"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("The internal note is added."), "{html}");
    assert!(html.contains("internal note"), "{html}");
    let reply = "<i>Fixed</i> \"now\"";
    let (status, html) = send(
        &desk,
        &format!("{page}/messages"),
        &[
            ("body", reply),
            ("visibility", "public"),
            ("reply_state", "pending"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<dd id=\"state\">pending</dd>"), "{html}");
    assert!(html.contains("met: due"), "answered in time: {html}");

    // The partner reads the reply as text, never the note, and has no staff fields.
    let (_, html) = alice.page(&page).await;
    assert!(html.contains(&escaped(reply)), "{html}");
    assert!(!html.contains("check first"), "{html}");
    assert!(!html.contains("id=\"f-visibility\""), "{html}");
    assert!(
        !html.contains(&format!("action=\"{page}/class\"")),
        "{html}"
    );
    // Its answer opens the ticket again; a blank one is refused beside the field.
    let (status, html) = send(&alice, &format!("{page}/messages"), &[("body", "  ")]).await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "body"), "{html}");
    let (status, html) = send(
        &alice,
        &format!("{page}/messages"),
        &[("body", "Thanks, it works")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<dd id=\"state\">open</dd>"), "{html}");
}

#[tokio::test]
async fn a_closed_ticket_refuses_a_reply_and_offers_a_new_case_referencing_it() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let id = ticket(&app, &alice, "Invoice", Duration::hours(1)).await;
    let page = format!("/tickets/{id}");
    let (_, html) = alice.page(&page).await;
    let version = input_value(&html, "version").expect("version");
    let n = number_of(&html);
    // A partner may close its ticket, not make it pending (not offered, and refused).
    assert!(!html.contains("<option value=\"pending\""), "{html}");
    let (status, html) = send(
        &alice,
        &format!("{page}/state"),
        &[("state", "pending"), ("version", &version)],
    )
    .await;
    assert_eq!(status, 409, "{html}");
    assert!(invalid_beside(&html, "state"), "{html}");
    let (status, html) = send(
        &alice,
        &format!("{page}/state"),
        &[("state", "closed"), ("version", &version)],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<dd id=\"state\">closed</dd>"), "{html}");
    assert!(
        html.contains(&format!("/tickets/new?references={n}")),
        "{html}"
    );
    assert!(
        !html.contains(&format!("action=\"{page}/messages\"")),
        "{html}"
    );
    // A reply from a page still open: refused (409), saying what to do, the text kept.
    let (status, html) = send(&alice, &format!("{page}/messages"), &[("body", "One more")]).await;
    assert_eq!(status, 409, "{html}");
    assert!(invalid_beside(&html, "body"), "{html}");
    assert!(html.contains("cannot be reopened"), "{html}");
    let (_, html) = alice.page(&format!("/tickets/new?references={n}")).await;
    assert_eq!(input_value(&html, "references"), Some(n));
}

#[tokio::test]
async fn staff_set_the_class_and_the_assignee_on_the_timeline_and_a_stale_form_is_refused() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let id = ticket(&app, &alice, "Calls drop", Duration::hours(1)).await;
    let page = format!("/tickets/{id}");
    let desk = login(&app, SUPPORT).await;
    let (_, html) = desk.page(&page).await;
    let version = input_value(&html, "version").expect("version");
    let (status, html) = send(
        &desk,
        &format!("{page}/class"),
        &[("class", "critical"), ("version", &version)],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "criterion"), "{html}");
    let (status, html) = send(
        &desk,
        &format!("{page}/class"),
        &[
            ("class", "critical"),
            ("criterion", "call_drops"),
            ("class_reason", "all calls drop after 30 s"),
            ("version", &version),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("critical (call drops), set by staff"),
        "{html}"
    );
    // The same form again: the ticket has changed since that page was read.
    let (status, html) = send(
        &desk,
        &format!("{page}/class"),
        &[("class", "standard"), ("version", &version)],
    )
    .await;
    assert_eq!(status, 412, "{html}");
    assert!(invalid_beside(&html, "class"), "{html}");

    // Given to a member of support; the timeline says what changed, who and why.
    let (_, html) = desk.page(&page).await;
    let version = input_value(&html, "version").expect("version");
    let at = html
        .find(&format!(">{SUPPORT}</option>"))
        .expect("support staff offered");
    let value_at = html[..at].rfind("value=\"").expect("value") + 7;
    let support_id = html[value_at..].split('"').next().expect("id").to_string();
    assert!(
        !html.contains(&format!(">{PARTNER_USER}</option>")),
        "{html}"
    );
    let (status, html) = send(
        &desk,
        &format!("{page}/assign"),
        &[("assignee_id", &support_id), ("version", &version)],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("<dd id=\"assignee\">{SUPPORT}</dd>")),
        "{html}"
    );
    assert!(
        html.contains(&format!("assigned: nobody → {SUPPORT}")),
        "{html}"
    );
    assert!(
        html.contains("class: standard → critical (call drops)"),
        "{html}"
    );
    assert!(html.contains("Why: all calls drop after 30 s"), "{html}");
    // Not a user support can give it to: refused beside the field.
    let version = input_value(&html, "version").expect("version");
    let (status, html) = send(
        &desk,
        &format!("{page}/assign"),
        &[
            ("assignee_id", &uuid::Uuid::now_v7().to_string()),
            ("version", &version),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "assignee_id"), "{html}");
    // The partner reads the timeline without support's addresses.
    let (_, html) = alice.page(&page).await;
    assert!(html.contains("assigned: nobody → support"), "{html}");
    assert!(
        !html.contains(&format!("assigned: nobody → {SUPPORT}")),
        "{html}"
    );
    // Partners have no class form: 404.
    let (status, _) = send(
        &alice,
        &format!("{page}/class"),
        &[("class", "standard"), ("version", &version)],
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn staff_filter_the_list_by_assignee_and_partners_have_no_such_field() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let taken = ticket(&app, &alice, "Taken by support", Duration::hours(1)).await;
    ticket(&app, &alice, "Not taken yet", Duration::hours(2)).await;
    let desk = login(&app, SUPPORT).await;
    let page = format!("/tickets/{taken}");
    let (_, html) = desk.page(&page).await;
    let version = input_value(&html, "version").expect("version");
    let at = html
        .find(&format!(">{SUPPORT}</option>"))
        .expect("support staff offered");
    let value_at = html[..at].rfind("value=\"").expect("value") + 7;
    let support_id = html[value_at..].split('"').next().expect("id").to_string();
    let (status, html) = send(
        &desk,
        &format!("{page}/assign"),
        &[("assignee_id", &support_id), ("version", &version)],
    )
    .await;
    assert_eq!(status, 200, "{html}");

    // The list offers support staff as assignees, never a partner user.
    let (status, html) = desk.page("/tickets").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<label for=\"f-assignee_id\">Assignee</label>"),
        "{html}"
    );
    assert!(html.contains(&format!(">{SUPPORT}</option>")), "{html}");
    assert!(
        !html.contains(&format!(">{PARTNER_USER}</option>")),
        "{html}"
    );
    assert!(html.contains("2 tickets match."), "{html}");
    // Filtered: the one assigned, and the assignee chosen in the form.
    let (status, html) = desk
        .page(&format!("/tickets?assignee_id={support_id}"))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("1 tickets match."), "{html}");
    assert!(html.contains("Taken by support"), "{html}");
    assert!(!html.contains("Not taken yet"), "{html}");
    assert!(
        html.contains(&format!("<option value=\"{support_id}\" selected")),
        "{html}"
    );
    // Not an id: the API's message beside the field, the list not shown.
    let (status, html) = desk.page("/tickets?assignee_id=nobody").await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "assignee_id"), "{html}");
    // A partner user has no assignee field.
    let (status, html) = alice.page("/tickets").await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("name=\"assignee_id\""), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn the_reveal_shows_the_remote_access_to_staff_once_audited_and_never_to_partners() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let password = "s3cr\"et<pw>";
    let (status, to) = open(
        &alice,
        &[
            ("subject", "PBX unreachable"),
            ("message", "Nothing answers"),
            ("type", "technical"),
            ("device_serial", "W-AIR-77"),
            ("remote_address", "203.0.113.5:8443"),
            ("remote_login", "maint"),
            ("remote_password", password),
        ],
    )
    .await;
    assert_eq!(status, 303, "{to}");
    let id = id_from(&to);
    let page = format!("/tickets/{id}");
    let (_, html) = alice.page(&page).await;
    assert!(html.contains("203.0.113.5:8443") && html.contains("stored, sealed"));
    assert!(!html.contains("s3cr") && !html.contains("Reveal"), "{html}");
    assert_eq!(send(&alice, &format!("{page}/reveal"), &[]).await.0, 404);

    let desk = login(&app, SUPPORT).await;
    let (_, html) = desk.page(&page).await;
    assert!(html.contains("Reveal the remote access"), "{html}");
    assert!(!html.contains("s3cr"), "{html}");
    let (status, html) = send(&desk, &format!("{page}/reveal"), &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&escaped(password)), "{html}");
    assert!(html.contains("<dd>maint</dd>"), "{html}");
    // The page read again does not show it.
    assert!(!desk.page(&page).await.1.contains("s3cr"));
    let log = app
        .store
        .audit()
        .list_audit(
            &AuditFilter {
                action: Some("ticket.remote_access.reveal".into()),
                ..Default::default()
            },
            10,
            None,
        )
        .await
        .expect("audit");
    assert_eq!(log.items.len(), 1);
    assert_eq!(log.items[0].actor, format!("user:{SUPPORT}"));
    assert_eq!(log.items[0].entity_id.map(|u| u.to_string()), Some(id));
}

#[tokio::test]
async fn the_countdown_says_the_deadline_and_the_support_time_left() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let soon = ticket(&app, &alice, "Soon", Duration::minutes(30)).await;
    let late = ticket(&app, &alice, "Late", -Duration::hours(3)).await;
    let (_, html) = alice.page(&format!("/tickets/{soon}")).await;
    assert!(html.contains("(Europe/Rome)"), "{html}");
    assert!(html.contains("of support time left"), "{html}");
    let at = html.find("data-left-seconds=\"").expect("seconds left") + 19;
    let left: i64 = html[at..]
        .split('"')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!((0..=1800).contains(&left), "{left}");
    assert!(html.contains("<script src=\"/static/sla-clock.js\" defer>"));
    let (_, html) = alice.page(&format!("/tickets/{late}")).await;
    assert!(html.contains("breached: due"), "{html}");
    assert!(html.contains("Overdue by 3 h 00 min."), "{html}");
    let r = alice.get("/static/sla-clock.js").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-type").is_some_and(|v| v
        .to_str()
        .unwrap_or_default()
        .starts_with("text/javascript")));
}

#[tokio::test]
async fn the_desk_lists_at_risk_and_breached_tickets_and_partners_get_not_found() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let late = ticket(&app, &alice, "<b>Late</b>", -Duration::hours(3)).await;
    let risky = ticket(&app, &alice, "Soon due", Duration::minutes(30)).await;
    let calm = ticket(&app, &alice, "Calm", Duration::hours(30)).await;
    let desk = login(&app, SUPPORT).await;
    let (status, html) = desk.page("/tickets/at-risk").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("/tickets/{risky}")), "{html}");
    assert!(!html.contains(&late) && !html.contains(&calm), "{html}");
    assert!(html.contains("1 tickets at risk."), "{html}");
    let (status, html) = desk.page("/tickets/breached").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("/tickets/{late}")), "{html}");
    assert!(html.contains(&escaped("<b>Late</b>")), "{html}");
    assert!(!html.contains(&risky) && !html.contains(&calm), "{html}");
    assert_eq!(desk.page("/tickets/breached?cursor=zz").await.0, 422);
    let (_, html) = desk.page("/dashboard").await;
    assert!(html.contains("href=\"/tickets/at-risk\""), "{html}");
    assert!(html.contains("href=\"/tickets/breached\""), "{html}");
    for path in ["/tickets/at-risk", "/tickets/breached", "/tickets/report"] {
        assert_eq!(alice.page(path).await.0, 404, "{path}");
    }
    let (_, html) = alice.page("/tickets").await;
    assert!(!html.contains("href=\"/tickets/at-risk\""), "{html}");
}

#[tokio::test]
async fn the_sla_report_draws_attainment_with_its_table() {
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let answered = ticket(&app, &alice, "Answered", Duration::hours(1)).await;
    ticket(&app, &alice, "Late", -Duration::hours(3)).await;
    let desk = login(&app, SUPPORT).await;
    let (status, _) = send(
        &desk,
        &format!("/tickets/{answered}/messages"),
        &[("body", "Done"), ("visibility", "public")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, html) = desk.page("/tickets/report").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<svg class=\"chart\" role=\"img\""), "{html}");
    assert!(html.contains("<rect"), "{html}");
    assert!(html.contains("50.0 %"), "{html}");
    let row = html
        .split("<tr>")
        .find(|r| r.contains("<td>europe</td>"))
        .expect("the centre's row");
    assert!(row.contains("<td>standard</td>"), "{row}");
    for n in ["2", "1", "1", "0"] {
        assert!(
            row.contains(&format!("<td class=\"num\">{n}</td>")),
            "{row}"
        );
    }
    // A month that is not one: beside its field, kept.
    let (status, html) = desk.page("/tickets/report?from=2026-13").await;
    assert_eq!(status, 422, "{html}");
    assert!(invalid_beside(&html, "from"), "{html}");
    assert_eq!(input_value(&html, "from").as_deref(), Some("2026-13"));
}
