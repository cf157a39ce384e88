//! Fixtures: users with passwords, a portal login over HTTP, and a seeded inventory whose
//! names, tags and notes carry markup and quotes.
#![allow(dead_code)]

use didhub_core::access::Role;
use didhub_core::did::DidStatus;
use didhub_store::accounts::orgs::Scope;
use didhub_store::inventory::dids::{DidPatch, NewDids, Selection, Target};
use didhub_store::Actor;
use uuid::Uuid;

use crate::common::{spawn_app_tuned, Db, TestApp};

pub const PASSWORD: &str = "correct horse battery staple";
pub const ADMIN: &str = "ops-admin@example.com";
pub const PARTNER_USER: &str = "alice@partner-a.example";
pub const SUPPORT: &str = "desk@example.com";

/// Text planted in names, tags and notes: it must come back as text, never as markup.
pub const EVIL_OPERATOR: &str = "<script>alert(\"op\")</script> & 'Carrier'";
pub const EVIL_TAG: &str = "\"><script>alert(1)</script>";
pub const EVIL_NOTES: &str = "<img src=x onerror=alert(2)> \"quoted\" & 'single'";
pub const EVIL_CUSTOMER: &str = "<b>Bold</b> \"Customer\" <script>alert(3)</script>";

/// The DID partner A's customer uses.
pub const ASSIGNED: &str = "+442079460119";

pub struct Seed {
    pub operator: Uuid,
    pub partner_a: Uuid,
    pub partner_b: Uuid,
    pub customer_a: Uuid,
    pub customer_b: Uuid,
    /// The DID that carries the planted tag and notes, with a history of two changes.
    pub evil_did: Uuid,
    pub evil_number: String,
}

/// A server on SQLite with plain-HTTP cookies (or `Secure` ones).
pub async fn start(secure_cookies: bool) -> TestApp {
    start_on(Db::Sqlite, secure_cookies)
        .await
        .expect("SQLite app")
}

/// A server on `db`; `None` when PostgreSQL is asked for and not configured (and not required).
pub async fn start_on(db: Db, secure_cookies: bool) -> Option<TestApp> {
    spawn_app_tuned(
        db,
        |_| {},
        |s| {
            s.secure_cookies = secure_cookies;
            // An import answers with its result however long it takes (a loaded machine must
            // not turn it into the progress page, which `import_progress` tests on its own).
            s.import_wait = std::time::Duration::from_secs(600);
        },
    )
    .await
}

pub async fn user(app: &TestApp, email: &str, role: Role, partner: Option<Uuid>) {
    app.store
        .accounts()
        .create_user(&Actor::system(), None, email, role, partner, Some(PASSWORD))
        .await
        .expect("create user");
}

