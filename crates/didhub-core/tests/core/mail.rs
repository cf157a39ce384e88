//! The shipped mail templates render as the orders and the desk need them, and the outbox's
//! retry rule holds for every attempt count.

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use didhub_core::mail::*;
use proptest::prelude::*;

fn render(t: MailTemplate) -> Rendered {
    Templates::builtin().render(&t).expect("renders")
}

#[test]
fn order_status() {
    let r = render(MailTemplate::OrderStatus(OrderStatusMail {
        order_id: "ORD-2026-0042".into(),
        customer: "Acme Ltd".into(),
        state: "awaiting_documents".into(),
        reason: Some("the LOA is not signed".into()),
        promised_date: NaiveDate::from_ymd_opt(2026, 12, 14),
    }));
    assert_eq!(r.subject, "Order ORD-2026-0042: awaiting documents");
    assert!(r
        .body
        .contains("order ORD-2026-0042 for Acme Ltd is now awaiting documents."));
    assert!(
        r.body.contains("Reason: the LOA is not signed\n"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Promised by: 2026-12-14\n"), "{}", r.body);
    // Neither reason nor date: no empty lines for them.
    let r = render(MailTemplate::OrderStatus(OrderStatusMail {
        order_id: "7".into(),
        customer: "Acme".into(),
        state: "completed".into(),
        reason: None,
        promised_date: None,
    }));
    assert!(!r.body.contains("Reason") && !r.body.contains("Promised"));
    assert!(!r.body.contains("\n\n\n"), "{:?}", r.body);
}

fn ticket() -> TicketMail {
    TicketMail {
        number: 1042,
        subject: "Calls drop after 30 s".into(),
        message: "Since this morning every call drops.\nTrace attached.".into(),
        partner: "Voxa".into(),
        author: "ops@voxa.example".into(),
    }
}

#[test]
fn tickets_carry_their_tag() {
    for t in [
        MailTemplate::TicketNew(ticket()),
        MailTemplate::TicketReply(ticket()),
    ] {
        let r = render(t);
        assert_eq!(r.subject, "[#1042] Calls drop after 30 s");
        assert!(r
            .body
            .contains("Since this morning every call drops.\nTrace attached.\n"));
        assert!(r.body.contains("[#1042]"));
    }
    let due = Utc.with_ymd_and_hms(2026, 12, 4, 9, 15, 0).unwrap();
    for (breached, words) in [(false, "SLA at risk"), (true, "SLA breached")] {
        let r = render(MailTemplate::TicketSla(TicketSlaMail {
            number: 1042,
            subject: "Calls drop after 30 s".into(),
            partner: "Voxa".into(),
            class: "critical".into(),
            due,
            breached,
        }));
        assert_eq!(r.subject, format!("[#1042] {words}: Calls drop after 30 s"));
        assert!(r.body.contains("2026-12-04T09:15:00Z"), "{}", r.body);
    }
}

#[test]
fn test_mail() {
    let r = render(MailTemplate::Test(TestMail {
        requested_by: "cli:ops".into(),
        at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
    }));
    assert_eq!(r.subject, "didhub test mail");
    assert!(r.body.contains("cli:ops"));
}

#[test]
fn every_builtin_file_has_a_subject_line() {
    for t in TemplateName::ALL {
        assert!(
            t.builtin_source().starts_with("Subject: "),
            "{}",
            t.as_str()
        );
    }
}

proptest! {
    #[test]
    fn retry_waits_grow_to_the_cap_and_end(
        first in 1u64..5000,
        extra in 0u64..100_000,
        max_attempts in 1u32..50,
        attempts in 1u32..200,
    ) {
        let p = RetryPolicy {
            max_attempts,
            first_delay: Duration::from_secs(first),
            max_delay: Duration::from_secs(first + extra),
        };
        prop_assert!(p.check().is_ok());
        let d = p.delay(attempts);
        prop_assert!(d >= p.first_delay && d <= p.max_delay);
        prop_assert!(p.delay(attempts + 1) >= d);
        if d < p.max_delay {
            prop_assert_eq!(p.delay(attempts + 1), (d * 2).min(p.max_delay));
        }
        match p.after_failure(attempts) {
            AfterFailure::GiveUp => prop_assert!(attempts >= max_attempts),
            AfterFailure::RetryIn(w) => {
                prop_assert!(attempts < max_attempts);
                prop_assert_eq!(w, d);
            }
        }
    }
}
