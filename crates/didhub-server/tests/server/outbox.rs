//! The mail outbox against a real SMTP server (aiosmtpd, started by the test): headers as
//! sent, the `.eml` fallback, retries with backoff while the server is down, giving up, leases,
//! two workers never sending one mail twice, and the operations list through the API.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use didhub_core::mail::{
    MailRef, MailState, MailTemplate, MessageId, RefKind, RetryPolicy, TestMail, TicketMail,
};
use didhub_server::jobs::outbox::{message, Delivery, Drained, Outbox, OutboxConfig, SmtpTarget};
use didhub_store::mail::{Attempted, MailSettings};
use didhub_store::{Actor, Store};
use uuid::Uuid;

use crate::common::smtp::Sink;
use crate::common::{self, TestApp};

const FROM: &str = "didhub desk <desk@support.example>";

fn store(app: &TestApp) -> Store {
    let settings = MailSettings::new(FROM, None, None).expect("settings");
    app.store.clone().with_mail(settings)
}

fn smtp(sink: &Sink) -> OutboxConfig {
    let mut cfg = OutboxConfig::new(Delivery::Smtp {
        target: SmtpTarget::parse(&sink.url()).expect("url"),
        login: None,
    });
    cfg.smtp_timeout = Duration::from_secs(5);
    cfg
}

fn test_mail(n: usize) -> MailTemplate {
    MailTemplate::Test(TestMail {
        requested_by: format!("test {n}"),
        at: Utc::now(),
    })
}

/// Queues `n` test mails to one recipient; their Message-IDs.
async fn queue(store: &Store, n: usize) -> Vec<MessageId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let m = store
            .mail()
            .compose(&test_mail(i), &["ops@customer.example"], None)
            .expect("compose");
        ids.push(
            store
                .mail()
                .enqueue_one(&m)
                .await
                .expect("enqueue")
                .message_id,
        );
    }
    ids
}

/// How often each Message-ID reached the sink.
async fn tally(sink: &Sink, n: usize) -> HashMap<String, usize> {
    let mut t = HashMap::new();
    for r in sink.wait_for(n, Duration::from_secs(30)).await {
        *t.entry(r.message_id()).or_insert(0) += 1;
    }
    t
}

