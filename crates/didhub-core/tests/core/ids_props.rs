//! Property tests for business identifiers: numbers built here with their check digits, each
//! computed from the published rule as written down below (not by the code under test), are
//! valid however they are written; changing one digit makes them invalid wherever the rule
//! guarantees to notice; and no input makes `check` panic.

use didhub_core::ids::{IdError, IdKind};
use proptest::prelude::*;

fn digits(n: usize) -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(0u32..10, n)
}

fn text(d: &[u32]) -> String {
    d.iter()
        .map(|x| char::from_digit(*x, 10).unwrap_or('?'))
        .collect()
}

/// Luhn check digit: walking the body from its right end, the 1st, 3rd, … digits are doubled
/// (9 taken off a result over 9), and the check digit brings the total to a multiple of 10.
fn luhn_check(body: &[u32]) -> u32 {
    let mut total = 0;
    for (i, &d) in body.iter().rev().enumerate() {
        total += if i % 2 == 0 {
            let t = d * 2;
            if t > 9 {
                t - 9
            } else {
                t
            }
        } else {
            d
        };
    }
    (10 - total % 10) % 10
}

fn with_luhn(mut body: Vec<u32>) -> Vec<u32> {
    let c = luhn_check(&body);
    body.push(c);
    body
}

const LA_POSTE: &str = "356000000";

fn siren() -> impl Strategy<Value = Vec<u32>> {
    digits(8).prop_map(with_luhn)
}

/// A SIRET of any company but La Poste.
fn siret() -> impl Strategy<Value = Vec<u32>> {
    (siren(), digits(4))
        .prop_map(|(s, e)| with_luhn([s, e].concat()))
        .prop_filter("La Poste has its own rule", |d| {
            !text(d).starts_with(LA_POSTE)
        })
}

/// A SIRET of a La Poste establishment other than the head office: digit sum a multiple of 5.
fn la_poste() -> impl Strategy<Value = Vec<u32>> {
    (digits(4), any::<bool>())
        .prop_map(|(mid, plus5)| {
            let mut d: Vec<u32> = LA_POSTE.chars().filter_map(|c| c.to_digit(10)).collect();
            d.extend(mid);
            let sum: u32 = d.iter().sum();
            let last = (5 - sum % 5) % 5 + if plus5 { 5 } else { 0 };
            d.push(last);
            d
        })
        .prop_filter("the head office follows Luhn", |d| {
            text(d) != "35600000000048"
        })
}

const DNI_TABLE: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn dni_letter(number: u64) -> char {
    char::from(DNI_TABLE[(number % 23) as usize])
}

fn value(d: &[u32]) -> u64 {
    text(d).parse().unwrap_or(0)
}

/// Spanish NIFs of each family, as text, with the positions of their digits.
fn es_nif() -> impl Strategy<Value = String> {
    let dni = digits(8).prop_map(|d| format!("{}{}", text(&d), dni_letter(value(&d))));
    let nie = (0u64..3, digits(7)).prop_map(|(x, d)| {
        let lead = ["X", "Y", "Z"][x as usize];
        format!(
            "{lead}{}{}",
            text(&d),
            dni_letter(x * 10_000_000 + value(&d))
        )
    });
    let klm = (prop::sample::select(vec!['K', 'L', 'M']), digits(7))
        .prop_map(|(l, d)| format!("{l}{}{}", text(&d), dni_letter(value(&d))));
    let cif = (
        prop::sample::select("ABCDEFGHJNPQRSUVW".chars().collect::<Vec<_>>()),
        digits(7),
        any::<bool>(),
    )
        .prop_map(|(l, d, as_letter)| {
            let c = luhn_check(&d);
            let check = if as_letter {
                char::from(b"JABCDEFGHI"[c as usize])
            } else {
                char::from_digit(c, 10).unwrap_or('?')
            };
            format!("{l}{}{check}", text(&d))
        });
    prop_oneof![dni, nie, klm, cif]
}

