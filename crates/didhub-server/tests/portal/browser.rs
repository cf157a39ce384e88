//! The portal in a real browser: Debian's chromium driven through chromium-driver (WebDriver),
//! headless, against a server on SQLite; axe-core checks every page against the WCAG 2 A and
//! AA rules. Without chromium-driver the tests skip, except under `CI=true`, where they fail.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::common::TestApp;
use crate::support::*;

/// axe-core (MPL-2.0), a test-only file: docs/PORTAL.md.
const AXE: &str = include_str!("assets/axe-4.14.1.min.js");
const DRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Browser {
    driver: Child,
    client: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A headless chromium session, or `None` (skip) when the browser is not installed and this
/// is not CI.
async fn browser() -> Option<Browser> {
    let missing = [DRIVER, CHROMIUM]
        .into_iter()
        .find(|p| !std::path::Path::new(p).exists());
    if let Some(p) = missing {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {p} is missing: apt-get install chromium chromium-driver"
        );
        eprintln!("skipped: {p} is missing (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let driver = Command::new(DRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium-driver");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    let client = loop {
        let mut b = ClientBuilder::new(HttpConnector::new());
        match b.capabilities(caps.clone()).connect(&url).await {
            Ok(c) => break c,
            Err(e) if start.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("chromium-driver did not answer: {e}"),
        }
    };
    Some(Browser { driver, client })
}

/// Runs axe-core on the current page with the WCAG 2 A and AA rules (2.0, 2.1, 2.2) and
/// fails on any violation, naming the rule and the elements.
async fn axe(c: &Client, what: &str) {
    let present = c
        .execute("return typeof window.axe !== 'undefined';", vec![])
        .await
        .expect("probe axe");
    if present != Value::Bool(true) {
        c.execute(AXE, vec![]).await.expect("load axe");
    }
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag',
                 values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})
               .then(r => done({passes: r.passes.length, violations: r.violations.map(v =>
                   ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.html)}))}))
               .catch(e => done({passes: 0, violations: [{id: 'axe-error', help: String(e)}]}));",
            vec![],
        )
        .await
        .expect("run axe");
    let list = result["violations"].as_array().cloned().unwrap_or_default();
    assert!(
        list.is_empty(),
        "{what}: axe found {} violation(s): {}",
        list.len(),
        serde_json::to_string_pretty(&list).unwrap_or_default()
    );
    // The rules ran: a page with nothing checked would pass vacuously.
    assert!(
        result["passes"].as_u64().unwrap_or(0) >= 5,
        "{what}: axe checked nothing: {result}"
    );
    if let Ok(dir) = std::env::var("DIDHUB_PORTAL_SCREENSHOTS") {
        let png = c.screenshot().await.expect("screenshot");
        let name: String = what
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
            .collect();
        std::fs::write(format!("{dir}/{name}.png"), png).expect("write screenshot");
    }
}

async fn heading(c: &Client) -> String {
    c.find(Locator::Css("h1"))
        .await
        .expect("h1")
        .text()
        .await
        .expect("text")
}

/// Signs in with the keyboard alone: type, Tab, type, Enter.
async fn sign_in(c: &Client, app: &TestApp, email: &str, next: &str) {
    c.goto(&app.url(next)).await.expect("open");
    let field = c.find(Locator::Id("f-email")).await.expect("e-mail field");
    field.send_keys(email).await.expect("type");
    let active = c.active_element().await.expect("focus");
    active
        .send_keys(&format!(
            "{}{PASSWORD}{}",
            char::from(Key::Tab),
            char::from(Key::Enter)
        ))
        .await
        .expect("tab, type, enter");
    wait_for(c, |url| !url.contains("/login")).await;
}

/// Types `text` into the field with that id.
async fn type_into(c: &Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("field {id}: {e}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("typing into {id}: {e}"));
}

/// Clicks what the locator finds.
async fn click(c: &Client, at: Locator<'_>) {
    c.find(at)
        .await
        .unwrap_or_else(|e| panic!("{at:?}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {at:?}: {e}"));
}

/// The value of the field with that id, as the browser holds it.
async fn value_of(c: &Client, id: &str) -> Option<String> {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("field {id}: {e}"))
        .prop("value")
        .await
        .unwrap_or_else(|e| panic!("value of {id}: {e}"))
}

