//! Business identifiers that orders carry: company and tax numbers of a few countries, checked
//! by their published check-digit rules.
//!
//! What is accepted and how it is written back agrees with python-stdnum (a test holds the
//! two equal on its fixtures, `scripts/gen-ids-fixtures.py`): each kind strips the separators
//! that stdnum strips for it (and only those), reads the Unicode look-alikes of digits, dashes,
//! dots and spaces that stdnum reads as ASCII, removes surrounding whitespace, and for Spain
//! and Portugal a leading country prefix. The checks run in stdnum's order, so that the
//! reason given for a refusal (format, length, checksum) is the one stdnum gives.

use std::fmt;

/// A kind of identifier of one country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// FR SIREN: 9 digits, Luhn.
    FrSiren,
    /// FR SIRET: 14 digits (the SIREN and an establishment number), Luhn over both; La
    /// Poste's establishments (SIREN 356000000) have a digit sum that is a multiple of 5.
    FrSiret,
    /// ES NIF: a DNI, a NIE, a CIF or a K/L/M NIF.
    EsNif,
    /// NO organisasjonsnummer: 9 digits, mod 11.
    NoOrgnr,
    /// PT NIF (NIPC): 9 digits, mod 11, not starting with 0.
    PtNif,
    /// TR VKN (vergi kimlik numarası): 10 digits.
    TrVkn,
    /// TR T.C. kimlik numarası: 11 digits, two check digits, not starting with 0.
    TrTckn,
    /// NL KvK number: 8 digits, no check digit.
    NlKvk,
}

/// Why a value is not a valid identifier of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Nothing left once separators and whitespace are gone (a blank line).
    #[error("empty value")]
    Empty,
    /// A character the kind does not allow there.
    #[error("invalid format")]
    Format,
    /// The right characters, but not as many as the kind has.
    #[error("invalid length")]
    Length,
    /// The check digit (or letter) does not match.
    #[error("invalid checksum")]
    Checksum,
}

/// A country and kind that no [`IdKind`] is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown identifier: country {country:?}, kind {kind:?} (supported: {})",
    IdKind::supported()
)]
pub struct UnknownIdKind {
    pub country: String,
    pub kind: String,
}

impl IdKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [IdKind; 8] = [
        IdKind::FrSiren,
        IdKind::FrSiret,
        IdKind::EsNif,
        IdKind::NoOrgnr,
        IdKind::PtNif,
        IdKind::TrVkn,
        IdKind::TrTckn,
        IdKind::NlKvk,
    ];

    /// The kind named by a country (ISO 3166 alpha-2) and a kind name, case-insensitively.
    pub fn parse(country: &str, kind: &str) -> Result<IdKind, UnknownIdKind> {
        let (c, k) = (country.trim(), kind.trim());
        IdKind::ALL
            .into_iter()
            .find(|id| id.country().eq_ignore_ascii_case(c) && id.name().eq_ignore_ascii_case(k))
            .ok_or_else(|| UnknownIdKind {
                country: c.to_string(),
                kind: k.to_string(),
            })
    }

    /// The supported pairs, "FR siren, FR siret, …".
    pub fn supported() -> String {
        let pairs: Vec<String> = IdKind::ALL.iter().map(ToString::to_string).collect();
        pairs.join(", ")
    }

    pub fn country(&self) -> &'static str {
        match self {
            IdKind::FrSiren | IdKind::FrSiret => "FR",
            IdKind::EsNif => "ES",
            IdKind::NoOrgnr => "NO",
            IdKind::PtNif => "PT",
            IdKind::TrVkn | IdKind::TrTckn => "TR",
            IdKind::NlKvk => "NL",
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            IdKind::FrSiren => "siren",
            IdKind::FrSiret => "siret",
            IdKind::EsNif | IdKind::PtNif => "nif",
            IdKind::NoOrgnr => "orgnr",
            IdKind::TrVkn => "vkn",
            IdKind::TrTckn => "tckn",
            IdKind::NlKvk => "kvk",
        }
    }

    /// The value as this kind writes it: its separators, surrounding whitespace and country
    /// prefix removed, upper case where the kind has letters. Not checked.
    pub fn compact(&self, input: &str) -> String {
        match self {
            IdKind::FrSiren | IdKind::FrSiret => strip_ws(&fold(input, " .")).to_string(),
            IdKind::NoOrgnr => strip_ws(&fold(input, " ")).to_string(),
            IdKind::TrVkn | IdKind::TrTckn => strip_ws(&fold(input, "")).to_string(),
            IdKind::NlKvk => strip_ws(&fold(input, " .-")).to_string(),
            IdKind::EsNif => without_prefix(&fold(input, " -").to_uppercase(), "ES"),
            IdKind::PtNif => without_prefix(&fold(input, " -.").to_uppercase(), "PT"),
        }
    }

    /// The compact form of a valid value, or why it is not one.
    pub fn check(&self, input: &str) -> Result<String, IdError> {
        let number = self.compact(input);
        let n: Vec<char> = number.chars().collect();
        if n.is_empty() {
            return Err(IdError::Empty);
        }
        match self {
            IdKind::FrSiren => digits_of_length(&n, 9).and_then(|d| luhn_ok(&d))?,
            IdKind::FrSiret => {
                let d = digits_of_length(&n, 14)?;
                siret_ok(&d)?;
            }
            IdKind::EsNif => es_nif(&n)?,
            IdKind::NoOrgnr => {
                let d = digits_of_length(&n, 9)?;
                if !weighted(&d, &[3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11) {
                    return Err(IdError::Checksum);
                }
            }
            IdKind::PtNif => {
                let d = nonzero_first(&n, 9)?;
                // Weights 9 down to 2 over the first eight; 11 minus the sum mod 11, where
                // 10 is written 0.
                let r = (11 - weighted(&d[..8], &[9, 8, 7, 6, 5, 4, 3, 2]) % 11) % 11 % 10;
                if d[8] != r {
                    return Err(IdError::Checksum);
                }
            }
            IdKind::TrVkn => {
                let d = digits_of_length(&n, 10)?;
                if vkn_check(&d[..9]) != d[9] {
                    return Err(IdError::Checksum);
                }
            }
            IdKind::TrTckn => {
                let d = nonzero_first(&n, 11)?;
                if tckn_checks(&d[..9]) != (d[9], d[10]) {
                    return Err(IdError::Checksum);
                }
            }
            IdKind::NlKvk => {
                digits_of_length(&n, 8)?;
            }
        }
        Ok(number)
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.country(), self.name())
    }
}

