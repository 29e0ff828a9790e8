//! Kubernetes and Helm name rules, and the seed's stable name derivation
//! (`_stable_k8s_name`): sanitize, then append an 8-character sha256 prefix.
//!
//! Every check is a full match; the seed's `re.match(...$)` accepted `"site-1\n"`.

use crate::kit::Role;

use sha2::{Digest, Sha256};

pub const DNS_LABEL_MAX: usize = 63;
pub const SERVICE_NAME_MAX: usize = 63;
pub const SUBDOMAIN_MAX: usize = 253;
pub const RELEASE_NAME_MAX: usize = 53;

/// DNS-1035 label: Service names. `^[a-z]([-a-z0-9]*[a-z0-9])?$`.
pub(crate) fn is_dns1035_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.len() <= DNS_LABEL_MAX
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && is_label_body(bytes)
}

/// DNS-1123 label: namespaces, container names. `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`.
pub(crate) fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.len() <= DNS_LABEL_MAX
        && bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && is_label_body(bytes)
}

/// DNS-1123 subdomain: Secrets, ConfigMaps, Deployments, ServiceAccounts, Pods.
pub(crate) fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= SUBDOMAIN_MAX
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            b.first()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && is_label_body(b)
        })
}

/// A Helm release name: a DNS-1123 subdomain of at most 53 characters.
pub(crate) fn is_release_name(name: &str) -> bool {
    name.len() <= RELEASE_NAME_MAX && is_dns1123_subdomain(name)
}

pub(crate) fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
        && b.iter()
            .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(x))
}

// A participant's derived names, computed in one place: the Helm release, the Service job
// pods dial, the chart's object name (`_helpers.tpl`'s `nvflare.fullname`) and its job pods'
// suffix. `prepare` writes them; every reader of a prepared kit derives them again from
// its values.yaml with the same functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The Helm release: the participant's name when it is a valid release name, else a
    /// sanitized name with 8 hex digits of its sha256.
    pub release: String,
    /// The parent Service: the configured server Service, or the client's DNS-1035 name.
    pub service: String,
    /// The Deployment, ServiceAccount and Role name.
    pub object: String,
}

impl Derived {
    /// From the participant's name (exactly as the kit has it), its role and, for a
    /// server, the Service name the runtime config chose.
    pub fn new(participant: &str, role: Role, server_service_name: &str) -> Derived {
        let service = match role {
            Role::Server => server_service_name.to_string(),
            _ => client_service_name(participant),
        };
        Derived {
            release: release_name(participant),
            object: object_for(role, participant, &service),
            service,
        }
    }
}

/// The chart's object name: the server's from its name, a client's from its Service.
pub(crate) fn object_for(role: Role, participant: &str, service: &str) -> String {
    match role {
        Role::Server => object_name(participant),
        _ => object_name(service),
    }
}

/// `_helpers.tpl`'s `nvflare.objectName`: the name when it is a DNS-1123 subdomain of at
/// most 63 characters, else the stable sanitized name.
pub(crate) fn object_name(raw: &str) -> String {
    if raw.len() <= 63 && is_dns1123_subdomain(raw) {
        raw.to_string()
    } else {
        stable_k8s_name(raw, 63)
    }
}

/// The suffix NVFlare's Kubernetes launcher (2.8 and 2.9, `job_pod_name`) gives every
/// job pod of a site: `-<site_name_to_rfc1123(site, 20)>`, so a site's job pods are the
/// pods whose name ends with it.
pub(crate) fn job_pod_suffix(site: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(site.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let lower: String = site
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    let mut name = lower.trim_matches('-').to_string();
    if name.is_empty() {
        name = "site".into();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 's');
    }
    let head: String = name.chars().take(20 - 8 - 1).collect();
    let head = match head.trim_end_matches('-') {
        "" => "site",
        h => h,
    };
    format!("-{head}-{digest}")
}

static SEMVER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    let num = "(?:0|[1-9][0-9]*)";
    let pre = "(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)";
    regex::Regex::new(&format!(
        r"\A{num}\.{num}\.{num}(?:-{pre}(?:\.{pre})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\z"
    ))
    .expect("semver regex")
});

/// Strict semver whose major, minor and patch fit u64, as Helm parses them.
pub(crate) fn is_strict_semver(version: &str) -> bool {
    SEMVER.is_match(version)
        && version
            .split(['-', '+'])
            .next()
            .is_some_and(|core| core.split('.').all(|n| n.parse::<u64>().is_ok()))
}

