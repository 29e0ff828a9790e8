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

impl ImageRef {
    /// (registry host, repository path), as Docker reads a reference: the first component
    /// is a host when it has a `.` or `:` or is `localhost`; otherwise Docker Hub, with
    /// `library/` for one-component names.
    pub(crate) fn registry_and_path(&self) -> (String, String) {
        match self.repository.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ if !self.repository.contains('/') => (
                "registry-1.docker.io".into(),
                format!("library/{}", self.repository),
            ),
            _ => ("registry-1.docker.io".into(), self.repository.clone()),
        }
    }

    /// The same image in a mirror `HOST[:PORT]/PATH`: `reg:5000/nvidia/nvflare:2.9.0` is
    /// `HOST/PATH/nvidia/nvflare:2.9.0`; tag and digest stay.
    pub(crate) fn in_mirror(&self, mirror: &str) -> ImageRef {
        let (_, path) = self.registry_and_path();
        ImageRef {
            repository: format!("{}/{path}", mirror.trim_end_matches('/')),
            ..self.clone()
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.repository)?;
        if !self.tag.is_empty() {
            write!(f, ":{}", self.tag)?;
        }
        if !self.digest.is_empty() {
            write!(f, "@{}", self.digest)?;
        }
        Ok(())
    }
}

/// `--image-mirror`: `HOST[:PORT]/PATH`, a registry host and a path an image can live under.
pub(crate) fn check_mirror(mirror: &str) -> Result<(), String> {
    let probe = format!("{}/x", mirror.trim_end_matches('/'));
    let parsed = ImageRef::parse(&probe).map_err(|_| {
        format!("{mirror:?} is not HOST[:PORT]/PATH (lower case path components, no oci://)")
    })?;
    let (host, _) = parsed.registry_and_path();
    if host == "registry-1.docker.io" && !mirror.starts_with("docker.io/") {
        return Err(format!(
            "{mirror:?} names no registry host (HOST[:PORT]/PATH)"
        ));
    }
    Ok(())
}

/// `oci://HOST[:PORT]/PATH` as `HOST[:PORT]/PATH`.
pub(crate) fn mirror_root(to: &str) -> crate::error::Result<String> {
    let root = to
        .strip_prefix("oci://")
        .unwrap_or("")
        .trim_end_matches('/');
    check_mirror(root)
        .ok()
        .filter(|_| root.contains('/'))
        .map(|_| root.to_string())
        .ok_or_else(|| {
            crate::error::Error::invalid_args(
                format!("--to {} is not oci://HOST[:PORT]/PATH.", crate::terminal::escape(to)),
                "Name the site's registry and a path in it, e.g. oci://registry.site.local:5000/mirror.",
            )
        })
}

/// A mirror root `HOST[:PORT]/PATH` as its registry host and path.
pub(crate) fn split_mirror(root: &str) -> (String, String) {
    let probe = ImageRef::parse(&format!("{root}/x")).expect("a checked mirror root");
    let (host, path) = probe.registry_and_path();
    (host, path.trim_end_matches("/x").to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mirror_is_an_oci_reference_with_a_path() {
        assert_eq!(
            mirror_root("oci://reg.site:5000/mirror/").unwrap(),
            "reg.site:5000/mirror"
        );
        for bad in [
            "reg.site:5000/mirror",
            "oci://reg.site:5000",
            "oci://Reg/UPPER",
            "oci://",
        ] {
            assert!(mirror_root(bad).is_err(), "{bad}");
        }
    }

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
