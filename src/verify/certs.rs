//! Certificate checks: the kit's identity chains to its root CA, is in date, and (for a
//! server) names the host clients dial; the cluster CA in kubeconfig passes Python 3.13's
//! strict X.509 validation (keyUsage with certificate signing).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::Value;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::*;

use super::Check;
use crate::kit::FED_SERVER_JSON;
use crate::kubectl::{args, Kubectl};
use crate::prepared::kit::PreparedKit;

/// `verify --warn-expiry`'s default.
pub const EXPIRY_WARNING_DAYS: i64 = 30;
/// Longer chains are not what `nvflare provision` or a site's PKI makes.
const MAX_CHAIN: usize = 8;

fn read_pems(path: &Path) -> Result<Vec<Pem>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let pems: Vec<Pem> = Pem::iter_from_buffer(&bytes)
        .filter_map(|p| p.ok())
        .collect();
    if pems.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(pems)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn expiry(id: &'static str, label: &str, cert: &X509Certificate, warn_days: i64) -> Check {
    let not_after = cert.validity().not_after.timestamp();
    let not_before = cert.validity().not_before.timestamp();
    let days_left = (not_after - now()).div_euclid(86400);
    let hint = "Reprovision with `nvflare provision`, prepare the kits again, restage startup/ and run helm upgrade.";
    if now() > not_after {
        return Check::fail(
            id,
            format!("{label} expired on {}", cert.validity().not_after),
            hint,
        );
    }
    if now() < not_before {
        return Check::fail(
            id,
            format!("{label} is not valid before {}", cert.validity().not_before),
            "Check the clocks, or reprovision.",
        );
    }
    if days_left < warn_days {
        return Check::warn(
            id,
            format!(
                "{label} expires in {days_left} days ({})",
                cert.validity().not_after
            ),
            hint,
        );
    }
    Check::pass(
        id,
        format!(
            "{label} valid until {} ({days_left} days)",
            cert.validity().not_after
        ),
    )
}

/// The chain from `leaf` to one of `roots`, through `intermediates` (any order): the
/// subjects of the certificates above the leaf, or why there is none (a broken or
/// missing link, a link out of date).
fn chain<'a>(
    leaf: &X509Certificate<'a>,
    intermediates: &[X509Certificate<'a>],
    roots: &[X509Certificate<'a>],
) -> Result<Vec<String>, String> {
    let signs = |issuer: &X509Certificate, cert: &X509Certificate| {
        issuer.subject() == cert.issuer()
            && cert.verify_signature(Some(issuer.public_key())).is_ok()
    };
    let mut above = Vec::new();
    let mut current = leaf;
    for _ in 0..MAX_CHAIN {
        if let Some(root) = roots.iter().find(|r| signs(r, current)) {
            above.push(root.subject().to_string());
            return Ok(above);
        }
        let Some(next) = intermediates
            .iter()
            .find(|i| signs(i, current) && *i != current)
        else {
            return Err(format!(
                "nothing in rootCA.pem or the certificate file signed {}",
                current.subject()
            ));
        };
        let now = now();
        if next.validity().not_after.timestamp() < now
            || next.validity().not_before.timestamp() > now
        {
            return Err(format!(
                "intermediate {} is out of date ({})",
                next.subject(),
                next.validity().not_after
            ));
        }
        if !next.is_ca() {
            return Err(format!("{} signed it but is not a CA", next.subject()));
        }
        above.push(next.subject().to_string());
        current = next;
    }
    Err(format!("the chain is longer than {MAX_CHAIN} certificates"))
}

fn parse_all<'a>(pems: &'a [Pem]) -> Vec<X509Certificate<'a>> {
    pems.iter().filter_map(|p| p.parse_x509().ok()).collect()
}

