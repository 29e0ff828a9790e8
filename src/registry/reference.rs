//! `oci://host[:port]/path` remotes and the references pushed under them.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `host[:port]`, as registries and credential stores name it.
    pub host: String,
    /// Repository path below the host, without leading or trailing `/` (may be empty).
    pub path: String,
}

impl Remote {
    pub fn parse(text: &str) -> Result<Remote> {
        let bad = |why: &str| {
            Error::invalid_args(
                format!("{text:?} is not an OCI registry location: {why}."),
                "Use oci://<registry>[:port]/<path>, e.g. oci://registry.example.com/nvflare.",
            )
        };
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| bad("it must start with oci://"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.trim_matches('/');
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        {
            return Err(bad("the registry host is missing or invalid"));
        }
        if !path.is_empty() && !path.split('/').all(crate::names::is_path_component) {
            return Err(bad(
                "path components must be lower case letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(Remote {
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    /// The repository for a chart: `<path>/<subpath>/<chart>` (empty parts left out).
    pub fn repository(&self, subpath: Option<&str>, chart: &str) -> String {
        [self.path.as_str(), subpath.unwrap_or(""), chart]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// OCI tags cannot hold `+`; Helm writes `_` instead.
pub(crate) fn tag_for_version(version: &str) -> String {
    version.replace('+', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remotes() {
        let r = Remote::parse("oci://127.0.0.1:5000/fl/charts/").unwrap();
        assert_eq!(
            r,
            Remote {
                host: "127.0.0.1:5000".into(),
                path: "fl/charts".into()
            }
        );
        assert_eq!(
            r.repository(Some("site-1"), "nvflare-client"),
            "fl/charts/site-1/nvflare-client"
        );
        assert_eq!(
            Remote::parse("oci://reg").unwrap().repository(None, "c"),
            "c"
        );
        assert!(Remote::parse("https://reg/x").is_err());
        assert!(Remote::parse("oci:///x").is_err());
        assert!(Remote::parse("oci://reg/Upper").is_err());
        assert_eq!(tag_for_version("1.0.0+build.1"), "1.0.0_build.1");
    }
}
