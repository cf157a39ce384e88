//! First-response deadlines: the contract's cases, clock changes both ways, zones whose clocks
//! change within (made-up) support hours, and the rule by property against a minute-by-minute
//! reading of the wall clock.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use didhub_core::sla::{zone, SlaError, SupportHours, TicketClass, CRITICAL_RESPONSE};
use proptest::prelude::*;

use TicketClass::{Critical, Standard};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("a date")
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("a time")
}

fn due(tz: &str, class: TicketClass, created: &str) -> String {
    let h = SupportHours::new(zone(tz).expect("zone"), []);
    let due = h
        .first_response_due(class, at(created))
        .expect("a deadline");
    due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn the_contracts_public_cases() {
    let rome = "Europe/Rome";
    assert_eq!(
        due(rome, Critical, "2026-12-04T16:50:00Z"),
        "2026-12-07T08:20:00Z"
    );
    assert_eq!(
        due(rome, Standard, "2026-12-05T10:00:00Z"),
        "2026-12-07T17:00:00Z"
    );
    assert_eq!(
        due(rome, Standard, "2026-12-01T06:30:00Z"),
        "2026-12-01T17:00:00Z"
    );
    assert_eq!(
        due(rome, Critical, "2026-12-01T16:30:00Z"),
        "2026-12-01T17:00:00Z"
    );
}

#[test]
fn standard_tickets_by_when_they_come() {
    let rome = "Europe/Rome";
    // Within hours, at the opening, at the close, after it.
    assert_eq!(
        due(rome, Standard, "2026-12-01T12:00:00Z"),
        "2026-12-01T17:00:00Z"
    );
    assert_eq!(
        due(rome, Standard, "2026-12-01T08:00:00Z"),
        "2026-12-01T17:00:00Z"
    );
    assert_eq!(
        due(rome, Standard, "2026-12-01T16:59:59Z"),
        "2026-12-01T17:00:00Z"
    );
    assert_eq!(
        due(rome, Standard, "2026-12-01T17:00:00Z"),
        "2026-12-02T17:00:00Z"
    );
    assert_eq!(
        due(rome, Standard, "2026-12-04T20:00:00Z"),
        "2026-12-07T17:00:00Z"
    );
}

#[test]
fn critical_tickets_count_support_time_only() {
    let rome = "Europe/Rome";
    // Created before the opening: 09:30 local.
    assert_eq!(
        due(rome, Critical, "2026-12-01T06:30:00Z"),
        "2026-12-01T08:30:00Z"
    );
    // At 17:45 local: 15 minutes that day, 15 the next.
    assert_eq!(
        due(rome, Critical, "2026-12-01T16:45:00Z"),
        "2026-12-02T08:15:00Z"
    );
    // At the close exactly: none that day.
    assert_eq!(
        due(rome, Critical, "2026-12-01T17:00:00Z"),
        "2026-12-02T08:30:00Z"
    );
}

#[test]
fn holidays_close_the_days_given_and_only_those() {
    let rome = zone("Europe/Rome").expect("zone");
    let h = SupportHours::new(rome, [d(2026, 12, 4), d(2026, 12, 7)]);
    let created = at("2026-12-03T16:50:00Z");
    assert_eq!(
        h.first_response_due(Critical, created),
        Ok(at("2026-12-08T08:20:00Z"))
    );
    assert_eq!(
        h.first_response_due(Standard, at("2026-12-04T10:00:00Z")),
        Ok(at("2026-12-08T17:00:00Z"))
    );
    // A holiday on a Saturday changes nothing.
    let sat = SupportHours::new(rome, [d(2026, 12, 5)]);
    assert_eq!(
        sat.first_response_due(Critical, at("2026-12-04T16:50:00Z")),
        Ok(at("2026-12-07T08:20:00Z"))
    );
}

#[test]
fn clock_changes_in_rome_and_new_york() {
    let (rome, ny) = ("Europe/Rome", "America/New_York");
    // Rome: summer time from Sunday 2026-03-29, winter time from Sunday 2026-10-25.
    assert_eq!(
        due(rome, Critical, "2026-03-27T16:45:00Z"),
        "2026-03-30T07:15:00Z"
    );
    assert_eq!(
        due(rome, Standard, "2026-03-28T10:00:00Z"),
        "2026-03-30T16:00:00Z"
    );
    assert_eq!(
        due(rome, Critical, "2026-03-29T01:30:00Z"),
        "2026-03-30T07:30:00Z"
    );
    assert_eq!(
        due(rome, Critical, "2026-10-23T15:45:00Z"),
        "2026-10-26T08:15:00Z"
    );
    assert_eq!(
        due(rome, Standard, "2026-10-24T10:00:00Z"),
        "2026-10-26T17:00:00Z"
    );
    // New York: from Sunday 2026-03-08 and Sunday 2026-11-01.
    assert_eq!(
        due(ny, Critical, "2026-03-06T22:45:00Z"),
        "2026-03-09T13:15:00Z"
    );
    assert_eq!(
        due(ny, Standard, "2026-03-08T12:00:00Z"),
        "2026-03-09T22:00:00Z"
    );
    assert_eq!(
        due(ny, Critical, "2026-10-30T21:45:00Z"),
        "2026-11-02T14:15:00Z"
    );
    assert_eq!(
        due(ny, Standard, "2026-11-01T12:00:00Z"),
        "2026-11-02T23:00:00Z"
    );
}

/// Cairo's clocks change on weekdays at midnight: with support hours around midnight
/// (00:30-23:30), an opening the clocks jump over and a close they repeat.
fn cairo_all_day() -> SupportHours {
    SupportHours {
        open: hm(0, 30),
        close: hm(23, 30),
        ..SupportHours::new(zone("Africa/Cairo").expect("zone"), [])
    }
}

#[test]
fn an_opening_the_clocks_jump_over_opens_at_the_jump() {
    // Friday 2026-04-24 00:00 EET became 01:00 EEST (22:00 UTC on Thursday): 00:30 never was.
    let h = cairo_all_day();
    assert_eq!(
        h.hours_on(d(2026, 4, 24)),
        Some(vec![(
            at("2026-04-23T22:00:00Z"),
            at("2026-04-24T20:30:00Z")
        )])
    );
    // Created at 23:20 on Thursday: 10 minutes that day, 20 after the jump.
    assert_eq!(
        h.first_response_due(Critical, at("2026-04-23T21:20:00Z")),
        Ok(at("2026-04-23T22:20:00Z"))
    );
}

#[test]
fn a_close_the_clocks_repeat_gives_the_repeated_half_hour_again() {
    // Thursday 2026-10-29 24:00 EEST became 23:00 EET (21:00 UTC): 23:00-23:30 came twice.
    let h = cairo_all_day();
    assert_eq!(
        h.hours_on(d(2026, 10, 29)),
        Some(vec![
            (at("2026-10-28T21:30:00Z"), at("2026-10-29T20:30:00Z")),
            (at("2026-10-29T21:00:00Z"), at("2026-10-29T21:30:00Z")),
        ])
    );
    assert_eq!(
        h.first_response_due(Critical, at("2026-10-29T20:20:00Z")),
        Ok(at("2026-10-29T21:20:00Z"))
    );
    assert_eq!(
        h.first_response_due(Standard, at("2026-10-29T20:40:00Z")),
        Ok(at("2026-10-29T21:30:00Z"))
    );
}

#[test]
fn a_day_the_zone_skipped_has_no_support_hours() {
    // Samoa went from Thursday 2011-12-29 to Saturday 2011-12-31: Friday never was.
    let apia = zone("Pacific/Apia").expect("zone");
    let h = SupportHours::new(apia, []);
    assert_eq!(h.hours_on(d(2011, 12, 30)), Some(vec![]));
    // Thursday 17:50 local (UTC-10): 10 minutes, then Monday 2012-01-02 09:20 (UTC+14).
    assert_eq!(
        h.first_response_due(Critical, at("2011-12-30T03:50:00Z")),
        Ok(at("2012-01-01T19:20:00Z"))
    );
    assert_eq!(
        h.first_response_due(Standard, at("2011-12-30T04:30:00Z")),
        Ok(at("2012-01-02T04:00:00Z"))
    );
}

#[test]
fn bad_input_is_refused() {
    assert_eq!("Critical".parse(), Ok(Critical));
    assert!(matches!(
        "urgent".parse::<TicketClass>(),
        Err(SlaError::UnknownClass(_))
    ));
    assert!(matches!(zone("Europe/Roma"), Err(SlaError::UnknownZone(_))));
    let backwards = SupportHours {
        open: hm(18, 0),
        close: hm(9, 0),
        ..SupportHours::new(zone("UTC").expect("zone"), [])
    };
    assert!(matches!(
        backwards.first_response_due(Critical, at("2026-12-01T10:00:00Z")),
        Err(SlaError::EmptyHours { .. })
    ));
}

/// Zones with clock changes of an hour, half an hour (Lord Howe), at midnight (Cairo,
/// Santiago), none (Tokyo, Kolkata), and far from UTC both ways.
const ZONES: [Tz; 9] = [
    chrono_tz::Europe::Rome,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Africa::Cairo,
    chrono_tz::America::Santiago,
    chrono_tz::Asia::Tokyo,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Pacific::Kiritimati,
    chrono_tz::Pacific::Pago_Pago,
];

fn hours() -> impl Strategy<Value = SupportHours> {
    let closed = prop::collection::vec(0u64..40, 0..8);
    (0..ZONES.len(), closed).prop_map(|(z, days)| {
        // Closed days near the creation times drawn below (2026-03-01 onwards).
        let closed = days
            .into_iter()
            .map(|n| d(2026, 3, 1) + chrono::Days::new(n));
        SupportHours::new(ZONES[z], closed)
    })
}

/// A minute from 2026-03-01 to about 2026-04-10 (both European and American clock changes).
fn created() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..40 * 24 * 60).prop_map(|m| at("2026-03-01T00:00:00Z") + TimeDelta::minutes(m))
}

