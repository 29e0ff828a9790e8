//! `.helmignore` exactly as Helm reads it (`pkg/ignore/rules.go`), which is not gitignore:
//! - rules are tried in order and the first that decides wins;
//! - a `!rule` that does *not* match the path ignores it (and one that matches goes on to
//!   the next rule);
//! - `/x` matches `x` at the chart root only, a rule with another `/` matches the whole
//!   path, a rule without `/` matches the base name; a trailing `/` means folders only;
//! - patterns are Go's `filepath.Match` globs (`*`, `?`, `[...]` with `^` negation, `\`
//!   escapes), and `**` is an error;
//! - Helm adds `templates/.?*` after the file's own rules.

use std::path::Path;

#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    negate: bool,
    must_dir: bool,
    /// What the pattern is matched against: the whole relative path, or the base name.
    whole_path: bool,
}

#[derive(Debug, Clone, Default)]
pub struct HelmIgnore {
    rules: Vec<Rule>,
}

impl HelmIgnore {
    /// Parses a `.helmignore` text; an error for what `helm package` refuses.
    pub fn parse(text: &str) -> Result<HelmIgnore, String> {
        let mut ignore = HelmIgnore::default();
        for line in text.lines() {
            ignore.add(line)?;
        }
        ignore.add("templates/.?*")?;
        Ok(ignore)
    }

    /// The rules of `<chart_dir>/.helmignore` (Helm's defaults only, when there is none).
    pub fn load(chart_dir: &Path) -> Result<HelmIgnore, String> {
        match std::fs::read(chart_dir.join(".helmignore")) {
            Ok(bytes) => Self::parse(&String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::parse(""),
            Err(e) => Err(format!(".helmignore: {e}")),
        }
    }

    fn add(&mut self, line: &str) -> Result<(), String> {
        let rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(format!(
                ".helmignore: {rule:?}: double-star (**) syntax is not supported"
            ));
        }
        if glob_match(rule, "abc").is_none() {
            return Err(format!(".helmignore: {rule:?}: syntax error in pattern"));
        }
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, rule),
        };
        let (must_dir, rule) = match rule.strip_suffix('/') {
            Some(rest) => (true, rest),
            None => (false, rule),
        };
        let (whole_path, rule) = match rule.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (rule.contains('/'), rule),
        };
        self.rules.push(Rule {
            pattern: rule.to_string(),
            negate,
            must_dir,
            whole_path,
        });
        Ok(())
    }

    /// Whether `rel` (slash-separated, relative to the chart) is ignored: Helm's `Ignore`.
    pub fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        if rel.is_empty() || rel == "." || rel == "./" {
            return false;
        }
        let base = rel.rsplit('/').next().unwrap_or(rel);
        for rule in &self.rules {
            let subject = if rule.whole_path { rel } else { base };
            let matches = || glob_match(&rule.pattern, subject).unwrap_or(false);
            if rule.negate {
                if (rule.must_dir && !is_dir) || !matches() {
                    return true;
                }
                continue;
            }
            if rule.must_dir && !is_dir {
                continue;
            }
            if matches() {
                return true;
            }
        }
        false
    }
}

/// Go's `filepath.Match` on `/`-separated names: `None` for a malformed pattern.
fn glob_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> Option<bool> {
    match p.first() {
        None => Some(n.is_empty()),
        Some('*') => {
            // `*` takes any run of non-separators, shortest first.
            let rest = &p[1..];
            let mut i = 0;
            loop {
                match glob_at(rest, &n[i..]) {
                    Some(true) => return Some(true),
                    None => return None,
                    Some(false) => {}
                }
                if i == n.len() || n[i] == '/' {
                    // Go checks the rest of the pattern's syntax before failing.
                    return check_syntax(rest).map(|()| false);
                }
                i += 1;
            }
        }
        Some('?') => match n.first() {
            Some(c) if *c != '/' => glob_at(&p[1..], &n[1..]),
            _ => check_syntax(&p[1..]).map(|()| false),
        },
        Some('[') => {
            let (matched, used) = class(&p[1..], n.first().copied())?;
            if matched {
                glob_at(&p[1 + used..], &n[1..])
            } else {
                check_syntax(&p[1 + used..]).map(|()| false)
            }
        }
        Some('\\') => {
            let escaped = *p.get(1)?;
            match n.first() {
                Some(c) if *c == escaped => glob_at(&p[2..], &n[1..]),
                _ => check_syntax(&p[2..]).map(|()| false),
            }
        }
        Some(c) => match n.first() {
            Some(d) if d == c => glob_at(&p[1..], &n[1..]),
            _ => check_syntax(&p[1..]).map(|()| false),
        },
    }
}

