//! Documents: what kinds there are, which contents are accepted (judged by the bytes, never by
//! the name a client gives), the size limit, the name shown and sent back, and where a content
//! is kept (content-addressed). The store applies these; the pre-filled letter of
//! authorisation is [`loa_pdf`] (module `loa`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::text::is_unsafe_to_show;

pub use crate::loa::{loa_pdf, LoaAddress, LoaData};

/// What a document is for. Orders carry `loa`, `invoice`, `agreement` and `other`; the
/// support desk's tickets carry `attachment`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Letter of authorisation (porting).
    Loa,
    /// The last invoice of the current operator (porting).
    Invoice,
    /// A signed agreement.
    Agreement,
    Other,
    /// A file attached to a support ticket.
    Attachment,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::Loa,
        DocumentKind::Invoice,
        DocumentKind::Agreement,
        DocumentKind::Other,
        DocumentKind::Attachment,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DocumentKind::Loa => "loa",
            DocumentKind::Invoice => "invoice",
            DocumentKind::Agreement => "agreement",
            DocumentKind::Other => "other",
            DocumentKind::Attachment => "attachment",
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown document kind '{}' (expected loa, invoice, agreement, other or \
                     attachment)",
                    shown(s)
                )
            })
    }
}

/// What a document is attached to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[schema(as = DocumentSubjectKind)]
pub enum SubjectKind {
    Order,
    Ticket,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 2] = [SubjectKind::Order, SubjectKind::Ticket];

    pub fn as_str(&self) -> &'static str {
        match self {
            SubjectKind::Order => "order",
            SubjectKind::Ticket => "ticket",
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubjectKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubjectKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown subject kind '{}' (expected order or ticket)",
                    shown(s)
                )
            })
    }
}

/// The contents accepted, each recognised by its first bytes (its "magic number", as the
/// format's specification gives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `%PDF-` (ISO 32000-1, 7.5.2).
    Pdf,
    /// `89 50 4E 47 0D 0A 1A 0A` (PNG specification, 5.2).
    Png,
    /// `FF D8 FF`: the start-of-image marker and the next marker's first byte (JPEG, T.81 B.1).
    Jpeg,
    /// `PK 03 04`, a local file header, or `PK 05 06`, the end record of an empty archive
    /// (APPNOTE 4.3.7, 4.3.16). Office files (DOCX, XLSX, ODT) are ZIP archives and come as
    /// ZIP.
    Zip,
}

impl ContentType {
    pub const ALL: [ContentType; 4] = [
        ContentType::Pdf,
        ContentType::Png,
        ContentType::Jpeg,
        ContentType::Zip,
    ];

    /// The media type sent back with the content.
    pub fn mime(&self) -> &'static str {
        match self {
            ContentType::Pdf => "application/pdf",
            ContentType::Png => "image/png",
            ContentType::Jpeg => "image/jpeg",
            ContentType::Zip => "application/zip",
        }
    }

    /// The extension a file name without one gets.
    pub fn extension(&self) -> &'static str {
        match self {
            ContentType::Pdf => "pdf",
            ContentType::Png => "png",
            ContentType::Jpeg => "jpg",
            ContentType::Zip => "zip",
        }
    }

    pub fn from_mime(m: &str) -> Option<ContentType> {
        ContentType::ALL.into_iter().find(|c| c.mime() == m)
    }

    /// The type of a content, from its first bytes; `None` for anything else.
    pub fn sniff(bytes: &[u8]) -> Option<ContentType> {
        if bytes.starts_with(b"%PDF-") {
            Some(ContentType::Pdf)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ContentType::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ContentType::Jpeg)
        } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(ContentType::Zip)
        } else {
            None
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
    }
}

/// The size limit of a document unless configured (`--max-document-bytes`): 10 MiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 10 * 1024 * 1024;
/// The largest limit that may be configured: an upload is held in memory while it is checked.
pub const MAX_DOCUMENT_BYTES_CEILING: u64 = 128 * 1024 * 1024;

/// Why a document is refused. Each names the file as the client called it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("'{0}' is empty")]
    Empty(String),
    #[error(
        "'{name}' is not a PDF, PNG, JPEG or ZIP file (judged by its content, not its name; \
         it starts with {start})"
    )]
    Unsupported { name: String, start: String },
    #[error("'{name}' is {} bytes, over the limit of {max} bytes ({})", .size, mib(*.max))]
    TooLarge { name: String, size: u64, max: u64 },
}

fn mib(n: u64) -> String {
    let m = n as f64 / (1024.0 * 1024.0);
    if m.fract() == 0.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.1} MiB")
    }
}

/// A refused name or value as an error message shows it: its first 100 characters, with
/// control and bidirectional characters escaped.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(100).collect();
    crate::text::escape(&cut).into_owned()
}

/// Up to the first 8 bytes, as hex, for an error message.
fn start_of(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("the bytes {}", hex.join(" "))
}

