//! Which NVFlare release a prepared kit is laid out for. NVFlare 2.8 and 2.9 read different
//! files from `local/` (study_data.yaml vs study_runtime.yaml), secure internal connections
//! differently and give the job launcher different permissions, so `prepare` writes what
//! the release the site runs expects: 2.8.3's `nvflare deploy prepare` for 2.8, 2.9.0's for
//! 2.9.
//!
//! Chosen by `--nvflare-version`, else the runtime config's `nvflare_version`, else the
//! parent image's tag when it is a version (`nvflare:2.8.3`), else 2.9 (current).

use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum NvflareVersion {
    #[serde(rename = "2.8")]
    V2_8,
    #[serde(rename = "2.9")]
    V2_9,
}

/// Where the version came from, for the summary and for warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    Flag,
    Config,
    ImageTag,
    Default,
}

pub const VERSIONS: [&str; 2] = ["2.8", "2.9"];

impl NvflareVersion {
    pub const CURRENT: NvflareVersion = NvflareVersion::V2_9;

    pub fn as_str(self) -> &'static str {
        match self {
            NvflareVersion::V2_8 => "2.8",
            NvflareVersion::V2_9 => "2.9",
        }
    }

    /// `2.8` or `2.9` (a patch level such as `2.9.0` is accepted and ignored).
    pub fn parse(text: &str) -> Option<NvflareVersion> {
        match major_minor(text)? {
            (2, 8) => Some(NvflareVersion::V2_8),
            (2, 9) => Some(NvflareVersion::V2_9),
            _ => None,
        }
    }

    /// The flag's or config's value, with an error naming where it was given.
    pub(crate) fn parse_given(text: &str, place: &str) -> Result<NvflareVersion> {
        NvflareVersion::parse(text).ok_or_else(|| {
            Error::invalid_config(
                format!(
                    "{place} must be 2.8 or 2.9: {:?}.",
                    crate::terminal::escape(text)
                ),
                "Give the NVFlare release the site runs: 2.8 (kits as NVFlare 2.8.3 prepares them) or 2.9 (as NVFlare 2.9.0 does).",
            )
        })
    }

    /// NVFlare 2.9 keeps parent <-> job connections on mTLS and reads study_runtime.yaml.
    pub(crate) fn has_study_runtime(self) -> bool {
        self >= NvflareVersion::V2_9
    }
}

/// What an image tag says about the NVFlare release, when it is a version at all:
/// `Ok(Some(v))` for 2.8.x / 2.9.x, `Err(tag)` for another version, `Ok(None)` for a tag
/// that is no version (`latest`, `dev`, a digest only).
pub(crate) fn from_image_tag(tag: &str) -> std::result::Result<Option<NvflareVersion>, String> {
    let Some(version) = major_minor(tag) else {
        return Ok(None);
    };
    match NvflareVersion::parse(&format!("{}.{}", version.0, version.1)) {
        Some(v) => Ok(Some(v)),
        None => Err(tag.to_string()),
    }
}

/// `2.9`, `2.9.0`, `v2.9.0`, `2.9.0-py3`, `2.9.0rc1` -> (2, 9).
fn major_minor(text: &str) -> Option<(u32, u32)> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let mut parts = text.splitn(3, '.');
    let major = parts.next()?;
    let rest = parts.next()?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after_minor = &rest[minor.len()..];
    // `2.9x` is no version; `2.9`, `2.9.1`, `2.9-gpu`, `2.9rc1` are.
    if !(after_minor.is_empty()
        || after_minor.starts_with(['-', '_', '+'])
        || after_minor.starts_with("rc"))
    {
        return None;
    }
    if major.is_empty() || minor.is_empty() || !major.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Resolves the version: flag, then config, then image tag, then the current release.
/// A version tag this tool does not know (2.7, 2.10) gives the current layout and a
/// warning, so a new NVFlare image still deploys.
pub fn resolve(
    flag: Option<NvflareVersion>,
    config: Option<NvflareVersion>,
    image_tag: &str,
    warnings: &mut Vec<String>,
) -> (NvflareVersion, VersionSource) {
    if let Some(v) = flag {
        return (v, VersionSource::Flag);
    }
    if let Some(v) = config {
        return (v, VersionSource::Config);
    }
    match from_image_tag(image_tag) {
        Ok(Some(v)) => (v, VersionSource::ImageTag),
        Ok(None) => (NvflareVersion::CURRENT, VersionSource::Default),
        Err(tag) => {
            warnings.push(format!(
                "The parent image tag {:?} names an NVFlare release helm nvflare has no layout for; preparing the NVFlare {} layout. Pass --nvflare-version 2.8 or 2.9 to choose.",
                crate::terminal::escape(&tag),
                NvflareVersion::CURRENT.as_str()
            ));
            (NvflareVersion::CURRENT, VersionSource::Default)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_that_are_versions() {
        for (tag, want) in [
            ("2.8.3", Ok(Some(NvflareVersion::V2_8))),
            ("2.8", Ok(Some(NvflareVersion::V2_8))),
            ("v2.9.0", Ok(Some(NvflareVersion::V2_9))),
            ("2.9.0-py3", Ok(Some(NvflareVersion::V2_9))),
            ("2.9.0rc1", Ok(Some(NvflareVersion::V2_9))),
            ("2.7.2", Err("2.7.2".to_string())),
            ("2.10.0", Err("2.10.0".to_string())),
            ("latest", Ok(None)),
            ("dev", Ok(None)),
            ("", Ok(None)),
            ("2.9x", Ok(None)),
            ("2", Ok(None)),
        ] {
            assert_eq!(from_image_tag(tag), want, "{tag}");
        }
    }

    #[test]
    fn flag_then_config_then_tag_then_current() {
        let mut w = Vec::new();
        let v8 = Some(NvflareVersion::V2_8);
        let v9 = Some(NvflareVersion::V2_9);
        assert_eq!(resolve(v8, v9, "2.9.0", &mut w).0, NvflareVersion::V2_8);
        assert_eq!(resolve(None, v8, "2.9.0", &mut w).0, NvflareVersion::V2_8);
        assert_eq!(
            resolve(None, None, "2.8.3", &mut w),
            (NvflareVersion::V2_8, VersionSource::ImageTag)
        );
        assert_eq!(
            resolve(None, None, "latest", &mut w),
            (NvflareVersion::V2_9, VersionSource::Default)
        );
        assert!(w.is_empty());
        assert_eq!(resolve(None, None, "2.7.0", &mut w).0, NvflareVersion::V2_9);
        assert_eq!(w.len(), 1);
    }
}
