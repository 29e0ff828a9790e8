//! A folder `prepare` wrote for the Kubernetes runtime, read back for staging: who it is
//! for and what its chart expects (namespace, PVC, mount path, pull secrets, identity).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chart::CHART_DIR;
use crate::error::{Code, Error, Result};
use crate::kit::RESOURCES_JSON_DEFAULT;

#[derive(Debug, Clone)]
pub struct PreparedKit {
    pub dir: PathBuf,
    pub participant: String,
    pub role: String,
    pub release: String,
    /// The namespace the kit's job launcher creates job pods in.
    pub namespace: String,
    pub claim_name: String,
    pub pull_secrets: Vec<String>,
    /// The chart's pod security context (`securityContext` value).
    pub security_context: Value,
    /// The chart's values.yaml.
    pub values: Value,
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
        let (Some(participant), Some(role), Some(release)) = (
            annotation("nvflare/participant"),
            annotation("nvflare/role"),
            annotation("nvflare/release"),
        ) else {
            return Err(not_prepared(
                &dir,
                "its chart was not written by helm nvflare prepare",
            ));
        };
        let values_text = std::fs::read_to_string(dir.join(CHART_DIR).join("values.yaml"))
            .map_err(|_| not_prepared(&dir, "helm_chart/values.yaml is missing"))?;
        let values: Value = serde_saphyr::from_str(&values_text)
            .map_err(|_| not_prepared(&dir, "helm_chart/values.yaml does not parse"))?;
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
            .unwrap_or("default")
            .to_string();
        let claim_name = values["persistence"]["workspace"]["claimName"]
            .as_str()
            .unwrap_or("nvflws")
            .to_string();
        let pull_secrets: Vec<String> = values["imagePullSecrets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        check_names(
            &dir,
            &release,
            &namespace,
            &claim_name,
            &pull_secrets,
            &values,
        )?;
        Ok(PreparedKit {
            // Chart.yaml shows the name escaped; values.yaml holds it exactly.
            participant: values["name"]
                .as_str()
                .map(str::to_string)
                .unwrap_or(participant),
            role,
            release,
            namespace,
            claim_name,
            pull_secrets,
            security_context: values["securityContext"].clone(),
            values,
            dir,
        })
    }

    pub fn is_server(&self) -> bool {
        self.role == "server"
    }

    /// The Deployment, ServiceAccount and Role name the chart renders (`nvflare.fullname`).
    pub fn object_name(&self) -> String {
        let raw = if self.is_server() {
            self.values["name"].as_str()
        } else {
            self.values["serviceName"].as_str()
        };
        object_name(raw.unwrap_or(&self.participant))
    }

    /// The ServiceAccount the parent pod (and its launcher) runs as.
    pub fn service_account(&self) -> String {
        match self.values["serviceAccount"]["name"]
            .as_str()
            .filter(|n| !n.is_empty())
        {
            Some(name) => object_name(name),
            None if self.values["serviceAccount"]["create"] == Value::Bool(false) => {
                "default".into()
            }
            None => self.object_name(),
        }
    }

    pub fn service_name(&self) -> String {
        self.values["serviceName"]
            .as_str()
            .unwrap_or_default()
            .to_string()
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
fn check_names(
    dir: &Path,
    release: &str,
    namespace: &str,
    claim: &str,
    pull_secrets: &[String],
    values: &Value,
) -> Result<()> {
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
    if !crate::names::is_dns1123_subdomain(claim) {
        return bad("workspace PVC", claim);
    }
    if let Some(secret) = pull_secrets
        .iter()
        .find(|s| !crate::names::is_dns1123_subdomain(s))
    {
        return bad("image pull secret", secret);
    }
    let service = values["serviceName"].as_str().unwrap_or_default();
    if !crate::names::is_dns1035_label(service) {
        return bad("serviceName", service);
    }
    if let Some(sa) = values["serviceAccount"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
    {
        if !crate::names::is_dns1123_subdomain(sa) {
            return bad("serviceAccount.name", sa);
        }
    }
    Ok(())
}

/// `_helpers.tpl`'s `nvflare.objectName`: the name when it is a DNS-1123 subdomain of at
/// most 63 characters, else the stable sanitized name.
pub fn object_name(raw: &str) -> String {
    if raw.len() <= 63 && crate::names::is_dns1123_subdomain(raw) {
        raw.to_string()
    } else {
        crate::names::stable_k8s_name(raw, 63)
    }
}
