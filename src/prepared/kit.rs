//! A folder `prepare` wrote for the Kubernetes runtime, read back for staging: who it is
//! for and what its chart expects (namespace, PVC, mount path, pull secrets, identity).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chart::values::ChartValues;
use crate::chart::CHART_DIR;
use crate::error::{Code, Error, Result};
use crate::kit::Role;
use crate::kit::RESOURCES_JSON_DEFAULT;
use crate::nvflare_version::NvflareVersion;

#[derive(Debug, Clone)]
pub struct PreparedKit {
    pub dir: PathBuf,
    /// The participant's name, exactly (from values.yaml).
    pub participant: String,
    pub role: Role,
    pub release: String,
    /// The namespace the kit's job launcher creates job pods in.
    pub namespace: String,
    /// The chart's values.yaml, typed.
    pub values: ChartValues,
    /// The NVFlare release the kit was prepared for (charts older than the annotation: 2.9).
    pub nvflare_version: NvflareVersion,
}

fn not_prepared(dir: &Path, why: &str) -> Error {
    Error::new(
        Code::NotPrepared,
        format!(
            "{} is not a kit prepared for Kubernetes: {why}.",
            dir.display()
        ),
        "Give the --output folder of `helm nvflare prepare` run with a `runtime: k8s` config.",
    )
}

impl PreparedKit {
    pub fn open(dir: &Path) -> Result<PreparedKit> {
        let dir = crate::fs_tree::resolve(dir);
        for sub in ["startup", "local", CHART_DIR] {
            if !std::fs::symlink_metadata(dir.join(sub)).is_ok_and(|m| m.is_dir()) {
                return Err(not_prepared(&dir, &format!("{sub}/ is missing")));
            }
        }
        refuse_links(&dir)?;
        let chart_text = std::fs::read_to_string(dir.join(CHART_DIR).join("Chart.yaml"))
            .map_err(|_| not_prepared(&dir, "helm_chart/Chart.yaml is missing"))?;
        let chart: Value = serde_saphyr::from_str(&chart_text)
            .map_err(|_| not_prepared(&dir, "helm_chart/Chart.yaml does not parse"))?;
        let annotation = |key: &str| chart["annotations"][key].as_str().map(str::to_string);
        let role = match annotation("nvflare/role").as_deref() {
            Some("server") => Role::Server,
            Some("client") => Role::Client,
            _ => {
                return Err(not_prepared(
                    &dir,
                    "its chart was not written by helm nvflare prepare",
                ))
            }
        };
        let release = annotation("nvflare/release").ok_or_else(|| {
            not_prepared(&dir, "its chart was not written by helm nvflare prepare")
        })?;
        let nvflare_version = match annotation("nvflare/nvflare-version") {
            None => NvflareVersion::CURRENT,
            Some(text) => NvflareVersion::parse(&text).ok_or_else(|| {
                not_prepared(
                    &dir,
                    "its chart names an NVFlare release helm nvflare does not know",
                )
            })?,
        };
        let values_text = std::fs::read_to_string(dir.join(CHART_DIR).join("values.yaml"))
            .map_err(|_| not_prepared(&dir, "helm_chart/values.yaml is missing"))?;
        let values: ChartValues = serde_saphyr::from_str(&values_text).map_err(|e| {
            not_prepared(
                &dir,
                &format!(
                    "helm_chart/values.yaml does not hold the chart's values ({})",
                    e.to_string().lines().next().unwrap_or_default()
                ),
            )
        })?;
        let resources = crate::json_file::load_object(
            &dir.join("local").join(RESOURCES_JSON_DEFAULT),
            RESOURCES_JSON_DEFAULT,
        )
        .map_err(|_| not_prepared(&dir, "local/resources.json.default is missing or invalid"))?;
        let launcher = resources
            .get("components")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["id"] == "k8s_launcher"))
            .ok_or_else(|| {
                not_prepared(&dir, "local/resources.json.default has no k8s_launcher")
            })?;
        let namespace = launcher["args"]["namespace"]
            .as_str()
            .unwrap_or(crate::runtime_config::DEFAULT_NAMESPACE)
            .to_string();
        check_names(&dir, &release, &namespace, &values)?;
        Ok(PreparedKit {
            participant: values.name.clone(),
            role,
            release,
            namespace,
            values,
            nvflare_version,
            dir,
        })
    }

    /// When the first of the kit's certificates expires (its own, `rootCA.pem`, and
    /// `job_ca.crt` when it has one), as `YYYY-MM-DD` (UTC), naming which when it is not
    /// the participant's own, and `(within N days)` when that is sooner than `warn_days`.
    /// None when the participant's certificate cannot be read.
    pub fn certificate_expiry(&self, warn_days: i64) -> Option<String> {
        let not_after = |name: &str| -> Option<i64> {
            let bytes = std::fs::read(self.dir.join("startup").join(name)).ok()?;
            let pem = x509_parser::pem::Pem::iter_from_buffer(&bytes)
                .next()?
                .ok()?;
            let cert = pem.parse_x509().ok()?;
            Some(cert.validity().not_after.timestamp())
        };
        let own = if self.is_server() {
            "server.crt"
        } else {
            "client.crt"
        };
        let first = [(own, "", not_after(own)?)]
            .into_iter()
            .chain(not_after("rootCA.pem").map(|t| ("rootCA.pem", " (root CA)", t)))
            .chain(not_after("job_ca.crt").map(|t| ("job_ca.crt", " (job CA)", t)))
            .min_by_key(|(_, _, t)| *t)?;
        let now = crate::provenance::keyring::now_secs() as i64;
        let days = (first.2 - now).div_euclid(86_400);
        let soon = if first.2 < now {
            " (expired)".to_string()
        } else if days < warn_days {
            format!(" (within {days} days)")
        } else {
            String::new()
        };
        Some(format!(
            "{}{}{soon}",
            crate::provenance::keyring::date(u64::try_from(first.2).unwrap_or(0)),
            first.1
        ))
    }

    pub(crate) fn is_server(&self) -> bool {
        self.role == Role::Server
    }

    pub(crate) fn claim_name(&self) -> &str {
        &self.values.persistence.workspace.claim_name
    }

    pub fn mount_path(&self) -> &str {
        &self.values.persistence.workspace.mount_path
    }

    pub fn pull_secrets(&self) -> Vec<String> {
        self.values
            .image_pull_secrets
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// The Deployment, ServiceAccount and Role name the chart renders (`nvflare.fullname`).
    pub(crate) fn object_name(&self) -> String {
        crate::names::object_for(self.role, &self.values.name, &self.values.service_name)
    }

    /// The ServiceAccount the parent pod (and its launcher) runs as.
    pub(crate) fn service_account(&self) -> String {
        let account = &self.values.service_account;
        match account.name.as_str() {
            "" if !account.create => "default".into(),
            "" => self.object_name(),
            name => crate::names::object_name(name),
        }
    }

    pub(crate) fn service_name(&self) -> &str {
        &self.values.service_name
    }

    /// The role file in `startup/`.
    pub(crate) fn role_file(&self) -> &'static str {
        self.role.role_file()
    }
}

