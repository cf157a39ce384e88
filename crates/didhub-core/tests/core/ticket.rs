//! The desk's rules: deadlines on a centre's hours with its country's holidays and closures,
//! where a ticket stands against its deadline, and who may move a ticket where (a closed
//! ticket never moves), by example and by property.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use didhub_core::calendar::Calendar;
use didhub_core::sla::{zone, SupportHours, TicketClass};
use didhub_core::ticket::{
    after_reply, at_risk_window, centre_hours, check_transition, closed_refusal, sla_status, Side,
    SlaStatus, TicketError, TicketState,
};
use proptest::prelude::*;

use TicketClass::{Critical, Standard};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn due(tz: &str, country: &str, closures: &[&str], class: TicketClass, created: &str) -> String {
    let cal = Calendar::for_country(country)
        .expect("calendar")
        .with_closures(
            closures
                .iter()
                .map(|d| d.parse::<NaiveDate>().expect("date")),
        );
    let created = at(created);
    centre_hours(zone(tz).expect("zone"), &cal, created)
        .first_response_due(class, created)
        .expect("deadline")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn christmas_in_rome_and_thanksgiving_in_new_york() {
    // Thursday 17:50 in Rome: ten minutes that day; Christmas, St Stephen's (a Saturday) and
    // the Sunday are closed; twenty more on Monday.
    assert_eq!(
        due("Europe/Rome", "IT", &[], Critical, "2026-12-24T16:50:00Z"),
        "2026-12-28T08:20:00Z"
    );
    // Wednesday 18:30 in New York, the eve of Thanksgiving: due Friday at 18:00.
    assert_eq!(
        due(
            "America/New_York",
            "US",
            &[],
            Standard,
            "2026-11-25T23:30:00Z"
        ),
        "2026-11-27T23:00:00Z"
    );
    // Independence Day 2026 is a Saturday, observed on Friday the 3rd.
    assert_eq!(
        due(
            "America/New_York",
            "US",
            &[],
            Standard,
            "2026-07-02T23:00:00Z"
        ),
        "2026-07-06T22:00:00Z"
    );
    // Rome's Liberation Day falls on a Saturday in 2026: the Friday before works.
    assert_eq!(
        due("Europe/Rome", "IT", &[], Standard, "2026-04-24T06:00:00Z"),
        "2026-04-24T16:00:00Z"
    );
}

#[test]
fn a_closure_closes_the_centre_that_day() {
    let open = due("Europe/Rome", "IT", &[], Critical, "2026-12-04T16:50:00Z");
    let closed = due(
        "Europe/Rome",
        "IT",
        &["2026-12-07"],
        Critical,
        "2026-12-04T16:50:00Z",
    );
    // Monday closed; Tuesday 8 December is the Immaculate Conception: Wednesday.
    assert_eq!(
        (open.as_str(), closed.as_str()),
        ("2026-12-07T08:20:00Z", "2026-12-09T08:20:00Z")
    );
}

#[test]
fn the_desk_uses_the_function_sla_due_prints() {
    // `didhub sla due` with the holidays given by hand gives what the centre's calendar gives.
    let by_hand = SupportHours::new(
        zone("Europe/Rome").unwrap(),
        ["2026-12-25", "2026-12-26"].map(|d| d.parse::<NaiveDate>().unwrap()),
    )
    .first_response_due(Critical, at("2026-12-24T16:50:00Z"))
    .unwrap();
    assert_eq!(
        by_hand.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        due("Europe/Rome", "IT", &[], Critical, "2026-12-24T16:50:00Z")
    );
}

#[test]
fn where_a_ticket_stands() {
    let due = at("2026-12-07T10:00:00Z");
    let m = |n: i64| due - TimeDelta::minutes(n);
    assert_eq!(sla_status(Critical, due, Some(due), m(60)), SlaStatus::Met);
    assert_eq!(
        sla_status(Critical, due, Some(due + TimeDelta::seconds(1)), m(0)),
        SlaStatus::Breached
    );
    assert_eq!(sla_status(Critical, due, None, due), SlaStatus::Breached);
    assert_eq!(sla_status(Critical, due, None, m(15)), SlaStatus::AtRisk);
    assert_eq!(sla_status(Critical, due, None, m(16)), SlaStatus::Running);
    assert_eq!(sla_status(Standard, due, None, m(120)), SlaStatus::AtRisk);
    assert_eq!(sla_status(Standard, due, None, m(121)), SlaStatus::Running);
}

#[test]
fn who_moves_a_ticket_where() {
    use Side::{Partner, Staff};
    use TicketState::*;
    let ok = |f, t, s| check_transition(7, f, t, s).is_ok();
    assert!(ok(Open, Pending, Staff) && ok(Pending, Solved, Staff) && ok(Solved, Closed, Staff));
    assert!(ok(Solved, Open, Partner) && ok(Pending, Open, Partner) && ok(Open, Closed, Partner));
    assert!(!ok(Open, Solved, Partner) && !ok(Open, Pending, Partner));
    assert!(!ok(Solved, Pending, Staff) && !ok(Open, Open, Staff));
    assert_eq!(after_reply(Pending, Partner), Open);
    assert_eq!(after_reply(Solved, Partner), Open);
    assert_eq!(after_reply(Pending, Staff), Pending);
    let e = check_transition(7, Closed, Open, Staff).unwrap_err();
    assert_eq!(e, TicketError::Closed(7));
    assert!(e.to_string().contains("open a new case referencing #7"));
    assert_eq!(e.to_string(), closed_refusal(7));
}

fn state() -> impl Strategy<Value = TicketState> {
    prop::sample::select(TicketState::ALL.to_vec())
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Staff), Just(Side::Partner)]
}

