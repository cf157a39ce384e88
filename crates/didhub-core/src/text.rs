//! Text shown to a person. Stored free text refuses control and bidirectional characters
//! (`did::optional_text`), but some text must be kept as it came (what a stranger typed as an
//! e-mail address at the login), and older rows or files may hold anything: whatever reaches a
//! terminal or a line of the audit log goes through [`escape`] first.

use std::borrow::Cow;

use crate::did::is_bidi_control;

/// Characters that act on a terminal, or on how the text around them is shown, instead of
/// showing as themselves: C0 and C1 controls (escape sequences, bell, carriage return; newline
/// and tab too, which would forge a line or a column), DEL, bidirectional embeddings, overrides
/// and isolates, and the Unicode line and paragraph separators.
pub fn is_unsafe_to_show(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `s` with every character of [`is_unsafe_to_show`] written as a visible escape, the way Rust
/// writes them: `\n`, `\t`, `\r`, `\u{1b}`, `\u{202e}`. Everything else, backslashes included,
/// is left as it is, so that escaping twice changes nothing (text kept escaped shows the same).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_to_show) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_unsafe_to_show(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text as `serde_json` writes it, with the same characters written as JSON escapes
/// (`\u202e`). `serde_json` escapes only the C0 controls, `"` and `\`: DEL, C1 controls, the
/// bidirectional characters and the line separators stay raw inside its strings, where the
/// escape means the very same character. Newlines are left as they are: in valid JSON a raw
/// one is layout (pretty printing), never part of a string.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let unsafe_here = |c: char| c != '\n' && is_unsafe_to_show(c);
    if !json.chars().any(unsafe_here) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_here(c) {
            // Every such character is in the Basic Multilingual Plane: one `\uXXXX`.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `n` things, the noun plural by count: "1 DID", "2 DIDs", "0 DIDs".
pub fn count(n: i64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The word with its indefinite article: "an admin", "a partner_admin", "an operations".
pub fn a(word: impl std::fmt::Display) -> String {
    let w = word.to_string();
    let vowel = w.chars().next().is_some_and(|c| "aeiouAEIOU".contains(c));
    format!("{} {w}", if vowel { "an" } else { "a" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_login_probe_is_shown_inert() {
        let probe = "evil\u{1b}[2J\u{7}\nforged\u{202e}\t@x.example";
        assert_eq!(
            escape(probe),
            "evil\\u{1b}[2J\\u{7}\\nforged\\u{202e}\\t@x.example"
        );
        // C1 controls (U+009B is CSI on some terminals), DEL and the line separators too.
        assert_eq!(
            escape("a\u{9b}31m\u{7f}\u{2028}b\u{2029}"),
            "a\\u{9b}31m\\u{7f}\\u{2028}b\\u{2029}"
        );
        // Text that needs nothing is not copied; right-to-left text and its marks are text.
        assert!(matches!(escape("Acme \\ ok"), Cow::Borrowed(_)));
        assert_eq!(escape("שלום \u{200F}مرحبا"), "שלום \u{200F}مرحبا");
    }

    #[test]
    fn json_keeps_its_meaning() {
        let v = serde_json::json!({"subject": "a\u{202e}b\u{9b}c\u{7f}\u{1b}\n"});
        for text in [
            serde_json::to_string(&v).unwrap(),
            serde_json::to_string_pretty(&v).unwrap(),
        ] {
            let safe = escape_json(&text);
            assert!(!safe.chars().any(|c| c != '\n' && is_unsafe_to_show(c)));
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            assert_eq!(back, v);
        }
        assert_eq!(
            escape_json("\"\u{202e}\""),
            "\"\\u202e\"",
            "a \\u escape, as JSON writes it"
        );
    }

    proptest! {
        #[test]
        fn nothing_unsafe_is_left_and_safe_text_is_untouched(s in "\\PC*|[\\x00-\\x{2070}]{0,40}") {
            let e = escape(&s);
            prop_assert!(!e.chars().any(is_unsafe_to_show), "{e:?}");
            // Escaping what is escaped changes nothing.
            prop_assert_eq!(escape(&e), e.clone());
            // Only unsafe characters are rewritten: without them, the text is the same.
            let kept: String = s.chars().filter(|c| !is_unsafe_to_show(*c)).collect();
            if kept == s {
                prop_assert_eq!(e.as_ref(), s.as_str());
            }
            // Each unsafe character becomes its escape, in place.
            let expected: String = s
                .chars()
                .map(|c| if is_unsafe_to_show(c) { c.escape_default().to_string() } else { c.to_string() })
                .collect();
            prop_assert_eq!(e.as_ref(), expected.as_str());
        }

        #[test]
        fn json_output_round_trips(s in "[\\x00-\\x{2070}]{0,40}", pretty in any::<bool>()) {
            let v = serde_json::json!({"k": s, "list": [s.clone()]});
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
            let safe = escape_json(&text);
            prop_assert!(!safe.chars().any(|c| c != '\n' && is_unsafe_to_show(c)));
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            prop_assert_eq!(back, v);
        }
    }
}

#[cfg(test)]
mod wording {
    use super::*;

    #[test]
    fn counts_and_articles_read_right() {
        assert_eq!(count(1, "DID"), "1 DID");
        assert_eq!(count(0, "DID"), "0 DIDs");
        assert_eq!(count(2, "DID"), "2 DIDs");
        assert_eq!(a("admin"), "an admin");
        assert_eq!(a("operations"), "an operations");
        assert_eq!(a("partner_admin"), "a partner_admin");
        assert_eq!(a(""), "a ");
    }
}