/// What is staged and packaged must be the folder's own files: a symlink in startup/,
/// local/ or the chart would ship whatever it points at into the cluster or an archive.
fn refuse_links(dir: &Path) -> Result<()> {
    let mut irregular = Vec::new();
    for sub in ["startup", "local", CHART_DIR] {
        let entries = crate::fs_tree::walk(&dir.join(sub), &|_| false)
            .map_err(|e| not_prepared(dir, &format!("{sub}/ cannot be read: {e}")))?;
        irregular.extend(
            crate::fs_tree::irregular(&entries)
                .into_iter()
                .map(|rel| format!("{sub}/{rel}")),
        );
    }
    if irregular.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        Code::InvalidKit,
        format!(
            "{} holds entries that are not regular files or folders: {}",
            dir.display(),
            irregular.join(", ")
        ),
        "Prepare the kit again with `helm nvflare prepare` (it never writes links) and stage that output.",
    ))
}

/// Every name read back from the folder reaches kubectl: each must be valid for its kind
/// (so none can be read as a flag), whoever wrote the files.
fn check_names(dir: &Path, release: &str, namespace: &str, values: &ChartValues) -> Result<()> {
    let bad = |what: &str, value: &str| {
        Err(not_prepared(
            dir,
            &format!("its {what} {value:?} is not a valid Kubernetes name"),
        ))
    };
    if !crate::names::is_release_name(release) {
        return bad("release", release);
    }
    if !crate::names::is_dns1123_label(namespace) {
        return bad("namespace", namespace);
    }
    let claim = &values.persistence.workspace.claim_name;
    if !crate::names::is_dns1123_subdomain(claim) {
        return bad("workspace PVC", claim);
    }
    if let Some(secret) = values
        .image_pull_secrets
        .iter()
        .find(|s| !crate::names::is_dns1123_subdomain(&s.name))
    {
        return bad("image pull secret", &secret.name);
    }
    if !crate::names::is_dns1035_label(&values.service_name) {
        return bad("serviceName", &values.service_name);
    }
    let account = &values.service_account.name;
    if !account.is_empty() && !crate::names::is_dns1123_subdomain(account) {
        return bad("serviceAccount.name", account);
    }
    let config = &values.workspace_config;
    for name in [&config.local.config_map_name, &config.startup.secret_name] {
        if !name.is_empty() && !crate::names::is_dns1123_subdomain(name) {
            return bad("workspaceConfig object", name);
        }
    }
    Ok(())
}
