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
            if !dir.join(sub).is_dir() {
                return Err(not_prepared(&dir, &format!("{sub}/ is missing")));
            }
        }
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
        let pull_secrets = values["imagePullSecrets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(PreparedKit {
            participant,
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

/// `_helpers.tpl`'s `nvflare.objectName`: the name when it is a DNS-1123 subdomain of at
/// most 63 characters, else the stable sanitized name.
pub fn object_name(raw: &str) -> String {
    if raw.len() <= 63 && crate::names::is_dns1123_subdomain(raw) {
        raw.to_string()
    } else {
        crate::names::stable_k8s_name(raw, 63)
    }
}