/// Checks a document before anything of it is kept: not empty, within `max` bytes, and of an
/// accepted type. The type it answers is the one the content shows.
pub fn check(name: &str, size: u64, first: &[u8], max: u64) -> Result<ContentType, DocumentError> {
    let name = shown(name);
    if size > max {
        return Err(DocumentError::TooLarge { name, size, max });
    }
    if size == 0 {
        return Err(DocumentError::Empty(name));
    }
    ContentType::sniff(first).ok_or_else(|| DocumentError::Unsupported {
        name,
        start: start_of(first),
    })
}

/// Longest file name kept, in characters.
pub const MAX_FILE_NAME: usize = 120;
/// Longest extension kept whole when a name is cut.
const MAX_EXTENSION: usize = 10;

/// A client's file name made safe to show and to send back: its last path component only, no
/// control or bidirectional characters, none of `"*:<>?|` (which file systems or the
/// `Content-Disposition` header refuse), no dots or spaces at either end, at most
/// [`MAX_FILE_NAME`] characters (the extension kept). A name with nothing left becomes
/// `document`, and a name without an extension gets the one of its content.
pub fn file_name(raw: &str, ct: ContentType) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !is_unsafe_to_show(*c))
        .map(|c| match c {
            '"' | '*' | ':' | '<' | '>' | '?' | '|' => '_',
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c == ' ');
    let mut name = if trimmed.is_empty() {
        "document".to_string()
    } else {
        trimmed.to_string()
    };
    if extension(&name).is_none() {
        name = format!("{name}.{}", ct.extension());
    }
    cut(&name)
}

/// The extension of a name (after its last dot), if it has a short one.
fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    let ok = !stem.is_empty()
        && !ext.is_empty()
        && ext.chars().count() <= MAX_EXTENSION
        && !ext.contains(' ');
    ok.then_some(ext)
}

/// A name cut to [`MAX_FILE_NAME`] characters, keeping its extension.
fn cut(name: &str) -> String {
    if name.chars().count() <= MAX_FILE_NAME {
        return name.to_string();
    }
    match extension(name) {
        Some(ext) => {
            let keep = MAX_FILE_NAME - ext.chars().count() - 1;
            let stem: String = name.chars().take(keep).collect();
            let stem = stem.trim_end_matches(['.', ' ']);
            format!("{stem}.{ext}")
        }
        None => name.chars().take(MAX_FILE_NAME).collect(),
    }
}

