//! Quoting for generated shell scripts: every configured value becomes one literal word.

/// POSIX single-quote quoting, as Python's `shlex.quote`: safe words stay bare, anything
/// else is wrapped in `'...'` with embedded quotes written as `'"'"'`.
pub fn quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', "'\"'\"'"))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_like_shlex() {
        assert_eq!(quote("site-1"), "site-1");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}
