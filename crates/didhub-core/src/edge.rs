//! Request fields read into domain types where they enter (serde `deserialize_with`), so that
//! the layers behind the API, the portal and the CLI receive a `Country` or a `NumberType`,
//! never a string to check again. A blank value is none, as a form's empty field is.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::Error;
use serde::{Deserialize, Deserializer};

use crate::number::Country;

/// An optional value by its `FromStr`; blank (or only spaces) is none.
pub fn blank_or<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(D::Error::custom),
    }
}

/// An optional country as didhub records it (`XX` for non-geographic numbers, see
/// [`Country::parse_recorded`]); blank is none.
pub fn recorded_country<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Country>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => Country::parse_recorded(v)
            .map(Some)
            .map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::NumberType;

    #[derive(Deserialize, Debug)]
    struct F {
        #[serde(default, deserialize_with = "recorded_country")]
        country: Option<Country>,
        #[serde(default, deserialize_with = "blank_or")]
        kind: Option<NumberType>,
    }

    fn f(json: &str) -> Result<F, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn blank_and_missing_are_none_and_bad_values_are_refused() {
        let v = f(r#"{"country": " gb ", "kind": "mobile"}"#).unwrap();
        assert_eq!(v.country.map(|c| c.to_string()).as_deref(), Some("GB"));
        assert_eq!(v.kind, Some(NumberType::Mobile));
        let v = f(r#"{"country": "  ", "kind": ""}"#).unwrap();
        assert!(v.country.is_none() && v.kind.is_none());
        let v = f("{}").unwrap();
        assert!(v.country.is_none() && v.kind.is_none());
        assert_eq!(
            f(r#"{"country": "xx"}"#)
                .unwrap()
                .country
                .map(|c| c.to_string())
                .as_deref(),
            Some("XX")
        );
        assert!(f(r#"{"country": "ZZ"}"#).unwrap_err().contains("ZZ"));
        assert!(f(r#"{"kind": "landline"}"#)
            .unwrap_err()
            .contains("landline"));
    }
}
