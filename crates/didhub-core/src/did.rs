//! DID statuses and the rules on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Written as snake_case (`in_stock`); read by [`FromStr`] everywhere (API query and body, CLI,
/// import cells), which also takes the portal's labels: `In Stock`, `in-stock`, `IN_STOCK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DidStatus {
    InStock,
    Reserved,
    Assigned,
    Porting,
    Hold,
    Archive,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("unknown status '{0}' (expected one of in_stock, reserved, assigned, porting, hold, archive)")]
    Unknown(String),
    #[error("a new DID starts as in_stock, reserved or archive, not {0}")]
    NotInitial(DidStatus),
    #[error("after-hold status must be in_stock, reserved or archive, not {0}")]
    NotAfterHold(DidStatus),
    #[error("status {0} is set by assignment and porting, not by an edit")]
    NotEditable(DidStatus),
    #[error("a DID {} cannot be deleted; release it first", .0.phrase())]
    NotDeletable(DidStatus),
    #[error("a DID {} cannot be changed by a stock edit; release it first", .0.phrase())]
    Locked(DidStatus),
}

impl DidStatus {
    pub const ALL: [DidStatus; 6] = [
        DidStatus::InStock,
        DidStatus::Reserved,
        DidStatus::Assigned,
        DidStatus::Porting,
        DidStatus::Hold,
        DidStatus::Archive,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DidStatus::InStock => "in_stock",
            DidStatus::Reserved => "reserved",
            DidStatus::Assigned => "assigned",
            DidStatus::Porting => "porting",
            DidStatus::Hold => "hold",
            DidStatus::Archive => "archive",
        }
    }

    /// How a sentence says a DID has this status: "a DID on hold", "a DID being ported".
    pub fn phrase(self) -> &'static str {
        match self {
            DidStatus::InStock => "in stock",
            DidStatus::Reserved => "that is reserved",
            DidStatus::Assigned => "that is assigned",
            DidStatus::Porting => "being ported",
            DidStatus::Hold => "on hold",
            DidStatus::Archive => "that is archived",
        }
    }

    /// Statuses a DID may be created with (and edited to by a stock edit).
    pub fn is_stock(&self) -> bool {
        matches!(
            self,
            DidStatus::InStock | DidStatus::Reserved | DidStatus::Archive
        )
    }

    /// Checks a status given for a new DID.
    pub fn initial(self) -> Result<Self, StatusError> {
        if self.is_stock() {
            Ok(self)
        } else {
            Err(StatusError::NotInitial(self))
        }
    }

    /// Checks a status given as after-hold status.
    pub fn after_hold(self) -> Result<Self, StatusError> {
        if self.is_stock() {
            Ok(self)
        } else {
            Err(StatusError::NotAfterHold(self))
        }
    }

    /// A DID in use by a customer (or on its way to one) is not stock to delete.
    pub fn check_delete(self) -> Result<(), StatusError> {
        match self {
            DidStatus::Assigned | DidStatus::Porting | DidStatus::Hold => {
                Err(StatusError::NotDeletable(self))
            }
            _ => Ok(()),
        }
    }

    /// A stock edit may move a stock DID between stock statuses only; assignment, porting
    /// and hold are owned by their own workflows.
    pub fn check_stock_edit(self, to: DidStatus) -> Result<DidStatus, StatusError> {
        if !self.is_stock() {
            return Err(StatusError::Locked(self));
        }
        if !to.is_stock() {
            return Err(StatusError::NotEditable(to));
        }
        Ok(to)
    }
}

impl fmt::Display for DidStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DidStatus {
    type Err = StatusError;
    /// Accepts the API names and the portal's labels ("In Stock", "in-stock").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let k: String = s
            .trim()
            .chars()
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        DidStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == k)
            .ok_or_else(|| StatusError::Unknown(s.trim().to_string()))
    }
}

impl<'de> Deserialize<'de> for DidStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        // Refused as serde refuses an unknown variant, so the API words it as every other
        // enum ("unknown value 'x'; expected one of …").
        s.parse().map_err(|_| {
            serde::de::Error::unknown_variant(
                s.trim(),
                &[
                    "in_stock", "reserved", "assigned", "porting", "hold", "archive",
                ],
            )
        })
    }
}

/// Longest tag and notes accepted.
pub const MAX_TAG: usize = 64;
pub const MAX_NOTES: usize = 4000;
pub const MAX_OPERATOR_NAME: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} must not contain control characters (bidirectional overrides included)")]
    Control { field: &'static str },
}

impl TextError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            TextError::TooLong { field, .. }
            | TextError::Empty { field }
            | TextError::Control { field } => field,
        }
    }
}

/// Trims and checks free text; empty optional text is `None`.
pub fn optional_text(
    field: &'static str,
    v: Option<&str>,
    max: usize,
) -> Result<Option<String>, TextError> {
    let Some(t) = v.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(TextError::TooLong { field, max });
    }
    if t.chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
    {
        return Err(TextError::Control { field });
    }
    Ok(Some(t.to_string()))
}

