//! Number ranges written `FIRST-LAST` (inclusive), as in `+442079460100-+442079460199`, or in
//! the short form `+442079460400-499`, whose second end replaces the last digits of the first
//! (`+442079460400` to `+442079460499`).

use crate::number::{classify, Classified, Country, NumberError};

/// Most numbers one range (or one request) may create.
pub const MAX_RANGE: u64 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error(
        "range end {last} has more digits than its start {first} ({last_len} against \
         {first_len}); write both ends in full with the same number of digits, or the second \
         end as the last digits of the first (+442079460400-499)"
    )]
    LengthMismatch {
        first: String,
        last: String,
        first_len: usize,
        last_len: usize,
    },
    #[error(
        "range end {last} is written with '+' but has fewer digits than its start {first} \
         ({last_len} against {first_len}); write both ends in full, or the second end as the \
         last digits of the first without '+'"
    )]
    ShortWithPlus {
        first: String,
        last: String,
        first_len: usize,
        last_len: usize,
    },
    #[error(
        "range end {last}{} is lower than its start {first}",
        .read_as.as_ref().map(|r| format!(" (read as {r})")).unwrap_or_default()
    )]
    Reversed {
        first: String,
        last: String,
        /// The second end in full, when it was written short.
        read_as: Option<String>,
    },
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

/// The ends of `first..=last` as written digits.
struct Ends {
    /// `+` when the first end is written with it.
    plus: &'static str,
    /// The first end's digits.
    first: String,
    /// The second end's digits in full.
    last: String,
    /// Whether the second end was written short.
    short: bool,
}

/// Reads the ends of `first..=last`: a second end with fewer digits than the first, written
/// without `+`, replaces the first's last digits.
fn ends(first: &str, last: &str) -> Result<Ends, RangeError> {
    let (a, b) = (compact(first), compact(last));
    let (da, db) = (a.trim_start_matches('+'), b.trim_start_matches('+'));
    let (first_len, last_len) = (da.len(), db.len());
    let (f, l) = (first.to_string(), last.to_string());
    if last_len > first_len {
        return Err(RangeError::LengthMismatch {
            first: f,
            last: l,
            first_len,
            last_len,
        });
    }
    let short = last_len < first_len;
    if short && b.starts_with('+') {
        return Err(RangeError::ShortWithPlus {
            first: f,
            last: l,
            first_len,
            last_len,
        });
    }
    // `compact` keeps ASCII digits only (after a leading `+`): any index is a boundary.
    Ok(Ends {
        plus: if a.starts_with('+') { "+" } else { "" },
        first: da.to_string(),
        last: format!("{}{db}", &da[..first_len - last_len]),
        short,
    })
}

