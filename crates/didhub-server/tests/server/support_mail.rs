//! Mail that follows up on tickets, with real messages: multipart with an attachment, other
//! charsets (ISO-8859-1 quoted-printable, windows-1251, encoded words), answers found by
//! In-Reply-To, strangers, mail naming no ticket, a closed ticket, a malformed message, and
//! every one delivered twice.

use didhub_core::access::Role;
use didhub_store::accounts::orgs::{NewPbx, Scope};
use didhub_store::Actor;
use serde_json::{json, Value};

use crate::common::{self, TestApp};

struct World {
    anna: String,
    support: String,
    ticket: String,
}

async fn world(app: &TestApp) -> World {
    let sys = Actor::system();
    let acc = app.store.accounts();
    let pa = acc.create_partner(&sys, "Mail A").await.unwrap().id;
    let ca = acc
        .create_customer(&sys, Scope::All, pa, "Cust")
        .await
        .unwrap()
        .id;
    let pbx = NewPbx {
        name: "pbx".into(),
        serial_number: "SN-MAIL-1".into(),
        region: None,
    };
    acc.create_pbx(&sys, Scope::All, ca, &pbx).await.unwrap();
    let mut tokens = Vec::new();
    for (email, role, partner) in [
        ("anna@a.example", Role::PartnerMember, Some(pa)),
        ("boss@a.example", Role::PartnerAdmin, Some(pa)),
        ("sam@desk.example", Role::Support, None),
    ] {
        let u = acc
            .create_user(&sys, None, email, role, partner, None)
            .await
            .unwrap();
        tokens.push(acc.create_token(&sys, u.id, "t", None).await.unwrap().1);
    }
    let r = app
        .client
        .post(app.url("/api/v1/tickets"))
        .bearer_auth(&tokens[0])
        .json(
            &json!({"subject": "Calls drop", "message": "Since this morning.",
            "type": "technical", "pbx_serial": "SN-MAIL-1",
            "contact_email": "it@customer.example"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["number"], 1);
    World {
        anna: tokens[0].clone(),
        support: tokens[2].clone(),
        ticket: t["id"].as_str().unwrap().to_string(),
    }
}

async fn deliver(app: &TestApp, token: &str, raw: &[u8]) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/api/v1/mail/inbound"))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw.to_vec())
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Delivers a mail twice: the first time it does `outcome`, the second nothing.
async fn twice(app: &TestApp, w: &World, raw: &[u8], outcome: &str) -> Value {
    let (s, first) = deliver(app, &w.support, raw).await;
    assert_eq!((s, &first["outcome"]), (200, &json!(outcome)), "{first}");
    assert_eq!(first["duplicate"], false);
    let (s, second) = deliver(app, &w.support, raw).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["duplicate"], true, "{second}");
    assert_eq!(
        (&second["id"], &second["outcome"]),
        (&first["id"], &first["outcome"])
    );
    first
}

async fn conversation(app: &TestApp, w: &World) -> Vec<Value> {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/tickets/{}/messages", w.ticket)))
        .bearer_auth(&w.support)
        .send()
        .await
        .unwrap();
    r.json::<Vec<Value>>().await.unwrap()
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

/// Text in windows-1251 (ASCII and the Cyrillic letters А to я only).
fn cp1251(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            'А'..='я' => (0xC0 + (c as u32 - 'А' as u32)) as u8,
            c if c.is_ascii() => c as u8,
            c => panic!("{c} is not in this table"),
        })
        .collect()
}

