//! Container image references, split the way registries read them (distribution's
//! reference grammar), not by the last `:` as the seed does: `localhost:5000/nvflare`
//! has no tag, and `repo:tag@sha256:...` keeps its digest.

use std::sync::LazyLock;

use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageRef {
    /// `[registry[:port]/]path`, e.g. `localhost:5000/nvflare`.
    pub repository: String,
    /// Empty when the reference has no tag.
    pub tag: String,
    /// `algorithm:hex`, empty when the reference has no digest.
    pub digest: String,
}

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let host_label = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain = format!(r"(?:{host_label}(?:\.{host_label})*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?");
    let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let name = format!(r"(?:{domain}/)?{component}(?:/{component})*");
    // ASCII classes and no counted repetition: Unicode `\w{0,127}` compiles to megabytes.
    let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]*";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(
        r"\A(?P<name>{name})(?::(?P<tag>{tag}))?(?:@(?P<digest>{digest}))?\z"
    ))
    .expect("image reference grammar is a valid regex")
});

impl ImageRef {
    pub fn parse(reference: &str) -> Result<ImageRef, String> {
        let caps = REFERENCE
            .captures(reference)
            .ok_or_else(|| format!("{reference:?} is not a valid image reference"))?;
        let repository = caps["name"].to_string();
        if repository.len() > 255 {
            return Err(format!(
                "{reference:?}: repository name is longer than 255 characters"
            ));
        }
        Ok(ImageRef {
            repository,
            tag: caps.name("tag").map_or("", |m| m.as_str()).to_string(),
            digest: caps.name("digest").map_or("", |m| m.as_str()).to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (String, String, String) {
        let r = ImageRef::parse(s).unwrap();
        (r.repository, r.tag, r.digest)
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        assert_eq!(
            split("localhost:5000/nvflare"),
            ("localhost:5000/nvflare".into(), "".into(), "".into())
        );
        assert_eq!(
            split("localhost:5000/nvflare:2.9"),
            ("localhost:5000/nvflare".into(), "2.9".into(), "".into())
        );
    }

    #[test]
    fn tag_and_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            split(&format!("nvcr.io/nvidia/nvflare:2.9.0@{d}")),
            ("nvcr.io/nvidia/nvflare".into(), "2.9.0".into(), d.clone())
        );
        assert_eq!(
            split(&format!("nvflare@{d}")),
            ("nvflare".into(), "".into(), d)
        );
        assert_eq!(split("nvflare"), ("nvflare".into(), "".into(), "".into()));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "UPPER",
            "repo/Upper",
            "a b",
            "repo:",
            "repo:tag\n",
            "$(touch x)",
            "a//b",
            "repo@sha256:xyz",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
