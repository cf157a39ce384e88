//! Money: a decimal amount in an ISO 4217 currency, stored as integer minor units.

use std::str::FromStr;

use iso_currency::{Currency, Flag};
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency '{0}' (expected an ISO 4217 code such as EUR)")]
    UnknownCurrency(String),
    #[error("'{code}' ({name}) is an ISO 4217 code but not a currency to price in (expected one such as EUR)")]
    NotMoney { code: String, name: String },
    #[error("amount {amount} has more decimals than {currency} allows ({units})")]
    TooPrecise {
        amount: Decimal,
        currency: String,
        units: u32,
    },
    #[error("amount must not be negative (nor negative zero, such as -0.00)")]
    Negative,
    #[error("amount is too large")]
    TooLarge,
    #[error("'{0}' is not a decimal amount")]
    NotAnAmount(String),
}

/// A currency to price in, by its ISO 4217 code (any case). The codes ISO 4217 marks special
/// are refused: `XXX` (no currency), `XTS` (testing), the precious metals (`XAU`, `XAG`,
/// `XPT`, `XPD`) and the units of account (`XDR`, `XBA`…`XBD`, `XSU`, `XUA`, `XAD`).
pub fn currency(code: &str) -> Result<Currency, MoneyError> {
    let c = stored_currency(code)?;
    if c.has_flag(Flag::Special) {
        return Err(MoneyError::NotMoney {
            code: c.code().to_string(),
            name: c.name().to_string(),
        });
    }
    Ok(c)
}

/// Any ISO 4217 code, for reading rows back: one stored before `currency` refused its code is
/// still shown as it was.
pub fn stored_currency(code: &str) -> Result<Currency, MoneyError> {
    Currency::from_code(&code.trim().to_ascii_uppercase())
        .ok_or_else(|| MoneyError::UnknownCurrency(code.trim().to_string()))
}

/// Decimals of the currency's minor unit (2 for EUR, 0 for JPY, 3 for KWD).
pub fn minor_units(c: Currency) -> u32 {
    c.exponent().map(u32::from).unwrap_or(0)
}

/// A decimal amount as written (`1200.00`). A negative zero (`-0.00`) is refused as negative:
/// `Decimal` drops the sign of a zero, so that later checks would take it for `0.00`.
pub fn parse_amount(s: &str) -> Result<Decimal, MoneyError> {
    let t = s.trim();
    let d = Decimal::from_str(t).map_err(|_| MoneyError::NotAnAmount(t.to_string()))?;
    if d.is_zero() && t.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    Ok(d)
}

/// Reads an amount from JSON, a string (`"1200.00"`) or a number, through [`parse_amount`]:
/// the API refuses what the command line refuses, a negative zero included.
pub fn deserialize_amount<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    struct Amount;
    impl serde::de::Visitor<'_> for Amount {
        type Value = Decimal;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a decimal amount such as \"1200.00\"")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
            parse_amount(v).map_err(E::custom)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Decimal, E> {
            // As `Decimal` reads a float: through its shortest text (`-0` for negative zero).
            parse_amount(&v.to_string()).map_err(E::custom)
        }
    }
    d.deserialize_any(Amount)
}

/// Minor units of a non-negative amount that fits the currency's precision.
pub fn to_minor(amount: Decimal, c: Currency) -> Result<i64, MoneyError> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(MoneyError::Negative);
    }
    let units = minor_units(c);
    if amount.normalize().scale() > units {
        return Err(MoneyError::TooPrecise {
            amount,
            currency: c.code().to_string(),
            units,
        });
    }
    let scaled = amount
        .checked_mul(Decimal::from(10i64.pow(units)))
        .ok_or(MoneyError::TooLarge)?;
    i64::try_from(scaled.trunc()).map_err(|_| MoneyError::TooLarge)
}

/// The decimal amount of minor units, with the currency's number of decimals.
pub fn from_minor(minor: i64, c: Currency) -> Decimal {
    Decimal::new(minor, minor_units(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn conversions() {
        let eur = currency("eur").unwrap();
        assert_eq!(to_minor(Decimal::new(91397, 2), eur).unwrap(), 91397);
        assert_eq!(from_minor(91397, eur).to_string(), "913.97");
        assert_eq!(from_minor(120000, eur).to_string(), "1200.00");
        let jpy = currency("JPY").unwrap();
        assert_eq!(minor_units(jpy), 0);
        assert!(to_minor(Decimal::new(15, 1), jpy).is_err());
        assert!(to_minor(Decimal::new(-1, 0), eur).is_err());
        assert!(currency("XYZ1").is_err());
        assert!(parse_amount("12,5").is_err());
    }

    #[test]
    fn only_money_and_only_signs_that_mean_something() {
        for code in [
            "XXX", "xts", "XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU",
            "XUA", "XAD",
        ] {
            let e = currency(code).unwrap_err();
            assert!(matches!(e, MoneyError::NotMoney { .. }), "{code}: {e}");
            assert!(e.to_string().contains(&code.to_ascii_uppercase()), "{e}");
            // Still readable when an older row holds it.
            assert!(stored_currency(code).is_ok());
        }
        // The X-codes that are money.
        for code in ["XAF", "XOF", "XCD", "XPF", "EUR", "CLF"] {
            assert!(currency(code).is_ok(), "{code}");
        }
        let eur = currency("EUR").unwrap();
        for neg in ["-0.00", " -0", "-0.0000", "-0.01"] {
            let refused = parse_amount(neg).and_then(|a| to_minor(a, eur));
            assert_eq!(refused, Err(MoneyError::Negative), "{neg}");
        }
        assert_eq!(to_minor(parse_amount("0.00").unwrap(), eur), Ok(0));
        // The same from JSON, as a string or a number.
        #[derive(serde::Deserialize, Debug)]
        struct P {
            #[serde(deserialize_with = "deserialize_amount")]
            amount: Decimal,
        }
        for body in [
            r#"{"amount": "-0.00"}"#,
            r#"{"amount": -0.0}"#,
            r#"{"amount": -0}"#,
        ] {
            let e = serde_json::from_str::<P>(body).unwrap_err();
            assert!(e.to_string().contains("negative"), "{body}: {e}");
        }
        for (body, want) in [
            (r#"{"amount": "12.50"}"#, "12.50"),
            (r#"{"amount": 12.5}"#, "12.5"),
            (r#"{"amount": 7}"#, "7"),
            (r#"{"amount": "0"}"#, "0"),
        ] {
            let p: P = serde_json::from_str(body).unwrap();
            assert_eq!(p.amount.to_string(), want, "{body}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(minor in 0i64..1_000_000_000_000, code in prop::sample::select(vec!["EUR", "JPY", "KWD",
            "USD", "CLF"])) {
            // 2, 0, 3, 2 and 4 decimals: the amount keeps them all and comes back whole.
            let c = currency(code).unwrap();
            let amount = from_minor(minor, c);
            prop_assert_eq!(amount.scale(), minor_units(c));
            prop_assert_eq!(to_minor(amount, c).unwrap(), minor);
        }
    }
}
