//! PBX license terms and pro-rata pricing of co-terminated services.
//!
//! Rounding rule: the amount is `price × days / period_days`, computed exactly in decimal and
//! rounded once, half away from zero (half-up for the positive amounts used here), to the
//! currency's minor unit.

use std::fmt;
use std::str::FromStr;

use chrono::{Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TermKind {
    Monthly,
    Yearly,
    FiveYear,
}

impl TermKind {
    pub const ALL: [TermKind; 3] = [TermKind::Monthly, TermKind::Yearly, TermKind::FiveYear];

    pub fn as_str(&self) -> &'static str {
        match self {
            TermKind::Monthly => "monthly",
            TermKind::Yearly => "yearly",
            TermKind::FiveYear => "five_year",
        }
    }

    fn months(&self) -> u32 {
        match self {
            TermKind::Monthly => 1,
            TermKind::Yearly => 12,
            TermKind::FiveYear => 60,
        }
    }

    /// Expiry of a period starting on `start`: calendar months, a missing day clamped to the
    /// month's last day (31 Jan + 1 month = 28/29 Feb). A period that would end after
    /// [`LAST_DAY`] is refused.
    pub fn expiry(&self, start: NaiveDate) -> Result<NaiveDate, LicenseError> {
        start
            .checked_add_months(Months::new(self.months()))
            .filter(|e| *e <= LAST_DAY)
            .ok_or(LicenseError::ExpiryOutOfRange { term: *self, start })
    }
}

impl fmt::Display for TermKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TermKind {
    type Err = LicenseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let k = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match k.as_str() {
            "monthly" | "month" => Ok(TermKind::Monthly),
            "yearly" | "year" | "annual" => Ok(TermKind::Yearly),
            "five_year" | "5_year" | "5y" | "five_yearly" => Ok(TermKind::FiveYear),
            _ => Err(LicenseError::UnknownTerm(s.trim().to_string())),
        }
    }
}

/// The first and last day a license period, a service or a client package may name: years of
/// four digits, so that every date, computed expiries included, is written `YYYY-MM-DD`
/// (beyond them chrono writes `+10004-12-31`), and none is a typo decades away.
pub const FIRST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => panic!("1900-01-01 is a date"),
};
pub const LAST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => panic!("9999-12-31 is a date"),
};

/// A day given in a request or on the command line, within [`FIRST_DAY`]..=[`LAST_DAY`].
pub fn check_date(field: &'static str, date: NaiveDate) -> Result<NaiveDate, LicenseError> {
    if (FIRST_DAY..=LAST_DAY).contains(&date) {
        Ok(date)
    } else {
        Err(LicenseError::DateOutOfRange { field, date })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    #[error("unknown term kind '{0}' (expected monthly, yearly or five_year)")]
    UnknownTerm(String),
    #[error("{field} {date} is out of range: dates run from 1900-01-01 to 9999-12-31")]
    DateOutOfRange {
        field: &'static str,
        date: NaiveDate,
    },
    #[error("a {term} period from {start} would end after 9999-12-31, the last date kept")]
    ExpiryOutOfRange { term: TermKind, start: NaiveDate },
    #[error("service start {service_start} is before the license period start {period_start}")]
    BeforePeriod {
        service_start: NaiveDate,
        period_start: NaiveDate,
    },
    #[error("service start {service_start} is on or after the license expiry {expires}; renew the license first")]
    AfterExpiry {
        service_start: NaiveDate,
        expires: NaiveDate,
    },
    #[error("price must not be negative")]
    NegativePrice,
    #[error("price {0} has more decimals than the currency's minor unit allows")]
    TooPrecise(Decimal),
    #[error("price {0} is too large to be priced pro rata")]
    TooLarge(Decimal),
    #[error(
        "{} service cannot be attached to a PBX with {} license: all services of a \
        PBX share its term kind",
        crate::text::a(service),
        crate::text::a(license)
    )]
    TermMismatch {
        service: TermKind,
        license: TermKind,
    },
}

/// The pro-rata price of a service ordered within a license period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Quote {
    pub expires: NaiveDate,
    pub days: i64,
    pub period_days: i64,
    /// Serialised as a decimal string.
    #[schema(value_type = String, example = "913.97")]
    pub amount: Decimal,
}

