//! `deploy`: from a prepared kit (or a prepared federation) to running, verified
//! participants, each where `targets.yaml` says. For each participant, in order: stage
//! (which creates the namespace when missing), `helm upgrade --install`, a wait for the
//! rollout, then `verify`. A federation's server goes first and must be ready and serving
//! before its clients go, in parallel (`--parallel`), each on its own cluster.
//!
//! Idempotent: staging is skipped when the stage record's fingerprint is the prepared
//! kit's, and Helm is not called when the release is deployed with the same chart, values
//! and staged files (a digest of them rides in the release's values, as
//! `global.helmNvflareDeploy`); such a participant is `unchanged` and keeps its revision.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Brief, Code, Error, Result};
use crate::kit::Role;
use crate::kubectl::{self, ClusterSettings, Kubectl};
use crate::output::{Output, Report};
use crate::prepared::summary::{self, KitSummary};
use crate::prepared::{fingerprint, stage_record};
use crate::stage::{self, PlanStep, StageSettings};
use crate::targets::{self, Chart, CommandDefaults, Target};
use crate::verify::{self, Status, VerifySettings};

/// The value that records what a deploy installed, in the release's own values.
pub const DIGEST_VALUE: &str = "global.helmNvflareDeploy";
/// The pod annotation that changes when the staged files change, so the parent restarts
/// and reads them (NVFlare reads startup/ and local/ when it starts).
pub const STAGED_ANNOTATION: &str = "podAnnotations.helm-nvflare/staged";

#[derive(Debug, Clone)]
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

/// How a participant's deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Installed or upgraded, rolled out and verified.
    Deployed,
    /// Already deployed exactly so: nothing was changed.
    Unchanged,
    /// Something failed; `error` says what, and in what state it left the cluster.
    Failed,
    /// `--dry-run`: nothing ran.
    Planned,
}

/// One participant's deploy.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    pub participant: String,
    pub role: Role,
    pub cluster: String,
    pub namespace: String,
    pub release: String,
    /// The Helm revision now deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    pub result: Outcome,
    /// `restaged`, `unchanged` or `planned`.
    pub staged: &'static str,
    /// verify's verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Brief>,
    /// `--dry-run`: every call, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub dry_run: bool,
    pub participants: Vec<Deployed>,
}

impl Report for DeployReport {
    fn exit_code(&self) -> i32 {
        crate::output::rows_exit_code(self.participants.iter().map(|p| p.error.as_ref()))
    }

    fn text(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            out.push_str(&crate::stage::participant_plans(
                self.participants.iter().map(|p| {
                    (
                        p.participant.as_str(),
                        p.cluster.as_str(),
                        p.namespace.as_str(),
                        p.plan.as_slice(),
                    )
                }),
            ));
        }
        let rows: Vec<[String; 6]> = self
            .participants
            .iter()
            .map(|p| {
                [
                    crate::terminal::escape(&p.participant),
                    crate::terminal::escape(&p.cluster),
                    p.namespace.clone(),
                    p.release.clone(),
                    p.revision.map_or("-".into(), |r| r.to_string()),
                    format!("{:?}", p.result).to_lowercase(),
                ]
            })
            .collect();
        out.push_str(&crate::output::table(
            [
                "PARTICIPANT",
                "CLUSTER",
                "NAMESPACE",
                "RELEASE",
                "REVISION",
                "RESULT",
            ],
            &rows,
        ));
        out.push_str(&crate::output::failures(
            self.participants
                .iter()
                .map(|p| (p.participant.as_str(), p.error.as_ref())),
        ));
        out
    }
}

/// The cluster a target names, on top of the command's.
pub fn cluster_for(target: &Target, base: &ClusterSettings, dry_run: bool) -> ClusterSettings {
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

pub fn deploy(settings: &DeploySettings, out: &Output) -> Result<DeployReport> {
    let targets = targets::resolve(
        &settings.source,
        settings.targets_file.as_deref(),
        &settings.defaults,
    )?;
    // Every values file is read (and its keys checked) before anything runs.
    for target in &targets {
        crate::chart::values_files::read(&target.values)?;
    }
    let dry_run = settings.cluster.dry_run;
    let (servers, clients): (Vec<&Target>, Vec<&Target>) =
        targets.iter().partition(|t| t.kit.role == Role::Server);
    let total = targets.len();
    let done = AtomicUsize::new(0);
    let progress = |d: &Deployed| {
        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
        if !dry_run {
            out.progress(
                n,
                total,
                &format!("participants deployed ({} {:?})", d.participant, d.result).to_lowercase(),
            );
        }
    };
    let mut results = Vec::new();
    for server in servers {
        let d = deploy_one(server, settings, out);
        progress(&d);
        results.push(d);
    }
    let parallel = settings.parallel.max(1);
    let client_results = crate::parallel::map(&clients, parallel, |t| {
        let d = deploy_one(t, settings, out);
        progress(&d);
        d
    });
    results.extend(client_results);
    Ok(DeployReport {
        dry_run,
        participants: results,
    })
}

/// One participant's deploy; a failure is its row, never the whole command's.
fn deploy_one(target: &Target, settings: &DeploySettings, out: &Output) -> Deployed {
    let mut row = Deployed {
        participant: target.participant.clone(),
        role: target.kit.role,
        cluster: target.cluster(),
        namespace: target.namespace.clone(),
        release: target.kit.release.clone(),
        revision: None,
        result: Outcome::Failed,
        staged: "unchanged",
        verdict: None,
        error: None,
        plan: Vec::new(),
    };
    if let Err(e) = deploy_steps(target, settings, out, &mut row) {
        row.result = Outcome::Failed;
        row.error = Some(e.into());
    }
    row
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
}

/// What is deployed now, None when nothing is. `helm history` and `helm get values` read
/// the same on Helm 3 and 4.
pub fn deployed_state(helm: &Kubectl, target: &Target) -> Result<Option<DeployedRelease>> {
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
    }))
}