/// Norwegian organisation number: weights 3 2 7 6 5 4 3 2 over the first eight, check digit
/// 11 minus the sum mod 11 (11 is 0; a body that needs 10 gets no number).
fn orgnr() -> impl Strategy<Value = Vec<u32>> {
    digits(8)
        .prop_map(|mut d| {
            let s: u32 = d
                .iter()
                .zip([3, 2, 7, 6, 5, 4, 3, 2])
                .map(|(a, w)| a * w)
                .sum();
            d.push(match 11 - s % 11 {
                11 => 0,
                c => c,
            });
            d
        })
        .prop_filter("no check digit 10", |d| d[8] < 10)
}

/// Portuguese NIF: first digit 1-9, weights 9 down to 2, check 11 minus the sum mod 11, 10
/// and 11 written 0.
fn pt_nif() -> impl Strategy<Value = Vec<u32>> {
    (1u32..10, digits(7)).prop_map(|(f, rest)| {
        let mut d = vec![f];
        d.extend(rest);
        let s: u32 = d.iter().zip((2..=9).rev()).map(|(a, w)| a * w).sum();
        let c = 11 - s % 11;
        d.push(if c >= 10 { 0 } else { c });
        d
    })
}

/// Turkish VKN: for the i-th of the nine digits counted from the right, t = (digit + i) mod 10,
/// and if t is not 0, t * 2^i mod 9 (9 when that is 0); the tenth digit brings the sum of these
/// to a multiple of 10.
fn vkn() -> impl Strategy<Value = Vec<u32>> {
    digits(9).prop_map(|mut d| {
        let mut sum = 0;
        for i in 1..=9u32 {
            let t = (d[9 - i as usize] + i) % 10;
            if t != 0 {
                let v = (t * 2u32.pow(i)) % 9;
                sum += if v == 0 { 9 } else { v };
            }
        }
        d.push((10 - sum % 10) % 10);
        d
    })
}

/// T.C. kimlik numarası: first digit 1-9; the tenth digit is (7 × (d1+d3+d5+d7+d9) −
/// (d2+d4+d6+d8)) mod 10, the eleventh the sum of the first ten mod 10.
fn tckn() -> impl Strategy<Value = Vec<u32>> {
    (1u32..10, digits(8)).prop_map(|(f, rest)| {
        let mut d = vec![f];
        d.extend(rest);
        let odd = i64::from(d[0] + d[2] + d[4] + d[6] + d[8]);
        let even = i64::from(d[1] + d[3] + d[5] + d[7]);
        let tenth = (7 * odd - even).rem_euclid(10) as u32;
        d.push(tenth);
        let eleventh = d.iter().sum::<u32>() % 10;
        d.push(eleventh);
        d
    })
}

/// A kind and one of its valid numbers, as text.
fn any_valid() -> impl Strategy<Value = (IdKind, String)> {
    prop_oneof![
        siren().prop_map(|d| (IdKind::FrSiren, text(&d))),
        siret().prop_map(|d| (IdKind::FrSiret, text(&d))),
        la_poste().prop_map(|d| (IdKind::FrSiret, text(&d))),
        es_nif().prop_map(|s| (IdKind::EsNif, s)),
        orgnr().prop_map(|d| (IdKind::NoOrgnr, text(&d))),
        pt_nif().prop_map(|d| (IdKind::PtNif, text(&d))),
        vkn().prop_map(|d| (IdKind::TrVkn, text(&d))),
        tckn().prop_map(|d| (IdKind::TrTckn, text(&d))),
        digits(8).prop_map(|d| (IdKind::NlKvk, text(&d))),
    ]
}

/// The separators each kind lets through (python-stdnum's list for it).
fn separators(kind: IdKind) -> &'static [&'static str] {
    match kind {
        IdKind::FrSiren | IdKind::FrSiret => &[" ", ".", "\u{a0}"],
        IdKind::EsNif => &[" ", "-", "\u{2013}"],
        IdKind::PtNif => &[" ", "-", "."],
        IdKind::NoOrgnr => &[" "],
        IdKind::NlKvk => &[" ", ".", "-"],
        IdKind::TrVkn | IdKind::TrTckn => &[],
    }
}