/// The `Content-Disposition` value that makes a client save the content under `name` (a name
/// from [`file_name`]) rather than show it: `attachment`, an ASCII `filename` for old clients
/// and the exact name as `filename*` (RFC 6266, RFC 8187). Visible ASCII only, so it is
/// always a valid header value.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        // RFC 8187's attr-char.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Where a content is kept, from the hex SHA-256 of its bytes: `sha256/ab/cd/abcd…`. The same
/// content always has the same key, so it is kept once; two levels of folders keep any one
/// folder small.
pub fn object_key(sha256_hex: &str) -> String {
    let h = sha256_hex.to_ascii_lowercase();
    let (a, b) = (h.get(0..2).unwrap_or("00"), h.get(2..4).unwrap_or("00"));
    format!("sha256/{a}/{b}/{h}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_type_is_known_by_its_first_bytes() {
        assert_eq!(ContentType::sniff(b"%PDF-1.7\n"), Some(ContentType::Pdf));
        assert_eq!(
            ContentType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ContentType::Png)
        );
        assert_eq!(
            ContentType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F']),
            Some(ContentType::Jpeg)
        );
        assert_eq!(
            ContentType::sniff(b"PK\x03\x04\x14\0"),
            Some(ContentType::Zip)
        );
        assert_eq!(
            ContentType::sniff(b"PK\x05\x06\0\0"),
            Some(ContentType::Zip)
        );
        for other in [
            &b"GIF89a"[..],
            b"<html>",
            b"MZ\x90\0",
            b"\x7fELF",
            b"%PD",
            b"hello.pdf",
            b"\xD0\xCF\x11\xE0",
            b"",
        ] {
            assert_eq!(ContentType::sniff(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_file_and_why() {
        let e = check("photo.gif", 6, b"GIF89a", 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'photo.gif' is not a PDF, PNG, JPEG or ZIP file (judged by its content, not its \
             name; it starts with the bytes 47 49 46 38 39 61)"
        );
        let e = check(
            "big.pdf",
            11 * 1024 * 1024,
            b"%PDF-",
            DEFAULT_MAX_DOCUMENT_BYTES,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "'big.pdf' is 11534336 bytes, over the limit of 10485760 bytes (10 MiB)"
        );
        assert_eq!(
            check("x.pdf", 0, b"", 10).unwrap_err(),
            DocumentError::Empty("x.pdf".into())
        );
        // A name full of escapes is shown escaped.
        let e = check("a\u{1b}[2Jb", 3, b"abc", 10).unwrap_err().to_string();
        assert!(e.contains("a\\u{1b}[2Jb"), "{e}");
        // Exactly the limit is fine.
        assert_eq!(
            check("x.png", 10, b"\x89PNG\r\n\x1a\n", 10),
            Ok(ContentType::Png)
        );
    }

    #[test]
    fn kinds_read_and_write_alike() {
        for k in DocumentKind::ALL {
            assert_eq!(k.as_str().parse::<DocumentKind>(), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        let e = "passport".parse::<DocumentKind>().unwrap_err();
        assert!(
            e.contains("'passport'") && e.contains("loa, invoice"),
            "{e}"
        );
        for k in SubjectKind::ALL {
            assert_eq!(k.as_str().parse::<SubjectKind>(), Ok(k));
        }
        assert!("invoice".parse::<SubjectKind>().is_err());
    }

    #[test]
    fn names_are_made_safe() {
        let pdf = ContentType::Pdf;
        assert_eq!(file_name("loa.pdf", pdf), "loa.pdf");
        assert_eq!(
            file_name("C:\\Users\\me\\LOA signed.pdf", pdf),
            "LOA signed.pdf"
        );
        assert_eq!(file_name("../../etc/passwd", pdf), "passwd.pdf");
        assert_eq!(file_name("..", pdf), "document.pdf");
        assert_eq!(file_name("", ContentType::Png), "document.png");
        assert_eq!(file_name("scan", ContentType::Jpeg), "scan.jpg");
        assert_eq!(
            file_name("a\"b*c:d<e>f?g|h.zip", pdf),
            "a_b_c_d_e_f_g_h.zip"
        );
        assert_eq!(file_name("evil\u{202e}fdp.exe", pdf), "evilfdp.exe");
        assert_eq!(file_name("line\nbreak\t.pdf", pdf), "linebreak.pdf");
        assert_eq!(file_name("  .hidden.pdf. ", pdf), "hidden.pdf");
        assert_eq!(
            file_name("Facture été 2026.pdf", pdf),
            "Facture été 2026.pdf"
        );
        let long = format!("{}.pdf", "x".repeat(500));
        let cut = file_name(&long, pdf);
        assert_eq!(cut.chars().count(), MAX_FILE_NAME);
        assert!(cut.ends_with("xx.pdf"));
    }

    #[test]
    fn the_disposition_carries_the_exact_name() {
        assert_eq!(
            content_disposition("loa.pdf"),
            "attachment; filename=\"loa.pdf\"; filename*=UTF-8''loa.pdf"
        );
        assert_eq!(
            content_disposition("Facture été.pdf"),
            "attachment; filename=\"Facture _t_.pdf\"; \
             filename*=UTF-8''Facture%20%C3%A9t%C3%A9.pdf"
        );
    }

    #[test]
    fn keys_are_content_addresses() {
        let h = "ab".repeat(32);
        assert_eq!(object_key(&h), format!("sha256/ab/ab/{h}"));
        assert_eq!(
            object_key("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
            "sha256/e3/b0/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// Decodes `filename*`'s percent-encoding.
    fn decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn any_name_comes_out_safe(raw in "\\PC{0,300}|[\\x00-\\x7f]{0,300}") {
            for ct in ContentType::ALL {
                let n = file_name(&raw, ct);
                prop_assert!(!n.is_empty());
                prop_assert!(n.chars().count() <= MAX_FILE_NAME, "{n}");
                prop_assert!(!n.chars().any(is_unsafe_to_show), "{n:?}");
                prop_assert!(!n.contains(['/', '\\', '"', '*', ':', '<', '>', '?', '|']), "{n:?}");
                prop_assert!(!n.starts_with(['.', ' ']) && !n.ends_with(['.', ' ']), "{n:?}");
                prop_assert!(extension(&n).is_some(), "{n:?}");
                // Made safe once, it stays as it is.
                prop_assert_eq!(file_name(&n, ct), n.clone());
                let d = content_disposition(&n);
                prop_assert!(d.bytes().all(|b| (b' '..=b'~').contains(&b)), "{d}");
                let exact = d.split("filename*=UTF-8''").nth(1).unwrap();
                prop_assert_eq!(decode(exact), n.as_bytes().to_vec());
            }
        }

        #[test]
        fn only_the_four_types_pass(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let size = bytes.len() as u64;
            match check("f", size, &bytes, 64) {
                Ok(ct) => prop_assert_eq!(ContentType::sniff(&bytes), Some(ct)),
                Err(DocumentError::Empty(_)) => prop_assert!(bytes.is_empty()),
                Err(DocumentError::Unsupported { .. }) => {
                    prop_assert!(ContentType::sniff(&bytes).is_none())
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }

        #[test]
        fn over_the_limit_is_refused(size in 0u64..1_000_000, max in 0u64..1_000_000) {
            let r = check("f.pdf", size, b"%PDF-1.4", max);
            prop_assert_eq!(r.is_ok(), size <= max && size > 0);
        }
    }
}