async fn wait_for(c: &Client, ok: impl Fn(&str) -> bool) {
    let start = Instant::now();
    loop {
        let url = c.current_url().await.expect("url").to_string();
        if ok(&url) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_page_passes_axe_and_works_with_the_keyboard() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    let seed = seed(&app).await;
    let (cp, _) = crate::packages::package_of(&app, seed.customer_a).await;
    let package = app
        .store
        .assignment()
        .list_packages()
        .await
        .expect("packages")[0]
        .id;
    let order = crate::attention::signed_order(&app, seed.customer_a, 20).await;
    let partner = login(&app, PARTNER_USER).await;
    let late = chrono::Duration::hours(-3);
    let ticket = crate::attention::ticket(&app, &partner, "<b>Late</b> invoice", late).await;
    let c = &b.client;

    c.goto(&app.url("/login")).await.expect("login");
    axe(c, "login").await;
    // A refused sign-in: the error is announced and the form is still accessible.
    type_into(c, "f-email", &format!("{ADMIN}{}", char::from(Key::Enter))).await;
    c.wait()
        .for_element(Locator::Id("e-password"))
        .await
        .expect("error beside the field");
    axe(c, "login with errors").await;

    sign_in(c, &app, ADMIN, "/login?next=%2Fdids").await;
    assert!(c
        .current_url()
        .await
        .expect("url")
        .as_str()
        .ends_with("/dids"));

    // The skip link is the first stop of Tab and moves focus to the main content.
    c.find(Locator::Css("body")).await.expect("body");
    c.execute(
        "document.activeElement.blur(); window.scrollTo(0, 0);",
        vec![],
    )
    .await
    .expect("reset focus");
    let body = c.find(Locator::Css("body")).await.expect("body");
    body.send_keys(&char::from(Key::Tab).to_string())
        .await
        .expect("tab");
    let first = c.active_element().await.expect("focused");
    assert_eq!(first.text().await.expect("text"), "Skip to main content");
    first
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .expect("enter");
    let focused = c
        .execute("return document.activeElement.id;", vec![])
        .await
        .expect("focus");
    assert_eq!(focused, json!("main"));

    let pages = [
        ("/dashboard".to_string(), "Dashboard"),
        ("/dids".to_string(), "DIDs"),
        ("/dids?country=Narnia".to_string(), "DIDs"),
        (format!("/dids/{}", seed.evil_did), "DID +33123456789"),
        ("/operators".to_string(), "Operators"),
        ("/customers".to_string(), "Customers"),
        (format!("/customers/{}", seed.customer_a), "Customer"),
        ("/audit".to_string(), "Audit log"),
        ("/audit?since=yesterday".to_string(), "Audit log"),
        ("/dids/new".to_string(), "Add DIDs"),
        (format!("/orders/{order}"), "Order #"),
        (format!("/tickets/{ticket}"), "Ticket #"),
        ("/packages".to_string(), "Packages"),
        ("/tokens".to_string(), "API tokens"),
        ("/users".to_string(), "Users"),
        ("/partners".to_string(), "Partners"),
        ("/packages/new".to_string(), "New package"),
        (format!("/packages/{package}"), "Package Starter"),
        ("/client-packages".to_string(), "Client packages"),
        (format!("/client-packages/{cp}"), "Client package"),
        ("/routing".to_string(), "Routing check"),
        (
            format!("/routing?number={}", urlencode(ASSIGNED)),
            "Routing check",
        ),
        ("/routing?number=nonsense".to_string(), "Routing check"),
        ("/dids/bulk?country=GB".to_string(), "Edit or delete DIDs"),
        (
            format!("/dids/bulk?did={}%3A1", seed.evil_did),
            "Edit or delete DIDs",
        ),
        (format!("/dids/{}", uuid::Uuid::now_v7()), "Page not found"),
    ];
    for (path, h1) in &pages {
        c.goto(&app.url(path)).await.expect("open");
        assert!(heading(c).await.starts_with(h1), "{path}");
        axe(c, path).await;
    }
}

#[tokio::test]
async fn filtering_the_did_list_updates_it_in_place_and_keeps_the_address() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    seed(&app).await;
    let c = &b.client;
    sign_in(c, &app, ADMIN, "/login?next=%2Fdids").await;
    let count = c.find(Locator::Id("count")).await.expect("count");
    assert_eq!(count.text().await.expect("text"), "121 DIDs match.");
    // Mark the page: a full reload would lose the mark, an htmx swap keeps it.
    c.execute("window.didhubMark = 1;", vec![])
        .await
        .expect("mark");
    let status = c.find(Locator::Id("f-status")).await.expect("status");
    status.select_by_value("reserved").await.expect("choose");
    let prefix = c.find(Locator::Id("f-prefix")).await.expect("prefix");
    prefix
        .send_keys(&format!("+33{}", char::from(Key::Enter)))
        .await
        .expect("type and submit");
    wait_for(c, |url| url.contains("status=reserved")).await;
    let start = Instant::now();
    loop {
        let text = c
            .find(Locator::Id("count"))
            .await
            .expect("count")
            .text()
            .await
            .expect("text");
        if text == "1 DID matches." {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "count is {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mark = c
        .execute("return window.didhubMark === 1;", vec![])
        .await
        .expect("mark");
    assert_eq!(mark, json!(true), "updated by htmx, not a reload");
    axe(c, "the filtered list").await;
    // A bad value: the error beside its field, what was typed kept.
    let country = c.find(Locator::Id("f-country")).await.expect("country");
    country
        .send_keys(&format!("Narnia{}", char::from(Key::Enter)))
        .await
        .expect("type");
    let err = c
        .wait()
        .for_element(Locator::Id("e-country"))
        .await
        .expect("error");
    assert!(!err.text().await.expect("text").is_empty());
    let kept = value_of(c, "f-country").await;
    assert_eq!(kept.as_deref(), Some("Narnia"));
}

#[tokio::test]
async fn planted_markup_renders_as_text_in_the_browser() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    let seed = seed(&app).await;
    let c = &b.client;
    sign_in(c, &app, ADMIN, "/login").await;
    c.goto(&app.url(&format!("/dids/{}", seed.evil_did)))
        .await
        .expect("open");
    let facts = c
        .find(Locator::Css("dl.facts"))
        .await
        .expect("facts")
        .text()
        .await
        .expect("text");
    assert!(facts.contains(EVIL_TAG), "{facts}");
    assert!(facts.contains(EVIL_NOTES), "{facts}");
    assert!(facts.contains(EVIL_OPERATOR), "{facts}");
    // Nothing planted became an element or ran.
    let planted = c
        .execute(
            "return document.querySelectorAll('main script, main img, main b').length;",
            vec![],
        )
        .await
        .expect("count");
    assert_eq!(planted, json!(0));
    c.goto(&app.url("/customers")).await.expect("open");
    let table = c
        .find(Locator::Css("table"))
        .await
        .expect("table")
        .text()
        .await
        .expect("text");
    assert!(table.contains(EVIL_CUSTOMER), "{table}");
}

#[tokio::test]
async fn a_partner_user_opening_another_partners_customer_gets_not_found() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    let seed = seed(&app).await;
    let c = &b.client;
    sign_in(c, &app, PARTNER_USER, "/login").await;
    assert!(c
        .current_url()
        .await
        .expect("url")
        .as_str()
        .ends_with("/customers"));
    axe(c, "a partner's customers").await;
    c.goto(&app.url(&format!("/customers/{}", seed.customer_b)))
        .await
        .expect("open");
    assert_eq!(heading(c).await, "Page not found");
    let body = c.source().await.expect("source");
    assert!(!body.contains("Bravo Ltd"));
    c.goto(&app.url("/dids")).await.expect("open");
    assert_eq!(heading(c).await, "Page not found", "a staff page");
    axe(c, "not found").await;
}

