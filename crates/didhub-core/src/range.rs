//! Number ranges written `FIRST-LAST` (inclusive), as in `+442079460100-+442079460199` or the
//! short `111-222`. Both ends are full numbers of the same length.

use crate::number::{classify, Classified, Country, NumberError};

/// Most numbers one range (or one request) may create.
pub const MAX_RANGE: u64 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("range ends must have the same number of digits ({first} has {first_len}, {last} has {last_len})")]
    LengthMismatch {
        first: String,
        last: String,
        first_len: usize,
        last_len: usize,
    },
    #[error("range end {last} is lower than its start {first}")]
    Reversed { first: String, last: String },
    #[error("range holds {count} numbers; at most {max} are allowed in one request", max = MAX_RANGE)]
    TooLarge { count: u64 },
    #[error("{number}: {error}")]
    Number { number: String, error: NumberError },
}

/// One entry as written: a single number or a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    Single(&'a str),
    Range { first: &'a str, last: &'a str },
}

fn digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// Finds the range separator. A dash separates a range when the digits on both sides are of
/// equal count and both sides are written alike (both with `+`, or both without), so that a
/// dashed single number such as `+44-20-7946-0018` is never mistaken for a range.
///
/// A single dash between two sides that cannot be one number (each a full number of its own,
/// or more digits together than E.164 allows) is a range too, with ends of different lengths:
/// `count` then says so, rather than the number being reported as too long.
pub fn split(input: &str) -> Entry<'_> {
    let s = input.trim();
    // One pass over the entry: the digits left of each dash are counted as we go, so that an
    // entry of many dashes costs its length, not its length squared.
    let total = digit_count(s);
    let plus = s.starts_with('+');
    let mut left = 0;
    for (i, b) in s.bytes().enumerate() {
        if b.is_ascii_digit() {
            left += 1;
        } else if b == b'-' && left > 0 && left == total - left {
            let r = s[i + 1..].trim_start();
            if r.starts_with('+') == plus {
                return Entry::Range {
                    first: s[..i].trim_end(),
                    last: r,
                };
            }
        }
    }
    single_dash(s)
}

/// The second reading of an entry with one dash and no equal split: two sides that cannot be
/// one number make a range (of different lengths, which `count` then reports).
fn single_dash(s: &str) -> Entry<'_> {
    if let Some((l, r)) = s.split_once('-').filter(|(_, r)| !r.contains('-')) {
        let (l, r) = (l.trim(), r.trim());
        let (dl, dr) = (digit_count(l), digit_count(r));
        if (dl >= MIN_FULL && dr >= MIN_FULL) || dl + dr > crate::number::MAX_DIGITS {
            return Entry::Range { first: l, last: r };
        }
    }
    Entry::Single(s)
}

/// Fewest digits of a full international number written as one side of a range.
const MIN_FULL: usize = 7;

/// Keeps a leading `+` and the digits.
fn compact(s: &str) -> String {
    s.chars()
        .enumerate()
        .filter(|&(i, c)| c.is_ascii_digit() || (c == '+' && i == 0))
        .map(|(_, c)| c)
        .collect()
}

/// How many numbers `first..=last` holds, checking the shape of the ends.
pub fn count(first: &str, last: &str) -> Result<u64, RangeError> {
    let (a, b) = (compact(first), compact(last));
    let (da, db) = (a.trim_start_matches('+'), b.trim_start_matches('+'));
    if da.len() != db.len() {
        return Err(RangeError::LengthMismatch {
            first: first.to_string(),
            last: last.to_string(),
            first_len: da.len(),
            last_len: db.len(),
        });
    }
    if da.len() > 18 {
        return Err(RangeError::Number {
            number: first.to_string(),
            error: NumberError::TooLong,
        });
    }
    let (x, y) = match (da.parse::<u64>(), db.parse::<u64>()) {
        (Ok(x), Ok(y)) => (x, y),
        _ => {
            return Err(RangeError::Number {
                number: first.to_string(),
                error: NumberError::NotANumber,
            })
        }
    };
    if y < x {
        return Err(RangeError::Reversed {
            first: first.to_string(),
            last: last.to_string(),
        });
    }
    Ok(y - x + 1)
}

/// The written numbers of `first..=last`, keeping the ends' prefix and width.
pub fn expand(first: &str, last: &str) -> Result<Vec<String>, RangeError> {
    let n = count(first, last)?;
    if n > MAX_RANGE {
        return Err(RangeError::TooLarge { count: n });
    }
    let a = compact(first);
    let plus = if a.starts_with('+') { "+" } else { "" };
    let digits = a.trim_start_matches('+');
    let width = digits.len();
    let start: u64 = digits.parse().unwrap_or(0);
    Ok((0..n)
        .map(|k| format!("{plus}{:0width$}", start + k))
        .collect())
}