/// `s` with the Unicode look-alikes of ASCII digits, dashes, dots, spaces and slashes read as
/// those (python-stdnum's reading: U+1680 OGHAM SPACE MARK counts as a dash there), then the
/// characters of `delete` removed. stdnum folds other punctuation too (commas, colons,
/// asterisks, apostrophes), but those are refused wherever they stand, folded or not.
fn fold(s: &str, delete: &str) -> String {
    s.chars()
        .map(ascii_form)
        .filter(|c| !delete.contains(*c))
        .collect()
}

fn ascii_form(c: char) -> char {
    match c {
        '\u{ff10}'..='\u{ff19}' => digit(c as u32 - 0xff10),
        // Mathematical bold, double-struck, sans-serif, sans-serif bold and monospace digits:
        // five runs of ten.
        '\u{1d7ce}'..='\u{1d7ff}' => digit((c as u32 - 0x1d7ce) % 10),
        '\u{00af}'
        | '\u{02d7}'
        | '\u{058a}'
        | '\u{05be}'
        | '\u{1680}'
        | '\u{180a}'
        | '\u{2010}'..='\u{2015}'
        | '\u{203e}'
        | '\u{2043}'
        | '\u{207b}'
        | '\u{208b}'
        | '\u{2212}'
        | '\u{23af}'
        | '\u{23ba}'..='\u{23bd}'
        | '\u{23e4}'
        | '\u{fe63}'
        | '\u{ff0d}'
        | '\u{ffe3}' => '-',
        '\u{00b7}' | '\u{02d9}' | '\u{0387}' | '\u{06d4}' | '\u{0701}' | '\u{0702}'
        | '\u{0830}' | '\u{0f0b}' | '\u{0f0c}' | '\u{16eb}' | '\u{2022}' | '\u{2024}'
        | '\u{2027}' | '\u{2219}' | '\u{22c5}' | '\u{2e31}' | '\u{2e33}' | '\u{3002}'
        | '\u{30fb}' | '\u{fbb2}' | '\u{fbb3}' | '\u{fe52}' | '\u{ff0e}' | '\u{ff65}'
        | '\u{10101}' | '\u{1091f}' | '\u{10a50}' => '.',
        '\u{083c}' | '\u{2044}' | '\u{2215}' | '\u{27cb}' | '\u{29f8}' | '\u{ff0f}' => '/',
        '\u{00a0}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => ' ',
        c => c,
    }
}

fn digit(d: u32) -> char {
    char::from_digit(d, 10).unwrap_or('?')
}

/// Whitespace as python-stdnum trims it (Python's `str.strip`): Unicode white space and the
/// information separators U+001C to U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn strip_ws(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Trimmed, then one leading country prefix removed (after trimming, not again after: stdnum's
/// order, so "ES\t123" keeps its tab and is refused).
fn without_prefix(s: &str, prefix: &str) -> String {
    let t = strip_ws(s);
    t.strip_prefix(prefix).unwrap_or(t).to_string()
}