#[tokio::test]
async fn the_did_forms_show_their_errors_accessibly_and_keep_what_was_typed() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    seed(&app).await;
    let c = &b.client;
    sign_in(c, &app, ADMIN, "/login?next=%2Fdids%2Fnew").await;
    let numbers = c.find(Locator::Id("f-numbers")).await.expect("numbers");
    numbers
        .send_keys("+442079463000\nnonsense")
        .await
        .expect("type");
    click(c, Locator::Css("form.form button[type=submit]")).await;
    c.wait()
        .for_element(Locator::Id("e-operator_id"))
        .await
        .expect("error beside the operator");
    let kept = value_of(c, "f-numbers").await;
    assert_eq!(kept.as_deref(), Some("+442079463000\nnonsense"));
    axe(c, "add with errors").await;

    // A bulk edit confirmed with a count that is no longer the filter's.
    c.goto(&app.url("/dids/bulk?country=GB"))
        .await
        .expect("open");
    c.execute(
        "document.querySelector('form[action=\"/dids/bulk-edit\"] button').value = '3';",
        vec![],
    )
    .await
    .expect("stale count");
    type_into(c, "f-tag", "kept").await;
    c.find(Locator::Css("form[action=\"/dids/bulk-edit\"] button"))
        .await
        .expect("Change")
        .click()
        .await
        .expect("submit");
    c.wait()
        .for_element(Locator::Id("e-expected"))
        .await
        .expect("the count refused");
    axe(c, "bulk edit refused").await;
}

