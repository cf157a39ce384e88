//! Phone numbers: the one place where input is parsed into E.164 and classified.
//!
//! The metadata engine (`rlibphonenumber`, a port of Google's libphonenumber) is wrapped here so
//! that it can be swapped without touching callers: nothing outside this module names it.

use std::fmt;
use std::str::FromStr;

use rlibphonenumber::{
    enums::Region, PhoneNumberFormat, PhoneNumberType, PhoneNumberUtil, PHONE_NUMBER_UTIL,
};
use serde::{Deserialize, Serialize};

/// Longest E.164 number: 15 digits after the `+`.
pub const MAX_DIGITS: usize = 15;

/// Why input is not a usable phone number. Messages name the value's problem, not the engine's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("empty value")]
    Empty,
    #[error(
        "not a phone number: only digits, spaces, dots, dashes and brackets are \
        allowed, with a '+' only at the start"
    )]
    NotANumber,
    #[error("not a possible phone number (too few digits for any numbering plan)")]
    NotPossible,
    #[error("national number without a country: give a default country or use the +CC form")]
    NeedsCountry,
    #[error("unknown country calling code")]
    InvalidCountryCode,
    #[error("too short to be a phone number")]
    TooShort,
    #[error("too long to be a phone number (E.164 allows at most 15 digits)")]
    TooLong,
    #[error("{0} is not a valid number in any numbering plan")]
    Invalid(String),
    #[error("unknown country code '{0}' (expected ISO 3166 alpha-2, e.g. GB)")]
    UnknownCountry(String),
}

