//! `.helmignore` rules as Helm applies them: gitignore-like lines matched with shell globs
//! against the relative path (patterns with a `/`) or the base name, `dir/` for folders
//! only, `!` to negate; the last matching rule wins.

use std::path::Path;

#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    negate: bool,
    dir_only: bool,
    /// Match against the whole relative path instead of the base name.
    anchored: bool,
}

#[derive(Debug, Clone, Default)]
pub struct HelmIgnore {
    rules: Vec<Rule>,
}

impl HelmIgnore {
    pub fn parse(text: &str) -> HelmIgnore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (negate, line) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let (dir_only, line) = match line.strip_suffix('/') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let line = line.strip_prefix('/').unwrap_or(line);
                Rule {
                    pattern: line.to_string(),
                    negate,
                    dir_only,
                    anchored: line.contains('/'),
                }
            })
            .collect();
        HelmIgnore { rules }
    }

    pub fn load(chart_dir: &Path) -> HelmIgnore {
        std::fs::read_to_string(chart_dir.join(".helmignore"))
            .map(|t| Self::parse(&t))
            .unwrap_or_default()
    }

    /// Whether `rel` (slash-separated, relative to the chart) is ignored.
    pub fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        let base = rel.rsplit('/').next().unwrap_or(rel);
        let mut ignored = false;
        for rule in &self.rules {
            if rule.dir_only && !is_dir {
                continue;
            }
            let subject = if rule.anchored { rel } else { base };
            if glob_match(rule.pattern.as_bytes(), subject.as_bytes()) {
                ignored = !rule.negate;
            }
        }
        ignored
    }
}

/// Shell glob (`*`, `?`, `[...]`) where wildcards do not cross `/`, as Go's `filepath.Match`.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], text)
                || (!text.is_empty() && text[0] != b'/' && glob_match(pattern, &text[1..]))
        }
        (Some(b'?'), Some(c)) if *c != b'/' => glob_match(&pattern[1..], &text[1..]),
        (Some(b'['), Some(c)) if *c != b'/' => match pattern.iter().position(|b| *b == b']') {
            Some(end) if end > 1 => {
                let (negated, set) = match pattern[1] {
                    b'^' | b'!' => (true, &pattern[2..end]),
                    _ => (false, &pattern[1..end]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != negated && glob_match(&pattern[end + 1..], &text[1..])
            }
            _ => false,
        },
        (Some(b'\\'), Some(c)) if pattern.len() > 1 => {
            pattern[1] == *c && glob_match(&pattern[2..], &text[1..])
        }
        (Some(p), Some(c)) => p == c && glob_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_style_rules() {
        let ig =
            HelmIgnore::parse("# c\n*.tmp\nstartup/\n/secret.txt\ntemplates/*.bak\n!keep.tmp\n");
        assert!(ig.ignored("a.tmp", false));
        assert!(ig.ignored("templates/x.tmp", false));
        assert!(!ig.ignored("keep.tmp", false));
        assert!(ig.ignored("startup", true));
        assert!(!ig.ignored("startup", false));
        assert!(ig.ignored("secret.txt", false));
        assert!(ig.ignored("templates/a.bak", false));
        assert!(!ig.ignored("templates/sub/a.bak", false));
        assert!(!ig.ignored("values.yaml", false));
        assert!(HelmIgnore::parse("[a-c].txt").ignored("b.txt", false));
    }
}