#[tokio::test]
async fn deactivating_a_client_package_shows_its_dids_on_hold_and_unreachable() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    let seed = seed(&app).await;
    let (cp, _) = crate::packages::package_of(&app, seed.customer_a).await;
    let c = &b.client;
    sign_in(
        c,
        &app,
        ADMIN,
        &format!("/login?next=%2Fclient-packages%2F{cp}"),
    )
    .await;
    let row = c
        .find(Locator::Css("#package-dids tbody tr"))
        .await
        .expect("the package's DID")
        .text()
        .await
        .expect("text");
    assert!(
        row.contains("reachable: sip:desk@pbx.partner-a.example"),
        "{row}"
    );
    // With the keyboard: focus the button, press Enter.
    let deactivate = c
        .find(Locator::Css("button[name=state][value=inactive]"))
        .await
        .expect("Deactivate");
    c.execute(
        "arguments[0].focus();",
        vec![serde_json::to_value(&deactivate).expect("el")],
    )
    .await
    .expect("focus");
    deactivate
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .expect("press");
    c.wait()
        .for_element(Locator::Id("done"))
        .await
        .expect("the change is confirmed");
    let state = c
        .find(Locator::Id("state"))
        .await
        .expect("state")
        .text()
        .await
        .expect("text");
    assert_eq!(state, "inactive");
    let row = c
        .find(Locator::Css("#package-dids tbody tr"))
        .await
        .expect("the package's DID")
        .text()
        .await
        .expect("text");
    assert!(row.contains("on hold"), "{row}");
    assert!(row.contains("unreachable (hold)"), "{row}");
    axe(c, "a deactivated client package").await;
    // The routing check says the same.
    c.goto(&app.url("/routing")).await.expect("routing");
    type_into(
        c,
        "f-number",
        &format!("{ASSIGNED}{}", char::from(Key::Enter)),
    )
    .await;
    c.wait()
        .for_element(Locator::Id("route"))
        .await
        .expect("the route");
    let route = c
        .find(Locator::Id("route"))
        .await
        .expect("route")
        .text()
        .await
        .expect("text");
    assert!(route.contains("unreachable (hold)"), "{route}");
}

#[tokio::test]
async fn an_operations_user_imports_a_messy_file_reads_the_report_and_imports_the_good_rows() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    seed(&app).await;
    let c = &b.client;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("messy.csv");
    std::fs::write(&file, crate::import::MESSY).expect("write the file");
    sign_in(c, &app, ADMIN, "/login?next=%2Fdids%2Fimport").await;
    assert_eq!(heading(c).await, "Import DIDs");
    axe(c, "import").await;
    type_into(c, "f-file", file.to_str().expect("path")).await;
    type_into(
        c,
        "f-operator",
        &format!("Import Carrier{}", char::from(Key::Enter)),
    )
    .await;
    c.wait()
        .for_element(Locator::Id("report"))
        .await
        .expect("the report");
    let report = c
        .find(Locator::Id("report"))
        .await
        .expect("report")
        .text()
        .await
        .expect("text");
    assert!(report.contains("2 rows can be imported"), "{report}");
    let refused = c
        .find(Locator::Id("rejects"))
        .await
        .expect("refused rows")
        .text()
        .await
        .expect("text");
    assert!(refused.contains("not-a-number"), "{refused}");
    assert!(
        refused.contains("<script>alert(1)</script>"),
        "shown as text: {refused}"
    );
    axe(c, "import report").await;
    // Fixes nothing: imports the good rows.
    c.find(Locator::Css("form[action=\"/dids/import/confirm\"] button"))
        .await
        .expect("Import")
        .click()
        .await
        .expect("import");
    c.wait()
        .for_element(Locator::Id("done"))
        .await
        .expect("done");
    let done = c
        .find(Locator::Id("done"))
        .await
        .expect("done")
        .text()
        .await
        .expect("text");
    assert!(done.contains("2 DIDs imported."), "{done}");
    axe(c, "import done").await;
    assert!(app
        .store
        .inventory()
        .get_did_by_number("+442079464001")
        .await
        .is_ok());
}