async fn delivered_with_headers(app: &TestApp) {
    let store = store(app);
    let sink = Sink::start();
    let ticket = Uuid::now_v7();
    let about = MailRef {
        kind: RefKind::Ticket,
        id: ticket,
    };
    let earlier = MessageId::parse("<first@partner.example>").unwrap();
    let parent = MessageId::parse("<second@partner.example>").unwrap();
    let mail = store
        .mail()
        .compose(
            &MailTemplate::TicketReply(TicketMail {
                number: 1042,
                subject: "Calls drop after 30 s — since 9:00".into(),
                message: "We restarted the trunk.\nPlease test again.".into(),
                partner: "Voxa".into(),
                author: "Support".into(),
            }),
            &["ops@voxa.example", "Noc@Voxa.example", "ops@voxa.example"],
            Some(about),
        )
        .expect("compose")
        .in_reply_to(parent.clone(), std::slice::from_ref(&earlier));
    assert_eq!(mail.to, ["ops@voxa.example", "noc@voxa.example"]);
    let q = store.mail().enqueue_one(&mail).await.expect("enqueue");
    assert!(
        q.message_id.as_str().ends_with("@support.example>"),
        "{}",
        q.message_id
    );
    // The same mail is queued once.
    let again = store.mail().enqueue_one(&mail).await.unwrap_err();
    assert!(again.to_string().contains("already queued"), "{again}");

    let outbox = Outbox::new(store.clone(), smtp(&sink)).expect("outbox");
    let d = outbox.drain().await.expect("drain");
    assert_eq!(
        d,
        Drained {
            sent: 1,
            ..Default::default()
        }
    );
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.mail_from, "desk@support.example");
    assert_eq!(r.rcpt_tos, ["ops@voxa.example", "noc@voxa.example"]);
    assert_eq!(r.message_id(), q.message_id.as_str());
    assert_eq!(r.header("In-Reply-To").unwrap(), parent.as_str());
    assert_eq!(
        r.header("References").unwrap(),
        format!("{earlier} {parent}")
    );
    assert_eq!(
        r.header("From").unwrap(),
        "\"didhub desk\" <desk@support.example>"
    );
    assert_eq!(
        r.header("To").unwrap(),
        "ops@voxa.example, noc@voxa.example"
    );
    let subject = r.header("Subject").unwrap();
    // Not ASCII, so RFC 2047-encoded; the tag stays readable either way.
    assert!(subject.contains("=?utf-8?"), "{subject}");
    assert!(r.header("Date").is_some());
    assert!(r
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain; charset=utf-8"));
    assert!(
        r.body()
            .contains("We restarted the trunk.\r\nPlease test again.\r\n"),
        "{}",
        r.body()
    );

    let stored = store.mail().get(q.message_id.as_str()).await.expect("get");
    assert_eq!(stored.state, MailState::Sent);
    assert_eq!(stored.attempts, 1);
    assert!(stored.sent_at.is_some() && stored.last_error.is_none());
    assert_eq!(stored.subject, "[#1042] Calls drop after 30 s — since 9:00");
    // The bytes sent are the bytes the row makes, every time (SMTP's end of data, CRLF . CRLF,
    // leaves one more line end at the server).
    let bytes = message(&stored).expect("message").formatted();
    assert_eq!(
        format!("{}\r\n", String::from_utf8(bytes).unwrap()),
        r.data,
        "{}",
        app.db == common::Db::Postgres
    );

    // An inbound reply finds its ticket by any of the forms a Message-ID comes in.
    let m = store.mail();
    assert_eq!(
        m.find_reference(q.message_id.as_str()).await.unwrap(),
        Some(about)
    );
    assert_eq!(
        m.find_reference(q.message_id.bare()).await.unwrap(),
        Some(about)
    );
    assert_eq!(
        m.find_reference("<nobody@nowhere.example>").await.unwrap(),
        None
    );
    assert_eq!(m.find_reference("not a message id").await.unwrap(), None);
    // Nothing more to send.
    assert!(outbox.drain().await.unwrap().is_empty());
}
both_backends!(delivered, delivered_with_headers);

async fn eml_fallback(app: &TestApp) {
    let store = store(app);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("outbox");
    let ids = queue(&store, 3).await;
    let outbox = Outbox::new(
        store.clone(),
        OutboxConfig::new(Delivery::Files(out.clone())),
    )
    .expect("outbox");
    assert_eq!(outbox.drain().await.unwrap().sent, 3);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = ids.iter().map(|m| format!("{}.eml", m.bare())).collect();
    want.sort();
    // One file per mail, named by its Message-ID, and no temporary file left.
    assert_eq!(names, want);
    for id in &ids {
        let mail = store.mail().get(id.as_str()).await.unwrap();
        assert_eq!(mail.state, MailState::Sent);
        let file = std::fs::read(out.join(format!("{}.eml", id.bare()))).unwrap();
        assert_eq!(file, message(&mail).unwrap().formatted());
        let text = String::from_utf8(file).unwrap();
        assert!(text.contains(&format!("Message-ID: {id}\r\n")), "{text}");
    }
}
both_backends!(eml, eml_fallback);

fn quick_retries(cfg: &mut OutboxConfig, max_attempts: u32) {
    cfg.policy = RetryPolicy {
        max_attempts,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(2),
    };
}