/// Parses an entry (single or range) into classified numbers; the first bad number is named.
pub fn classify_entry(
    input: &str,
    default_country: Option<Country>,
) -> Result<Vec<Classified>, RangeError> {
    match split(input) {
        Entry::Single(s) => classify(s, default_country)
            .map(|c| vec![c])
            .map_err(|error| RangeError::Number {
                number: s.to_string(),
                error,
            }),
        Entry::Range { first, last } => {
            let written = expand(first, last)?;
            let mut out = Vec::with_capacity(written.len());
            for w in written {
                match classify(&w, default_country) {
                    Ok(c) => out.push(c),
                    Err(error) => return Err(RangeError::Number { number: w, error }),
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_ranges_not_dashed_numbers() {
        assert_eq!(
            split("+442079460100-+442079460109"),
            Entry::Range {
                first: "+442079460100",
                last: "+442079460109"
            }
        );
        assert_eq!(
            split("111-222"),
            Entry::Range {
                first: "111",
                last: "222"
            }
        );
        assert_eq!(split("+44-20-7946-0018"), Entry::Single("+44-20-7946-0018"));
        assert_eq!(split("+442079460018"), Entry::Single("+442079460018"));
        assert_eq!(
            split("+44 20 7946 0100 - +44 20 7946 0199"),
            Entry::Range {
                first: "+44 20 7946 0100",
                last: "+44 20 7946 0199"
            }
        );
    }

    #[test]
    fn seed_example_is_inclusive() {
        let v = expand("111", "222").unwrap();
        assert_eq!(v.len(), 112);
        assert_eq!(v[0], "111");
        assert_eq!(v[111], "222");
    }

    #[test]
    fn errors_are_clear() {
        assert!(matches!(
            count("+4420794601", "+442079460109"),
            Err(RangeError::LengthMismatch { .. })
        ));
        assert!(matches!(
            count("+442079460109", "+442079460100"),
            Err(RangeError::Reversed { .. })
        ));
        let e = expand("+442070000000", "+442079999999").unwrap_err();
        assert_eq!(e, RangeError::TooLarge { count: 10_000_000 });
        // The bound itself is allowed, one more is not.
        let at = expand("+442070000000", "+442070099999").unwrap();
        assert_eq!(at.len() as u64, MAX_RANGE);
        assert_eq!(at.last().map(String::as_str), Some("+442070099999"));
        assert_eq!(
            expand("+442070000000", "+442070100000"),
            Err(RangeError::TooLarge {
                count: MAX_RANGE + 1
            })
        );
        assert!(e.to_string().contains("100000"));
        // Ends of different lengths are named as such, not read as one long number.
        for written in ["442079460060-44207946007", "+442079460080-0081"] {
            let e = classify_entry(written, None).unwrap_err();
            assert!(
                matches!(e, RangeError::LengthMismatch { .. }),
                "{written}: {e}"
            );
        }
        let e = classify_entry("+12120000000-+12120000009", None).unwrap_err();
        assert!(e.to_string().starts_with("+12120000000"), "{e}");
    }

    #[test]
    fn classifies_a_range() {
        let v = classify_entry("+442079460100-+442079460109", None).unwrap();
        assert_eq!(v.len(), 10);
        assert_eq!(v[9].e164.as_str(), "+442079460109");
        let gb = Country::parse("GB").ok();
        let v = classify_entry("02079460100-02079460104", gb).unwrap();
        assert_eq!(v[4].e164.as_str(), "+442079460104");
    }

    /// The equal-split rule as first written, both sides read at every dash (quadratic, for
    /// tests only); the single-dash reading is shared.
    fn split_by_rule(input: &str) -> Entry<'_> {
        let s = input.trim();
        for (i, _) in s.match_indices('-') {
            let (l, r) = (s[..i].trim(), s[i + 1..].trim());
            let (dl, dr) = (digit_count(l), digit_count(r));
            if dl > 0 && dl == dr && l.starts_with('+') == r.starts_with('+') {
                return Entry::Range { first: l, last: r };
            }
        }
        single_dash(s)
    }

    #[test]
    fn an_entry_of_many_dashes_is_read_in_one_pass() {
        // Digits on one side only: no dash can split it. Read side by side at every dash,
        // this entry would take some 10^11 steps.
        let entry = format!("+1{}", "-1".repeat(500_000));
        assert_eq!(split(&entry), Entry::Single(entry.as_str()));
        let entry = format!("{}+12345678-+12345679", "- ".repeat(500_000));
        assert!(matches!(split(&entry), Entry::Single(_)));
    }

    proptest! {
        #[test]
        fn expansion_is_contiguous_and_inclusive(start in 0u64..10_000_000_000u64, len in 1u64..500) {
            let width = 11;
            let first = format!("+{:0width$}", start);
            let last = format!("+{:0width$}", start + len - 1);
            let v = expand(&first, &last).unwrap();
            prop_assert_eq!(v.len() as u64, len);
            prop_assert_eq!(v.first().unwrap(), &first);
            prop_assert_eq!(v.last().unwrap(), &last);
            for w in v.windows(2) {
                let a: u64 = w[0][1..].parse().unwrap();
                let b: u64 = w[1][1..].parse().unwrap();
                prop_assert_eq!(a + 1, b);
                prop_assert_eq!(w[1].len(), width + 1);
            }
            let written = format!("{first}-{last}");
            prop_assert_eq!(split(&written), Entry::Range { first: &first, last: &last });
        }

        #[test]
        fn a_number_with_one_dash_stays_one_number(
            digits in "[1-9][0-9]{7,13}",
            at in 1usize..14,
            plus in any::<bool>(),
        ) {
            // A dash inside a number of at most 15 digits, with one side shorter than a full
            // number and the sides of different lengths: never a range.
            let at = at.min(digits.len() - 1);
            prop_assume!(at.min(digits.len() - at) < 7 && at * 2 != digits.len());
            let written = format!("{}{}-{}", if plus { "+" } else { "" }, &digits[..at], &digits[at..]);
            prop_assert_eq!(split(&written), Entry::Single(written.as_str()));
        }

        /// The one-pass split agrees with the plain reading of the rule: the first dash with
        /// equal digit counts on both sides, both sides written alike.
        #[test]
        fn split_agrees_with_the_rule(s in "[+0-9 -]{0,30}") {
            prop_assert_eq!(split(&s), split_by_rule(&s));
        }

        #[test]
        fn split_never_panics(s in "\\PC{0,40}") {
            let _ = split(&s);
            let _ = classify_entry(&s, None);
        }
    }
}