#[tokio::test]
async fn a_large_import_shows_its_progress_and_then_its_report_in_place() {
    let Some(b) = browser().await else { return };
    let app = crate::common::spawn_app_tuned(
        crate::common::Db::Sqlite,
        |_| {},
        |s| {
            s.secure_cookies = false;
            s.import_wait = Duration::ZERO;
        },
    )
    .await
    .expect("SQLite app");
    seed(&app).await;
    let c = &b.client;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("large.csv");
    let mut rows = String::from("number\n");
    for i in 0..100_000 {
        rows.push_str(&format!("+4420795{i:05}\n"));
    }
    std::fs::write(&file, rows).expect("write the file");
    sign_in(c, &app, ADMIN, "/login?next=%2Fdids%2Fimport").await;
    type_into(c, "f-file", file.to_str().expect("path")).await;
    type_into(
        c,
        "f-operator",
        &format!("Import Carrier{}", char::from(Key::Enter)),
    )
    .await;
    c.wait()
        .for_element(Locator::Id("rows"))
        .await
        .expect("the progress");
    let url = c.current_url().await.expect("url");
    assert!(url.path().starts_with("/dids/import/progress/"), "{url}");
    axe(c, "import progress").await;
    // htmx asks again every second; the report replaces the progress in place.
    c.wait()
        .at_most(Duration::from_secs(120))
        .for_element(Locator::Id("report"))
        .await
        .expect("the report");
    let report = c
        .find(Locator::Id("report"))
        .await
        .expect("report")
        .text()
        .await
        .expect("text");
    assert!(report.contains("100,000 rows can be imported"), "{report}");
    axe(c, "import progress done").await;
}

#[tokio::test]
async fn a_service_added_mid_term_shows_the_seeds_amount_before_confirmation() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    let seed = seed(&app).await;
    let pbx = crate::pbx::licensed_pbx(&app, seed.customer_a).await;
    let c = &b.client;
    sign_in(
        c,
        &app,
        PARTNER_USER,
        &format!("/login?next=%2Fpbxs%2F{pbx}"),
    )
    .await;
    assert_eq!(heading(c).await, "PBX HQ <main>");
    axe(c, "a PBX").await;
    let kind = c.find(Locator::Id("f-kind")).await.expect("service");
    kind.select_by_value("sip_trunk").await.expect("choose");
    type_into(c, "f-currency", "EUR").await;
    type_into(
        c,
        "f-service_start",
        &format!("2020-08-10{}", char::from(Key::Enter)),
    )
    .await;
    c.wait()
        .for_element(Locator::Id("quote"))
        .await
        .expect("the quote");
    let quote = c
        .find(Locator::Id("quote"))
        .await
        .expect("quote")
        .text()
        .await
        .expect("text");
    assert!(quote.contains("913.97 EUR"), "{quote}");
    axe(c, "a service's quote").await;
    let none = app
        .store
        .licensing()
        .list_services(
            didhub_store::accounts::orgs::Scope::All,
            pbx.parse().expect("id"),
        )
        .await
        .expect("services");
    assert!(none.is_empty(), "nothing added before the confirmation");
    c.find(Locator::Css("form[action$=\"/services\"] button"))
        .await
        .expect("Add it")
        .click()
        .await
        .expect("confirm");
    c.wait()
        .for_element(Locator::Id("done"))
        .await
        .expect("added");
    let done = c
        .find(Locator::Id("done"))
        .await
        .expect("done")
        .text()
        .await
        .expect("text");
    assert!(done.contains("913.97 EUR charged"), "{done}");
}