/// A `[...]` class after its `[`: (whether `c` is in it, characters used incl. `]`), or
/// `None` when malformed, as Go's `matchChunk` and `getEsc` decide.
fn class(p: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut found = false;
    let mut ranges = 0;
    loop {
        if p.get(i) == Some(&']') && ranges > 0 {
            i += 1;
            break;
        }
        let lo = class_char(p, &mut i)?;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            i += 1;
            hi = class_char(p, &mut i)?;
        }
        if c.is_some_and(|c| lo <= c && c <= hi) {
            found = true;
        }
        ranges += 1;
    }
    Some((c.is_some() && found != negated, i))
}

/// One character of a class (Go's `getEsc`): not a bare `-` or `]`, `\` escapes, and the
/// class must go on after it.
fn class_char(p: &[char], i: &mut usize) -> Option<char> {
    let mut ch = *p.get(*i)?;
    if ch == '-' || ch == ']' {
        return None;
    }
    if ch == '\\' {
        *i += 1;
        ch = *p.get(*i)?;
    }
    *i += 1;
    (*i < p.len()).then_some(ch)
}

/// Whether the rest of a pattern is well formed (Go reports ErrBadPattern even after a
/// mismatch).
fn check_syntax(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                p.get(i + 1)?;
                i += 2;
            }
            '[' => {
                let (_, used) = class(&p[i + 1..], None)?;
                i += 1 + used;
            }
            _ => i += 1,
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> HelmIgnore {
        HelmIgnore::parse(text).unwrap()
    }

    #[test]
    fn root_anchored_rules_match_only_at_the_root() {
        let r = rules("/secret.txt\n");
        assert!(r.ignored("secret.txt", false));
        assert!(!r.ignored("templates/secret.txt", false));
        let r = rules("secret.txt\n");
        assert!(r.ignored("templates/secret.txt", false));
    }

    #[test]
    fn first_deciding_rule_wins_and_unmatched_negations_ignore() {
        // `!keep.txt` does not match `other.txt`, so `other.txt` is ignored by it.
        let r = rules("!keep.txt\n");
        assert!(r.ignored("other.txt", false));
        assert!(!r.ignored("keep.txt", false));
        // A negation that matches goes on to the next rule, which then decides.
        let r = rules("!keep.txt\nkeep.txt\n");
        assert!(r.ignored("keep.txt", false));
        // The first matching rule decides; a later negation never un-ignores.
        let r = rules("*.txt\n!keep.txt\n");
        assert!(r.ignored("keep.txt", false));
    }

    #[test]
    fn folders_only_and_paths() {
        let r = rules("docs/\ntemplates/*.bak\n");
        assert!(r.ignored("docs", true));
        assert!(!r.ignored("docs", false));
        assert!(r.ignored("templates/x.bak", false));
        assert!(!r.ignored("templates/sub/x.bak", false));
    }

    #[test]
    fn helm_defaults_and_refusals() {
        let r = rules("");
        assert!(r.ignored("templates/.hidden.yaml", false));
        assert!(!r.ignored(".helmignore", false));
        assert!(HelmIgnore::parse("**/x\n").is_err());
        assert!(HelmIgnore::parse("[a-\n").is_err());
        assert!(HelmIgnore::parse("x\\\n").is_err());
    }

    #[test]
    fn go_glob_semantics() {
        assert_eq!(glob_match("*.txt", "a.txt"), Some(true));
        assert_eq!(glob_match("*", "a/b"), Some(false));
        assert_eq!(glob_match("a?c", "abc"), Some(true));
        assert_eq!(glob_match("[^a]bc", "xbc"), Some(true));
        assert_eq!(glob_match("[^a]bc", "abc"), Some(false));
        assert_eq!(glob_match("[a-c]x", "bx"), Some(true));
        assert_eq!(glob_match("\\*", "*"), Some(true));
        assert_eq!(glob_match("[", "a"), None);
    }
}
