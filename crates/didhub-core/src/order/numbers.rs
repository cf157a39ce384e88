//! The numbers of an order (porting and outbound only): written internationally, of the
//! order's country, each once, and presentable where they are to be presented.

use std::collections::HashSet;

use super::{OrderBody, Problems};
use crate::catalog::Service;
use crate::number::{classify, Country, NumberType};

/// An order's number in international form: `+…` as it is, `00…` read as `+…`; `None` for a
/// national number (an order names numbers of any country, so none is assumed).
fn international(t: &str) -> Option<String> {
    match t.strip_prefix("00") {
        Some(rest) => Some(format!("+{rest}")),
        None if t.starts_with('+') => Some(t.to_string()),
        None => None,
    }
}

/// At most this many numbers in one order.
pub const MAX_NUMBERS: usize = 10_000;

/// Number types that may not be presented as an outbound-only DID (the seed: no emergency,
/// toll-free or short-code calls; mobile numbers may not be presented).
const NOT_PRESENTABLE: [NumberType; 7] = [
    NumberType::Mobile,
    NumberType::TollFree,
    NumberType::PremiumRate,
    NumberType::SharedCost,
    NumberType::Pager,
    NumberType::PersonalNumber,
    NumberType::Voicemail,
];

/// An order's number as E.164 (`00…` read as `+…`), or `None` where the check refuses it.
pub fn normalise_number(n: &str) -> Option<String> {
    let international = international(n.trim())?;
    classify(&international, None)
        .ok()
        .map(|cl| cl.e164.as_str().to_string())
}

pub(super) fn check_numbers(p: &mut Problems, o: &OrderBody, s: Service, c: Country) {
    let Some(numbers) = &o.numbers else {
        return;
    };
    if !matches!(s, Service::FullPorting | Service::OutboundOnly) {
        p.add(
            "numbers",
            "not_allowed",
            format!("numbers are given for porting or outbound only, not {s}"),
        );
        return;
    }
    if numbers.is_empty() {
        p.add("numbers", "required", "give at least one number");
        return;
    }
    if numbers.len() > MAX_NUMBERS {
        p.add(
            "numbers",
            "invalid",
            format!(
                "at most {MAX_NUMBERS} numbers an order, not {}",
                numbers.len()
            ),
        );
        return;
    }
    let mut seen: HashSet<String> = HashSet::new();
    for (i, n) in numbers.iter().enumerate() {
        let field = format!("numbers[{i}]");
        let t = n.trim();
        let Some(international) = international(t) else {
            p.add(
                field,
                "not_international",
                format!("'{t}' is not in international format (+ or 00)"),
            );
            continue;
        };
        let cl = match classify(&international, None) {
            Ok(cl) => cl,
            Err(e) => {
                p.add(field, "invalid", format!("'{t}': {e}"));
                continue;
            }
        };
        if cl.country != c {
            p.add(
                field,
                "wrong_country",
                format!(
                    "{} is a number of {}, not {c}",
                    cl.e164.as_str(),
                    cl.country
                ),
            );
            continue;
        }
        if !seen.insert(cl.e164.as_str().to_string()) {
            p.add(
                field,
                "duplicate",
                format!("{} is already in this order", cl.e164.as_str()),
            );
            continue;
        }
        if s == Service::OutboundOnly && NOT_PRESENTABLE.contains(&cl.number_type) {
            p.add(
                field,
                "not_allowed",
                format!(
                    "{} is a {} number, which cannot be presented for outbound calls",
                    cl.e164.as_str(),
                    cl.number_type.as_str().replace('_', " ")
                ),
            );
        }
    }
}