/// ISO 3166-1 alpha-2 country code, upper case, known to the numbering metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    pub fn parse(s: &str) -> Result<Self, NumberError> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(NumberError::UnknownCountry(t.to_string()));
        }
        let c = Country([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]);
        let region = c.region();
        // `Region::from_code` accepts any two letters; only regions with metadata are countries.
        if PHONE_NUMBER_UTIL
            .get_country_code_for_region(region)
            .is_none()
        {
            return Err(NumberError::UnknownCountry(t.to_string()));
        }
        Ok(c)
    }

    /// The code didhub records for non-geographic numbers (+800, +882 …: region 001).
    pub const NON_GEOGRAPHIC: Country = Country(*b"XX");

    /// A country as didhub records it, for filters: a country of the numbering metadata, or
    /// `XX` for non-geographic numbers. (Not a default country: `XX` has no national format.)
    pub fn parse_recorded(s: &str) -> Result<Self, NumberError> {
        if s.trim().eq_ignore_ascii_case(Self::NON_GEOGRAPHIC.as_str()) {
            return Ok(Self::NON_GEOGRAPHIC);
        }
        Self::parse(s)
    }

    pub fn as_str(&self) -> &str {
        // Always two ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }

    fn region(&self) -> Region {
        Region::from_code(self.as_str()).unwrap_or(Region::World)
    }

    /// Every country the numbering metadata knows.
    pub fn all() -> Vec<Country> {
        let mut v: Vec<Country> = PHONE_NUMBER_UTIL
            .get_supported_regions()
            .filter_map(|r| {
                let s = r.as_region_str();
                let b = s.as_bytes();
                (b.len() == 2).then(|| Country([b[0], b[1]]))
            })
            .collect();
        v.sort();
        v
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Country {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Country::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Number type, as libphonenumber names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NumberType {
    FixedLine,
    Mobile,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

impl NumberType {
    pub const ALL: [NumberType; 12] = [
        NumberType::FixedLine,
        NumberType::Mobile,
        NumberType::FixedLineOrMobile,
        NumberType::TollFree,
        NumberType::PremiumRate,
        NumberType::SharedCost,
        NumberType::Voip,
        NumberType::PersonalNumber,
        NumberType::Pager,
        NumberType::Uan,
        NumberType::Voicemail,
        NumberType::Unknown,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            NumberType::FixedLine => "fixed_line",
            NumberType::Mobile => "mobile",
            NumberType::FixedLineOrMobile => "fixed_line_or_mobile",
            NumberType::TollFree => "toll_free",
            NumberType::PremiumRate => "premium_rate",
            NumberType::SharedCost => "shared_cost",
            NumberType::Voip => "voip",
            NumberType::PersonalNumber => "personal_number",
            NumberType::Pager => "pager",
            NumberType::Uan => "uan",
            NumberType::Voicemail => "voicemail",
            NumberType::Unknown => "unknown",
        }
    }

    fn from_engine(t: PhoneNumberType) -> Self {
        match t {
            PhoneNumberType::FixedLine => NumberType::FixedLine,
            PhoneNumberType::Mobile => NumberType::Mobile,
            PhoneNumberType::FixedLineOrMobile => NumberType::FixedLineOrMobile,
            PhoneNumberType::TollFree => NumberType::TollFree,
            PhoneNumberType::PremiumRate => NumberType::PremiumRate,
            PhoneNumberType::SharedCost => NumberType::SharedCost,
            PhoneNumberType::VoIP => NumberType::Voip,
            PhoneNumberType::PersonalNumber => NumberType::PersonalNumber,
            PhoneNumberType::Pager => NumberType::Pager,
            PhoneNumberType::UAN => NumberType::Uan,
            PhoneNumberType::VoiceMail => NumberType::Voicemail,
            PhoneNumberType::Unknown => NumberType::Unknown,
        }
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NumberType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NumberType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown number type '{s}'"))
    }
}

/// A number in E.164 form (`+` and 1 to 15 digits), known valid by the numbering metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct E164(String);

impl E164 {
    /// Parses and validates; the result is canonical E.164.
    pub fn parse(input: &str, default_country: Option<Country>) -> Result<Self, NumberError> {
        classify(input, default_country).map(|c| c.e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Written exactly as E.164 is stored (`+`, a country code's first digit 1–9, at most 15
    /// digits in all): such a string can be looked up as it is, with no parse. Whether it is a
    /// valid number is another question (`parse`).
    pub fn is_canonical_form(s: &str) -> bool {
        let Some(d) = s.strip_prefix('+') else {
            return false;
        };
        (2..=MAX_DIGITS).contains(&d.len())
            && !d.starts_with('0')
            && d.bytes().all(|b| b.is_ascii_digit())
    }

    /// The key a number is looked up by in the inventory (routing): the input parsed, so that
    /// `+44 (0)20 7946 0018` and `+4402079460018` find `+442079460018`; should the parse
    /// refuse a string already in stored form (a number stored before the metadata changed),
    /// that string as it is. Every lookup, API or command line, goes through here, so that
    /// they agree on every input.
    pub fn lookup_key(s: &str) -> Result<String, NumberError> {
        match Self::parse(s, None) {
            Ok(e) => Ok(e.into_string()),
            Err(_) if Self::is_canonical_form(s) => Ok(s.to_string()),
            Err(e) => Err(e),
        }
    }

    /// Digits after the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// A number in stored form as an integer (its digits), for sets of many numbers at 8 bytes
    /// each: exact, since such a number has at most 15 digits and no leading zero. None for
    /// anything else.
    pub fn integer(s: &str) -> Option<u64> {
        if !Self::is_canonical_form(s) {
            return None;
        }
        s[1..].parse().ok()
    }

    /// This number as [`E164::integer`] gives it (a parsed number is always in stored form).
    pub fn as_integer(&self) -> u64 {
        Self::integer(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        E164::parse(&s, None).map_err(serde::de::Error::custom)
    }
}

/// A valid number with its country and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classified {
    pub e164: E164,
    pub country: Country,
    pub number_type: NumberType,
}

/// The outcome of classifying one input, for reports: a number can parse (so has an E.164 form
/// and maybe a country) and still be invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Classification {
    pub input: String,
    pub valid: bool,
    pub e164: Option<String>,
    pub country: Option<String>,
    #[serde(rename = "type")]
    pub number_type: Option<NumberType>,
    pub error: Option<String>,
}

/// Characters a written phone number may carry besides digits and a leading `+`.
fn is_punctuation(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '.' | '-' | '(' | ')' | '[' | ']' | '/' | '\u{a0}' | '\u{2010}'..='\u{2015}'
    )
}

/// Normalises written forms to what the engine parses: strips punctuation and, when no
/// default country is given, turns a leading `00` into `+` and reads a bare digit string as
/// international (how spreadsheets store numbers).
///
/// With a default country the digits go to the engine as they are: it reads an international
/// prefix with that country's `international_prefix` pattern from the metadata, as
/// libphonenumber does (`00` in most of the world, `011` in the US and Canada, `00` and a
/// carrier code in Brazil and Colombia: `0014`, `005`), and anything else, a `00` the
/// country does not dial abroad included, as a national number.
fn normalise(input: &str, default_country: Option<Country>) -> Result<String, NumberError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(NumberError::Empty);
    }
    let mut out = String::with_capacity(t.len() + 1);
    for c in t.chars() {
        if c.is_ascii_digit() {
            out.push(c);
        } else if c == '+' && out.is_empty() {
            // Leading, or after brackets only: "(+44) 20 …", "+(44) …", as libphonenumber reads.
            out.push('+');
        } else if is_punctuation(c) {
            continue;
        } else {
            return Err(NumberError::NotANumber);
        }
    }
    let digits = out.trim_start_matches('+').len();
    if digits == 0 {
        return Err(NumberError::NotANumber);
    }
    if !out.starts_with('+') && default_country.is_none() {
        if let Some(rest) = out.strip_prefix("00") {
            out = format!("+{rest}");
        } else if out.starts_with('0') {
            return Err(NumberError::NeedsCountry);
        } else {
            out.insert(0, '+');
        }
    }
    let limit = if out.starts_with('+') {
        // At most 15 digits, 17 with a trunk prefix kept (`+44 (0)20 …`).
        17
    } else {
        // Digits read with the default country: the engine strips that country's
        // international prefix (which the metadata makes up to 6 digits long) or national
        // prefix and then holds the rest to 17 digits itself. This only bounds the work,
        // as libphonenumber does with its 250-character input limit.
        250
    };
    if out.trim_start_matches('+').len() > limit {
        return Err(NumberError::TooLong);
    }
    Ok(out)
}

thread_local! {
    /// This thread's own engine, when it asked for one with [`use_own_engine`].
    static OWN_ENGINE: std::cell::OnceCell<Option<PhoneNumberUtil>> =
        const { std::cell::OnceCell::new() };
}

/// Gives the calling thread its own metadata engine for the rest of its life; for long-lived
/// threads that classify in bulk (the classify command's workers, an import's decoder).
///
/// Why: the engine's regexes keep their match caches in a pool that serves only the first
/// thread to use it without a lock; every other thread takes a locked stack on each match,
/// which cost a fifth of bulk classification on the shared engine. An engine costs about
/// 40 MB once its regexes have compiled (lazily, on first use), so request handlers stay on
/// the shared one. If the built-in metadata failed to load here (the shared engine would fail
/// the same way), the thread keeps the shared engine.
pub fn use_own_engine() {
    OWN_ENGINE.with(|e| {
        e.get_or_init(|| PhoneNumberUtil::new().ok());
    });
}

/// Runs `f` on this thread's engine: its own if it asked for one, else the shared one.
fn with_engine<R>(f: impl FnOnce(&PhoneNumberUtil) -> R) -> R {
    OWN_ENGINE.with(|e| {
        f(e.get()
            .and_then(Option::as_ref)
            .unwrap_or(&PHONE_NUMBER_UTIL))
    })
}

/// Parses `s` on this thread's engine and answers its E.164 form, engine type and, when the
/// type is known, its region.
fn engine_classify(
    s: &str,
    country: Option<Country>,
) -> Result<(String, PhoneNumberType, Option<Region>), NumberError> {
    use rlibphonenumber::ParseError as P;
    with_engine(|util| {
        let pn = util
            .parse(s, country.map(|c| c.region()))
            .map_err(|e| match e {
                P::InvalidCountryCode => NumberError::InvalidCountryCode,
                P::TooShortAfterIdd | P::TooShortNsn => NumberError::TooShort,
                P::TooLongNsn => NumberError::TooLong,
                // The characters were fine (checked before): the digits are what fails.
                _ => NumberError::NotPossible,
            })?;
        let e164 = util.format(&pn, PhoneNumberFormat::E164).into_owned();
        let t = util.get_number_type(&pn);
        let region = match t {
            PhoneNumberType::Unknown => None,
            _ => util.get_region_for_number(&pn),
        };
        Ok((e164, t, region))
    })
}

/// Parses and classifies one written number. The only entry point to the metadata engine.
pub fn classify(input: &str, default_country: Option<Country>) -> Result<Classified, NumberError> {
    let norm = normalise(input, default_country)?;
    let (e164, engine_type, region) = engine_classify(&norm, default_country)?;
    // libphonenumber's validity is exactly "the number has a type in its region's metadata"
    // (isValidNumberForRegion tests getNumberTypeHelper != UNKNOWN), so one type lookup
    // answers both questions.
    let number_type = NumberType::from_engine(engine_type);
    if number_type == NumberType::Unknown {
        // A spreadsheet may hold an international number without '+' even when a default
        // country is set for the national ones; try that reading before giving up.
        if default_country.is_some() && !norm.starts_with('+') && !norm.starts_with('0') {
            if let Ok(c) = classify(&format!("+{norm}"), None) {
                return Ok(c);
            }
        }
        return Err(NumberError::Invalid(e164));
    }
    let country = region
        .and_then(|r| {
            let s = r.as_region_str();
            let b = s.as_bytes();
            (b.len() == 2).then(|| Country([b[0], b[1]]))
        })
        // Non-geographic numbers (+800, +882 ...) belong to region 001; record them as XX.
        .unwrap_or(Country::NON_GEOGRAPHIC);
    if e164.len() > MAX_DIGITS + 1 {
        return Err(NumberError::TooLong);
    }
    Ok(Classified {
        e164: E164(e164),
        country,
        number_type,
    })
}

/// Like [`classify`] but never fails: the report form used by `numbers classify` and imports.
pub fn classification(input: &str, default_country: Option<Country>) -> Classification {
    match classify(input, default_country) {
        Ok(c) => Classification {
            input: input.to_string(),
            valid: true,
            e164: Some(c.e164.into_string()),
            country: Some(c.country.to_string()),
            number_type: Some(c.number_type),
            error: None,
        },
        Err(e) => {
            let e164 = match &e {
                NumberError::Invalid(s) => Some(s.clone()),
                _ => None,
            };
            Classification {
                input: input.to_string(),
                valid: false,
                e164,
                country: None,
                number_type: None,
                error: Some(e.to_string()),
            }
        }
    }
}

/// A number prefix for searching (`+44 207`, `44207`): `+` and 1 to 15 digits.
pub fn prefix(input: &str) -> Result<String, NumberError> {
    let t = input.trim();
    let mut out = String::from("+");
    for (i, c) in t.chars().enumerate() {
        if c.is_ascii_digit() {
            out.push(c);
        } else if (c == '+' && i == 0) || is_punctuation(c) {
            continue;
        } else {
            return Err(NumberError::NotANumber);
        }
    }
    match out.len() - 1 {
        0 => Err(NumberError::Empty),
        n if n > MAX_DIGITS => Err(NumberError::TooLong),
        _ => Ok(out),
    }
}

/// The smallest string above every string that starts with `prefix` (for range scans).
pub fn prefix_upper_bound(prefix: &str) -> String {
    // Prefixes are '+' and ASCII digits; ':' sorts right after '9'.
    let mut b = prefix.as_bytes().to_vec();
    if let Some(last) = b.last_mut() {
        *last += 1;
    }
    String::from_utf8(b).unwrap_or_default()
}

/// An example number of a type in a country, from the metadata (for tests and fixtures).
pub fn example(country: Country, t: NumberType) -> Option<String> {
    let pt = match t {
        NumberType::FixedLine => PhoneNumberType::FixedLine,
        NumberType::Mobile => PhoneNumberType::Mobile,
        NumberType::TollFree => PhoneNumberType::TollFree,
        NumberType::PremiumRate => PhoneNumberType::PremiumRate,
        NumberType::SharedCost => PhoneNumberType::SharedCost,
        NumberType::Voip => PhoneNumberType::VoIP,
        NumberType::PersonalNumber => PhoneNumberType::PersonalNumber,
        NumberType::Pager => PhoneNumberType::Pager,
        NumberType::Uan => PhoneNumberType::UAN,
        NumberType::Voicemail => PhoneNumberType::VoiceMail,
        _ => return None,
    };
    PHONE_NUMBER_UTIL
        .get_example_number_for_type_and_region(country.region(), pt)
        .ok()
        .map(|n| n.format_as(PhoneNumberFormat::E164).into_owned())
}

/// The country calling code of `country` (44 for GB), from the numbering metadata.
pub fn calling_code(country: Country) -> Option<u32> {
    PHONE_NUMBER_UTIL
        .get_country_code_for_region(country.region())
        .and_then(|c| u32::try_from(c).ok())
}

/// How `number` is dialled from `country`, as libphonenumber writes it (its out-of-country
/// format): after that country's international prefix where the metadata gives one to write
/// (`011 44 …` from the US, `00 44 …` from France), with `+` where it gives none (Brazil's
/// prefix needs a carrier code), in national form within the country. For tests.
pub fn dialled_from(number: &E164, country: Country) -> Option<String> {
    PHONE_NUMBER_UTIL
        .parse(number.as_str(), None)
        .ok()
        .map(|n| {
            n.format_out_of_country_calling_number(country.region())
                .into_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb() -> Option<Country> {
        Some(Country::parse("GB").unwrap())
    }

    #[test]
    fn written_forms_agree() {
        for s in [
            "+442079460018",
            "+44 20 7946 0018",
            "+44.20.7946.0018",
            "+44-20-7946-0018",
            "+44 (0)20 7946 0018",
            "(+44) 20 7946 0018",
            "+(44) 20 7946 0018",
            "[+44] 2079460018",
            "0044 20 7946 0018",
            "442079460018",
        ] {
            let c = classify(s, None).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(c.e164.as_str(), "+442079460018", "{s}");
            assert_eq!(c.country.as_str(), "GB");
            assert_eq!(c.number_type, NumberType::FixedLine);
        }
        let c = classify("020 7946 0018", gb()).unwrap();
        assert_eq!(c.e164.as_str(), "+442079460018");
        let c = classify("07400 123456", gb()).unwrap();
        assert_eq!(c.number_type, NumberType::Mobile);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(classify("", None), Err(NumberError::Empty));
        assert_eq!(
            classify("44 +20 7946 0018", None),
            Err(NumberError::NotANumber)
        );
        assert_eq!(classify("not a number", None), Err(NumberError::NotANumber));
        assert!(matches!(
            classify("12", None),
            Err(NumberError::NotPossible | NumberError::TooShort | NumberError::InvalidCountryCode)
        ));
        assert_eq!(
            classify("020 7946 0018", None),
            Err(NumberError::NeedsCountry)
        );
        assert!(classify("+999 123", None).is_err());
        assert!(classify("+44 1", None).is_err());
        assert!(classify(&"9".repeat(40), None).is_err());
        assert!(matches!(
            classify("+1 212 000 0000", None),
            Err(NumberError::Invalid(_))
        ));
    }

    #[test]
    fn canonical_form() {
        assert!(E164::is_canonical_form("+442079460018"));
        for s in [
            "+",
            "+0123",
            "+4",
            "442079460018",
            "+44 20",
            "+1234567890123456",
            "+44a",
        ] {
            assert!(!E164::is_canonical_form(s), "{s}");
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix("+44 207").unwrap(), "+44207");
        assert_eq!(prefix("44207").unwrap(), "+44207");
        assert!(prefix("44a").is_err());
        assert!(prefix("").is_err());
        assert_eq!(prefix_upper_bound("+44207"), "+44208");
        assert_eq!(prefix_upper_bound("+449"), "+44:");
        assert!("+4499999" < prefix_upper_bound("+449").as_str());
    }

    #[test]
    fn countries() {
        assert_eq!(Country::parse("gb").unwrap().as_str(), "GB");
        assert!(Country::parse("ZZ").is_err());
        assert!(Country::parse("GBR").is_err());
        // XX is what non-geographic numbers are recorded as: a filter value, not a country.
        assert!(Country::parse("XX").is_err());
        assert_eq!(
            Country::parse_recorded("xx").unwrap(),
            Country::NON_GEOGRAPHIC
        );
        assert_eq!(Country::parse_recorded("gb").unwrap().as_str(), "GB");
        assert!(Country::parse_recorded("ZZ").is_err());
        let c = classify("+800 1234 5678", None).unwrap();
        assert_eq!(c.country, Country::NON_GEOGRAPHIC);
        assert!(Country::all().len() > 200);
    }

    #[test]
    fn international_prefix_is_the_default_countrys() {
        let c = |s: &str| Some(Country::parse(s).unwrap());
        let e164 =
            |input: &str, country: &str| classify(input, c(country)).map(|n| n.e164.into_string());
        let gb = Ok("+442079460018".to_string());
        assert_eq!(e164("00 44 20 7946 0018", "FR"), gb);
        assert_eq!(e164("011 44 20 7946 0018", "US"), gb);
        assert_eq!(e164("011 44 20 7946 0018", "CA"), gb);
        assert_eq!(e164("0014 44 20 7946 0018", "BR"), gb);
        assert_eq!(e164("005 44 20 7946 0018", "CO"), gb);
        assert_eq!(e164("00 1 201 555 0123", "GB"), Ok("+12015550123".into()));
        // Not those countries' prefix: the start of a national number, and none is valid.
        for (input, country) in [
            ("0044 20 7946 0018", "US"),
            ("0044 20 7946 0018", "BR"),
            ("0044 20 7946 0018", "CO"),
            ("011 44 20 7946 0018", "GB"),
        ] {
            assert!(
                matches!(classify(input, c(country)), Err(NumberError::Invalid(_))),
                "{input} ({country})"
            );
        }
        // Without a country `00` is the only prefix there is.
        assert_eq!(
            classify("0044 20 7946 0018", None).map(|n| n.e164),
            Ok(E164("+442079460018".into()))
        );
        // However long the prefix, length is still bounded.
        let long = format!("011{}", "4".repeat(30));
        assert_eq!(classify(&long, c("US")), Err(NumberError::TooLong));
        assert_eq!(
            classify(&"0".repeat(300), c("US")),
            Err(NumberError::TooLong)
        );
    }

    #[test]
    fn italian_landline_keeps_its_zero() {
        let c = classify("+39 06 4880 1234", None).unwrap();
        assert_eq!(c.e164.as_str(), "+390648801234");
        assert_eq!(c.country.as_str(), "IT");
        assert_eq!(c.number_type, NumberType::FixedLine);
    }
}
