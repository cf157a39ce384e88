//! Property tests for number parsing: however an example number is written, it classifies to
//! the same E.164, country and type; and no input, however odd, makes `classify` panic.
//!
//! The numbers come from libphonenumber's own examples (see `libphonenumber_examples.rs` and
//! `scripts/gen-number-fixtures.py`).

use didhub_core::number::{classify, dialled_from, Classified, Country, E164};
use proptest::prelude::*;

const FIXTURE: &str = include_str!("../fixtures/libphonenumber_examples.csv");

/// The distinct E.164 example numbers of the fixture (rows whose input is the E.164 form).
fn examples() -> Vec<&'static str> {
    let mut v: Vec<&str> = FIXTURE
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() == 7 && f[5] == f[2]).then_some(f[2])
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// How the number starts: `+`, international `00`, or bare digits (spreadsheet style).
#[derive(Debug, Clone, Copy)]
enum Prefix {
    Plus,
    DoubleZero,
    Bare,
}

/// Separators people and systems put between digits.
const SEPARATORS: &[&str] = &["", "", "", " ", ".", "-", "  ", " - ", "\u{a0}", "\u{2013}"];

/// One written form of a number: its prefix, a separator after each digit, and optionally a
/// bracketed run of digits (given as a start digit and a length).
fn written(
    digits: &str,
    prefix: Prefix,
    seps: &[usize],
    bracket: Option<(usize, usize)>,
    lead_sep: usize,
) -> String {
    let mut s = String::from(match prefix {
        Prefix::Plus => "+",
        Prefix::DoubleZero => "00",
        Prefix::Bare => "",
    });
    s.push_str(SEPARATORS[lead_sep]);
    let n = digits.len();
    let (open, close) = match bracket {
        Some((start, len)) => {
            let a = start % n;
            (Some(a), Some((a + len % (n - a)).min(n - 1)))
        }
        None => (None, None),
    };
    for (i, d) in digits.chars().enumerate() {
        if open == Some(i) {
            s.push('(');
        }
        s.push(d);
        if close == Some(i) {
            s.push(')');
        }
        if i + 1 < n {
            s.push_str(SEPARATORS[seps[i % seps.len()]]);
        }
    }
    s
}

fn summary(c: &Classified) -> String {
    format!("{} {} {}", c.e164, c.country, c.number_type)
}

fn prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![
        Just(Prefix::Plus),
        Just(Prefix::DoubleZero),
        Just(Prefix::Bare)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn written_forms_classify_alike(
        which in any::<prop::sample::Index>(),
        prefix in prefix(),
        seps in prop::collection::vec(0..SEPARATORS.len(), 1..16),
        bracket in prop::option::of((0usize..16, 0usize..6)),
        lead_sep in 0..SEPARATORS.len(),
    ) {
        let examples = examples();
        let e164 = *which.get(&examples);
        let reference = classify(e164, None)
            .unwrap_or_else(|e| panic!("{e164} does not classify: {e}"));
        let input = written(&e164[1..], prefix, &seps, bracket, lead_sep);
        let got = classify(&input, None);
        prop_assert!(got.is_ok(), "{:?} (from {}): {:?}", input, e164, got);
        let got = got.unwrap();
        prop_assert_eq!(summary(&got), summary(&reference), "input {:?}", input);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>(), cc in prop::option::of("[A-Z]{2}")) {
        let country = cc.and_then(|c| Country::parse(&c).ok());
        let _ = classify(&s, country);
    }

    #[test]
    fn phone_like_strings_never_panic(
        s in "[0-9+() .\\-/]{0,40}",
        cc in prop::option::of(prop::sample::select(vec!["GB", "US", "DE", "IT", "BR", "MX", "AE"])),
    ) {
        let country = cc.map(|c| Country::parse(c).unwrap());
        if let Ok(c) = classify(&s, country) {
            // Whatever is accepted is canonical and reads back to itself.
            prop_assert!(c.e164.as_str().starts_with('+'));
            prop_assert!(c.e164.digits().bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(c.e164.digits().len() <= 15);
            let again = classify(c.e164.as_str(), None);
            prop_assert_eq!(again.as_ref().map(|a| &a.e164), Ok(&c.e164));
        }
    }
}

/// The fixture's countries: those of the reference documents.
fn countries() -> Vec<Country> {
    let mut v: Vec<Country> = FIXTURE
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .filter_map(|l| Country::parse(l.split(',').next()?).ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// A number written as it is dialled from a country (that country's own international
    /// prefix, from the metadata: `00`, `011` …, `+` where the prefix needs a carrier code,
    /// the national form at home) reads back to itself with that country as the default.
    ///
    /// Over the fixture's countries: not every country's metadata makes this hold, in
    /// libphonenumber as in didhub (Hong Kong's prefix is `00` with an optional carrier digit,
    /// so the `00 1 …` it writes for +1 reads as carrier `001` and +2…).
    #[test]
    fn dialled_from_the_default_country_reads_back(
        which in any::<prop::sample::Index>(),
        from in any::<prop::sample::Index>(),
    ) {
        let examples = examples();
        let countries = countries();
        let e164 = *which.get(&examples);
        let number = E164::parse(e164, None).unwrap();
        let country = *from.get(&countries);
        let dialled = dialled_from(&number, country).expect("an example number parses");
        let got = classify(&dialled, Some(country));
        prop_assert_eq!(
            got.as_ref().map(|c| c.e164.as_str()),
            Ok(number.as_str()),
            "{} dialled from {} as {:?}",
            number,
            country,
            dialled
        );
    }
}

#[test]
fn fixture_has_examples() {
    assert!(examples().len() > 150, "only {} examples", examples().len());
    assert!(
        countries().len() > 30,
        "only {} countries",
        countries().len()
    );
}
