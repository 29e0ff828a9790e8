//! Terminal safety: text that came from outside (a kit, kubectl, a cluster, a registry)
//! is printed with every control character escaped, so it can neither move the cursor,
//! clear the screen, recolour a line, nor start a line of its own (a forged `PASS`).

use std::fmt::Write;

/// Whether `c` would act on a terminal, or break or reorder a line, instead of showing.
fn needs_escape(c: char) -> bool {
    c.is_control() // C0 (newline and tab included), DEL and C1 (NEL, CSI, ...)
        || matches!(c,
            '\u{2028}' | '\u{2029}'                        // line and paragraph separators
            | '\u{200e}' | '\u{200f}'                      // directional marks
            | '\u{202a}'..='\u{202e}'                      // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}'                      // bidi isolates
            | '\u{feff}'                                   // zero-width no-break space
        )
}

/// One value on one line: control characters as `\xNN` or `\u{NNNN}`, backslashes kept.
pub fn escape(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !needs_escape(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
    }
    out
}

/// A block we laid out ourselves (a table, pretty JSON): each of its lines escaped.
pub(crate) fn escape_lines(block: &str) -> String {
    block.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            escape("site-1 Hospital_A émile 日本"),
            "site-1 Hospital_A émile 日本"
        );
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("ok\nPASS  rbac"), "ok\\nPASS  rbac");
        assert_eq!(escape("\r\t\x7f\u{85}\u{9b}"), "\\r\\t\\x7f\\x85\\x9b");
        assert_eq!(escape("a\u{2028}b\u{202e}c"), "a\\u{2028}b\\u{202e}c");
    }

    #[test]
    fn blocks_keep_their_own_lines() {
        assert_eq!(escape_lines("a\x1b\nb"), "a\\x1b\nb");
    }
}
