//! The desk's outgoing mail, through the outbox: a new ticket to the support mailbox, public
//! replies to the other side (never internal notes), threaded under the ticket's earlier
//! mails and sent for real to an SMTP server, an answer to a sent mail found again; the
//! automatic answers to inbound mail (never to an automatic sender); the SLA alerts, each
//! once.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use didhub_core::access::Role;
use didhub_server::jobs::outbox::{Delivery, Outbox, OutboxConfig, SmtpTarget};
use didhub_store::accounts::orgs::{NewPbx, Scope};
use didhub_store::mail::MailSettings;
use didhub_store::{Actor, Store};
use serde_json::{json, Value};

use crate::common::smtp::Sink;
use crate::common::{self, TestApp};

const DESK: &str = "desk@support.example";

struct World {
    anna: String,
    sam: String,
    ticket: String,
}

/// A partner with a member (anna), an admin (boss) and a PBX; support staff (sam); a
/// ticket opened by anna with a contact e-mail.
async fn world(app: &TestApp) -> World {
    let sys = Actor::system();
    let acc = app.store.accounts();
    let pa = acc.create_partner(&sys, "Voxa").await.unwrap().id;
    let ca = acc
        .create_customer(&sys, Scope::All, pa, "Cust")
        .await
        .unwrap()
        .id;
    let pbx = NewPbx {
        name: "pbx".into(),
        serial_number: "SN-OUT-1".into(),
        region: None,
    };
    acc.create_pbx(&sys, Scope::All, ca, &pbx).await.unwrap();
    let mut tokens = Vec::new();
    for (email, role, partner) in [
        ("anna@voxa.example", Role::PartnerMember, Some(pa)),
        ("boss@voxa.example", Role::PartnerAdmin, Some(pa)),
        ("sam@desk.example", Role::Support, None),
    ] {
        let u = acc
            .create_user(&sys, None, email, role, partner, None)
            .await
            .unwrap();
        tokens.push(acc.create_token(&sys, u.id, "t", None).await.unwrap().1);
    }
    let (s, t) = call(
        app,
        &tokens[0],
        "/api/v1/tickets",
        json!({"subject": "Calls drop", "message": "Since this morning.",
            "type": "technical", "pbx_serial": "SN-OUT-1",
            "contact_email": "it@customer.example"}),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    World {
        anna: tokens[0].clone(),
        sam: tokens[2].clone(),
        ticket: t["id"].as_str().unwrap().to_string(),
    }
}

async fn call(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn deliver(app: &TestApp, token: &str, raw: &str) -> Value {
    let r = app
        .client
        .post(app.url("/api/v1/mail/inbound"))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw.replace('\n', "\r\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The outbox, oldest first.
async fn outbox(app: &TestApp) -> Vec<Value> {
    let (s, page) = app.get_json("/api/v1/outbox?limit=100").await;
    assert_eq!(s, 200, "{page}");
    let mut items = page["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

async fn ticket_mails_go_through_the_outbox(app: &TestApp) {
    let w = world(app).await;
    let path = format!("/api/v1/tickets/{}/messages", w.ticket);
    // Opened: to the support mailbox (the From address when none is configured).
    let mails = outbox(app).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let opened = &mails[0];
    assert_eq!(opened["to"], json!(["didhub@localhost"]));
    assert_eq!(opened["subject"], "[#1] Calls drop");
    assert_eq!(opened["about"], json!({"kind": "ticket", "id": w.ticket}));
    let body = opened["body"].as_str().unwrap();
    assert!(body.contains("Since this morning."), "{body}");
    assert!(body.contains("Voxa"), "{body}");

    // An internal note is mailed to nobody.
    let (s, _) = call(
        app,
        &w.sam,
        &path,
        json!({"body": "Looks like the SBC", "visibility": "internal"}),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(outbox(app).await.len(), 1);

    // Support's public reply: to the ticket's contact and the partner's admin, threaded
    // under the first mail.
    let (s, _) = call(
        app,
        &w.sam,
        &path,
        json!({"body": "Please send a trace", "state": "pending"}),
    )
    .await;
    assert_eq!(s, 201);
    let mails = outbox(app).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    let reply = &mails[1];
    assert_eq!(
        reply["to"],
        json!(["it@customer.example", "boss@voxa.example"])
    );
    assert_eq!(reply["subject"], "[#1] Calls drop");
    assert_eq!(reply["in_reply_to"], opened["message_id"]);
    assert_eq!(reply["references"], json!([opened["message_id"]]));
    assert!(reply["body"]
        .as_str()
        .unwrap()
        .contains("Please send a trace"));
    assert!(!reply["body"].as_str().unwrap().contains("SBC"));

    // The partner's answer in the portal goes to support.
    let (s, _) = call(app, &w.anna, &path, json!({"body": "Trace attached soon"})).await;
    assert_eq!(s, 201);
    let mails = outbox(app).await;
    assert_eq!(mails.len(), 3);
    assert_eq!(mails[2]["to"], json!(["didhub@localhost"]));
    assert_eq!(mails[2]["in_reply_to"], reply["message_id"]);

    // Sent for real; an answer to the reply as received, with no tag in its subject, finds
    // the ticket by its In-Reply-To; and, having come by mail, is not mailed to support again.
    let sink = Sink::start();
    let cfg = OutboxConfig::new(Delivery::Smtp {
        target: SmtpTarget::parse(&sink.url()).expect("url"),
        login: None,
    });
    let drained = Outbox::new(app.store.clone(), cfg)
        .expect("outbox")
        .drain()
        .await
        .expect("drain");
    assert_eq!(drained.sent, 3);
    let got = sink.wait_for(3, Duration::from_secs(20)).await;
    let sent = got
        .iter()
        .find(|r| r.rcpt_tos.contains(&"it@customer.example".to_string()))
        .expect("the reply reached the SMTP server");
    assert_eq!(sent.header("Subject").unwrap(), "[#1] Calls drop");
    let answer = format!(
        "From: it@customer.example\nSubject: Re: your mail\nMessage-ID: <a1@customer.example>\n\
         In-Reply-To: {}\n\nHere is the trace.\n",
        sent.message_id()
    );
    let r = deliver(app, &w.sam, &answer).await;
    assert_eq!(
        (&r["outcome"], &r["ticket_number"]),
        (&json!("appended"), &json!(1))
    );
    assert_eq!(outbox(app).await.len(), 3);
}
both_backends!(ticket_mails, ticket_mails_go_through_the_outbox);

async fn inbound_mail_is_answered(app: &TestApp) {
    let w = world(app).await;
    let before = outbox(app).await.len();
    // Naming no ticket: the sender is answered, as a reply to the mail.
    let r = deliver(
        app,
        &w.sam,
        "From: anna@voxa.example\nSubject: New problem\nMessage-ID: <n1@voxa.example>\n\nHelp\n",
    )
    .await;
    assert_eq!(r["outcome"], "no_reference");
    let mails = outbox(app).await;
    assert_eq!(mails.len(), before + 1);
    let a = mails.last().unwrap();
    assert_eq!(a["to"], json!(["anna@voxa.example"]));
    assert_eq!(a["subject"], "Re: New problem");
    assert_eq!(a["in_reply_to"], "<n1@voxa.example>");
    assert!(a["about"].is_null());
    assert!(a["body"].as_str().unwrap().contains("portal"), "{a}");
    // The same mail again: answered once.
    deliver(
        app,
        &w.sam,
        "From: anna@voxa.example\nSubject: New problem\nMessage-ID: <n1@voxa.example>\n\nHelp\n",
    )
    .await;
    assert_eq!(outbox(app).await.len(), before + 1);
    // An automatic mail (an out-of-office, a list) and the desk's own address: no answer.
    for raw in [
        "From: anna@voxa.example\nSubject: Out of office\nAuto-Submitted: auto-replied\n\
         Message-ID: <n2@voxa.example>\n\nAway\n",
        "From: list@voxa.example\nSubject: Digest\nPrecedence: bulk\n\
         Message-ID: <n3@voxa.example>\n\nNews\n",
        "From: didhub@localhost\nSubject: Loop\nMessage-ID: <n4@localhost>\n\nx\n",
    ] {
        let r = deliver(app, &w.sam, raw).await;
        assert_eq!(r["outcome"], "no_reference", "{r}");
    }
    // A stranger writing on the ticket: nothing appended, nothing answered.
    let r = deliver(
        app,
        &w.sam,
        "From: mallory@evil.example\nSubject: [#1] close it\nMessage-ID: <n5@evil.example>\n\nx\n",
    )
    .await;
    assert_eq!(r["outcome"], "unknown_sender");
    assert_eq!(outbox(app).await.len(), before + 1);
    // A closed ticket: the answer says to open a new case referencing it.
    let (s, _) = call(
        app,
        &w.sam,
        &format!("/api/v1/tickets/{}/state", w.ticket),
        json!({"state": "closed"}),
    )
    .await;
    assert_eq!(s, 200);
    let n = outbox(app).await.len();
    let r = deliver(
        app,
        &w.sam,
        "From: boss@voxa.example\nSubject: Re: [#1] Calls drop\nMessage-ID: <n6@voxa.example>\n\n\
         It is back\n",
    )
    .await;
    assert_eq!(r["outcome"], "closed");
    let mails = outbox(app).await;
    assert_eq!(mails.len(), n + 1);
    let a = mails.last().unwrap();
    assert_eq!(a["to"], json!(["boss@voxa.example"]));
    assert_eq!(a["subject"], "Re: Re: [#1] Calls drop");
    assert!(
        a["body"]
            .as_str()
            .unwrap()
            .contains("open a new case referencing #1"),
        "{a}"
    );
}
both_backends!(answers, inbound_mail_is_answered);

fn due_of(t: &Value) -> DateTime<Utc> {
    t["first_response_due"].as_str().unwrap().parse().unwrap()
}

async fn sla_alerts(store: &Store, at: DateTime<Utc>) -> usize {
    store.support().mail_sla_alerts(at, 100).await.unwrap()
}

async fn sla_alerts_are_mailed_once_each(app: &TestApp) {
    let settings = MailSettings::new("didhub <noreply@provider.example>", None, None)
        .unwrap()
        .with_support(Some(DESK))
        .unwrap();
    let store = app.store.clone().with_mail(settings);
    let w = world(app).await;
    let (_, t) = app.get_json(&format!("/api/v1/tickets/{}", w.ticket)).await;
    let due = due_of(&t);
    let alerts = |at| sla_alerts(&store, at);
    let sla_mails = || async {
        outbox(app)
            .await
            .into_iter()
            .filter(|m| m["to"] == json!([DESK]))
            .collect::<Vec<_>>()
    };
    // Far from its deadline: nothing. Within two hours of it (standard): at risk, once.
    assert_eq!(alerts(due - TimeDelta::hours(3)).await, 0);
    assert_eq!(alerts(due - TimeDelta::minutes(90)).await, 1);
    assert_eq!(alerts(due - TimeDelta::minutes(60)).await, 0);
    // Past it: breached, once.
    assert_eq!(alerts(due + TimeDelta::minutes(1)).await, 1);
    assert_eq!(alerts(due + TimeDelta::hours(5)).await, 0);
    let mails = sla_mails().await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(mails[0]["subject"], "[#1] SLA at risk: Calls drop");
    assert_eq!(mails[1]["subject"], "[#1] SLA breached: Calls drop");
    assert_eq!(mails[1]["in_reply_to"], mails[0]["message_id"]);
    assert!(mails[1]["body"]
        .as_str()
        .unwrap()
        .contains("Voxa (standard)"));

    // A new deadline (the class changed) is alerted afresh; a ticket found breached gets
    // the breach alone; an answered ticket none.
    let (s, c) = call(
        app,
        &w.sam,
        &format!("/api/v1/tickets/{}/class", w.ticket),
        json!({"class": "critical", "criterion": "call_drops"}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    let due = due_of(&c);
    assert_eq!(alerts(due + TimeDelta::minutes(1)).await, 1);
    let mails = sla_mails().await;
    assert_eq!(mails.len(), 3);
    assert_eq!(mails[2]["subject"], "[#1] SLA breached: Calls drop");
    let (s, _) = call(
        app,
        &w.sam,
        &format!("/api/v1/tickets/{}/messages", w.ticket),
        json!({"body": "On it"}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, c) = call(
        app,
        &w.sam,
        &format!("/api/v1/tickets/{}/class", w.ticket),
        json!({"class": "standard"}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(alerts(due_of(&c) + TimeDelta::hours(1)).await, 0);
}
both_backends!(sla_alerts, sla_alerts_are_mailed_once_each);
