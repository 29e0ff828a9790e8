//! A participant's Helm release, as deploy and upgrade install it and status and undeploy
//! read it: which cluster a target names, what is deployed now (`helm history`, `helm get
//! values`), what an install would be (a digest of the chart, values and staged files),
//! the arguments of `helm upgrade` after the release name, and verify's verdict on it.

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Code, Error, Result};
use crate::kubectl::{self, ClusterSettings, Kubectl};
use crate::prepared::fingerprint;
use crate::prepared::summary::{self, KitSummary};
use crate::targets::{Chart, CommandDefaults, Target};
use crate::verify::{self, Status, VerifySettings};

/// The value that records what a deploy installed, in the release's own values.
pub const DIGEST_VALUE: &str = "global.helmNvflareDeploy";
/// The pod annotation that changes when the staged files change, so the parent restarts
/// and reads them (NVFlare reads startup/ and local/ when it starts).
pub const STAGED_ANNOTATION: &str = "podAnnotations.helm-nvflare/staged";

#[derive(Debug, Clone)]
/// How the participants' releases are installed: deploy's settings, which upgrade shares.
pub struct DeploySettings {
    /// A prepared kit, or a folder of prepared kits (a prepared federation).
    pub source: PathBuf,
    pub targets_file: Option<PathBuf>,
    pub defaults: CommandDefaults,
    /// The cluster flags and Helm's environment; each target's kubeconfig, context and
    /// namespace replace the cluster it names.
    pub cluster: ClusterSettings,
    /// `--helm`: the Helm to run [default: HELM_BIN, else helm].
    pub helm: Option<String>,
    /// `--set` values, passed to Helm as they are.
    pub sets: Vec<String>,
    /// Stage's own flags.
    pub create_pvc: bool,
    pub size: String,
    pub storage_class: Option<String>,
    pub stage_image: String,
    pub run_as_user: Option<i64>,
    /// Each wait: the helper pod, the rollout, Helm.
    pub timeout_seconds: u64,
    /// Clients deployed at once.
    pub parallel: usize,
}

/// The cluster a target names, on top of the command's.
pub(crate) fn cluster_for(
    target: &Target,
    base: &ClusterSettings,
    dry_run: bool,
) -> ClusterSettings {
    ClusterSettings {
        namespace: Some(target.namespace.clone()),
        context: target.context.clone().or_else(|| base.context.clone()),
        kubeconfig: target
            .kubeconfig
            .clone()
            .or_else(|| base.kubeconfig.clone()),
        dry_run,
        ..base.clone()
    }
}

/// A release as Helm has it now.
#[derive(Debug, Clone)]
pub struct DeployedRelease {
    pub revision: u64,
    /// Helm's status: `deployed`, `failed`, `pending-upgrade`, ...
    pub status: String,
    /// `nvflare-client-0.1.0`.
    pub chart: Option<String>,
    /// The digest a deploy recorded in the release's values.
    pub digest: Option<String>,
    /// The release's values as Helm computed them (`helm get values --all`; untrusted).
    pub values: Value,
}

/// What is deployed now, None when nothing is. `helm history` and `helm get values` read
/// the same on Helm 3 and 4.
pub(crate) fn deployed_state(helm: &Kubectl, target: &Target) -> Result<Option<DeployedRelease>> {
    let release = &target.kit.release;
    let history = helm.call(
        &kubectl::args(&[
            "history",
            release,
            "--namespace",
            &target.namespace,
            "--max",
            "1",
            "--output",
            "json",
        ]),
        None,
        false,
    )?;
    let history = match history {
        Ok(text) => text,
        Err(failure) if failure.stderr.contains("not found") => return Ok(None),
        Err(failure) => return Err(failure.into_error()),
    };
    let entries: Vec<Value> = serde_json::from_str(&history).unwrap_or_default();
    let Some(entry) = entries.last() else {
        return Ok(None);
    };
    let revision = match &entry["revision"] {
        Value::String(s) => s.parse().unwrap_or(0),
        v => v.as_u64().unwrap_or(0),
    };
    let status = entry["status"].as_str().unwrap_or_default().to_string();
    let chart = entry["chart"].as_str().map(crate::terminal::escape);
    let values = helm.run(
        &kubectl::args(&[
            "get",
            "values",
            release,
            "--namespace",
            &target.namespace,
            "--all",
            "--output",
            "json",
        ]),
        None,
    )?;
    let values: Value = serde_json::from_str(&values).unwrap_or(Value::Null);
    let digest = values["global"]["helmNvflareDeploy"]
        .as_str()
        .map(str::to_string);
    Ok(Some(DeployedRelease {
        revision,
        status,
        chart,
        digest,
        values,
    }))
}