#[cfg(test)]
mod derived_tests {
    use super::*;

    /// Values from NVFlare 2.9's `site_name_to_rfc1123(name, max_length=20)`.
    #[test]
    fn job_pod_suffix_is_nvflares() {
        assert_eq!(job_pod_suffix("site-1"), "-site-1-f505dccd");
        assert_eq!(job_pod_suffix("fl.example.com"), "-flexampleco-e265d5eb");
        assert_eq!(job_pod_suffix("1_Hospital"), "-s1hospital-d47a9e09");
    }

    #[test]
    fn one_derivation_for_every_role() {
        let server = Derived::new("fl.example.com", Role::Server, "nvflare-server");
        assert_eq!(server.service, "nvflare-server");
        assert_eq!(server.object, "fl.example.com");
        let client = Derived::new("Hospital_A", Role::Client, "unused");
        assert_eq!(client.release, release_name("Hospital_A"));
        assert_eq!(client.object, object_name(&client.service));
    }
}

#[cfg(test)]
/// A label value: at most 63, `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`.
pub fn is_label_value(value: &str) -> bool {
    let b = value.as_bytes();
    if b.is_empty() {
        return true;
    }
    b.len() <= DNS_LABEL_MAX
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_label_body(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-'
}

/// The seed's `_stable_k8s_name`: the name itself when it is already a DNS-1035 label that
/// fits, otherwise a sanitized head plus `-<sha256[:8]>` of the raw name.
pub(crate) fn stable_k8s_name(raw: &str, max_length: usize) -> String {
    if raw.len() <= max_length && is_dns1035_label(raw) {
        return raw.to_string();
    }
    let mut normalized = String::with_capacity(raw.len());
    for ch in raw.to_lowercase().chars() {
        let ch = if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            ch
        } else {
            '-'
        };
        if !(ch == '-' && normalized.ends_with('-')) {
            normalized.push(ch);
        }
    }
    let mut normalized = normalized.trim_matches('-').to_string();
    if normalized.is_empty() {
        normalized = "site".to_string();
    }
    if !normalized.as_bytes()[0].is_ascii_lowercase() {
        normalized = format!("site-{normalized}");
    }
    let digest = sha256_hex(raw.as_bytes());
    let digest = &digest[..8];
    let head_max = max_length - digest.len() - 1;
    let head = normalized[..normalized.len().min(head_max)].trim_end_matches('-');
    let head = if head.is_empty() { "site" } else { head };
    format!("{head}-{digest}")
}

/// The Helm release name for a participant (at most 53 characters).
pub(crate) fn release_name(participant: &str) -> String {
    stable_k8s_name(participant, RELEASE_NAME_MAX)
}

/// The Service name of a client's parent pod (at most 63 characters).
pub(crate) fn client_service_name(participant: &str) -> String {
    stable_k8s_name(participant, SERVICE_NAME_MAX)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept() {
        assert_eq!(stable_k8s_name("site-1", 63), "site-1");
        assert_eq!(release_name("server"), "server");
    }

    // Expected values computed with the seed's Python `_stable_k8s_name`.
    #[test]
    fn matches_the_seed_for_names_that_need_sanitizing() {
        assert_eq!(stable_k8s_name("Hospital_A", 63), "hospital-a-3822580f");
        assert_eq!(stable_k8s_name("123site", 63), "site-123site-5f10c088");
        assert_eq!(
            stable_k8s_name("fl.example.com", 53),
            "fl-example-com-e265d5eb"
        );
        assert_eq!(stable_k8s_name("___", 63), "site-bda25155");
    }

    #[test]
    fn trailing_newline_is_not_a_valid_name() {
        assert!(!is_dns1035_label("site-1\n"));
        assert_ne!(stable_k8s_name("site-1\n", 63), "site-1\n");
    }

    #[test]
    fn long_names_fit_their_limit() {
        let name = "a".repeat(64);
        let service = stable_k8s_name(&name, 63);
        assert_eq!(service.len(), 63);
        assert!(is_dns1035_label(&service));
        assert!(release_name(&name).len() <= 53);
    }

    #[test]
    fn name_rules() {
        assert!(is_dns1123_subdomain("fl.example.com"));
        assert!(!is_dns1123_label("fl.example.com"));
        assert!(is_dns1123_label("123"));
        assert!(!is_dns1035_label("123"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(is_label_value("Hospital_A"));
        assert!(!is_label_value("-a"));
    }
}
