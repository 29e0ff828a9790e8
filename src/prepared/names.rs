//! A participant's derived names, computed in one place: the Helm release, the Service
//! job pods dial, and the name of the objects the chart renders (Deployment,
//! ServiceAccount, Role: `_helpers.tpl`'s `nvflare.fullname`). `prepare` writes them from
//! the kit and the runtime config; everything that reads a prepared kit derives them
//! again from its values.yaml, with the same functions.

use crate::kit::Role;
use crate::names;

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
            _ => names::client_service_name(participant),
        };
        Derived {
            release: names::release_name(participant),
            object: object_for(role, participant, &service),
            service,
        }
    }
}

/// The chart's object name: the server's from its name, a client's from its Service.
pub fn object_for(role: Role, participant: &str, service: &str) -> String {
    match role {
        Role::Server => object_name(participant),
        _ => object_name(service),
    }
}

/// `_helpers.tpl`'s `nvflare.objectName`: the name when it is a DNS-1123 subdomain of at
/// most 63 characters, else the stable sanitized name.
pub fn object_name(raw: &str) -> String {
    if raw.len() <= 63 && names::is_dns1123_subdomain(raw) {
        raw.to_string()
    } else {
        names::stable_k8s_name(raw, 63)
    }
}

/// The suffix NVFlare's Kubernetes launcher (2.8 and 2.9, `job_pod_name`) gives every
/// job pod of a site: `-<site_name_to_rfc1123(site, 20)>`, so a site's job pods are the
/// pods whose name ends with it.
pub fn job_pod_suffix(site: &str) -> String {
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

#[cfg(test)]
mod tests {
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
        assert_eq!(client.release, names::release_name("Hospital_A"));
        assert_eq!(client.object, object_name(&client.service));
    }
}