/// The digit values of `n`, which must be ASCII digits only (format) and `len` long (length).
fn digits_of_length(n: &[char], len: usize) -> Result<Vec<u32>, IdError> {
    let d = ascii_digits(n).ok_or(IdError::Format)?;
    if d.len() != len {
        return Err(IdError::Length);
    }
    Ok(d)
}

/// As [`digits_of_length`], and a leading 0 is a format error (checked before the length).
fn nonzero_first(n: &[char], len: usize) -> Result<Vec<u32>, IdError> {
    match ascii_digits(n) {
        Some(d) if d.first().is_some_and(|&f| f != 0) => {
            if d.len() != len {
                return Err(IdError::Length);
            }
            Ok(d)
        }
        _ => Err(IdError::Format),
    }
}

/// The values of a non-empty run of ASCII digits.
fn ascii_digits(n: &[char]) -> Option<Vec<u32>> {
    if n.is_empty() {
        return None;
    }
    n.iter()
        .map(|c| c.is_ascii_digit().then(|| *c as u32 - '0' as u32))
        .collect()
}

fn weighted(d: &[u32], weights: &[u32]) -> u32 {
    d.iter().zip(weights).map(|(d, w)| d * w).sum()
}

/// Luhn: from the right, every second digit doubled (its digits summed); the total is a
/// multiple of 10.
fn luhn_sum(d: &[u32]) -> u32 {
    d.iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                (2 * x) / 10 + (2 * x) % 10
            } else {
                x
            }
        })
        .sum()
}

fn luhn_ok(d: &[u32]) -> Result<(), IdError> {
    if luhn_sum(d).is_multiple_of(10) {
        Ok(())
    } else {
        Err(IdError::Checksum)
    }
}

/// The check digit that makes `body` followed by it pass Luhn.
fn luhn_digit(body: &[u32]) -> u32 {
    let mut with = body.to_vec();
    with.push(0);
    (10 - luhn_sum(&with) % 10) % 10
}

const LA_POSTE: [u32; 9] = [3, 5, 6, 0, 0, 0, 0, 0, 0];
/// La Poste's head office, the one establishment of its SIREN under the Luhn rule.
const LA_POSTE_HEAD_OFFICE: [u32; 14] = [3, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 8];

fn siret_ok(d: &[u32]) -> Result<(), IdError> {
    // La Poste numbers its many establishments past what Luhn leaves room for: the INSEE
    // rule for them is a digit sum that is a multiple of 5.
    if d.starts_with(&LA_POSTE) && d != LA_POSTE_HEAD_OFFICE {
        if !d.iter().sum::<u32>().is_multiple_of(5) {
            return Err(IdError::Checksum);
        }
    } else {
        luhn_ok(d)?;
    }
    // The SIREN inside is a SIREN: its own Luhn.
    luhn_ok(&d[..9])
}

/// The DNI's control letter: the number mod 23, as a letter of this table.
const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn dni_letter(digits: &[u32]) -> char {
    let n = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d));
    char::from(DNI_LETTERS[(n % 23) as usize])
}

/// First letters of a CIF: the kinds of legal entity.
const CIF_FIRST: &str = "ABCDEFGHJNPQRSUVW";
/// A CIF's check as a letter: the check digit's position in this table.
const CIF_LETTERS: &[u8; 10] = b"JABCDEFGHI";

/// The Spanish NIF, in python-stdnum's order: the characters between the first and the last
/// must be digits, then the length, then by the first character: K, L or M (NIFs given
/// without a DNI or NIE) and a digit (DNI) take the DNI letter over the digits; X, Y or Z
/// (NIE) the DNI letter with the X/Y/Z read as 0/1/2; any other a CIF, whose first letter
/// must be one of [`CIF_FIRST`] and whose last character the Luhn digit of the seven digits,
/// or that digit as a letter (organisations use either).
fn es_nif(n: &[char]) -> Result<(), IdError> {
    let middle = match n.len() {
        0..=2 => None,
        len => ascii_digits(&n[1..len - 1]),
    };
    let middle = middle.ok_or(IdError::Format)?;
    if n.len() != 9 {
        return Err(IdError::Length);
    }
    let (first, last) = (n[0], n[8]);
    let expected_ok = match first {
        'K' | 'L' | 'M' => dni_letter(&middle) == last,
        '0'..='9' => {
            let mut all = vec![first as u32 - '0' as u32];
            all.extend(&middle);
            dni_letter(&all) == last
        }
        'X' | 'Y' | 'Z' => {
            let mut all = vec![first as u32 - 'X' as u32];
            all.extend(&middle);
            dni_letter(&all) == last
        }
        c if CIF_FIRST.contains(c) => {
            let check = luhn_digit(&middle);
            last == digit(check) || last == char::from(CIF_LETTERS[check as usize])
        }
        _ => return Err(IdError::Format),
    };
    if expected_ok {
        Ok(())
    } else {
        Err(IdError::Checksum)
    }
}