/// What this deploy would install: chart, values files, `--set`s and staged files.
pub fn desired_digest(target: &Target, settings: &DeploySettings, staged: &str) -> Result<String> {
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

fn deploy_steps(
    target: &Target,
    settings: &DeploySettings,
    out: &Output,
    row: &mut Deployed,
) -> Result<()> {
    let dry_run = settings.cluster.dry_run;
    let cluster = cluster_for(target, &settings.cluster, dry_run);
    let kit = &target.kit;
    let release = &kit.release;

    // 1. Stage, unless what is staged is this kit already.
    let current = fingerprint::of(&kit.dir)?;
    let record = stage_record::read(&kit.dir)?;
    let staged_already = record.as_ref().is_some_and(|r| {
        r.fingerprint.as_deref() == Some(current.as_str())
            && r.namespace == target.namespace
            && r.method == target.method
    });
    if !staged_already || dry_run {
        let staged = stage::stage(
            &StageSettings {
                kit: kit.dir.clone(),
                method: target.method,
                cluster: cluster.clone(),
                pvc: None,
                create_pvc: settings.create_pvc,
                size: settings.size.clone(),
                storage_class: settings.storage_class.clone(),
                image: settings.stage_image.clone(),
                timeout_seconds: settings.timeout_seconds,
                run_as_user: settings.run_as_user,
            },
            out,
        )?;
        row.plan.extend(staged.dry_run.plan);
        row.staged = if dry_run { "planned" } else { "restaged" };
    }

    // 2. Helm, unless this exact deploy is what is deployed.
    let helm = Kubectl::helm(&cluster, settings.helm.clone())?;
    let digest = desired_digest(target, settings, &current)?;
    let state = if dry_run {
        None
    } else {
        deployed_state(&helm, target)?
    };
    if let Some(deployed) = &state {
        if deployed.status == "deployed"
            && deployed.digest.as_deref() == Some(digest.as_str())
            && row.staged == "unchanged"
        {
            row.revision = Some(deployed.revision);
            row.result = Outcome::Unchanged;
            let report = verify_target(target, &cluster, settings)?;
            row.verdict = Some(report.verdict);
            if report.verdict == Status::Fail {
                return Err(verify_failed(&report));
            }
            return Ok(());
        }
    }
    let mut args = vec!["upgrade".to_string(), "--install".into(), release.clone()];
    args.extend(release_args(target, settings, &digest, &current)?);
    let rollout = kubectl::args(&[
        "rollout",
        "status",
        &format!("deployment/{}", kit.object_name()),
        "--namespace",
        &target.namespace,
        &format!("--timeout={}s", settings.timeout_seconds),
    ]);
    let kubectl = Kubectl::new(&ClusterSettings {
        timeout_seconds: settings.timeout_seconds,
        ..cluster.clone()
    })?;
    if dry_run {
        row.plan.push(PlanStep {
            command: helm.display(&args),
            stdin: None,
            note: Some(format!("install or upgrade release {release}")),
        });
        row.plan.push(PlanStep {
            command: kubectl.display(&rollout),
            stdin: None,
            note: Some("wait for the rollout, then verify".into()),
        });
        row.result = Outcome::Planned;
        return Ok(());
    }
    if let Err(mut e) = helm.run(&args, None) {
        let before = match &state {
            Some(deployed) => format!("revision {} stays deployed", deployed.revision),
            None => "no revision was installed".into(),
        };
        if e.code == Code::Interrupted {
            // Helm was stopped mid-way: say so, never leave it unsaid.
            e.message = format!(
                "Interrupted while Helm was installing or upgrading {release}: {before} unless Helm got further; what was staged stays staged."
            );
            e.hint = format!(
                "Check with `helm status {release} -n {ns}` (a release left pending-install or pending-upgrade needs `helm rollback` or `helm uninstall`), then deploy again.",
                ns = target.namespace
            );
            return Err(e);
        }
        e.message = format!(
            "{} (helm upgrade --install {release}: {before}, unless Helm says otherwise: `helm status {release} -n {}`; what was staged stays staged)",
            e.message, target.namespace
        );
        return Err(e);
    }
    let after = deployed_state(&helm, target)?;
    row.revision = after.as_ref().map(|d| d.revision);
    if let Err(mut e) = kubectl.run(&rollout, None) {
        e.message = format!(
            "{} (revision {} of {release} is installed but its pods are not ready; verify says why)",
            e.message,
            row.revision.map_or("?".into(), |r| r.to_string())
        );
        return Err(e);
    }
    let report = verify_target(target, &cluster, settings)?;
    row.verdict = Some(report.verdict);
    if report.verdict == Status::Fail {
        return Err(verify_failed(&report));
    }
    row.result = Outcome::Deployed;
    Ok(())
}

/// What `helm upgrade [--install] <release>` is given after the release: the chart, the
/// namespace, the values (the operator's, then ours: the deploy digest, the staged-files
/// annotation, the kit summary) and the timeout.
pub fn release_args(
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
pub fn verify_target(
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

pub fn verify_failed(report: &verify::Report) -> Error {
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
