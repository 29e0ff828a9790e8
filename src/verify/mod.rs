//! `verify`: the guide's "Verify The Deployment" and "Troubleshooting" as one check list.
//! Each check passes, warns or fails; every failure carries the guide's hint. Offline
//! checks read only the prepared kit (and the local kubeconfig); cluster checks call
//! kubectl read-only.

mod certs;
mod cluster;
mod offline;

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::kubectl::{ClusterSettings, Kubectl};
use crate::stage::prepared_kit::PreparedKit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    pub message: String,
    pub hint: String,
}

impl Check {
    pub fn pass(id: &'static str, message: impl Into<String>) -> Check {
        Check {
            id,
            status: Status::Pass,
            message: message.into(),
            hint: String::new(),
        }
    }
    pub fn skip(id: &'static str, message: impl Into<String>) -> Check {
        Check {
            id,
            status: Status::Skip,
            message: message.into(),
            hint: String::new(),
        }
    }
    pub fn warn(id: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            id,
            status: Status::Warn,
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn fail(id: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            id,
            status: Status::Fail,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub kit: PathBuf,
    pub cluster: ClusterSettings,
    pub release: Option<String>,
    pub timeout_seconds: u64,
    pub offline: bool,
}

pub struct Report {
    pub checks: Vec<Check>,
    pub namespace: String,
    pub release: String,
}

impl Report {
    pub fn verdict(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .filter(|s| *s != Status::Skip)
            .max()
            .unwrap_or(Status::Pass)
    }

    pub fn to_json(&self) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert("verdict".into(), json!(self.verdict().as_str()));
        data.insert("namespace".into(), json!(self.namespace));
        data.insert("release".into(), json!(self.release));
        data.insert(
            "checks".into(),
            self.checks
                .iter()
                .map(|c| {
                    let mut entry =
                        json!({"check": c.id, "status": c.status.as_str(), "message": c.message});
                    if !c.hint.is_empty() {
                        entry["hint"] = json!(c.hint);
                    }
                    entry
                })
                .collect(),
        );
        data
    }
}

pub fn verify(settings: &VerifySettings) -> Result<Report> {
    if let Some(release) = settings
        .release
        .as_deref()
        .filter(|r| !crate::names::is_release_name(r))
    {
        return Err(crate::error::Error::invalid_args(
            format!("--release {release:?} is not a valid Helm release name."),
            "Release names are lower case letters, digits, '-' and '.', at most 53 characters (helm list shows them).",
        ));
    }
    let kit = PreparedKit::open(&settings.kit)?;
    let namespace = crate::kubectl::requested_namespace(&settings.cluster)
        .unwrap_or_else(|| kit.namespace.clone());
    let release = settings
        .release
        .clone()
        .unwrap_or_else(|| kit.release.clone());
    let kubectl = Kubectl::new(&ClusterSettings {
        dry_run: false,
        timeout_seconds: settings.timeout_seconds,
        ..settings.cluster.clone()
    })?;
    let mut checks = offline::checks(&kit, &namespace);
    checks.push(certs::kubeconfig_ca(&kubectl));
    if !settings.offline {
        checks.extend(cluster::checks(
            &kubectl,
            &kit,
            &namespace,
            &release,
            settings.timeout_seconds,
        )?);
    }
    Ok(Report {
        checks,
        namespace,
        release,
    })
}