fn class() -> impl Strategy<Value = TicketClass> {
    prop_oneof![Just(Critical), Just(Standard)]
}

/// Minutes of support time in `[from, to)` (both on the minute), read off the wall clock.
fn open_minutes(h: &SupportHours, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let n = (to - from).num_minutes();
    (0..n)
        .filter(|m| h.is_open(from + TimeDelta::minutes(*m)))
        .count() as i64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_deadline_ends_support_time_on_a_support_day(
        h in hours(),
        class in class(),
        created in created(),
    ) {
        let due = h.first_response_due(class, created).expect("a deadline");
        prop_assert!(due >= created);
        let local = due.with_timezone(&h.tz).naive_local();
        prop_assert!(h.is_support_day(local.date()), "due {} on {}", due, local.date());
        prop_assert!(!matches!(local.date().weekday(), Weekday::Sat | Weekday::Sun));
        prop_assert!(local.time() > h.open && local.time() <= h.close, "due at {}", local);
        if class == Standard {
            prop_assert_eq!(local.time(), h.close);
        }
        // Support was open just before: the deadline never falls in closed time.
        prop_assert!(h.is_open(due - TimeDelta::minutes(1)));
    }

    #[test]
    fn critical_tickets_get_exactly_thirty_minutes_of_support_time(
        h in hours(),
        created in created(),
    ) {
        let due = h.first_response_due(Critical, created).expect("a deadline");
        prop_assert_eq!(open_minutes(&h, created, due), CRITICAL_RESPONSE.num_minutes());
    }

    #[test]
    fn standard_tickets_are_due_at_the_close_of_the_first_support_day_after_creation(
        h in hours(),
        created in created(),
    ) {
        let due = h.first_response_due(Standard, created).expect("a deadline");
        let due_day = due.with_timezone(&h.tz).date_naive();
        // Every minute of support between creation and the deadline is on the deadline's day.
        let n = (due - created).num_minutes();
        for m in 0..n {
            let t = created + TimeDelta::minutes(m);
            if h.is_open(t) {
                prop_assert_eq!(t.with_timezone(&h.tz).date_naive(), due_day, "open at {}", t);
            }
        }
        prop_assert!(!h.is_open(due));
    }

    #[test]
    fn later_tickets_are_never_due_sooner(
        h in hours(),
        class in class(),
        created in created(),
        later in 0i64..5000,
    ) {
        let a = h.first_response_due(class, created).expect("a deadline");
        let b = h.first_response_due(class, created + TimeDelta::minutes(later)).expect("a deadline");
        prop_assert!(a <= b, "created {} due {}, {} minutes later due {}", created, a, later, b);
    }

    #[test]
    fn the_spans_of_a_day_are_the_minutes_the_wall_clock_is_open(
        h in hours(),
        day in 0u64..40,
    ) {
        let date = d(2026, 3, 1) + chrono::Days::new(day);
        let spans = h.hours_on(date).expect("spans");
        let start = date.and_time(NaiveTime::MIN).and_utc() - TimeDelta::hours(16);
        for m in 0..(56 * 60) {
            let t = start + TimeDelta::minutes(m);
            let in_spans = spans.iter().any(|(a, b)| *a <= t && t < *b);
            let open_that_day = h.is_open(t) && t.with_timezone(&h.tz).date_naive() == date;
            prop_assert_eq!(in_spans, open_that_day, "at {}", t);
        }
    }
}
