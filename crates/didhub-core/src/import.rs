//! Import rules: which column is which, what a row means, and why a row is refused. File
//! decoding lives with the store; everything decided about a row is decided here.

use std::collections::HashMap;

use serde::Serialize;

use crate::did::{optional_text, DidStatus, TextError, MAX_NOTES, MAX_OPERATOR_NAME, MAX_TAG};
use crate::number::{Classified, Country};
use crate::range::classify_entry;

/// Most numbers one import may create, ranges counted number by number. Every number of a
/// file is held until the import commits (duplicates inside the file are found that way), so
/// the bound keeps a small file of wide ranges from exhausting the server's memory.
pub const MAX_IMPORT_NUMBERS: usize = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Number,
    Operator,
    Status,
    AfterHold,
    Tag,
    Notes,
}

impl Column {
    fn from_header(h: &str) -> Option<Column> {
        let k: String = h
            .trim()
            .trim_start_matches('\u{feff}')
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match k.as_str() {
            "number" | "did" | "dids" | "e164" | "phone" | "phonenumber" | "didnumber" => {
                Column::Number
            }
            "operator" | "provider" | "didprovider" => Column::Operator,
            "status" => Column::Status,
            "afterhold" | "afterholdstatus" => Column::AfterHold,
            "tag" => Column::Tag,
            "notes" | "note" => Column::Notes,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the file is empty")]
    Empty,
    #[error(
        "no number column in the header row (expected one of number, did, dids, \
            e164, phone, phone number, did number); found: {0}"
    )]
    NoNumberColumn(String),
    #[error("column '{0}' appears twice in the header row")]
    Duplicate(String),
    #[error("columns '{0}' and '{1}' of the header row name the same field; keep one")]
    SameField(String, String),
}

/// Column positions found in the header row. Unknown columns are ignored.
#[derive(Debug, Clone, Default)]
pub struct Header {
    number: usize,
    operator: Option<usize>,
    status: Option<usize>,
    after_hold: Option<usize>,
    tag: Option<usize>,
    notes: Option<usize>,
}