impl LicenseError {
    /// The request field an error is about.
    pub fn field(&self) -> &'static str {
        match self {
            LicenseError::NegativePrice
            | LicenseError::TooPrecise(_)
            | LicenseError::TooLarge(_) => "price",
            LicenseError::UnknownTerm(_) | LicenseError::TermMismatch { .. } => "term_kind",
            LicenseError::DateOutOfRange { field, .. } => field,
            LicenseError::ExpiryOutOfRange { .. } => "period_start",
            LicenseError::BeforePeriod { .. } | LicenseError::AfterExpiry { .. } => "service_start",
        }
    }
}

/// Prices a service started on `service_start` under a license period of `term` from
/// `period_start`; `minor_units` is the currency's number of decimals (2 for EUR/USD).
pub fn quote(
    term: TermKind,
    period_start: NaiveDate,
    service_start: NaiveDate,
    price: Decimal,
    minor_units: u32,
) -> Result<Quote, LicenseError> {
    if price.is_sign_negative() && !price.is_zero() {
        return Err(LicenseError::NegativePrice);
    }
    if price.normalize().scale() > minor_units {
        return Err(LicenseError::TooPrecise(price));
    }
    check_date("period_start", period_start)?;
    check_date("service_start", service_start)?;
    let expires = term.expiry(period_start)?;
    if service_start < period_start {
        return Err(LicenseError::BeforePeriod {
            service_start,
            period_start,
        });
    }
    if service_start >= expires {
        return Err(LicenseError::AfterExpiry {
            service_start,
            expires,
        });
    }
    let days = (expires - service_start).num_days();
    let period_days = (expires - period_start).num_days();
    // Checked: a price near Decimal's bound (any string the request parses) would overflow.
    let amount = price
        .checked_mul(Decimal::from(days))
        .and_then(|p| p.checked_div(Decimal::from(period_days)))
        .ok_or(LicenseError::TooLarge(price))?
        .round_dp_with_strategy(minor_units, RoundingStrategy::MidpointAwayFromZero);
    Ok(Quote {
        expires,
        days,
        period_days,
        amount,
    })
}

/// The credit for a charge of a service cancelled on `day`: the days of the charge's period
/// still to come (from `day`, or from `charged_from` when the charge had not begun yet) priced
/// by [`quote`], the rule that made the charge, at the charge's list price. A charge whose
/// period has ended leaves nothing (0 days). Cancelled on the day it was charged from, the
/// credit is the charge: a service cancelled before it starts costs nothing.
pub fn credit(
    term: TermKind,
    period_start: NaiveDate,
    charged_from: NaiveDate,
    day: NaiveDate,
    price: Decimal,
    minor_units: u32,
) -> Result<Quote, LicenseError> {
    let from = day.max(charged_from);
    let expires = term.expiry(period_start)?;
    if from >= expires {
        return Ok(Quote {
            expires,
            days: 0,
            period_days: (expires - period_start).num_days(),
            amount: Decimal::ZERO,
        });
    }
    quote(term, period_start, from, price, minor_units)
}

/// A license is active on `day` when its current period covers it.
pub fn is_active(period_start: NaiveDate, expires: NaiveDate, day: NaiveDate) -> bool {
    period_start <= day && day < expires
}

/// The period after one that ends on `expires`: it starts on the old expiry.
pub fn renew(term: TermKind, expires: NaiveDate) -> Result<(NaiveDate, NaiveDate), LicenseError> {
    Ok((expires, term.expiry(expires)?))
}

/// A customer is active on `day` when at least one of its PBXs has a license active that day
/// (`licenses`: each PBX license's period start and expiry). The seed's rule also asks for a
/// confirmed order; nothing creates orders yet, so the ordering work adds that condition here
/// when it brings orders.
pub fn customer_active(
    licenses: impl IntoIterator<Item = (NaiveDate, NaiveDate)>,
    day: NaiveDate,
) -> bool {
    licenses
        .into_iter()
        .any(|(start, expires)| is_active(start, expires, day))
}