async fn retries_until_the_server_is_up(app: &TestApp) {
    let store = store(app);
    let mut sink = Sink::down(crate::common::smtp::free_port());
    let ids = queue(&store, 5).await;
    let mut cfg = smtp(&sink);
    quick_retries(&mut cfg, 10);
    let outbox = Outbox::new(store.clone(), cfg).expect("outbox");

    let before = Utc::now();
    let d = outbox.drain().await.unwrap();
    assert_eq!(
        d,
        Drained {
            retrying: 5,
            ..Default::default()
        }
    );
    for id in &ids {
        let m = store.mail().get(id.as_str()).await.unwrap();
        assert_eq!((m.state, m.attempts), (MailState::Pending, 1));
        assert!(m.last_error.as_deref().is_some_and(|e| !e.is_empty()));
        let wait = (m.next_attempt_at - before).num_milliseconds();
        assert!((900..2500).contains(&wait), "first wait {wait} ms");
    }
    // Not due yet: nothing is tried.
    assert!(outbox.drain().await.unwrap().is_empty());
    // The second failure waits twice as long (the cap, here).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = Utc::now();
    assert_eq!(outbox.drain().await.unwrap().retrying, 5);
    let m = store.mail().get(ids[0].as_str()).await.unwrap();
    assert_eq!(m.attempts, 2);
    let wait = (m.next_attempt_at - before).num_milliseconds();
    assert!((1900..3500).contains(&wait), "second wait {wait} ms");

    sink.up();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(outbox.drain().await.unwrap().sent, 5);
    let t = tally(&sink, 5).await;
    assert_eq!(t.len(), 5);
    assert!(t.values().all(|n| *n == 1), "{t:?}");
    for id in &ids {
        let m = store.mail().get(id.as_str()).await.unwrap();
        assert_eq!((m.state, m.attempts), (MailState::Sent, 3));
        assert_eq!(m.last_error, None);
    }
}
both_backends!(retries, retries_until_the_server_is_up);

async fn gives_up_after_the_last_attempt(app: &TestApp) {
    let store = store(app);
    let sink = Sink::down(crate::common::smtp::free_port());
    let ids = queue(&store, 2).await;
    let mut cfg = smtp(&sink);
    quick_retries(&mut cfg, 2);
    let outbox = Outbox::new(store.clone(), cfg).expect("outbox");
    assert_eq!(outbox.drain().await.unwrap().retrying, 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(outbox.drain().await.unwrap().failed, 2);
    let m = store.mail().get(ids[0].as_str()).await.unwrap();
    assert_eq!((m.state, m.attempts), (MailState::Failed, 2));
    assert!(m.last_error.is_some());
    // Failed mails are not tried again by themselves.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(outbox.drain().await.unwrap().is_empty());

    let failed = store
        .mail()
        .list(Some(MailState::Failed), 10, None)
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 2);
    let pending = store
        .mail()
        .list(Some(MailState::Pending), 10, None)
        .await
        .unwrap();
    assert!(pending.items.is_empty());

    // An operator queues one again: due at once, attempts counted afresh; audited.
    let actor = Actor("cli:ops".into());
    let n = store
        .mail()
        .retry_failed(&actor, Some(ids[0].as_str()))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let m = store.mail().get(ids[0].as_str()).await.unwrap();
    assert_eq!((m.state, m.attempts), (MailState::Pending, 0));
    let again = store
        .mail()
        .retry_failed(&actor, Some(ids[0].as_str()))
        .await;
    assert!(again.unwrap_err().to_string().contains("not failed"));
    assert_eq!(store.mail().retry_failed(&actor, None).await.unwrap(), 1);
    let (s, v) = app.get_json("/api/v1/audit?action=mail.retry").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 2, "{v}");
}
both_backends!(give_up, gives_up_after_the_last_attempt);