/// How many numbers `first..=last` holds, checking the shape of the ends. A second end with
/// fewer digits than the first (and no `+`) is the short form: `+442079460400-499` is
/// `+442079460400-+442079460499`, 100 numbers.
pub fn count(first: &str, last: &str) -> Result<u64, RangeError> {
    let e = ends(first, last)?;
    if e.first.len() > 18 {
        return Err(RangeError::Number {
            number: first.to_string(),
            error: NumberError::TooLong,
        });
    }
    let (x, y) = match (e.first.parse::<u64>(), e.last.parse::<u64>()) {
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
            read_as: e.short.then(|| format!("{}{}", e.plus, e.last)),
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

/// Reads an entry as written: a single number or a range. This is [`split`] and one more
/// reading, of the short form whose sides could also be read as one number: an entry with one
/// dash whose left side is a valid number on its own, whose right side is shorter and written
/// with digits only, and which is not a valid number as a whole (`+442079460400-499`,
/// `020 7946 0400-0499` with a default country GB) is that range. A valid number stays one
/// (`+1 212 555-0100`; `+49 30 1234567-89`, a German number with its extension).
pub fn read(input: &str, default_country: Option<Country>) -> Entry<'_> {
    let entry = split(input);
    let Entry::Single(s) = entry else {
        return entry;
    };
    let Some((l, r)) = s.split_once('-') else {
        return entry;
    };
    let (l, r) = (l.trim(), r.trim());
    let short = !r.is_empty()
        && !r.contains('-')
        && r.chars().all(|c| c.is_ascii_digit() || c == ' ')
        && digit_count(r) < digit_count(l);
    if short && classify(l, default_country).is_ok() && classify(s, default_country).is_err() {
        return Entry::Range { first: l, last: r };
    }
    entry
}

/// Parses an entry (single or range, see [`read`]) into classified numbers; the first bad
/// number is named.
pub fn classify_entry(
    input: &str,
    default_country: Option<Country>,
) -> Result<Vec<Classified>, RangeError> {
    match read(input, default_country) {
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
        // A second end longer than the first is named as such, not read as one long number.
        for written in ["44207946006-442079460070", "+44207946008-+442079460081"] {
            let e = classify_entry(written, None).unwrap_err();
            assert!(
                matches!(e, RangeError::LengthMismatch { .. }),
                "{written}: {e}"
            );
            assert!(e.to_string().contains("more digits"), "{e}");
        }
        // A shorter second end is the short form: here a range too large, said so.
        let e = classify_entry("442079460060-44207946007", None).unwrap_err();
        assert!(matches!(e, RangeError::TooLarge { .. }), "{e}");
        // Written with '+', a shorter end is a full number of the wrong length.
        let e = classify_entry("+442079460080-+4420794600", None).unwrap_err();
        assert!(matches!(e, RangeError::ShortWithPlus { .. }), "{e}");
        // A short end below the start says how it was read.
        let e = classify_entry("+442079460400-399", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "range end 399 (read as +442079460399) is lower than its start +442079460400"
        );
        let e = classify_entry("+12120000000-+12120000009", None).unwrap_err();
        assert!(e.to_string().starts_with("+12120000000"), "{e}");
    }

    #[test]
    fn the_seed_short_form() {
        let long = classify_entry("+442079460400-+442079460499", None).unwrap();
        assert_eq!(long.len(), 100);
        for short in [
            "+442079460400-499",
            "+44 20 7946 0400-0499",
            "+44 20 7946 0400 - 0499",
            "+442079460400-9460499",
        ] {
            assert_eq!(classify_entry(short, None).unwrap(), long, "{short}");
        }
        let gb = Country::parse("GB").ok();
        assert_eq!(classify_entry("020 7946 0400-0499", gb).unwrap(), long);
        assert_eq!(classify_entry("02079460400-499", gb).unwrap(), long);
        assert_eq!(classify_entry("+442079460080-0081", None).unwrap().len(), 2);
        // A valid number with one dash stays that number.
        for one in ["+1 212 555-0100", "+44 20 7946-0018", "020 7946-0018"] {
            assert_eq!(read(one, gb), Entry::Single(one), "{one}");
            assert_eq!(classify_entry(one, gb).unwrap().len(), 1, "{one}");
        }
        // The request's size check counts a short range by its numbers.
        let Entry::Range { first, last } = read("+442079460400-499", None) else {
            panic!("not a range");
        };
        assert_eq!(count(first, last), Ok(100));
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

        /// The short form is the long form: `FIRST-SUFFIX`, the suffix replacing the last
        /// digits of the first, reads as `FIRST-LAST` written in full, whether the entry splits
        /// by its shape or only as the short form.
        #[test]
        fn the_short_form_equals_the_long_form(
            start in 0u32..10_000,
            k in 1usize..=4,
            to in 0u32..10_000,
            spaced in any::<bool>(),
        ) {
            let first = format!("+44207946{start:04}");
            let m = 10u32.pow(k as u32);
            // The last end shares the first's leading digits and is not below it.
            let suffix = start % m + to % (m - start % m);
            let short = format!("{suffix:0k$}");
            let last = format!("{}{short}", &first[..first.len() - k]);
            let written = if spaced {
                format!("+44 20 7946 {start:04}-{short}")
            } else {
                format!("{first}-{short}")
            };
            prop_assert_eq!(
                classify_entry(&written, None),
                classify_entry(&format!("{first}-{last}"), None),
                "{}", written
            );
            prop_assert_eq!(expand(&first, &short), expand(&first, &last));
        }

        /// A second end with more digits than the first is refused, naming both.
        #[test]
        fn a_longer_second_end_is_refused(first in "[1-9][0-9]{6,12}", extra in "[0-9]{1,3}") {
            let last = format!("{first}{extra}");
            let e = count(&first, &last).unwrap_err();
            let is_mismatch = matches!(e, RangeError::LengthMismatch { .. });
            prop_assert!(is_mismatch, "{:?}", e);
            prop_assert!(e.to_string().contains(&last) && e.to_string().contains("more digits"));
        }

        /// A short second end below the start is refused, saying how it was read.
        #[test]
        fn a_short_end_below_the_start_is_refused(start in 1u32..10_000, k in 1usize..=4, below in 1u32..10_000) {
            let m = 10u32.pow(k as u32);
            prop_assume!(start % m > 0);
            let suffix = start % m - 1 - (below % (start % m));
            let first = format!("+44207946{start:04}");
            let short = format!("{suffix:0k$}");
            let e = count(&first, &short).unwrap_err();
            let read_as = format!("{}{short}", &first[..first.len() - k]);
            prop_assert_eq!(
                e,
                RangeError::Reversed { first: first.clone(), last: short, read_as: Some(read_as) }
            );
        }

        #[test]
        fn split_never_panics(s in "\\PC{0,40}") {
            let _ = split(&s);
            let _ = read(&s, None);
            let _ = classify_entry(&s, None);
        }
    }
}
