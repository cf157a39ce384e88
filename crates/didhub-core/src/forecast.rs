//! The forecast of days of stock left: at the rate stock left over the last 30 days.
//!
//! The input is the stock recorded once a day (the in-stock count of a country and number
//! type, or of everything). What left stock is read from it as the sum of the day-to-day falls:
//! a day whose stock rose (numbers bought or imported) takes nothing away from what left on
//! the other days, so a restock does not hide a month's consumption. The rate is that outflow
//! over the days it was recorded across (at most the last 30); the stock lasts the current
//! count divided by the rate, in whole days. No outflow, no forecast (the stock does not run
//! out at that rate); fewer than two recorded days, no forecast either.
//!
//! A day on which numbers both came in and left shows only its net change, so the outflow of
//! such a day is under-read by its inflow: the forecast is then longer than it should be.

use chrono::NaiveDate;

/// How far back the rate looks, in days.
pub const WINDOW_DAYS: i64 = 30;

/// The rate and the days left of one series of daily stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forecast {
    /// The stock of the latest recorded day.
    pub in_stock: i64,
    /// What left stock over the window (the sum of the day-to-day falls).
    pub outflow: i64,
    /// The days the window's records span (from the first to the latest).
    pub span_days: i64,
    /// Whole days the stock lasts at `outflow / span_days` a day; `None` without outflow.
    pub days_left: Option<i64>,
}

/// The forecast of a series of (day, in stock), one count a day in any order, as of `today`:
/// the records of the last [`WINDOW_DAYS`] days up to `today` are read (older and later ones
/// are not). `None` when fewer than two days of the window are recorded.
pub fn forecast(history: &[(NaiveDate, i64)], today: NaiveDate) -> Option<Forecast> {
    let first_day = today - chrono::Duration::days(WINDOW_DAYS);
    let mut days: Vec<(NaiveDate, i64)> = history
        .iter()
        .copied()
        .filter(|(d, _)| *d >= first_day && *d <= today)
        .map(|(d, n)| (d, n.max(0)))
        .collect();
    days.sort_by_key(|(d, _)| *d);
    days.dedup_by_key(|(d, _)| *d);
    let (first, last) = (days.first()?, days.last()?);
    let span_days = (last.0 - first.0).num_days();
    if span_days < 1 {
        return None;
    }
    let outflow: i64 = days
        .windows(2)
        .map(|w| (w[0].1 - w[1].1).max(0))
        .fold(0i64, |a, b| a.saturating_add(b));
    let in_stock = last.1;
    // in_stock / (outflow / span) without fractions: in_stock × span / outflow, rounded down.
    let days_left = (outflow > 0).then(|| {
        let d = i128::from(in_stock) * i128::from(span_days) / i128::from(outflow);
        i64::try_from(d).unwrap_or(i64::MAX)
    });
    Some(Forecast {
        in_stock,
        outflow,
        span_days,
        days_left,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(n: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 30).expect("day") + chrono::Duration::days(n)
    }

    #[test]
    fn a_steady_outflow_lasts_the_stock_over_the_rate() {
        // 10 a day for 30 days: 1,000 → 700; 700 / 10 = 70 days.
        let h: Vec<_> = (0..=30).map(|i| (day(i), 1000 - 10 * i)).collect();
        let f = forecast(&h, day(30)).expect("forecast");
        assert_eq!((f.outflow, f.span_days, f.days_left), (300, 30, Some(70)));
    }

    #[test]
    fn a_restock_does_not_hide_what_left() {
        // 5 a day leave; on day 10, 500 arrive: the other 29 days' falls all count (only the
        // restock day's own 5 are hidden in its net rise of 495, the documented limit).
        let h: Vec<_> = (0..=30)
            .map(|i| (day(i), 200 - 5 * i + if i >= 10 { 500 } else { 0 }))
            .collect();
        let f = forecast(&h, day(30)).expect("forecast");
        assert_eq!(f.outflow, 145);
        assert_eq!(f.in_stock, 550);
        // 550 at 145 in 30 days: 113.79 days, 113 whole ones (the net rate would say 1,650).
        assert_eq!(f.days_left, Some(113));
    }

    #[test]
    fn no_outflow_or_one_day_is_no_forecast() {
        let flat = [(day(0), 5), (day(3), 5), (day(4), 9)];
        assert_eq!(forecast(&flat, day(4)).expect("read").days_left, None);
        assert_eq!(forecast(&[(day(0), 5)], day(0)), None);
        assert_eq!(forecast(&[], day(0)), None);
        // Records older than the window are not read.
        assert_eq!(forecast(&[(day(-40), 50), (day(0), 5)], day(0)), None);
        // Out of stock with an outflow: no day left.
        let gone = [(day(0), 5), (day(1), 0)];
        assert_eq!(forecast(&gone, day(1)).expect("read").days_left, Some(0));
    }

    proptest! {
        /// The days left are the whole days the stock lasts at the window's rate: that many
        /// days of outflow fit in the stock, one more does not.
        #[test]
        fn the_days_left_are_the_whole_days_the_stock_lasts(
            counts in proptest::collection::vec(0i64..1_000_000, 2..40),
            today_off in 0i64..10,
        ) {
            let n = counts.len() as i64;
            let today = day(n - 1 + today_off);
            let h: Vec<_> = counts.iter().enumerate().map(|(i, c)| (day(i as i64), *c)).collect();
            let window: Vec<_> = h
                .iter()
                .filter(|(d, _)| *d >= today - chrono::Duration::days(WINDOW_DAYS))
                .collect();
            match forecast(&h, today) {
                None => prop_assert!(window.len() < 2),
                Some(f) => {
                    prop_assert!(f.span_days >= 1 && f.span_days <= WINDOW_DAYS);
                    prop_assert_eq!(f.in_stock, *counts.last().expect("a day"));
                    // Never less than the net fall over the window, never negative.
                    let net = window[0].1 - f.in_stock;
                    prop_assert!(f.outflow >= net.max(0));
                    match f.days_left {
                        None => prop_assert_eq!(f.outflow, 0),
                        Some(d) => {
                            let (stock, span, out) =
                                (i128::from(f.in_stock) * i128::from(f.span_days),
                                 i128::from(f.span_days), i128::from(f.outflow));
                            prop_assert!(span > 0);
                            prop_assert!(i128::from(d) * out <= stock);
                            prop_assert!((i128::from(d) + 1) * out > stock);
                        }
                    }
                }
            }
        }

        /// A stock that only grows or stays never runs out: no forecast of days left.
        #[test]
        fn a_stock_that_never_falls_has_no_days_left(
            steps in proptest::collection::vec(0i64..1000, 1..40),
        ) {
            let mut c = 0;
            let h: Vec<_> = steps.iter().enumerate().map(|(i, s)| { c += s; (day(i as i64), c) }).collect();
            let today = day(steps.len() as i64 - 1);
            if let Some(f) = forecast(&h, today) {
                prop_assert_eq!(f.outflow, 0);
                prop_assert_eq!(f.days_left, None);
            }
        }
    }
}