async fn leases(app: &TestApp) {
    let store = store(app);
    let ids = queue(&store, 3).await;
    let m = store.mail();
    let a = m.claim(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(a.mails.len(), 3);
    assert!(a.mails.iter().all(|x| x.attempts == 1));
    // Held by the first claim.
    assert!(m
        .claim(10, Duration::from_secs(60))
        .await
        .unwrap()
        .mails
        .is_empty());
    // A release gives one back, its attempt not counted.
    m.release(a.mails[0].id, a.token).await.unwrap();
    let b = m.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(b.mails.len(), 1);
    assert_eq!((b.mails[0].id, b.mails[0].attempts), (a.mails[0].id, 1));
    // The first claim's lease ends (a worker died): the others are claimed again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let c = m.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(c.mails.len(), 2);
    assert!(c.mails.iter().all(|x| x.attempts == 2));
    // The dead claim's late failure counts for nothing; a late success is still recorded.
    let p = RetryPolicy::default();
    let late = m
        .mark_attempt_failed(&a.mails[1], a.token, "late", &p)
        .await;
    assert_eq!(late.unwrap(), Attempted::NotMine);
    assert!(m.mark_sent(a.mails[1].id).await.unwrap());
    assert!(!m.mark_sent(a.mails[1].id).await.unwrap());
    let third = c.mails.iter().find(|x| x.id == a.mails[2].id).unwrap();
    let ok = m.mark_attempt_failed(third, c.token, "refused", &p).await;
    assert!(matches!(ok.unwrap(), Attempted::Retry(_)));
    let third = m.get(third.message_id.as_str()).await.unwrap();
    assert_eq!(
        (third.state, third.last_error.as_deref()),
        (MailState::Pending, Some("refused"))
    );
    assert_eq!(ids.len(), 3);
}
both_backends!(lease, leases);

async fn two_workers_never_send_one_mail_twice(app: &TestApp) {
    let n = 300;
    let store = store(app);
    let other = app
        .another_store()
        .await
        .with_mail(store.mail_settings().clone());
    let ids = queue(&store, n).await;
    let sink = Sink::start();
    let mut cfg = smtp(&sink);
    cfg.batch = 16;
    cfg.concurrency = 4;
    let a = Outbox::new(store.clone(), cfg.clone()).unwrap();
    let b = Outbox::new(other.clone(), cfg).unwrap();
    let (da, db) = tokio::join!(a.drain(), b.drain());
    let (da, db) = (da.unwrap(), db.unwrap());
    assert_eq!(da.sent + db.sent, n as u64, "{da:?} {db:?}");
    let t = tally(&sink, n).await;
    assert_eq!(t.len(), n);
    let twice: Vec<_> = t.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    for id in &ids {
        assert!(t.contains_key(id.as_str()));
    }
    let counts = store.mail().counts().await.unwrap();
    assert!(counts.contains(&(MailState::Sent, n as i64)), "{counts:?}");
    other.close().await;
}
both_backends!(two_workers, two_workers_never_send_one_mail_twice);

async fn listed_for_operations(app: &TestApp) {
    let store = store(app);
    let ids = queue(&store, 3).await;
    let (s, v) = app.get_json("/api/v1/outbox?state=pending&limit=2").await;
    assert_eq!(s, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    // Newest first.
    assert_eq!(items[0]["message_id"], ids[2].as_str());
    assert_eq!(items[0]["state"], "pending");
    assert_eq!(items[0]["to"][0], "ops@customer.example");
    assert_eq!(items[0]["attempts"], 0);
    let cursor = v["next_cursor"].as_str().unwrap();
    let (s, v) = app
        .get_json(&format!("/api/v1/outbox?state=pending&cursor={cursor}"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"][0]["message_id"], ids[0].as_str());
    assert!(v["next_cursor"].is_null());
    let (s, v) = app.get_json("/api/v1/outbox?state=sent").await;
    assert_eq!((s, v["items"].as_array().unwrap().len()), (200, 0));
    let (s, v) = app.get_json("/api/v1/outbox").await;
    assert_eq!((s, v["items"].as_array().unwrap().len()), (200, 3));
    let (s, v) = app.get_json("/api/v1/outbox?state=lost").await;
    assert_eq!(s, 422, "{v}");
    assert!(v.to_string().contains("state"), "{v}");
}
both_backends!(api_list, listed_for_operations);