#[tokio::test]
async fn an_order_form_follows_the_catalog_shows_the_check_and_saves_a_draft() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    let seed = seed(&app).await;
    let submitted = crate::attention::signed_order(&app, seed.customer_a, 20).await;
    let c = &b.client;
    sign_in(c, &app, ADMIN, "/login?next=%2Forders").await;
    assert_eq!(heading(c).await, "Orders");
    axe(c, "the orders").await;
    c.goto(&app.url("/orders?attention=overdue"))
        .await
        .expect("open");
    let row = c
        .find(Locator::Css("#orders tbody tr"))
        .await
        .expect("the overdue order")
        .text()
        .await
        .expect("text");
    assert!(row.contains("overdue"), "{row}");
    axe(c, "orders past their promise").await;
    c.goto(&app.url("/orders?state=lost")).await.expect("open");
    c.find(Locator::Id("e-state"))
        .await
        .expect("the refused filter beside its field");
    axe(c, "orders, a refused filter").await;
    // The form: the country, then the service; htmx draws the fields they need in place.
    c.goto(&app.url("/orders/new")).await.expect("open");
    axe(c, "a new order").await;
    c.find(Locator::Id("f-customer_id"))
        .await
        .expect("customer")
        .select_by_value(&seed.customer_a.to_string())
        .await
        .expect("choose the customer");
    type_into(c, "f-country", &format!("GB{}", char::from(Key::Tab))).await;
    // The country's change redraws the form: choose the service (again, should the redraw
    // come after the choice) until the porting fields are there.
    let start = Instant::now();
    while c.find(Locator::Id("f-numbers")).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no porting fields"
        );
        if let Ok(service) = c.find(Locator::Id("f-service")).await {
            let _ = service.select_by_value("full_porting").await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(c
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/orders/new"));
    axe(c, "a new porting order's fields").await;
    type_into(c, "f-numbers", "2079461001").await;
    click(c, Locator::Css("button[value=check]")).await;
    c.wait()
        .for_element(Locator::Id("e-numbers"))
        .await
        .expect("the number's problem beside it");
    let kept = value_of(c, "f-numbers").await;
    assert_eq!(kept.as_deref(), Some("2079461001"));
    axe(c, "a new order, checked").await;
    click(c, Locator::Css("button[value=save]")).await;
    c.wait()
        .for_element(Locator::Id("problems"))
        .await
        .expect("the order's page, what is left listed");
    assert_eq!(
        c.find(Locator::Id("state"))
            .await
            .expect("state")
            .text()
            .await
            .expect("text"),
        "quote"
    );
    axe(c, "a quote with its form, upload and actions").await;
    // Operations' view of a submitted order: register, reject, cancel.
    c.goto(&app.url(&format!("/orders/{submitted}")))
        .await
        .expect("open");
    c.find(Locator::Css(&format!(
        "form[action=\"/orders/{submitted}/register\"]"
    )))
    .await
    .expect("the register form");
    axe(c, "a submitted order, operations' actions").await;
}

/// Waits until the element `id` reads `want`.
async fn text_becomes(c: &Client, id: &str, want: &str) {
    let start = Instant::now();
    loop {
        let text = match c.find(Locator::Id(id)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "#{id} is {text:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_operations_user_bulk_edits_a_filter_and_confirms_its_count() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    seed(&app).await;
    let c = &b.client;
    sign_in(c, &app, ADMIN, "/login?next=%2Fdids").await;
    // Filters the list: the ten numbers of a prefix.
    type_into(
        c,
        "f-prefix",
        &format!("+44207946001{}", char::from(Key::Enter)),
    )
    .await;
    wait_for(c, |url| url.contains("prefix=")).await;
    text_becomes(c, "count", "10 DIDs match.").await;
    axe(c, "the filtered list").await;
    // Opens "Edit or delete all 10 matching".
    click(c, Locator::LinkText("Edit or delete all 10 matching")).await;
    wait_for(c, |url| url.contains("/dids/bulk?")).await;
    assert_eq!(heading(c).await, "Edit or delete DIDs");
    let chosen = c
        .find(Locator::Id("count"))
        .await
        .expect("count")
        .text()
        .await
        .expect("text");
    assert!(chosen.contains("10"), "{chosen}");
    axe(c, "the bulk edit of a filter").await;
    // Changes the tag, with a reason, and confirms the count the button carries.
    type_into(c, "f-tag", "campaign-7").await;
    type_into(c, "f-reason", "tagged for the spring campaign").await;
    let confirm = c
        .find(Locator::Css("form[action=\"/dids/bulk-edit\"] button"))
        .await
        .expect("Change");
    assert_eq!(confirm.text().await.expect("text"), "Change 10 DIDs");
    confirm.click().await.expect("confirm");
    text_becomes(c, "done", "10 DIDs changed.").await;
    axe(c, "the bulk edit done").await;
    // Sees the result: the list by the new tag has exactly those ten.
    c.goto(&app.url("/dids?tag=campaign-7"))
        .await
        .expect("open");
    text_becomes(c, "count", "10 DIDs match.").await;
    let rows = c
        .find_all(Locator::Css("#main table tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 10);
    for r in rows {
        let t = r.text().await.expect("row");
        assert!(t.contains("+44207946001"), "{t}");
    }
    axe(c, "the list by the new tag").await;
}

#[tokio::test]
async fn the_account_and_stock_pages_pass_axe() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    let seed = seed(&app).await;
    let pbx = crate::pbx::licensed_pbx(&app, seed.customer_a).await;
    let package = app
        .store
        .assignment()
        .list_packages()
        .await
        .expect("packages")[0]
        .id;
    let support = app
        .store
        .accounts()
        .find_user(SUPPORT)
        .await
        .expect("read")
        .expect("user")
        .id;
    // Two days of stock: the chart, its table and the forecast are drawn.
    let today = chrono::Utc::now().date_naive();
    app.store
        .inventory()
        .record_stock_day(today - chrono::Duration::days(5))
        .await
        .expect("record");
    let c = &b.client;
    sign_in(c, &app, ADMIN, "/login?next=%2Fdashboard").await;
    assert!(c.find(Locator::Css("svg polyline")).await.is_ok());
    click(c, Locator::Css("details.numbers summary")).await;
    axe(c, "the dashboard with the stock over time").await;
    let pages = [
        (format!("/partners/{}", seed.partner_b), "Partner Partner B"),
        (format!("/customers/{}", seed.customer_a), "Customer"),
        (format!("/pbxs/{pbx}"), "PBX HQ"),
        (format!("/users/{support}"), "User desk@example.com"),
        (format!("/packages/{package}"), "Package Starter"),
        ("/nope".to_string(), "Page not found"),
    ];
    for (path, h1) in &pages {
        c.goto(&app.url(path)).await.expect("open");
        assert!(heading(c).await.starts_with(h1), "{path}");
        axe(c, path).await;
    }
    // Forms refused: errors beside their fields, still accessible.
    c.goto(&app.url(&format!("/pbxs/{pbx}")))
        .await
        .expect("open");
    c.find(Locator::Id("f-period_start"))
        .await
        .expect("period start")
        .send_keys(&format!(
            "{}yesterday{}",
            char::from(Key::End),
            char::from(Key::Enter)
        ))
        .await
        .expect("type and submit");
    c.wait()
        .for_element(Locator::Id("e-period_start"))
        .await
        .expect("error beside the day");
    axe(c, "a license refused").await;
    c.goto(&app.url(&format!("/packages/{package}")))
        .await
        .expect("open");
    type_into(
        c,
        "f-price_amount_0",
        &format!("ten{}", char::from(Key::Enter)),
    )
    .await;
    c.wait()
        .for_element(Locator::Id("e-price_amount_0"))
        .await
        .expect("error beside the amount");
    axe(c, "a price refused").await;
    c.goto(&app.url("/customers")).await.expect("open");
    type_into(
        c,
        "f-customer_name",
        &format!("Delta{}", char::from(Key::Enter)),
    )
    .await;
    c.wait()
        .for_element(Locator::Id("e-customer_partner"))
        .await
        .expect("error beside the partner");
    axe(c, "a customer refused").await;
    c.goto(&app.url(&format!("/users/{support}")))
        .await
        .expect("open");
    type_into(c, "f-password", &format!("short{}", char::from(Key::Enter))).await;
    c.wait()
        .for_element(Locator::Id("e-password_again"))
        .await
        .expect("error beside the second password");
    axe(c, "a password refused").await;
}

#[tokio::test]
async fn the_help_desk_pages_pass_axe_and_support_answers_with_the_keyboard() {
    let Some(b) = browser().await else { return };
    let app = start(false).await;
    seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let hour = chrono::Duration::hours(1);
    crate::attention::ticket(&app, &alice, "<b>Late</b>", hour * -3).await;
    crate::attention::ticket(&app, &alice, "Soon due", chrono::Duration::minutes(30)).await;
    let (status, to) = crate::tickets::open(
        &alice,
        &[
            ("subject", "PBX unreachable"),
            ("message", "Nothing answers"),
            ("type", "technical"),
            ("device_serial", "W-AIR-77"),
            ("remote_address", "203.0.113.5"),
            ("remote_login", "maint"),
            ("remote_password", "pw-of-the-test"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{to}");
    let id = crate::tickets::id_from(&to);
    let c = &b.client;
    sign_in(c, &app, SUPPORT, "/login?next=%2Ftickets").await;
    let pages = [
        ("/tickets", "Tickets"),
        ("/tickets?state=lost", "Tickets"),
        ("/tickets/at-risk", "Tickets at risk"),
        ("/tickets/breached", "Tickets past"),
        ("/tickets/report", "SLA report"),
        ("/tickets/report?from=2026-13", "SLA report"),
        ("/tickets/new", "Open a ticket"),
    ];
    for (path, h1) in pages {
        c.goto(&app.url(path)).await.expect("open");
        assert!(heading(c).await.starts_with(h1), "{path}");
        axe(c, path).await;
    }
    // The new-ticket form refused: errors beside the fields, what was typed kept.
    type_into(c, "f-subject", "Kept").await;
    click(c, Locator::Css("form.form button[type=submit]")).await;
    c.wait()
        .for_element(Locator::Id("e-message"))
        .await
        .expect("error beside the message");
    let kept = value_of(c, "f-subject").await;
    assert_eq!(kept.as_deref(), Some("Kept"));
    axe(c, "new ticket with errors").await;

    // The ticket: axe, then the reveal, then a reply typed and sent with the keyboard.
    c.goto(&app.url(&format!("/tickets/{id}")))
        .await
        .expect("open");
    axe(c, "ticket").await;
    c.find(Locator::Css("form[action$=\"/reveal\"] button"))
        .await
        .expect("reveal")
        .click()
        .await
        .expect("reveal");
    c.wait()
        .for_element(Locator::Id("revealed"))
        .await
        .expect("revealed");
    axe(c, "ticket with the remote access revealed").await;
    let body = c.find(Locator::Id("f-body")).await.expect("message");
    body.send_keys("We are on it").await.expect("type");
    c.execute(
        "document.querySelector('form[action$=\"/messages\"] button').focus();",
        vec![],
    )
    .await
    .expect("focus the button");
    c.active_element()
        .await
        .expect("button")
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .expect("enter");
    c.wait()
        .for_element(Locator::Id("done"))
        .await
        .expect("sent");
    let conversation = c
        .find(Locator::Id("conversation"))
        .await
        .expect("conversation")
        .text()
        .await
        .expect("text");
    assert!(conversation.contains("We are on it"), "{conversation}");
    axe(c, "ticket answered").await;

    // The partner's side: its list, its form, its ticket (no staff fields).
    click(c, Locator::Css("form.who button")).await;
    wait_for(c, |url| url.contains("/login")).await;
    sign_in(c, &app, PARTNER_USER, "/login?next=%2Ftickets").await;
    let ticket_page = format!("/tickets/{id}");
    for (path, h1) in [
        ("/tickets", "Tickets"),
        ("/tickets/new", "Open a ticket"),
        (ticket_page.as_str(), "Ticket #"),
    ] {
        c.goto(&app.url(path)).await.expect("open");
        assert!(heading(c).await.starts_with(h1), "{path}");
        axe(c, &format!("partner {path}")).await;
    }
}
