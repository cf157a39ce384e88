//! Working-day calendars: the compiled-in data against the generated files and the library's
//! own answers, known dates, errors, and the counting rule by property.

use chrono::{Datelike, NaiveDate, Weekday};
use didhub_core::calendar::{
    check_covered, countries, Calendar, CalendarError, FIRST_DAY, FIRST_YEAR, LAST_DAY, LAST_YEAR,
    MAX_DAYS,
};
use proptest::prelude::*;

const HOLIDAYS: &str = include_str!("../../data/holidays.csv");
const LIBRARY_ANSWERS: &str = include_str!("../fixtures/working_days.csv");

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("a date")
}

fn cal(cc: &str) -> Calendar {
    Calendar::for_country(cc).expect("a calendar")
}

fn listed(cc: &str, date: NaiveDate) -> bool {
    HOLIDAYS.lines().any(|l| l == format!("{cc},{date}"))
}

/// Easter Sunday (the anonymous Gregorian algorithm), to check the data independently.
fn easter(y: i32) -> NaiveDate {
    let (a, b, c) = (y % 19, y / 100, y % 100);
    let (dd, e) = (b / 4, b % 4);
    let g = (8 * b + 13) / 25;
    let h = (19 * a + b - dd - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 19 * l) / 433;
    let month = (h + l - 7 * m + 90) / 25;
    let day = (h + l - 7 * m + 33 * month + 19) % 32;
    d(y, month as u32, day as u32)
}

#[test]
fn the_contracts_public_cases() {
    assert_eq!(
        cal("FR").add_working_days(d(2026, 12, 24), 1),
        Ok(d(2026, 12, 28))
    );
    assert_eq!(
        cal("SA").add_working_days(d(2026, 3, 4), 2),
        Ok(d(2026, 3, 8))
    );
}

#[test]
fn every_answer_of_the_library_is_reproduced() {
    let mut n_cases = 0;
    for l in LIBRARY_ANSWERS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
    {
        let f: Vec<&str> = l.split(',').collect();
        let [cc, from, n, want] = f[..] else {
            panic!("fixture line {l}")
        };
        let from: NaiveDate = from.parse().expect("fixture date");
        let want: NaiveDate = want.parse().expect("fixture date");
        let n: u32 = n.parse().expect("fixture count");
        assert_eq!(cal(cc).add_working_days(from, n), Ok(want), "{l}");
        n_cases += 1;
    }
    assert!(n_cases >= 2000, "{n_cases} cases");
}

#[test]
fn known_holidays_are_in_the_file_and_not_working_days() {
    let fr = cal("FR");
    for (cc, date) in [
        ("FR", d(2026, 12, 25)), // Christmas
        ("FR", d(2026, 4, 6)),   // Easter Monday
        ("FR", d(2026, 7, 14)),  // Bastille Day
        ("GB", d(2026, 12, 25)),
        ("US", d(2026, 7, 4)),
        ("SA", d(2026, 3, 20)), // Eid al-Fitr 1447
        ("SA", d(2026, 5, 27)), // Eid al-Adha 1447
        ("SA", d(2026, 9, 23)), // National Day
    ] {
        assert!(listed(cc, date), "{cc},{date} is not in holidays.csv");
        assert!(cal(cc).is_holiday(date), "{cc} {date}");
        assert_eq!(cal(cc).is_working_day(date), Ok(false), "{cc} {date}");
    }
    assert_eq!(fr.is_working_day(d(2026, 12, 24)), Ok(true));
    assert_eq!(fr.is_working_day(d(2026, 4, 7)), Ok(true));
    assert!(!listed("FR", d(2026, 4, 7)));
}

#[test]
fn easter_monday_and_christmas_every_covered_year() {
    for y in FIRST_YEAR..=LAST_YEAR {
        let monday = easter(y) + chrono::Days::new(1);
        assert_eq!(monday.weekday(), Weekday::Mon);
        assert!(cal("FR").is_holiday(monday), "FR Easter Monday {monday}");
        assert!(cal("DE").is_holiday(monday), "DE Easter Monday {monday}");
        for cc in ["FR", "GB", "US"] {
            assert!(cal(cc).is_holiday(d(y, 12, 25)), "{cc} Christmas {y}");
        }
    }
}

#[test]
fn the_data_covers_every_year_for_the_main_countries() {
    // Fewest national holidays a year in the data: FR 11; GB 6 (those of all its nations: no
    // Easter Monday, no August bank holiday); US 11 (federal, with observed days); SA 11.
    for (cc, fewest) in [("FR", 11), ("GB", 6), ("US", 11), ("SA", 11)] {
        let c = cal(cc);
        for y in FIRST_YEAR..=LAST_YEAR {
            let n = d(y, 1, 1)
                .iter_days()
                .take_while(|x| x.year() == y)
                .filter(|x| c.is_holiday(*x))
                .count();
            assert!(n >= fewest, "{cc} {y}: {n} holidays");
        }
    }
    assert!(countries().expect("countries").len() >= 249);
}

#[test]
fn weekends_by_country_and_date() {
    let fri = d(2026, 3, 6);
    let sun = d(2026, 3, 8);
    assert!(cal("SA").is_weekend(fri) && !cal("SA").is_weekend(sun));
    assert!(!cal("FR").is_weekend(fri) && cal("FR").is_weekend(sun));
    // The UAE moved its weekend from Friday-Saturday to Saturday-Sunday in 2022.
    assert!(cal("AE").is_weekend(d(2021, 12, 31)) && !cal("AE").is_weekend(d(2022, 1, 7)));
    assert!(cal("AE").is_weekend(d(2022, 1, 9)) && !cal("AE").is_weekend(d(2021, 12, 26)));
    // A Saturday worked in Russia in exchange for a bridge day off.
    assert_eq!(d(2024, 4, 27).weekday(), Weekday::Sat);
    assert_eq!(cal("RU").is_working_day(d(2024, 4, 27)), Ok(true));
    assert_eq!(cal("RU").is_working_day(d(2024, 4, 20)), Ok(false));
}