impl Header {
    pub fn parse<S: AsRef<str>>(cells: &[S]) -> Result<Header, HeaderError> {
        if cells.iter().all(|c| c.as_ref().trim().is_empty()) {
            return Err(HeaderError::Empty);
        }
        let mut found: HashMap<usize, usize> = HashMap::new();
        let mut cols: [Option<usize>; 6] = [None; 6];
        for (i, c) in cells.iter().enumerate() {
            if let Some(col) = Column::from_header(c.as_ref()) {
                let slot = col as usize;
                if let Some(first) = cols[slot] {
                    let (a, b) = (cells[first].as_ref().trim(), c.as_ref().trim());
                    return Err(if a.eq_ignore_ascii_case(b) {
                        HeaderError::Duplicate(b.to_string())
                    } else {
                        HeaderError::SameField(a.to_string(), b.to_string())
                    });
                }
                cols[slot] = Some(i);
                found.insert(slot, i);
            }
        }
        let number = cols[Column::Number as usize].ok_or_else(|| {
            HeaderError::NoNumberColumn(
                cells
                    .iter()
                    .map(|c| c.as_ref().trim())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
        Ok(Header {
            number,
            operator: cols[Column::Operator as usize],
            status: cols[Column::Status as usize],
            after_hold: cols[Column::AfterHold as usize],
            tag: cols[Column::Tag as usize],
            notes: cols[Column::Notes as usize],
        })
    }

    pub fn has_operator(&self) -> bool {
        self.operator.is_some()
    }

    /// How many leading columns a data row needs: cells right of them are never read.
    pub fn width(&self) -> usize {
        [
            Some(self.number),
            self.operator,
            self.status,
            self.after_hold,
            self.tag,
            self.notes,
        ]
        .into_iter()
        .flatten()
        .max()
        .map_or(0, |c| c + 1)
    }
}

/// What the request says for columns the file does not have (or leaves empty).
#[derive(Debug, Clone)]
pub struct Defaults {
    pub operator: Option<String>,
    pub status: DidStatus,
    pub after_hold: DidStatus,
    pub tag: Option<String>,
    pub country: Option<Country>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            operator: None,
            status: DidStatus::InStock,
            after_hold: DidStatus::InStock,
            tag: None,
            country: None,
        }
    }
}

impl Defaults {
    /// The fields a request or a command line may give defaults for.
    pub const FIELDS: [&'static str; 5] = ["operator", "country", "status", "after_hold", "tag"];

    /// Sets one default from its text as a form field or a flag gives it (trimmed; blank
    /// leaves the default as it is). The API and the CLI both read defaults through this.
    pub fn set(&mut self, field: &str, value: &str) -> Result<(), String> {
        let v = value.trim();
        if v.is_empty() {
            return Ok(());
        }
        match field {
            "operator" => self.operator = Some(v.to_string()),
            "tag" => self.tag = Some(v.to_string()),
            "country" => self.country = Some(Country::parse(v).map_err(|e| e.to_string())?),
            "status" => {
                let s = v.parse::<DidStatus>().and_then(DidStatus::initial);
                self.status = s.map_err(|e| e.to_string())?;
            }
            "after_hold" => {
                let s = v.parse::<DidStatus>().and_then(DidStatus::after_hold);
                self.after_hold = s.map_err(|e| e.to_string())?;
            }
            other => return Err(format!("'{other}' is not a default of an import")),
        }
        Ok(())
    }

    /// Checks the request's text defaults as a file's cells are checked (trimmed, bounded, no
    /// control characters; blank is none), so that ` Acme` names the operator `Acme`.
    pub fn check_text(&mut self) -> Result<(), TextError> {
        self.operator = optional_text("operator", self.operator.as_deref(), MAX_OPERATOR_NAME)?;
        self.tag = optional_text("tag", self.tag.as_deref(), MAX_TAG)?;
        Ok(())
    }
}

/// One accepted row: its numbers (more than one for a range) and their attributes.
#[derive(Debug, Clone)]
pub struct Row {
    pub row: usize,
    pub numbers: Vec<Classified>,
    pub operator: String,
    pub status: DidStatus,
    pub after_hold: DidStatus,
    pub tag: Option<String>,
    pub notes: Option<String>,
}

/// A refused row, numbered as a spreadsheet shows it (the header is row 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub row: usize,
    pub value: String,
    pub reason: String,
}

fn cell<S: AsRef<str>>(cells: &[S], i: Option<usize>) -> Option<&str> {
    i.and_then(|i| cells.get(i))
        .map(|c| c.as_ref().trim())
        .filter(|c| !c.is_empty())
}

/// Validates one data row. `row` is the spreadsheet row number.
pub fn parse_row<S: AsRef<str>>(
    header: &Header,
    row: usize,
    cells: &[S],
    defaults: &Defaults,
) -> Result<Row, Rejection> {
    let value = cell(cells, Some(header.number)).unwrap_or("").to_string();
    let reject = |reason: String| Rejection {
        row,
        value: value.clone(),
        reason,
    };
    if value.is_empty() {
        return Err(reject("number is empty".into()));
    }
    let numbers = classify_entry(&value, defaults.country).map_err(|e| reject(e.to_string()))?;
    let operator = match cell(cells, header.operator) {
        Some(o) => optional_text("operator", Some(o), MAX_OPERATOR_NAME)
            .map_err(|e| reject(e.to_string()))?
            .unwrap_or_default(),
        None => defaults.operator.clone().ok_or_else(|| {
            reject("no operator: the row has none and no default was given".into())
        })?,
    };
    let status = match cell(cells, header.status) {
        Some(s) => s
            .parse::<DidStatus>()
            .and_then(DidStatus::initial)
            .map_err(|e| reject(format!("status: {e}")))?,
        None => defaults.status,
    };
    let after_hold = match cell(cells, header.after_hold) {
        Some(s) => s
            .parse::<DidStatus>()
            .and_then(DidStatus::after_hold)
            .map_err(|e| reject(format!("after_hold: {e}")))?,
        None => defaults.after_hold,
    };
    let tag = match cell(cells, header.tag) {
        Some(t) => optional_text("tag", Some(t), MAX_TAG).map_err(|e| reject(e.to_string()))?,
        None => defaults.tag.clone(),
    };
    let notes = optional_text("notes", cell(cells, header.notes), MAX_NOTES)
        .map_err(|e| reject(e.to_string()))?;
    Ok(Row {
        row,
        numbers,
        operator,
        status,
        after_hold,
        tag,
        notes,
    })
}

/// Finds numbers that occur twice in a file; the first occurrence wins and later ones are
/// reported against it.
#[derive(Debug, Default)]
pub struct Dedup {
    /// Numbers seen (as integers: no allocation per number) and the row each came from.
    seen: HashMap<u64, usize, foldhash::fast::RandomState>,
}

impl Dedup {
    pub fn with_capacity(n: usize) -> Self {
        Dedup {
            seen: HashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// Makes room for `n` more numbers at once. Why: a map grown by doubling holds its old
    /// table and the new one together while it moves (a 2,000,000-number file peaked at
    /// 34 MB + 68 MB); told the file's size first, it allocates the last table only.
    pub fn reserve(&mut self, n: usize) {
        self.seen.reserve(n);
    }

    /// Checks a row's numbers; on a duplicate nothing of the row is recorded.
    pub fn check(&mut self, r: &Row) -> Result<(), Rejection> {
        for n in &r.numbers {
            if let Some(first) = self.seen.get(&n.e164.as_integer()) {
                return Err(Rejection {
                    row: r.row,
                    value: n.e164.to_string(),
                    reason: format!(
                        "duplicate: {} is already in row {first} of this file",
                        n.e164
                    ),
                });
            }
        }
        if r.numbers.len() > 1 {
            let mut inner = std::collections::HashSet::with_capacity(r.numbers.len());
            for n in &r.numbers {
                if !inner.insert(n.e164.as_integer()) {
                    return Err(Rejection {
                        row: r.row,
                        value: n.e164.to_string(),
                        reason: format!("duplicate: {} appears twice in this row", n.e164),
                    });
                }
            }
        }
        for n in &r.numbers {
            self.seen.insert(n.e164.as_integer(), r.row);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            operator: Some("op".into()),
            ..Defaults::default()
        }
    }

    #[test]
    fn header_matching() {
        let h = Header::parse(&["\u{feff}DID", "Operator", "After Hold", "TAG"]).unwrap();
        assert_eq!(h.number, 0);
        assert_eq!(h.operator, Some(1));
        assert_eq!(h.after_hold, Some(2));
        assert_eq!(h.tag, Some(3));
        assert_eq!(h.width(), 4);
        assert_eq!(
            Header::parse(&["x", "y", "number", "z"]).unwrap().width(),
            3
        );
        assert!(matches!(
            Header::parse(&["name", "x"]),
            Err(HeaderError::NoNumberColumn(_))
        ));
        assert_eq!(
            Header::parse(&["number", "phone"]).unwrap_err(),
            HeaderError::SameField("number".into(), "phone".into())
        );
        assert_eq!(
            Header::parse(&["Tag", "number", "TAG "]).unwrap_err(),
            HeaderError::Duplicate("TAG".into())
        );
    }

    #[test]
    fn rows() {
        let h = Header::parse(&["number", "status", "tag"]).unwrap();
        let r = parse_row(
            &h,
            2,
            &["+442079460100-+442079460109", "reserved", "demo"],
            &defaults(),
        )
        .unwrap();
        assert_eq!(r.numbers.len(), 10);
        assert_eq!(r.status, DidStatus::Reserved);
        assert_eq!(r.tag.as_deref(), Some("demo"));
        let e = parse_row(&h, 4, &["bogus", "", ""], &defaults()).unwrap_err();
        assert_eq!(e.row, 4);
        assert_eq!(e.value, "bogus");
        let e = parse_row(&h, 5, &["+442079460100", "assigned", ""], &defaults()).unwrap_err();
        assert!(e.reason.contains("status"), "{}", e.reason);
        let e = parse_row(&h, 6, &["+442079460100"], &Defaults::default()).unwrap_err();
        assert!(e.reason.contains("operator"));
    }

    #[test]
    fn duplicates() {
        let h = Header::parse(&["number"]).unwrap();
        let mut d = Dedup::default();
        let a = parse_row(&h, 2, &["+442079460100-+442079460109"], &defaults()).unwrap();
        let b = parse_row(&h, 3, &["+44 20 7946 0105"], &defaults()).unwrap();
        assert!(d.check(&a).is_ok());
        let e = d.check(&b).unwrap_err();
        assert!(e.reason.contains("row 2"));
    }
}
