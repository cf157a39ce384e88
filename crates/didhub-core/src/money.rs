//! Money: a decimal amount in an ISO 4217 currency, stored as integer minor units.

use std::str::FromStr;

use iso_currency::Currency;
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency '{0}' (expected an ISO 4217 code such as EUR)")]
    UnknownCurrency(String),
    #[error("amount {amount} has more decimals than {currency} allows ({units})")]
    TooPrecise {
        amount: Decimal,
        currency: String,
        units: u32,
    },
    #[error("amount must not be negative")]
    Negative,
    #[error("amount is too large")]
    TooLarge,
    #[error("'{0}' is not a decimal amount")]
    NotAnAmount(String),
}

/// An ISO 4217 currency code, upper case.
pub fn currency(code: &str) -> Result<Currency, MoneyError> {
    Currency::from_code(&code.trim().to_ascii_uppercase())
        .ok_or_else(|| MoneyError::UnknownCurrency(code.trim().to_string()))
}

/// Decimals of the currency's minor unit (2 for EUR, 0 for JPY, 3 for KWD).
pub fn minor_units(c: Currency) -> u32 {
    c.exponent().map(u32::from).unwrap_or(0)
}

pub fn parse_amount(s: &str) -> Result<Decimal, MoneyError> {
    Decimal::from_str(s.trim()).map_err(|_| MoneyError::NotAnAmount(s.trim().to_string()))
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

    proptest! {
        #[test]
        fn round_trip(minor in 0i64..1_000_000_000_000, code in prop::sample::select(vec!["EUR", "JPY", "KWD", "USD", "CLF"])) {
            // 2, 0, 3, 2 and 4 decimals: the amount keeps them all and comes back whole.
            let c = currency(code).unwrap();
            let amount = from_minor(minor, c);
            prop_assert_eq!(amount.scale(), minor_units(c));
            prop_assert_eq!(to_minor(amount, c).unwrap(), minor);
        }
    }
}
