//! The letter of authorisation, read back as a PDF reader reads it: every number ordered is on
//! it, with the customer, address, contact, country and date.

use chrono::NaiveDate;
use didhub_core::documents::{loa_pdf, ContentType, LoaAddress, LoaData};

fn data(numbers: Vec<String>) -> LoaData {
    LoaData {
        customer: "Müller & Søn Ltd — Łódź branch".into(),
        address: LoaAddress {
            street: "Via dei Mille 12".into(),
            postcode: "00185".into(),
            city: "Roma".into(),
            region: Some("Lazio".into()),
        },
        contact_name: Some("Zoë Παπαδοπούλου".into()),
        contact_email: Some("zoe@example.com".into()),
        contact_phone: Some("+39 06 1234 5678".into()),
        country: "IT".into(),
        country_name: Some("Italy".into()),
        numbers,
        date: NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
        reference: Some("0196a3c2-7a1e-7c4e-9d1a-2f6b3c4d5e6f".into()),
    }
}

/// The text of every page, in page order, and the page count.
fn read_back(pdf: &[u8]) -> (String, usize) {
    let doc = lopdf::Document::load_mem(pdf).expect("a PDF that a reader opens");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).expect("text");
    (text, pages.len())
}

#[test]
fn every_one_of_2500_numbers_is_on_the_letter() {
    let numbers: Vec<String> = (0..2500).map(|i| format!("+390612{i:06}")).collect();
    let pdf = loa_pdf(&data(numbers.clone()));
    assert_eq!(ContentType::sniff(&pdf), Some(ContentType::Pdf));
    let (text, pages) = read_back(&pdf);
    assert!(pages > 5, "2,500 numbers take several pages, not {pages}");
    let words: std::collections::HashSet<&str> = text.split_whitespace().collect();
    let missing: Vec<&String> = numbers
        .iter()
        .filter(|n| !words.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        missing.first()
    );
    for expected in [
        "Müller & Søn Ltd — Łódź branch",
        "Via dei Mille 12",
        "00185 Roma",
        "Lazio",
        "Italy (IT)",
        "Zoë Παπαδοπούλου",
        "zoe@example.com",
        "+39 06 1234 5678",
        "2026-03-09",
        "0196a3c2-7a1e-7c4e-9d1a-2f6b3c4d5e6f",
        "Numbers to port (2500)",
        "each of the 2500 telephone numbers",
        "Signature of the customer",
        &format!("Page {pages} of {pages}"),
    ] {
        assert!(text.contains(expected), "'{expected}' is not on the letter");
    }
    // Only the glyphs used are embedded: a letter is tens of kilobytes, not the whole fonts.
    assert!(pdf.len() < 400_000, "{} bytes", pdf.len());
}

#[test]
fn one_number_fits_one_page() {
    let pdf = loa_pdf(&data(vec!["+390612345678".into()]));
    let (text, pages) = read_back(&pdf);
    assert_eq!(pages, 1);
    assert!(text.contains("+390612345678"));
    assert!(text.contains("the telephone number listed below"));
    assert!(text.contains("Page 1 of 1"));
}

#[test]
fn what_is_missing_or_hostile_still_makes_a_letter() {
    let d = LoaData {
        customer: format!(
            "{}\u{202e}\u{1b}[2J",
            "A very long customer name ".repeat(20)
        ),
        numbers: vec![],
        date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        ..Default::default()
    };
    let (text, _) = read_back(&loa_pdf(&d));
    assert!(text.contains("Numbers to port (0)"));
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
}
