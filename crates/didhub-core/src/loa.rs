//! The pre-filled letter of authorisation (LOA) of a porting order: the customer, its address
//! and contact, the country and every number to port, for the end user to sign, so that what
//! is signed is what was ordered. A4 pages in DejaVu Sans (compiled in, `data/fonts/`), of
//! which each PDF embeds only the glyphs its text uses; as many pages as the numbers need.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::NaiveDate;
use printpdf::{
    Color, Greyscale, Line, LinePoint, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle,
    PdfPage, PdfSaveOptions, Point, Pt, Rect, TextItem,
};
use serde::{Deserialize, Serialize};

use crate::text::is_unsafe_to_show;

const REGULAR_TTF: &[u8] = include_bytes!("../data/fonts/DejaVuSans.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../data/fonts/DejaVuSans-Bold.ttf");

/// The fonts, parsed once per process (a parse takes tens of milliseconds).
static REGULAR: LazyLock<Option<ParsedFont>> =
    LazyLock::new(|| ParsedFont::from_bytes(REGULAR_TTF, 0, &mut Vec::new()));
static BOLD: LazyLock<Option<ParsedFont>> =
    LazyLock::new(|| ParsedFont::from_bytes(BOLD_TTF, 0, &mut Vec::new()));

/// The customer's address as the order gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaAddress {
    /// Street name and house number.
    pub street: String,
    pub postcode: String,
    pub city: String,
    pub region: Option<String>,
}

/// What the letter says: the order's customer, address, contact, country and numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaData {
    /// The customer (the holder of the numbers) as the order names it.
    pub customer: String,
    pub address: LoaAddress,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    /// ISO 3166 alpha-2.
    pub country: String,
    /// The country's name, printed before its code when given.
    pub country_name: Option<String>,
    /// Every number to port, as ordered.
    pub numbers: Vec<String>,
    /// The date the letter is made for.
    pub date: NaiveDate,
    /// The order it belongs to (its id), printed so that a signed letter can be matched.
    pub reference: Option<String>,
}

// A4 in points, and the layout.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const TOP: f32 = PAGE_H - MARGIN;
/// The lowest baseline of body text; the footer sits below it.
const BOTTOM: f32 = 72.0;
const BODY: f32 = 10.0;
const LEADING: f32 = 14.0;
const VALUE_X: f32 = MARGIN + 110.0;
const COLUMNS: usize = 3;
const ROW: f32 = 13.0;
/// The height the signature block needs below the last number.
const SIGNATURE_H: f32 = 190.0;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Face {
    Regular,
    Bold,
}