const MULTIPART: &str = r#"From: Anna <anna@a.example>
To: support@desk.example
Subject: Re: [#1] Calls drop
Message-ID: <m1@a.example>
Date: Mon, 07 Dec 2026 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: multipart/alternative; boundary="YY"

--YY
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe, the trace is attached. Caf=E9 line too.
--YY
Content-Type: text/html; charset=ISO-8859-1

<p>Gr&uuml;&szlig;e, the trace is attached.</p>
--YY--

--XX
Content-Type: application/vnd.tcpdump.pcap; name="trace.pcap"
Content-Disposition: attachment; filename="trace.pcap"
Content-Transfer-Encoding: base64

1MOyoQIABAAAAAAAAAAAAP//AAABAAAA
--XX--
"#;

async fn mail_follows_up(app: &TestApp) {
    let w = world(app).await;
    // Multipart, an attachment, ISO-8859-1: appended once, text decoded, the file named.
    twice(app, &w, &crlf(MULTIPART), "appended").await;
    let c = conversation(app, &w).await;
    assert_eq!(c.len(), 2, "{c:?}");
    let m = &c[1];
    assert_eq!(
        (&m["channel"], &m["side"]),
        (&json!("email"), &json!("partner"))
    );
    assert_eq!(m["author"], "anna@a.example");
    let body = m["body"].as_str().unwrap();
    assert!(
        body.contains("Grüße, the trace is attached. Café line too."),
        "{body}"
    );
    assert!(
        body.contains("[attached: trace.pcap (application/vnd.tcpdump.pcap, 24 bytes)]"),
        "{body}"
    );
    assert!(!body.contains("<p>"), "{body}");

    // windows-1251 body, KOI8-R encoded-word subject; an answer found by In-Reply-To alone,
    // from the partner's admin (a contact too).
    let mut raw = crlf(
        "From: boss@a.example\nSubject: =?KOI8-R?B?8NLJ18XU?=\nMessage-ID: <m2@a.example>\n\
         In-Reply-To: <m1@a.example>\nReferences: <m0@elsewhere.example> <m1@a.example>\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=windows-1251\n\
         Content-Transfer-Encoding: 8bit\n\n",
    );
    raw.extend(cp1251("Привет, звонки обрываются"));
    let r = twice(app, &w, &raw, "appended").await;
    assert_eq!(r["subject"], "Привет", "{r}");
    assert_eq!(r["ticket_number"], 1);
    let c = conversation(app, &w).await;
    assert_eq!(c.len(), 3);
    assert_eq!(c[2]["body"], "Привет, звонки обрываются");

    // The ticket's contact e-mail may write too; a stranger may not.
    let ok = crlf(
        "From: IT <it@customer.example>\nSubject: [#1] and again\n\
        Message-ID: <m3@customer.example>\n\nStill dropping.\n",
    );
    twice(app, &w, &ok, "appended").await;
    let stranger = crlf(
        "From: mallory@evil.example\nSubject: Re: [#1] Calls drop\n\
        Message-ID: <m4@evil.example>\n\nClose this ticket please\n",
    );
    let r = twice(app, &w, &stranger, "unknown_sender").await;
    assert_eq!(r["ticket_number"], 1);
    assert!(r["answer"].is_null());
    assert_eq!(conversation(app, &w).await.len(), 4);

    // Mail opens no ticket: the answer points to the portal.
    let new = crlf(
        "From: anna@a.example\nSubject: New problem\nMessage-ID: <m5@a.example>\n\n\
        The fax does not work.\n",
    );
    let r = twice(app, &w, &new, "no_reference").await;
    assert!(r["answer"].as_str().unwrap().contains("portal"), "{r}");
    let (_, list) = app.get_json("/api/v1/tickets").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    // A malformed message: a header line without a colon, bytes that are no UTF-8, bad
    // base64, a boundary never closed, no Message-ID. Nothing panics; appended once.
    let mut bad = crlf(
        "From: anna@a.example\nSubject: [#1] broken\nthis line is no header\n\
         Content-Type: multipart/mixed; boundary=\"ZZ\"\n\n--ZZ\n\
         Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n\
         !!!not base64!!!\n--ZZ\nContent-Type: text/plain; charset=utf-8\n\n",
    );
    bad.extend(b"caf\xe9 au lait \xff\xfe end of the readable part\r\n");
    twice(app, &w, &bad, "appended").await;
    let c = conversation(app, &w).await;
    assert_eq!(c.len(), 5, "{c:?}");
    let last = c[4]["body"].as_str().unwrap();
    assert!(last.contains("end of the readable part"), "{last}");
    // Neither an empty body nor a partner's token gets anywhere.
    let (s, _) = deliver(app, &w.support, b"").await;
    assert_eq!(s, 422);
    let (s, _) = deliver(app, &w.anna, &crlf(MULTIPART)).await;
    assert_eq!(s, 404);
    let (s, junk) = deliver(app, &w.support, b"\x00\x01\x02 not a mail at all").await;
    assert_eq!(
        (s, &junk["outcome"]),
        (200, &json!("no_reference")),
        "{junk}"
    );

    // A closed ticket: the sender is told to open a new case referencing it.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{}/state", w.ticket)))
        .bearer_auth(&w.support)
        .json(&json!({"state": "closed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let late = crlf(
        "From: anna@a.example\nSubject: Re: [#1] Calls drop\n\
        Message-ID: <m6@a.example>\n\nIt is back!\n",
    );
    let r = twice(app, &w, &late, "closed").await;
    assert!(
        r["answer"]
            .as_str()
            .unwrap()
            .contains("open a new case referencing #1"),
        "{r}"
    );
    assert_eq!(conversation(app, &w).await.len(), 5);

    // Support sees every mail received, once each, newest first.
    let r = app
        .client
        .get(app.url("/api/v1/mail/inbound?limit=3"))
        .bearer_auth(&w.support)
        .send()
        .await
        .unwrap();
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["items"][0]["outcome"], "closed", "{page}");
    let mut seen = page["items"].as_array().unwrap().len();
    let mut cursor = page["next_cursor"].as_str().map(String::from);
    while let Some(c) = cursor {
        let (_, p) = app
            .get_json(&format!("/api/v1/mail/inbound?cursor={c}"))
            .await;
        seen += p["items"].as_array().unwrap().len();
        cursor = p["next_cursor"].as_str().map(String::from);
    }
    assert_eq!(seen, 8);
}
both_backends!(mail, mail_follows_up);