/// Services co-terminate with their PBX: the same term kind or nothing.
pub fn check_same_term(service: TermKind, license: TermKind) -> Result<(), LicenseError> {
    if service == license {
        Ok(())
    } else {
        Err(LicenseError::TermMismatch { service, license })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn seed_example() {
        let q = quote(
            TermKind::Yearly,
            d("2020-05-15"),
            d("2020-08-10"),
            Decimal::new(120000, 2),
            2,
        )
        .unwrap();
        assert_eq!(q.expires, d("2021-05-15"));
        assert_eq!(q.days, 278);
        assert_eq!(q.period_days, 365);
        assert_eq!(q.amount.to_string(), "913.97");
    }

    #[test]
    fn month_end_clamps() {
        assert_eq!(
            TermKind::Monthly.expiry(d("2021-01-31")).unwrap(),
            d("2021-02-28")
        );
        assert_eq!(
            TermKind::Monthly.expiry(d("2024-01-31")).unwrap(),
            d("2024-02-29")
        );
        assert_eq!(
            TermKind::FiveYear.expiry(d("2020-02-29")).unwrap(),
            d("2025-02-28")
        );
    }

    #[test]
    fn renewal_and_activity() {
        let (s, e) = renew(TermKind::Yearly, d("2021-05-15")).unwrap();
        assert_eq!((s, e), (d("2021-05-15"), d("2022-05-15")));
        assert!(is_active(d("2020-05-15"), d("2021-05-15"), d("2020-05-15")));
        assert!(!is_active(
            d("2020-05-15"),
            d("2021-05-15"),
            d("2021-05-15")
        ));
        let day = d("2021-01-10");
        assert!(!customer_active([], day));
        // Expired, not yet begun: not active; one current license is enough.
        let expired = (d("2019-05-15"), d("2020-05-15"));
        let later = (d("2021-01-11"), d("2021-02-11"));
        assert!(!customer_active([expired, later], day));
        assert!(customer_active(
            [expired, (d("2020-05-15"), d("2021-05-15")), later],
            day
        ));
        // The period's first day counts, its expiry does not.
        assert!(customer_active([(day, d("2021-02-10"))], day));
        assert!(!customer_active([(d("2020-12-10"), day)], day));
    }

    #[test]
    fn refused_cases() {
        let p = Decimal::new(1000, 2);
        assert!(matches!(
            quote(TermKind::Yearly, d("2020-05-15"), d("2021-05-15"), p, 2),
            Err(LicenseError::AfterExpiry { .. })
        ));
        assert!(matches!(
            quote(TermKind::Yearly, d("2020-05-15"), d("2020-05-14"), p, 2),
            Err(LicenseError::BeforePeriod { .. })
        ));
        assert!(quote(
            TermKind::Yearly,
            d("2020-05-15"),
            d("2020-06-01"),
            Decimal::new(-1, 0),
            2
        )
        .is_err());
        assert!(check_same_term(TermKind::Monthly, TermKind::Yearly).is_err());
        assert!("weekly".parse::<TermKind>().is_err());
    }

    #[test]
    fn half_up() {
        let feb = |from: &str, price: Decimal, minor| {
            quote(TermKind::Monthly, d("2021-02-01"), d(from), price, minor)
                .unwrap()
                .amount
                .to_string()
        };
        // Feb 2021 has 28 days: 1 day of 28 of 1.00 = 0.0357… → 0.04.
        assert_eq!(feb("2021-02-28", Decimal::new(100, 2), 2), "0.04");
        // Exact midpoints round away from zero, in every minor unit:
        // 14 days of 28 of 0.25 = 0.125 → 0.13; of JPY 1 = 0.5 → 1; of KWD 0.001 = 0.0005 → 0.001.
        assert_eq!(feb("2021-02-15", Decimal::new(25, 2), 2), "0.13");
        assert_eq!(feb("2021-02-15", Decimal::new(1, 0), 0), "1");
        assert_eq!(feb("2021-02-15", Decimal::new(1, 3), 3), "0.001");
        // 7 days of 28 of 0.02 = 0.005 → 0.01 (a quarter, also a midpoint at 2 decimals).
        assert_eq!(feb("2021-02-22", Decimal::new(2, 2), 2), "0.01");
    }

    #[test]
    fn dates_stay_within_four_digit_years() {
        let p = Decimal::new(1000, 2);
        // The probe's dates: year -1 and a five-year period from 9999-12-31.
        let minus_one = NaiveDate::from_ymd_opt(-1, 1, 1).unwrap();
        let e = quote(TermKind::Yearly, minus_one, d("2020-01-01"), p, 2).unwrap_err();
        assert_eq!(e.field(), "period_start");
        assert!(e.to_string().contains("1900-01-01 to 9999-12-31"), "{e}");
        let e = quote(TermKind::Yearly, d("2020-01-01"), d("1899-12-31"), p, 2).unwrap_err();
        assert_eq!(e.field(), "service_start");
        let e = TermKind::FiveYear.expiry(d("9999-12-31")).unwrap_err();
        assert_eq!(e.field(), "period_start");
        assert!(e.to_string().contains("9999-12-31"), "{e}");
        // A period that ends on the last day is kept; one a day later is not.
        assert_eq!(
            TermKind::Monthly.expiry(d("9999-11-30")).unwrap(),
            d("9999-12-30")
        );
        assert_eq!(
            TermKind::Monthly.expiry(d("9999-12-01")),
            Err(LicenseError::ExpiryOutOfRange {
                term: TermKind::Monthly,
                start: d("9999-12-01")
            })
        );
        assert!(renew(TermKind::Yearly, d("9999-06-01")).is_err());
        assert_eq!(check_date("start_date", FIRST_DAY), Ok(FIRST_DAY));
        assert_eq!(check_date("start_date", LAST_DAY), Ok(LAST_DAY));
    }

    #[test]
    fn a_price_beyond_pricing_is_an_error_not_a_panic() {
        for price in [Decimal::MAX, "1e28".parse::<Decimal>().unwrap()] {
            let q = quote(TermKind::Yearly, d("2020-05-15"), d("2020-08-10"), price, 2);
            assert!(matches!(q, Err(LicenseError::TooLarge(_))), "{q:?}");
        }
        // The largest price that still fits is priced.
        let big = Decimal::MAX / Decimal::from(2000);
        let big = big.trunc();
        assert!(quote(TermKind::FiveYear, d("2020-05-15"), d("2020-05-15"), big, 0).is_ok());
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        (2000i32..2100, 1u32..=12, 1u32..=31).prop_map(|(y, m, dd)| {
            NaiveDate::from_ymd_opt(y, m, dd)
                .or_else(|| NaiveDate::from_ymd_opt(y, m, 28))
                .unwrap()
        })
    }

    fn term() -> impl Strategy<Value = TermKind> {
        prop_oneof![
            Just(TermKind::Monthly),
            Just(TermKind::Yearly),
            Just(TermKind::FiveYear)
        ]
    }

    #[test]
    fn seed_example_cancelled() {
        let price = Decimal::new(120000, 2);
        let charge = quote(TermKind::Yearly, d("2020-05-15"), d("2020-08-10"), price, 2).unwrap();
        let c = |day: &str| {
            credit(
                TermKind::Yearly,
                d("2020-05-15"),
                d("2020-08-10"),
                d(day),
                price,
                2,
            )
            .unwrap()
        };
        // Cancelled before it began or on its first day: the whole charge back.
        assert_eq!(c("2020-06-01").amount, charge.amount);
        assert_eq!(c("2020-08-10").amount, charge.amount);
        // 2021-01-01: 134 of 365 days left, 1200 × 134 / 365 = 440.547… → 440.55.
        let q = c("2021-01-01");
        assert_eq!(
            (q.days, q.period_days, q.amount.to_string()),
            (134, 365, "440.55".into())
        );
        // On or after the expiry nothing is left.
        assert_eq!(c("2021-05-15").amount, Decimal::ZERO);
        assert_eq!(c("2022-01-01").days, 0);
    }

    proptest! {
        /// The credit is the charge rule on the days left: never more than the charge, the
        /// whole charge before it began, nothing after the expiry, and equal to `quote` from
        /// the cancellation day in between.
        #[test]
        fn credit_is_the_charge_rule_on_the_days_left(
            t in term(),
            start in date(),
            from_off in 0i64..2000,
            day_off in -100i64..2200,
            minor in 0u32..=3,
            units in 0i64..10_000_000,
        ) {
            let price = Decimal::new(units, minor);
            let exp = t.expiry(start).unwrap();
            let total = (exp - start).num_days();
            let charged_from = start + chrono::Duration::days(from_off % total);
            let charge = quote(t, start, charged_from, price, minor).unwrap();
            let day = start + chrono::Duration::days(day_off);
            let c = credit(t, start, charged_from, day, price, minor).unwrap();
            prop_assert!(c.amount <= charge.amount);
            prop_assert!(c.amount >= Decimal::ZERO);
            if day <= charged_from {
                prop_assert_eq!(c.amount, charge.amount);
            } else if day >= exp {
                prop_assert_eq!((c.days, c.amount), (0, Decimal::ZERO));
            } else {
                prop_assert_eq!(c, quote(t, start, day, price, minor).unwrap());
            }
        }

        #[test]
        fn never_exceeds_price(t in term(), start in date(), off in 0i64..2000, minor in 0u32..=3,
            units in 0i64..10_000_000) {
            // JPY (0), EUR (2), KWD (3) decimals alike.
            let price = Decimal::new(units, minor);
            let exp = t.expiry(start).unwrap();
            let s = start + chrono::Duration::days(off % (exp - start).num_days());
            let q = quote(t, start, s, price, minor).unwrap();
            prop_assert!(q.amount <= price);
            prop_assert!(q.amount >= Decimal::ZERO);
            prop_assert!(q.amount.scale() <= minor);
        }

        #[test]
        fn every_expiry_is_written_yyyy_mm_dd(t in term(), y in 1900i32..=9999, m in 1u32..=12, dd in 1u32..=31) {
            let Some(start) = NaiveDate::from_ymd_opt(y, m, dd) else { return Ok(()) };
            match t.expiry(start) {
                Ok(e) => {
                    prop_assert!(e <= LAST_DAY);
                    let text = serde_json::to_string(&e).unwrap();
                    prop_assert_eq!(text.len(), 12, "{}", text);
                }
                Err(err) => {
                    prop_assert!(y >= 9994, "{start} refused: {err}");
                    prop_assert_eq!(err.field(), "period_start");
                }
            }
        }

        #[test]
        fn full_period_costs_full_price(t in term(), start in date(), minor in 0u32..=3, units in 0i64..10_000_000) {
            let price = Decimal::new(units, minor);
            prop_assert_eq!(quote(t, start, start, price, minor).unwrap().amount, price);
        }

        #[test]
        fn split_sums_to_price(t in term(), start in date(), cents in 0i64..10_000_000,
            cuts in proptest::collection::vec(1i64..1900, 0..6)) {
            // Parts of the period [c_i, c_{i+1}) priced as (quote from c_i) − (quote from c_{i+1}).
            let price = Decimal::new(cents, 2);
            let exp = t.expiry(start).unwrap();
            let total = (exp - start).num_days();
            let mut pts: Vec<i64> = cuts.into_iter().map(|c| c % total).filter(|&c| c > 0).collect();
            pts.push(0);
            pts.sort();
            pts.dedup();
            let n = pts.len();
            let mut sum = Decimal::ZERO;
            for (i, &p) in pts.iter().enumerate() {
                let from = quote(t, start, start + chrono::Duration::days(p), price, 2).unwrap().amount;
                let to = match pts.get(i + 1) {
                    Some(&q) => quote(t, start, start + chrono::Duration::days(q), price, 2).unwrap().amount,
                    None => Decimal::ZERO,
                };
                // Each part priced on its own days.
                let own = (price * Decimal::from(pts.get(i + 1).copied().unwrap_or(total) - p) / Decimal::from(total))
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
                prop_assert!((from - to - own).abs() <= Decimal::new(1, 2));
                sum += own;
            }
            prop_assert!((sum - price).abs() <= Decimal::new(n as i64, 2));
        }
    }
}
