//! `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="...",service="Docker registry"`,
//! with quoted strings (commas and spaces inside, backslash escapes), and the token URL
//! built from one with every query value percent-encoded.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lower case: `bearer`, `basic`.
    pub scheme: String,
    /// Parameter names in lower case.
    pub params: BTreeMap<String, String>,
}

/// Parses the first challenge of a header value; `None` if it is not one.
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim_start();
    let scheme_end = header
        .find(|c: char| c.is_whitespace())
        .unwrap_or(header.len());
    let scheme = &header[..scheme_end];
    if scheme.is_empty() || !scheme.bytes().all(is_token_byte) {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut rest = header[scheme_end..].trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| !is_token_byte_char(c))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let after = rest[name_end..].trim_start();
        let Some(after) = after.strip_prefix('=') else {
            // Another challenge (`, Basic ...`) or token68: stop at what we have.
            break;
        };
        if name.is_empty() {
            return None;
        }
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find([',', ' ', '\t']).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        params.insert(name.to_ascii_lowercase(), value);
        rest = remaining.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token_byte_char(c: char) -> bool {
    c.is_ascii() && is_token_byte(c as u8)
}

/// RFC 3986 percent-encoding of a query value: unreserved characters stay.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `realm` with `params` appended to its query (the realm may already have one).
pub(crate) fn url_with_query(realm: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = realm.split_once('#').unwrap_or((realm, ""));
    let mut url = base.to_string();
    for (name, value) in params {
        let separator = if url.contains('?') {
            if url.ends_with('?') || url.ends_with('&') {
                ""
            } else {
                "&"
            }
        } else {
            "?"
        };
        url.push_str(&format!("{separator}{name}={}", percent_encode(value)));
    }
    if !fragment.is_empty() {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_keep_commas_and_spaces() {
        let c = parse(r#"Bearer realm="https://auth.example.com/token",service="Docker registry",scope="repository:a/b:pull,push""#).unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example.com/token");
        assert_eq!(c.params["service"], "Docker registry");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
    }

    #[test]
    fn escapes_spacing_and_bare_tokens() {
        let c = parse(r#"Basic realm = "a \"quoted\" realm" , charset=UTF-8"#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "a \"quoted\" realm");
        assert_eq!(c.params["charset"], "UTF-8");
        assert!(parse("").is_none());
        assert!(parse(r#"Bearer realm="unterminated"#).is_none());
    }

    #[test]
    fn token_urls() {
        assert_eq!(
            url_with_query(
                "https://a/token",
                &[
                    ("service", "Docker registry"),
                    ("scope", "repository:x/y:pull,push")
                ]
            ),
            "https://a/token?service=Docker%20registry&scope=repository%3Ax%2Fy%3Apull%2Cpush"
        );
        assert_eq!(
            url_with_query("https://a/token?account=me", &[("service", "s")]),
            "https://a/token?account=me&service=s"
        );
    }
}