/// `warn_days`: a certificate expiring sooner is a warning (`--warn-expiry`).
pub(crate) fn kit_certificates(kit: &PreparedKit, warn_days: i64) -> Vec<Check> {
    let startup = kit.dir.join("startup");
    let base = if kit.is_server() { "server" } else { "client" };
    let cert_file = format!("{base}.crt");
    let (ca_pems, leaf_pems) = match (
        read_pems(&startup.join("rootCA.pem")),
        read_pems(&startup.join(&cert_file)),
    ) {
        (Ok(ca), Ok(leaf)) => (ca, leaf),
        (Err(e), _) | (_, Err(e)) => {
            return vec![Check::fail(
                "certificate-chain",
                e,
                "Use a fully provisioned startup kit.",
            )]
        }
    };
    let roots = parse_all(&ca_pems);
    let bundle = parse_all(&leaf_pems);
    let (Some(ca), Some((leaf, intermediates))) = (roots.first(), bundle.split_first()) else {
        return vec![Check::fail(
            "certificate-chain",
            "rootCA.pem or the certificate does not parse",
            "Use a fully provisioned startup kit.",
        )];
    };
    let mut checks = Vec::new();
    checks.push(match chain(leaf, intermediates, &roots) {
        Ok(above) if above.len() == 1 => Check::pass("certificate-chain", format!("startup/{cert_file} is signed by rootCA.pem ({})", above[0])),
        Ok(above) => Check::pass(
            "certificate-chain",
            format!("startup/{cert_file} chains to rootCA.pem through {}", above.join(" -> ")),
        ),
        Err(why) => Check::fail(
            "certificate-chain",
            format!("startup/{cert_file} (issuer {}) does not chain to startup/rootCA.pem ({}): {why}", leaf.issuer(), ca.subject()),
            "The kit mixes certificates from two provisionings, or its file lacks an intermediate: reprovision (or put the intermediates after the certificate in its file) and prepare the kit again.",
        ),
    });
    checks.push(expiry(
        "certificate-expiry",
        &format!("startup/{cert_file}"),
        leaf,
        warn_days,
    ));
    checks.push(expiry("ca-expiry", "startup/rootCA.pem", ca, warn_days));
    checks.push(usage(kit, &cert_file, leaf));
    if let Some(job_ca) = job_ca(&startup, &roots, warn_days) {
        checks.push(job_ca);
    }
    if kit.is_server() {
        checks.push(server_host(kit, leaf));
    }
    checks
}

/// The extended key usage the kit's links need, when the certificate limits it: a
/// server serves TLS (serverAuth); a client dials the server (clientAuth) and, from
/// NVFlare 2.9, is the TLS server of its own internal link to job pods (serverAuth).
fn usage(kit: &PreparedKit, cert_file: &str, cert: &X509Certificate) -> Check {
    const ID: &str = "certificate-usage";
    let eku = match cert.extended_key_usage() {
        Ok(Some(ext)) => ext.value,
        Ok(None) => {
            return Check::pass(
                ID,
                format!("startup/{cert_file} does not limit its key usage"),
            )
        }
        Err(_) => {
            return Check::fail(
                ID,
                format!("startup/{cert_file}'s extended key usage does not parse"),
                "Reprovision the kit.",
            )
        }
    };
    let mut needs = Vec::new();
    if kit.is_server() || kit.nvflare_version.has_study_runtime() {
        needs.push(("serverAuth", eku.server_auth));
    }
    if !kit.is_server() {
        needs.push(("clientAuth", eku.client_auth));
    }
    let missing: Vec<&str> = needs
        .iter()
        .filter(|(_, has)| !has && !eku.any)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Check::pass(
            ID,
            format!(
                "startup/{cert_file} allows {}",
                needs
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        );
    }
    let why = if kit.is_server() {
        "the server's certificate serves TLS to clients"
    } else if missing.contains(&"serverAuth") {
        "from NVFlare 2.9 the client parent is the TLS server of its internal link to job pods"
    } else {
        "the client's certificate dials the server"
    };
    Check::fail(
        ID,
        format!("startup/{cert_file}'s extended key usage lacks {}: {why}", missing.join(" and ")),
        "Reissue the certificate with that extended key usage (or none), or reprovision with `nvflare provision`.",
    )
}

/// `startup/job_ca.crt` (NVFlare's per-job CA), when the kit has one: it chains to
/// rootCA.pem, is a CA, and is in date.
fn job_ca(startup: &Path, roots: &[X509Certificate], warn_days: i64) -> Option<Check> {
    const ID: &str = "job-ca";
    let path = startup.join("job_ca.crt");
    path.symlink_metadata().ok()?;
    let pems = match read_pems(&path) {
        Ok(p) => p,
        Err(e) => return Some(Check::fail(ID, e, "Reprovision the server kit.")),
    };
    let certs = parse_all(&pems);
    let Some((cert, intermediates)) = certs.split_first() else {
        return Some(Check::fail(
            ID,
            "startup/job_ca.crt does not parse",
            "Reprovision the server kit.",
        ));
    };
    if !cert.is_ca() {
        return Some(Check::fail(
            ID,
            format!(
                "startup/job_ca.crt ({}) is not a CA certificate",
                cert.subject()
            ),
            "Reprovision the server kit.",
        ));
    }
    if let Err(why) = chain(cert, intermediates, roots) {
        return Some(Check::fail(
            ID,
            format!("startup/job_ca.crt ({}) does not chain to startup/rootCA.pem: {why}", cert.subject()),
            "The job CA comes from another provisioning: reprovision the server kit and prepare it again.",
        ));
    }
    let dated = expiry(ID, "startup/job_ca.crt", cert, warn_days);
    Some(match dated.status {
        super::Status::Pass => Check::pass(
            ID,
            format!(
                "startup/job_ca.crt chains to rootCA.pem; {}",
                dated.message.trim_start_matches("startup/job_ca.crt ")
            ),
        ),
        _ => dated,
    })
}