/// Two partners with a customer each, an operator, 120 DIDs (GB; one used by partner A's
/// customer, the rest in stock), and one DID with markup in its tag and notes; an admin, a
/// support user and a user of partner A.
pub async fn seed(app: &TestApp) -> Seed {
    let sys = Actor::system();
    let acc = app.store.accounts();
    let partner_a = acc
        .create_partner(&sys, "Partner A")
        .await
        .expect("partner")
        .id;
    let partner_b = acc
        .create_partner(&sys, "Partner B")
        .await
        .expect("partner")
        .id;
    let customer_a = acc
        .create_customer(&sys, Scope::All, partner_a, EVIL_CUSTOMER)
        .await
        .expect("customer")
        .id;
    let customer_b = acc
        .create_customer(&sys, Scope::All, partner_b, "Bravo Ltd")
        .await
        .expect("customer")
        .id;
    user(app, ADMIN, Role::Admin, None).await;
    user(app, SUPPORT, Role::Support, None).await;
    user(app, PARTNER_USER, Role::PartnerAdmin, Some(partner_a)).await;
    let inv = app.store.inventory();
    let operator = inv
        .create_operator(&sys, EVIL_OPERATOR)
        .await
        .expect("operator")
        .id;
    let new = |numbers: Vec<String>, tag: Option<&str>, notes: Option<&str>| NewDids {
        numbers,
        country: None,
        operator_id: operator,
        status: DidStatus::InStock,
        after_hold: DidStatus::InStock,
        tag: tag.map(str::to_string),
        notes: notes.map(str::to_string),
        reason: None,
    };
    inv.create_dids(
        &sys,
        new(vec!["+442079460000-+442079460119".into()], None, None),
    )
    .await
    .expect("range");
    let evil_number = "+33123456789".to_string();
    inv.create_dids(
        &sys,
        new(vec![evil_number.clone()], Some(EVIL_TAG), Some(EVIL_NOTES)),
    )
    .await
    .expect("evil DID");
    let evil = inv.get_did_by_number(&evil_number).await.expect("evil DID");
    inv.update_dids(
        &Actor("user:ops-admin@example.com".into()),
        &Selection::Ids(vec![Target {
            id: evil.id,
            version: None,
        }]),
        &DidPatch {
            status: Some(DidStatus::Reserved),
            ..Default::default()
        },
        Some("held for a <b>trial</b>"),
    )
    .await
    .expect("reserve");
    // One DID in use by partner A's customer, as the assignment workflow puts it there.
    let assignment = app.store.assignment();
    let package = assignment
        .create_package(
            &sys,
            &didhub_store::assignment::assign::NewPackage {
                name: "Starter".into(),
                did_allowance: 10,
                tag: None,
                country: None,
                number_type: None,
                prices: vec![],
            },
        )
        .await
        .expect("package")
        .id;
    let cp = assignment
        .create_client_package(
            &sys,
            customer_a,
            package,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        )
        .await
        .expect("client package")
        .id;
    let used = inv
        .get_did_by_number(ASSIGNED)
        .await
        .expect("assigned DID")
        .id;
    assignment
        .assign_dids(
            &sys,
            cp,
            &didhub_store::assignment::assign::AssignRequest {
                did_ids: vec![used],
                numbers: vec![],
                destination: "sip:desk@pbx.partner-a.example".into(),
                reason: None,
            },
        )
        .await
        .expect("assign");
    Seed {
        operator,
        partner_a,
        partner_b,
        customer_a,
        customer_b,
        evil_did: evil.id,
        evil_number,
    }
}

/// A client that shows redirects rather than follows them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the input named `name` in a page (as written, HTML-escaped).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let start = tag.find("value=\"")? + 7;
    let end = tag[start..].find('"')?;
    Some(tag[start..start + end].to_string())
}

/// The value of a `Set-Cookie` named `name`, with its attributes.
pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_string()
}

pub struct Session {
    pub base: String,
    pub cookie: String,
    /// The session cookie as it was set, attributes included.
    pub set_cookie: String,
    pub http: reqwest::Client,
}

/// Signs in through the portal's form: (the sign-in answer, the session).
pub async fn login_answer(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let http = client();
    let form = http
        .get(app.url("/login"))
        .send()
        .await
        .expect("login form");
    assert_eq!(form.status(), 200);
    let token_cookie = set_cookie(&form, "didhub_login").expect("login cookie");
    let page = form.text().await.expect("page");
    let token = input_value(&page, "token").expect("token field");
    http.post(app.url("/login"))
        .header("cookie", cookie_pair(&token_cookie))
        .form(&[
            ("email", email),
            ("password", password),
            ("token", &token),
            ("next", ""),
        ])
        .send()
        .await
        .expect("sign in")
}

pub async fn login(app: &TestApp, email: &str) -> Session {
    let r = login_answer(app, email, PASSWORD).await;
    assert_eq!(r.status(), 303, "signed in");
    let set = set_cookie(&r, "didhub_session").expect("session cookie");
    Session {
        base: app.base.clone(),
        cookie: cookie_pair(&set),
        set_cookie: set,
        http: client(),
    }
}

impl Session {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("GET")
    }

    /// GET: (status, body).
    pub async fn page(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        let s = r.status().as_u16();
        (s, r.text().await.unwrap_or_default())
    }

    /// The session's CSRF token, as every page's logout form carries it.
    pub async fn csrf(&self) -> String {
        let (_, html) = self.page("/customers").await;
        input_value(&html, "csrf").expect("csrf field")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .expect("POST")
    }
}

/// Text as the templates escape it.
pub fn escaped(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

pub fn urlencode(s: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("v", s);
    q.finish().trim_start_matches("v=").to_string()
}
