//! `verify`: the guide's "Verify The Deployment" and "Troubleshooting" as one check list.
//! Each check passes, warns or fails; every failure carries the guide's hint. Offline
//! checks read only the prepared kit (and the local kubeconfig); cluster checks call
//! kubectl read-only.

mod certs;
mod cluster;
mod offline;

use std::path::PathBuf;

use crate::error::Result;
use crate::kubectl::{ClusterSettings, Kubectl};
use crate::prepared::kit::PreparedKit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    #[serde(rename = "check")]
    pub id: &'static str,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
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
    /// A certificate expiring within this many days is a warning (`--warn-expiry`).
    pub warn_expiry_days: i64,
    /// Values files the release is (or will be) installed with (`-f`).
    pub values_files: Vec<PathBuf>,
}

/// Every check `verify` made, and the verdict: the worst status that is not a skip.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub verdict: Status,
    pub namespace: String,
    pub release: String,
    pub checks: Vec<Check>,
}

impl Report {
    fn new(namespace: String, release: String, checks: Vec<Check>) -> Report {
        let verdict = checks
            .iter()
            .map(|c| c.status)
            .filter(|s| *s != Status::Skip)
            .max()
            .unwrap_or(Status::Pass);
        Report {
            verdict,
            namespace,
            release,
            checks,
        }
    }

    /// 1 when a check failed, 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.verdict == Status::Fail)
    }
}

impl crate::output::Report for Report {
    fn exit_code(&self) -> i32 {
        Report::exit_code(self)
    }

    fn text(&self) -> String {
        use crate::terminal::escape;
        let mut lines = vec![format!(
            "release {} in namespace {}",
            escape(&self.release),
            escape(&self.namespace)
        )];
        for check in &self.checks {
            lines.push(format!(
                "{:<4}  {:<18}  {}",
                check.status.as_str().to_ascii_uppercase(),
                check.id,
                escape(&check.message)
            ));
            if !check.hint.is_empty() && check.status != Status::Pass {
                lines.push(format!("      {:<18}  hint: {}", "", escape(&check.hint)));
            }
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        lines.push(format!(
            "verdict: {} ({} failed, {} warnings, {} checks)",
            self.verdict.as_str(),
            count(Status::Fail),
            count(Status::Warn),
            self.checks.len()
        ));
        lines.join("\n")
    }
}

/// `--warn-expiry`'s default: 30 days.
pub const DEFAULT_WARN_EXPIRY_DAYS: i64 = certs::EXPIRY_WARNING_DAYS;

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
    let values_files = crate::chart::values_files::read(&settings.values_files)?;
    let namespace = settings
        .cluster
        .requested_namespace()
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
    let mut checks = offline::checks(&kit, &namespace, &values_files, settings.warn_expiry_days);
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
    Ok(Report::new(namespace, release, checks))
}