proptest! {
    #[test]
    fn closed_is_final(to in state(), side in side(), n in 1i64..1_000_000) {
        prop_assert_eq!(
            check_transition(n, TicketState::Closed, to, side),
            Err(TicketError::Closed(n))
        );
    }

    #[test]
    fn partners_only_answer_or_close(from in state(), to in state()) {
        if check_transition(1, from, to, Side::Partner).is_ok() {
            prop_assert!(matches!(to, TicketState::Open | TicketState::Closed));
            prop_assert!(check_transition(1, from, to, Side::Staff).is_ok());
        }
    }

    #[test]
    fn at_risk_is_the_window_before_the_deadline(
        critical in any::<bool>(),
        before in -200i64..200,
    ) {
        let class = if critical { Critical } else { Standard };
        let due = at("2026-12-07T10:00:00Z");
        let now = due - TimeDelta::minutes(before);
        let status = sla_status(class, due, None, now);
        let window = at_risk_window(class).num_minutes();
        let want = if before <= 0 {
            SlaStatus::Breached
        } else if before <= window {
            SlaStatus::AtRisk
        } else {
            SlaStatus::Running
        };
        prop_assert_eq!(status, want);
    }

    /// The centre's hours close exactly the days its calendar does not work (weekdays).
    #[test]
    fn centre_hours_follow_the_calendar(offset in 0i64..(365 * 24), closure in 0u64..60) {
        let created = at("2026-01-01T00:00:00Z") + TimeDelta::hours(offset);
        let it = Calendar::for_country("IT").unwrap();
        let extra = created.date_naive() + chrono::Days::new(closure);
        let cal = it.clone().with_closures([extra]);
        let h = centre_hours(zone("Europe/Rome").unwrap(), &cal, created);
        for i in 0..30 {
            let d = created.date_naive() + chrono::Days::new(i);
            let weekday = !matches!(
                chrono::Datelike::weekday(&d),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            );
            prop_assert_eq!(h.is_support_day(d), weekday && cal.is_working_day(d).unwrap());
        }
    }
}