/// The names a certificate is valid for: its DNS and IP SANs, or its CN when it has none.
fn names_of(cert: &X509Certificate) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => names.push(d.to_ascii_lowercase()),
                GeneralName::IPAddress(ip) if ip.len() == 4 => {
                    names.push(format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]))
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    names
}

fn matches(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(_, rest)| rest == suffix),
        None => name == host,
    }
}

/// Clients dial fed_server.json's `service.target` host; the server certificate must name it.
fn server_host(kit: &PreparedKit, cert: &X509Certificate) -> Check {
    const ID: &str = "server-host";
    let fed = crate::json_file::load_object(
        &kit.dir.join("startup").join(FED_SERVER_JSON),
        FED_SERVER_JSON,
    )
    .map(Value::Object)
    .unwrap_or(Value::Null);
    let target = fed["servers"][0]["service"]["target"]
        .as_str()
        .unwrap_or_default();
    let host = target
        .rsplit_once(':')
        .map_or(target, |(h, _)| h)
        .to_ascii_lowercase();
    if host.is_empty() {
        return Check::skip(ID, "fed_server.json names no service target");
    }
    let names = names_of(cert);
    if names.iter().any(|n| matches(n, &host)) {
        return Check::pass(
            ID,
            format!("server.crt names {host}, the host clients connect to"),
        );
    }
    Check::fail(
        ID,
        format!("server.crt is valid for [{}] but clients connect to {host}", names.join(", ")),
        "The server certificate must include the DNS name in host_names: fix default_host/host_names in project.yml, reprovision, restage and redeploy.",
    )
}

/// The kubeconfig's cluster CA, which the parent's Kubernetes client (Python 3.13+)
/// rejects without keyUsage/keyCertSign: `CA cert does not include key usage extension`.
pub(crate) fn kubeconfig_ca(kubectl: &Kubectl) -> Check {
    const ID: &str = "kubeconfig-ca";
    let view = args(&["config", "view", "--raw", "--minify", "-o", "json"]);
    let config: Value = match kubectl.call(&view, None, false) {
        Ok(Ok(text)) => serde_json::from_str(&text).unwrap_or(Value::Null),
        // kubectl says "current-context must exist in order to minify"; say it plainly.
        Ok(Err(f)) if f.stderr.contains("current-context") => {
            return Check::skip(ID, "no current context in the kubeconfig: nothing to check")
        }
        Ok(Err(f)) => {
            return Check::skip(
                ID,
                format!(
                    "kubectl could not show the kubeconfig: {}",
                    f.stderr.lines().next().unwrap_or_default()
                ),
            )
        }
        Err(e) => return Check::skip(ID, e.message),
    };
    let cluster = &config["clusters"][0]["cluster"];
    let pem_bytes = if let Some(data) = cluster["certificate-authority-data"].as_str() {
        match base64::engine::general_purpose::STANDARD.decode(data.trim()) {
            Ok(bytes) => bytes,
            Err(_) => {
                return Check::fail(
                    ID,
                    "certificate-authority-data is not base64",
                    "Fix the kubeconfig.",
                )
            }
        }
    } else if let Some(path) = cluster["certificate-authority"].as_str() {
        match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Check::warn(
                    ID,
                    format!("cannot read the cluster CA {path}: {e}"),
                    "Check the kubeconfig.",
                )
            }
        }
    } else {
        return Check::skip(
            ID,
            "the kubeconfig names no cluster CA (system trust store)",
        );
    };
    let Some(pem) = Pem::iter_from_buffer(&pem_bytes)
        .filter_map(|p| p.ok())
        .next()
    else {
        return Check::fail(
            ID,
            "the cluster CA is not a PEM certificate",
            "Fix the kubeconfig.",
        );
    };
    let Ok(ca) = pem.parse_x509() else {
        return Check::fail(ID, "the cluster CA does not parse", "Fix the kubeconfig.");
    };
    let hint = "Regenerate or replace the cluster CA with an RFC 5280-compliant CA (keyUsage with keyCertSign). Temporary workaround for development clusters: a parent image on Python 3.12 or earlier. Do not disable API TLS verification in production.";
    match ca.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() => Check::pass(ID, format!("cluster CA {} has keyUsage with certificate signing", ca.subject())),
        Ok(Some(_)) => Check::fail(ID, format!("cluster CA {} has keyUsage without certificate signing", ca.subject()), hint),
        _ => Check::fail(ID, format!("cluster CA {} does not include the key usage extension (Python 3.13+ clients reject it)", ca.subject()), hint),
    }
}