/// Bidirectional embeddings, overrides and isolates: they reorder how the text after them is
/// displayed, so that a name or a note could show as something else in a list or the audit
/// log. Stored text refuses them (right-to-left text needs none of them).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Longest reason an audit entry keeps.
pub const MAX_REASON: usize = 2000;

/// The reason given for a change, as the audit log keeps it: trimmed, blank is none, bounded,
/// no control characters but newlines and tabs.
pub fn reason(v: Option<&str>) -> Result<Option<String>, TextError> {
    optional_text("reason", v, MAX_REASON)
}

/// A required name (operator names).
pub fn name(field: &'static str, v: &str, max: usize) -> Result<String, TextError> {
    optional_text(field, Some(v), max)?.ok_or(TextError::Empty { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_are_refused() {
        for c in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}'] {
            let text = format!("Acme{c}moc.evil");
            assert!(
                matches!(
                    optional_text("tag", Some(&text), 100),
                    Err(TextError::Control { field: "tag" })
                ),
                "{c:?}"
            );
        }
        // Right-to-left text itself, and the marks that steer it, are text.
        assert_eq!(
            optional_text("notes", Some("שלום \u{200F}مرحبا"), 100)
                .ok()
                .flatten()
                .as_deref(),
            Some("שלום \u{200F}مرحبا")
        );
    }
    use proptest::prelude::*;

    #[test]
    fn parse_labels() {
        assert_eq!("In Stock".parse::<DidStatus>().unwrap(), DidStatus::InStock);
        assert_eq!("in-stock".parse::<DidStatus>().unwrap(), DidStatus::InStock);
        assert_eq!("ARCHIVE".parse::<DidStatus>().unwrap(), DidStatus::Archive);
        assert!("gone".parse::<DidStatus>().is_err());
    }

    #[test]
    fn status_phrases_read_right() {
        assert_eq!(
            DidStatus::Hold.check_delete().unwrap_err().to_string(),
            "a DID on hold cannot be deleted; release it first"
        );
        assert_eq!(
            DidStatus::Porting
                .check_stock_edit(DidStatus::InStock)
                .unwrap_err()
                .to_string(),
            "a DID being ported cannot be changed by a stock edit; release it first"
        );
    }

    #[test]
    fn creation_and_delete_rules() {
        assert!(DidStatus::InStock.initial().is_ok());
        assert!(DidStatus::Assigned.initial().is_err());
        assert!(DidStatus::Hold.after_hold().is_err());
        for s in [DidStatus::Assigned, DidStatus::Porting, DidStatus::Hold] {
            assert!(s.check_delete().is_err());
            assert!(s.check_stock_edit(DidStatus::InStock).is_err());
        }
        assert!(DidStatus::Archive.check_delete().is_ok());
        assert!(DidStatus::InStock
            .check_stock_edit(DidStatus::Assigned)
            .is_err());
    }

    #[test]
    fn text_rules() {
        assert_eq!(optional_text("tag", Some("  "), 10), Ok(None));
        assert_eq!(
            optional_text("tag", Some(" a "), 10),
            Ok(Some("a".to_string()))
        );
        assert!(optional_text("tag", Some("abcdefghijk"), 10).is_err());
        assert!(name("name", " ", 10).is_err());
    }

    /// A spelling of `s` as a user may type it: any letter case, words joined by `_`, `-` or
    /// a space, with blanks around.
    fn spelling(s: DidStatus) -> impl Strategy<Value = String> {
        let n = s.as_str().len();
        (
            proptest::collection::vec(any::<bool>(), n),
            prop::sample::select(vec!["_", "-", " "]),
            "[ ]{0,2}",
            "[ ]{0,2}",
        )
            .prop_map(move |(upper, sep, before, after)| {
                let word: String = s
                    .as_str()
                    .chars()
                    .zip(upper)
                    .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                    .collect::<String>()
                    .replace('_', sep);
                format!("{before}{word}{after}")
            })
    }

    proptest! {
        #[test]
        fn every_spelling_of_a_status_reads_the_same_in_text_and_json(
            (s, typed) in prop::sample::select(DidStatus::ALL.to_vec())
                .prop_flat_map(|s| (Just(s), spelling(s)))
        ) {
            prop_assert_eq!(typed.parse::<DidStatus>(), Ok(s));
            let json: DidStatus = serde_json::from_value(serde_json::json!(typed)).unwrap();
            prop_assert_eq!(json, s);
        }

        #[test]
        fn a_word_that_is_no_status_is_refused_naming_it(w in "[a-z]{1,12}") {
            prop_assume!(DidStatus::ALL.iter().all(|s| s.as_str() != w));
            let e = w.parse::<DidStatus>().unwrap_err().to_string();
            prop_assert!(e.contains(&w), "{}", e);
            let j = serde_json::from_value::<DidStatus>(serde_json::json!(w)).unwrap_err();
            prop_assert!(j.to_string().contains(&w), "{}", j);
        }

        #[test]
        fn status_names_round_trip(i in 0usize..6) {
            let s = DidStatus::ALL[i];
            prop_assert_eq!(s.as_str().parse::<DidStatus>().unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }
}