/// Whether changing the digit at `pos` of a valid `number` from `from` to `to` is sure to be
/// noticed by the kind's rule.
fn mutation_is_caught(kind: IdKind, number: &str, pos: usize, from: u32, to: u32) -> bool {
    let mut mutant: Vec<char> = number.chars().collect();
    mutant[pos] = char::from_digit(to, 10).unwrap_or('?');
    let mutant: String = mutant.into_iter().collect();
    match kind {
        // Luhn catches every single-digit change; La Poste's digit sum every change but ±5.
        IdKind::FrSiret => {
            let (was, is) = (number.starts_with(LA_POSTE), mutant.starts_with(LA_POSTE));
            match (was, is) {
                (false, false) => true,
                (true, true) => from.abs_diff(to) != 5 && mutant != "35600000000048",
                _ => false,
            }
        }
        // A check digit 0 stands for two remainders (0 and 10): a body change between them is
        // not seen.
        IdKind::PtNif => pos == 8 || !number.ends_with('0'),
        IdKind::NlKvk => false,
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn built_numbers_are_valid_and_compact_to_themselves((kind, number) in any_valid()) {
        prop_assert_eq!(kind.check(&number), Ok(number.clone()), "{} {:?}", kind, number);
    }

    #[test]
    fn written_forms_compact_to_the_number(
        (kind, number) in any_valid(),
        sep_pick in any::<prop::sample::Index>(),
        cut in 1usize..8,
        pad in prop::sample::select(vec!["", " ", "\t", "\u{a0}", "\u{3000}"]),
        lower in any::<bool>(),
    ) {
        let seps = separators(kind);
        let mut written = number.clone();
        if !seps.is_empty() {
            written.insert_str(cut, seps[sep_pick.index(seps.len())]);
        }
        if lower {
            written = written.to_lowercase();
        }
        let padded = format!("{pad}{written}{pad}");
        prop_assert_eq!(kind.check(&padded), Ok(number.clone()), "{} {:?}", kind, padded);
        if matches!(kind, IdKind::EsNif | IdKind::PtNif) {
            // The prefix comes off after the surrounding whitespace, so it stands inside it.
            let prefixed = format!("{pad}{}{written}{pad}", kind.country().to_lowercase());
            prop_assert_eq!(kind.check(&prefixed), Ok(number.clone()), "{} {:?}", kind, prefixed);
        }
    }

    #[test]
    fn one_digit_changed_is_refused(
        (kind, number) in any_valid(),
        pick in any::<prop::sample::Index>(),
        delta in 1u32..10,
    ) {
        let chars: Vec<char> = number.chars().collect();
        let positions: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].is_ascii_digit()).collect();
        let pos = positions[pick.index(positions.len())];
        let from = chars[pos].to_digit(10).unwrap_or(0);
        let to = (from + delta) % 10;
        let mut mutant = chars.clone();
        mutant[pos] = char::from_digit(to, 10).unwrap_or('?');
        let mutant: String = mutant.into_iter().collect();
        let got = kind.check(&mutant);
        if mutation_is_caught(kind, &number, pos, from, to) {
            prop_assert!(got.is_err(), "{} {:?} (from {:?}) was accepted", kind, mutant, number);
        }
        if kind == IdKind::NlKvk {
            prop_assert!(got.is_ok(), "every 8 digits are a KvK number: {:?}", mutant);
        }
    }

    #[test]
    fn wrong_lengths_are_length_errors((kind, number) in any_valid(), extra in digits(4), cut in 1usize..4) {
        let longer = format!("{number}{}", text(&extra));
        if kind == IdKind::EsNif {
            // Digits after a final letter stand where digits may not: a format error first.
            prop_assert!(kind.check(&longer).is_err(), "{} {:?}", kind, longer);
        } else {
            prop_assert_eq!(kind.check(&longer), Err(IdError::Length), "{} {:?}", kind, longer);
        }
        let shorter: String = number.chars().take(number.chars().count() - cut).collect();
        if kind != IdKind::EsNif || shorter.chars().count() >= 3 {
            prop_assert!(kind.check(&shorter).is_err(), "{} {:?}", kind, shorter);
        }
    }

    #[test]
    fn no_input_panics_and_valid_answers_are_stable(
        kind in prop::sample::select(IdKind::ALL.to_vec()),
        input in "\\PC{0,20}|[0-9A-Za-z .\\-/]{0,18}",
    ) {
        if let Ok(compact) = kind.check(&input) {
            prop_assert!(compact.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()), "{:?}", compact);
            prop_assert_eq!(kind.check(&compact), Ok(compact.clone()));
        }
    }
}