#[test]
fn zero_days_is_the_day_itself_or_the_next_working_day() {
    let fr = cal("FR");
    assert_eq!(fr.add_working_days(d(2026, 12, 24), 0), Ok(d(2026, 12, 24)));
    assert_eq!(fr.add_working_days(d(2026, 12, 25), 0), Ok(d(2026, 12, 28)));
}

#[test]
fn codes_are_read_in_any_case_and_unknown_ones_refused() {
    assert_eq!(cal(" fr ").country(), "FR");
    for bad in ["ZZ", "FRA", "", "F", "1A", "Ü"] {
        assert!(
            matches!(
                Calendar::for_country(bad),
                Err(CalendarError::UnknownCountry(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn dates_outside_the_covered_years_are_refused() {
    let fr = cal("FR");
    for from in [
        d(2019, 12, 31),
        d(2036, 1, 1),
        NaiveDate::MIN,
        NaiveDate::MAX,
    ] {
        assert_eq!(
            fr.add_working_days(from, 1),
            Err(CalendarError::DateOutOfRange(from))
        );
        assert!(fr.is_working_day(from).is_err());
    }
    assert_eq!(check_covered(FIRST_DAY), Ok(FIRST_DAY));
    assert_eq!(check_covered(LAST_DAY), Ok(LAST_DAY));
    // The last working day of 2035 is reached; one more runs past the data.
    let last = fr
        .add_working_days(d(2035, 12, 27), 2)
        .expect("within 2035");
    assert_eq!(last, d(2035, 12, 31));
    assert_eq!(
        fr.add_working_days(d(2035, 12, 27), 3),
        Err(CalendarError::BeyondData {
            from: d(2035, 12, 27),
            n: 3
        })
    );
    assert_eq!(
        fr.add_working_days(d(2026, 1, 1), MAX_DAYS + 1),
        Err(CalendarError::TooManyDays(MAX_DAYS + 1))
    );
    assert!(fr.add_working_days(FIRST_DAY, MAX_DAYS).is_ok());
}

#[test]
fn a_closure_is_skipped_like_a_holiday() {
    let fr = cal("FR").with_closures([d(2026, 12, 28)]);
    assert_eq!(fr.add_working_days(d(2026, 12, 24), 1), Ok(d(2026, 12, 29)));
    // On a weekend it changes nothing.
    let sat = cal("FR").with_closures([d(2026, 12, 26)]);
    assert_eq!(
        sat.add_working_days(d(2026, 12, 24), 1),
        Ok(d(2026, 12, 28))
    );
}

/// Working days in `(from, to]`, counted day by day.
fn working_between(c: &Calendar, from: NaiveDate, to: NaiveDate) -> u32 {
    from.iter_days()
        .skip(1)
        .take_while(|x| *x <= to)
        .filter(|x| c.is_working_day(*x) == Ok(true))
        .count() as u32
}

fn country() -> impl Strategy<Value = &'static str> {
    let all = countries().expect("countries");
    (0..all.len()).prop_map(move |i| all[i])
}

fn day_in(first: NaiveDate, span: u64) -> impl Strategy<Value = NaiveDate> {
    (0..span).prop_map(move |i| first + chrono::Days::new(i))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_answer_is_the_nth_working_day_after(
        cc in country(),
        from in day_in(FIRST_DAY, 5000),
        n in 1u32..80,
    ) {
        let c = cal(cc);
        let r = c.add_working_days(from, n).expect("within the data");
        prop_assert!(r > from);
        prop_assert_eq!(c.is_working_day(r), Ok(true));
        prop_assert_eq!(working_between(&c, from, r), n);
    }

    #[test]
    fn monotone_in_n_and_in_from(
        cc in country(),
        from in day_in(FIRST_DAY, 5000),
        later in 0u64..40,
        n in 0u32..80,
    ) {
        let c = cal(cc);
        let r = c.add_working_days(from, n).expect("within the data");
        let r_next = c.add_working_days(from, n + 1).expect("within the data");
        // Strictly, but for n = 0 on a day off (then both are the next working day).
        prop_assert!(r < r_next || n == 0 && r == r_next, "n {} gives {}, n + 1 gives {}", n, r, r_next);
        let from2 = from + chrono::Days::new(later);
        let r2 = c.add_working_days(from2, n).expect("within the data");
        prop_assert!(r <= r2, "from {} gives {}, from {} gives {}", from, r, from2, r2);
    }

    #[test]
    fn a_closure_in_the_window_adds_exactly_one_working_day(
        cc in country(),
        from in day_in(FIRST_DAY, 5000),
        n in 1u32..40,
        pick in any::<prop::sample::Index>(),
        after in 1u64..30,
    ) {
        let plain = cal(cc);
        let r = plain.add_working_days(from, n).expect("within the data");
        // A working day of the window (from, r]: the answer moves to the next working day.
        let window: Vec<NaiveDate> = from
            .iter_days()
            .skip(1)
            .take_while(|x| *x <= r)
            .filter(|x| plain.is_working_day(*x) == Ok(true))
            .collect();
        let closed = window[pick.index(window.len())];
        let with = plain.clone().with_closures([closed]);
        prop_assert_eq!(with.add_working_days(from, n), plain.add_working_days(r, 1));
        // A closure after the answer changes nothing.
        let later = plain.clone().with_closures([r + chrono::Days::new(after)]);
        prop_assert_eq!(later.add_working_days(from, n), Ok(r));
    }
}