/// What this deploy would install: chart, values files, `--set`s and staged files.
pub(crate) fn desired_digest(
    target: &Target,
    settings: &DeploySettings,
    staged: &str,
) -> Result<String> {
    let mut h = Sha256::new();
    match &target.chart {
        Chart::Local(dir) => {
            let parent = dir.parent().unwrap_or(dir);
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("helm_chart");
            h.update(fingerprint::of_folders(parent, &[name])?);
        }
        Chart::Oci {
            reference,
            version,
            keyring,
        } => {
            h.update(format!("{reference} {version:?} {}", keyring.is_some()));
        }
    }
    for file in &target.values {
        let bytes = std::fs::read(file).map_err(|e| {
            Error::invalid_args(
                format!("Cannot read values file {}: {e}", file.display()),
                "Check the path.",
            )
        })?;
        h.update(Sha256::digest(&bytes));
    }
    for set in &settings.sets {
        h.update(set.as_bytes());
        h.update([0]);
    }
    h.update(staged.as_bytes());
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// What `helm upgrade [--install] <release>` is given after the release: the chart, the
/// namespace, the values (the operator's, then ours: the deploy digest, the staged-files
/// annotation, the kit summary) and the timeout.
pub(crate) fn release_args(
    target: &Target,
    settings: &DeploySettings,
    digest: &str,
    staged: &str,
) -> Result<Vec<String>> {
    let mut args = Vec::new();
    match &target.chart {
        Chart::Local(dir) => args.push(kubectl::local_path(dir)?),
        Chart::Oci {
            reference,
            version,
            keyring,
        } => {
            args.push(reference.clone());
            if let Some(v) = version {
                args.extend(["--version".into(), v.clone()]);
            }
            if let Some(k) = keyring {
                args.extend([
                    "--verify".into(),
                    "--keyring".into(),
                    kubectl::local_path(k)?,
                ]);
            }
        }
    }
    args.extend(["--namespace".into(), target.namespace.clone()]);
    for file in &target.values {
        args.extend(["--values".into(), kubectl::local_path(file)?]);
    }
    for set in &settings.sets {
        args.extend(["--set".into(), set.clone()]);
    }
    let summary = KitSummary::of(&target.kit)?;
    args.extend([
        "--set-string".into(),
        format!("{DIGEST_VALUE}={digest}"),
        "--set-string".into(),
        format!("{STAGED_ANNOTATION}={}", &staged["sha256:".len()..][..16]),
        // JSON in --set-json is read whole (commas and dots in it stay), by Helm 3 and 4.
        "--set-json".into(),
        format!(
            "{}={}",
            summary::VALUE,
            serde_json::to_string(&summary).expect("a summary serializes")
        ),
        "--timeout".into(),
        format!("{}s", settings.timeout_seconds),
    ]);
    Ok(args)
}

/// verify, against the cluster the target names.
pub(crate) fn verify_target(
    target: &Target,
    cluster: &ClusterSettings,
    settings: &DeploySettings,
) -> Result<verify::Report> {
    verify::verify(&VerifySettings {
        kit: target.kit.dir.clone(),
        cluster: ClusterSettings {
            dry_run: false,
            ..cluster.clone()
        },
        release: Some(target.kit.release.clone()),
        timeout_seconds: settings.timeout_seconds.min(60),
        offline: false,
        warn_expiry_days: verify::DEFAULT_WARN_EXPIRY_DAYS,
        values_files: target.values.clone(),
    })
}

pub(crate) fn verify_failed(report: &verify::Report) -> Error {
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| format!("{}: {}", c.id, c.message))
        .collect();
    Error::new(
        Code::VerificationFailed,
        format!("deployed, but verify fails: {}", failed.join("; ")),
        format!(
            "Run `helm nvflare verify` on the prepared kit for every check and its hint (release {}, namespace {}).",
            report.release, report.namespace
        ),
    )
}