/// The VKN check digit over its nine first digits: each digit plus its place from the right
/// (1 to 9) mod 10, times 2 to the power of that place, mod 9 (0 kept for a digit sum of 0,
/// 9 for a multiple of 9); the check completes the total to a multiple of 10.
fn vkn_check(body: &[u32]) -> u32 {
    let s: u32 = body
        .iter()
        .rev()
        .zip(1u32..)
        .map(|(&d, place)| {
            let c1 = (d + place) % 10;
            match c1 {
                0 => 0,
                _ => match (c1 * (1 << place)) % 9 {
                    0 => 9,
                    r => r,
                },
            }
        })
        .sum();
    (10 - s % 10) % 10
}

/// The T.C. kimlik check digits over its nine first digits: the tenth is 7 times the sum of
/// the odd-placed digits less the sum of the even-placed ones, mod 10; the eleventh the sum of
/// the first ten, mod 10.
fn tckn_checks(body: &[u32]) -> (u32, u32) {
    let odd: u32 = body.iter().step_by(2).sum();
    let even: u32 = body.iter().skip(1).step_by(2).sum();
    let tenth = (7 * odd + 10 * 9 - even) % 10;
    let eleventh = (body.iter().sum::<u32>() + tenth) % 10;
    (tenth, eleventh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_every_kind_and_refuses_others() {
        for k in IdKind::ALL {
            assert_eq!(IdKind::parse(k.country(), k.name()), Ok(k));
            let lower = k.country().to_lowercase();
            assert_eq!(IdKind::parse(&lower, &k.name().to_uppercase()), Ok(k));
        }
        let e = IdKind::parse("FR", "nif").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"FR\"") && msg.contains("\"nif\""), "{msg}");
        for k in IdKind::ALL {
            assert!(msg.contains(&k.to_string()), "{msg} should name {k}");
        }
        assert!(IdKind::parse("", "").is_err());
        assert!(IdKind::parse("XX", "siren").is_err());
    }

    #[test]
    fn the_published_examples() {
        use IdKind::*;
        let ok = [
            (FrSiret, "73282932000074", "73282932000074"),
            (FrSiret, "732 829 320 00074", "73282932000074"),
            (FrSiren, "552 008 443", "552008443"),
            (EsNif, "54362315K", "54362315K"),
            (EsNif, "B64717838", "B64717838"),
            (EsNif, "ES B-58378431", "B58378431"),
            (EsNif, "x-2482300w", "X2482300W"),
            (EsNif, "M-1234567-L", "M1234567L"),
            (NoOrgnr, "988 077 917", "988077917"),
            (PtNif, "PT 501 964 843", "501964843"),
            (TrVkn, "4540536920", "4540536920"),
            (TrTckn, "17291716060", "17291716060"),
            (NlKvk, "0207 6358", "02076358"),
        ];
        for (k, input, compact) in ok {
            assert_eq!(k.check(input).as_deref(), Ok(compact), "{k} {input:?}");
        }
        let bad = [
            (FrSiret, "73282932000079", IdError::Checksum),
            (EsNif, "B64717839", IdError::Checksum),
            (EsNif, "O-1234567-L", IdError::Format),
            (EsNif, "J992165831", IdError::Length),
            (NoOrgnr, "988 077 918", IdError::Checksum),
            (PtNif, "PT 501 964 842", IdError::Checksum),
            (TrVkn, "454053692", IdError::Length),
            (TrTckn, "07291716092", IdError::Format),
            (NlKvk, "000012345678", IdError::Length),
            (NlKvk, "1234567", IdError::Length),
            (FrSiren, "", IdError::Empty),
            (EsNif, " ES ", IdError::Empty),
        ];
        for (k, input, err) in bad {
            assert_eq!(k.check(input), Err(err), "{k} {input:?}");
        }
    }

    #[test]
    fn la_poste_establishments() {
        // The head office follows Luhn; the others a digit sum that is a multiple of 5.
        assert!(IdKind::FrSiret.check("35600000000048").is_ok());
        assert!(IdKind::FrSiret.check("35600000049913").is_ok());
        assert!(IdKind::FrSiret.check("35600000049918").is_ok());
        assert_eq!(
            IdKind::FrSiret.check("35600000049914"),
            Err(IdError::Checksum)
        );
        assert_eq!(
            IdKind::FrSiret.check("35600000000049"),
            Err(IdError::Checksum)
        );
    }
}