enum Item {
    Text {
        face: Face,
        size: f32,
        x: f32,
        y: f32,
        text: String,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

/// The pages being laid out.
struct Layout {
    pages: Vec<Vec<Item>>,
    /// The baseline of the next line.
    y: f32,
}

fn font(face: Face) -> Option<&'static ParsedFont> {
    match face {
        Face::Regular => REGULAR.as_ref(),
        Face::Bold => BOLD.as_ref(),
    }
}

/// The width of `s` in points.
fn width(face: Face, size: f32, s: &str) -> f32 {
    let Some(f) = font(face) else {
        return s.chars().count() as f32 * size * 0.6;
    };
    let fallback = f.lookup_glyph_index('?' as u32).unwrap_or(0);
    let units: f32 = s
        .chars()
        .map(|c| {
            let g = f.lookup_glyph_index(c as u32).unwrap_or(fallback);
            f32::from(f.get_glyph_width(g).unwrap_or(0))
        })
        .sum();
    units / f32::from(f.units_per_em.max(1)) * size
}

/// Text as printed: what would act on a reader instead of showing (controls, bidirectional
/// overrides) becomes a space, and runs of spaces one.
fn clean(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| if is_unsafe_to_show(c) { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `s` in lines no wider than `max` points: at spaces where it can, inside a word that is
/// wider than a line by itself.
fn wrap(face: Face, size: f32, s: &str, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let candidate = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if width(face, size, &candidate) <= max {
            cur = candidate;
            continue;
        }
        if !cur.is_empty() {
            lines.push(std::mem::take(&mut cur));
        }
        for c in word.chars() {
            cur.push(c);
            if width(face, size, &cur) > max && cur.chars().count() > 1 {
                cur.pop();
                lines.push(std::mem::replace(&mut cur, c.to_string()));
            }
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

impl Layout {
    fn new() -> Layout {
        Layout {
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    fn page(&mut self) -> &mut Vec<Item> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn text(&mut self, face: Face, size: f32, x: f32, y: f32, text: impl Into<String>) {
        let text = text.into();
        if !text.is_empty() {
            self.page().push(Item::Text {
                face,
                size,
                x,
                y,
                text,
            });
        }
    }

    /// A new page, headed by a line naming the letter and its customer.
    fn new_page(&mut self, d: &LoaData) {
        self.pages.push(Vec::new());
        self.y = TOP;
        let head = format!(
            "Letter of Authorisation · {} (continued)",
            clean(&d.customer)
        );
        for line in wrap(Face::Regular, 8.0, &head, PAGE_W - 2.0 * MARGIN) {
            self.text(Face::Regular, 8.0, MARGIN, self.y, line);
            self.y -= 11.0;
        }
        self.y -= 10.0;
    }

    /// Makes room for `h` points, on a new page if this one has not got them.
    fn room(&mut self, h: f32, d: &LoaData) {
        if self.y - h < BOTTOM {
            self.new_page(d);
        }
    }

    /// A label and its value (wrapped, one value per line given).
    fn field(&mut self, d: &LoaData, label: &str, values: &[String]) {
        let values: Vec<String> = values
            .iter()
            .map(|v| clean(v))
            .filter(|v| !v.is_empty())
            .collect();
        let values = if values.is_empty() {
            vec!["—".to_string()]
        } else {
            values
        };
        let mut lines = Vec::new();
        for v in &values {
            lines.extend(wrap(Face::Regular, BODY, v, PAGE_W - MARGIN - VALUE_X));
        }
        self.room(LEADING * lines.len() as f32, d);
        self.text(Face::Bold, BODY, MARGIN, self.y, label);
        for l in lines {
            self.text(Face::Regular, BODY, VALUE_X, self.y, l);
            self.y -= LEADING;
        }
        self.y -= 2.0;
    }

    fn paragraph(&mut self, d: &LoaData, s: &str) {
        for l in wrap(Face::Regular, BODY, s, PAGE_W - 2.0 * MARGIN) {
            self.room(LEADING, d);
            self.text(Face::Regular, BODY, MARGIN, self.y, l);
            self.y -= LEADING;
        }
    }

    /// Every number, numbered, in columns down each page.
    fn numbers(&mut self, d: &LoaData) {
        let col_w = (PAGE_W - 2.0 * MARGIN) / COLUMNS as f32;
        let mut i = 0;
        while i < d.numbers.len() {
            self.room(ROW, d);
            let rows = (((self.y - BOTTOM) / ROW).floor() as usize + 1).max(1);
            let on_page = (rows * COLUMNS).min(d.numbers.len() - i);
            let rows_used = on_page.div_ceil(COLUMNS);
            // Down the first column, then the next: the order reads as listed.
            for k in 0..on_page {
                let (col, row) = (k / rows_used, k % rows_used);
                let x = MARGIN + col as f32 * col_w;
                let y = self.y - row as f32 * ROW;
                let n = i + k + 1;
                let label = format!("{n}.");
                let lw = width(Face::Regular, 8.0, &label);
                self.text(Face::Regular, 8.0, x + 30.0 - lw, y, label);
                self.text(Face::Regular, BODY, x + 34.0, y, clean(&d.numbers[i + k]));
            }
            i += on_page;
            self.y -= rows_used as f32 * ROW;
            if i < d.numbers.len() {
                self.new_page(d);
            }
        }
        if d.numbers.is_empty() {
            self.text(Face::Regular, BODY, MARGIN, self.y, "(none)");
            self.y -= ROW;
        }
    }

    fn signature(&mut self, d: &LoaData) {
        self.y -= 16.0;
        self.room(SIGNATURE_H, d);
        self.text(
            Face::Bold,
            12.0,
            MARGIN,
            self.y,
            "Signature of the customer",
        );
        self.y -= 26.0;
        for label in ["Name", "Position", "Place and date"] {
            self.text(Face::Regular, BODY, MARGIN, self.y, label);
            let y1 = self.y - 2.0;
            self.page().push(Item::Line {
                x1: VALUE_X,
                y1,
                x2: PAGE_W - MARGIN,
            });
            self.y -= 26.0;
        }
        let h = 80.0;
        let y = self.y - h + 10.0;
        self.page().push(Item::Rect {
            x: VALUE_X,
            y,
            w: 260.0,
            h,
        });
        self.text(Face::Regular, BODY, MARGIN, self.y, "Signature");
        self.text(
            Face::Regular,
            7.0,
            MARGIN,
            self.y - 11.0,
            "(and company stamp)",
        );
        self.y -= h;
    }

    /// The footer of every page, now that their number is known.
    fn footers(&mut self, d: &LoaData) {
        let n = self.pages.len();
        let mut who = clean(&d.customer);
        if who.chars().count() > 60 {
            who = who.chars().take(59).collect::<String>() + "…";
        }
        for (i, page) in self.pages.iter_mut().enumerate() {
            let text = format!(
                "{who} · Letter of Authorisation · {} · Page {} of {n}",
                d.date,
                i + 1
            );
            page.push(Item::Text {
                face: Face::Regular,
                size: 8.0,
                x: MARGIN,
                y: 36.0,
                text,
            });
        }
    }
}

fn lay_out(d: &LoaData) -> Layout {
    let mut l = Layout::new();
    l.text(Face::Bold, 18.0, MARGIN, l.y, "Letter of Authorisation");
    l.y -= 20.0;
    l.text(
        Face::Regular,
        11.0,
        MARGIN,
        l.y,
        "for the porting of telephone numbers",
    );
    l.y -= 30.0;
    let a = &d.address;
    let country = match d.country_name.as_deref().map(clean) {
        Some(name) if !name.is_empty() => format!("{name} ({})", clean(&d.country)),
        _ => clean(&d.country),
    };
    l.field(d, "Customer", std::slice::from_ref(&d.customer));
    l.field(
        d,
        "Address",
        &[
            a.street.clone(),
            format!("{} {}", a.postcode, a.city),
            a.region.clone().unwrap_or_default(),
        ],
    );
    l.field(d, "Country", &[country]);
    l.field(
        d,
        "Contact",
        &[
            d.contact_name.clone().unwrap_or_default(),
            d.contact_email.clone().unwrap_or_default(),
            d.contact_phone.clone().unwrap_or_default(),
        ],
    );
    if let Some(r) = &d.reference {
        l.field(d, "Order", std::slice::from_ref(r));
    }
    l.field(d, "Date", &[d.date.to_string()]);
    l.y -= 8.0;
    let count = d.numbers.len();
    let which = if count == 1 {
        "the telephone number listed below".to_string()
    } else {
        format!("each of the {count} telephone numbers listed below")
    };
    l.paragraph(
        d,
        &format!(
            "I, the undersigned, acting for the customer named above and entitled to do so, \
             request and authorise the porting of {which} from their current operator to the \
             new provider, and the end of the current operator's service for these numbers once \
             they are ported. I confirm that the customer holds the right to use these numbers \
             and that the details above are correct."
        ),
    );
    l.y -= 12.0;
    l.room(LEADING + ROW, d);
    l.text(
        Face::Bold,
        12.0,
        MARGIN,
        l.y,
        format!("Numbers to port ({count})"),
    );
    l.y -= 20.0;
    l.numbers(d);
    l.signature(d);
    l.footers(d);
    l
}

/// A font of only the glyphs `chars` need (glyph 0 first, as a font must have it), with the
/// character map and widths to go with the new glyph numbers.
fn subset(full: &ParsedFont, bytes: &[u8], chars: &BTreeSet<char>) -> Option<ParsedFont> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::subset::{subset, CmapTarget, SubsetProfile};
    let mut ids = vec![0u16];
    let mut at: BTreeMap<u16, u16> = BTreeMap::new();
    let mut map = BTreeMap::new();
    for c in chars {
        let Some(g) = full.lookup_glyph_index(*c as u32).filter(|g| *g != 0) else {
            continue;
        };
        let new = *at.entry(g).or_insert_with(|| {
            ids.push(g);
            (ids.len() - 1) as u16
        });
        map.insert(*c as u32, new);
    }
    let widths = ids
        .iter()
        .enumerate()
        .map(|(new, old)| (new as u16, full.get_glyph_width(*old).unwrap_or(0)))
        .collect();
    let data = ReadScope::new(bytes).read::<FontData<'_>>().ok()?;
    let provider = data.table_provider(0).ok()?;
    let program = subset(
        &provider,
        &ids,
        &SubsetProfile::Pdf,
        CmapTarget::Unrestricted,
    )
    .ok()?;
    let mut f = full.clone();
    f.original_bytes = program;
    f.codepoint_to_glyph = map;
    f.glyph_widths = widths;
    Some(f)
}

/// The letter of authorisation for `d`, as PDF bytes: the customer, address, contact,
/// country, the date and reference, every number (numbered, three columns, as many pages as
/// they need) and a signature block, with "Page i of n" on every page.
pub fn loa_pdf(d: &LoaData) -> Vec<u8> {
    let layout = lay_out(d);
    let mut chars: BTreeMap<Face, BTreeSet<char>> = BTreeMap::new();
    for page in &layout.pages {
        for item in page {
            if let Item::Text { face, text, .. } = item {
                chars.entry(*face).or_default().extend(text.chars());
            }
        }
    }
    let mut doc = PdfDocument::new("Letter of Authorisation");
    doc.metadata.info.subject = clean(&d.customer);
    doc.metadata.info.creator = "didhub".into();
    doc.metadata.info.producer = "didhub".into();
    let mut handles: BTreeMap<Face, PdfFontHandle> = BTreeMap::new();
    for (face, bytes) in [(Face::Regular, REGULAR_TTF), (Face::Bold, BOLD_TTF)] {
        let (Some(full), Some(cs)) = (font(face), chars.get(&face)) else {
            continue;
        };
        // Should subsetting ever fail, the whole font goes in: larger, never wrong.
        let f = subset(full, bytes, cs).unwrap_or_else(|| full.clone());
        handles.insert(face, PdfFontHandle::External(doc.add_font(&f)));
    }
    let builtin = |face| match face {
        Face::Regular => PdfFontHandle::Builtin(printpdf::BuiltinFont::Helvetica),
        Face::Bold => PdfFontHandle::Builtin(printpdf::BuiltinFont::HelveticaBold),
    };
    let pt = |x: f32, y: f32| Point { x: Pt(x), y: Pt(y) };
    let pages = layout
        .pages
        .into_iter()
        .map(|items| {
            let mut ops = vec![
                Op::SetOutlineColor {
                    col: Color::Greyscale(Greyscale::new(0.0, None)),
                },
                Op::SetOutlineThickness { pt: Pt(0.7) },
            ];
            for item in items {
                match item {
                    Item::Text {
                        face,
                        size,
                        x,
                        y,
                        text,
                    } => ops.extend([
                        Op::StartTextSection,
                        Op::SetFont {
                            font: handles.get(&face).cloned().unwrap_or_else(|| builtin(face)),
                            size: Pt(size),
                        },
                        Op::SetTextCursor { pos: pt(x, y) },
                        Op::ShowText {
                            items: vec![TextItem::Text(text)],
                        },
                        Op::EndTextSection,
                    ]),
                    Item::Line { x1, y1, x2 } => ops.push(Op::DrawLine {
                        line: Line {
                            points: [pt(x1, y1), pt(x2, y1)]
                                .into_iter()
                                .map(|p| LinePoint { p, bezier: false })
                                .collect(),
                            is_closed: false,
                        },
                    }),
                    Item::Rect { x, y, w, h } => ops.push(Op::DrawRectangle {
                        rectangle: Rect {
                            mode: Some(PaintMode::Stroke),
                            ..Rect::from_xywh(Pt(x), Pt(y), Pt(w), Pt(h))
                        },
                    }),
                }
            }
            PdfPage::new(Pt(PAGE_W).into(), Pt(PAGE_H).into(), ops)
        })
        .collect();
    doc.with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_and_text_wrap_within_the_width() {
        let s = "a ".repeat(200) + &"x".repeat(300);
        let lines = wrap(Face::Regular, BODY, &s, 200.0);
        assert!(lines.len() > 3);
        for l in &lines {
            assert!(width(Face::Regular, BODY, l) <= 200.0, "{l}");
        }
        assert_eq!(lines.concat().replace(' ', ""), s.replace(' ', ""));
        assert_eq!(wrap(Face::Regular, BODY, "", 100.0), vec![String::new()]);
    }

    #[test]
    fn printed_text_has_no_controls() {
        assert_eq!(clean("Acme\u{202e} Ltd\n\tA"), "Acme Ltd A");
    }

    #[test]
    fn the_fonts_parse() {
        assert!(REGULAR.is_some() && BOLD.is_some());
    }
}
