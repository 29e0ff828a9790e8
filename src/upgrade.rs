//! `upgrade`: a running participant, or a running federation, onto new prepared kits (a
//! reprovision, a new image, a new NVFlare layout), as the guide's "Reprovisioning and
//! Upgrades" does by hand, in two passes.
//!
//! 1. Read only, for every participant: what is deployed (`helm history`, `helm get values
//!    --all`, the kit summary a deploy recorded), what the new kit changes, and whether
//!    job pods its parent launched are running. Any participant that is not deployed, or
//!    runs jobs (without `--force`), stops the whole upgrade before anything changes.
//!    `--dry-run` stops here and prints the plan.
//! 2. For each participant, the server first (the clients only once it is upgraded): back
//!    the server's workspace up; keep the staged `startup/` and `local/` on the PVC;
//!    restage; `helm upgrade --wait`; verify. A revision that does not become ready is
//!    rolled back: the kept files are staged again, then `helm rollback --wait`, so the
//!    previous revision's pods start on what they started on before.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::backup::{self, BackupSettings};
use crate::error::{Brief, Code, Error, Result};
use crate::kit::Role;
use crate::kubectl::{self, ClusterSettings, Kubectl};
use crate::output::{Output, Report};
use crate::prepared::summary::{self, Change, KitSummary};
use crate::prepared::{fingerprint, Method};
use crate::release::{self, cluster_for, deployed_state, DeploySettings, DeployedRelease};
use crate::stage::{self, PlanStep, StageSettings, WorkspaceSettings, WorkspaceStep};
use crate::targets::{self, Placement, Target};
use crate::verify::Status;

#[derive(Debug, Clone)]
pub struct UpgradeSettings {
    /// The targets, Helm, stage flags and timeouts, as for deploy.
    pub deploy: DeploySettings,
    /// Where the server's backup goes.
    pub backup_dir: PathBuf,
    pub max_backup_bytes: u64,
    /// Upgrade even while job pods run (they lose their parent).
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Upgraded,
    /// What is deployed is the new kit already.
    Unchanged,
    /// The new revision did not become ready; the previous one runs again.
    RolledBack,
    /// Refused or failed; `error` says what, and in what state it left the cluster.
    Failed,
    /// Not tried: the server before it was not upgraded, or another participant refused.
    Skipped,
    Planned,
}

#[derive(Debug, Clone, Serialize)]
pub struct Upgraded {
    #[serde(flatten)]
    pub at: Placement,
    /// The revision deployed before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_revision: Option<u64>,
    /// The revision deployed now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    pub result: Outcome,
    /// What the new kit changes (startup/ files by fingerprint only).
    pub changes: Vec<Change>,
    /// The server's backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
    /// Job pods running when the upgrade was planned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub running_jobs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Brief>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpgradeReport {
    pub dry_run: bool,
    pub participants: Vec<Upgraded>,
}

impl Report for UpgradeReport {
    fn exit_code(&self) -> i32 {
        crate::output::rows_exit_code(self.participants.iter().map(|p| p.error.as_ref()))
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.participants {
            out.push_str(&format!(
                "# {} ({}, namespace {}): {}\n",
                crate::terminal::escape(&p.at.participant),
                crate::terminal::escape(&p.at.cluster),
                p.at.namespace,
                if p.changes.is_empty() {
                    "no changes"
                } else {
                    "changes"
                }
            ));
            for c in &p.changes {
                out.push_str(&format!("  {}: {}\n", c.what, c.detail));
            }
            for job in &p.running_jobs {
                out.push_str(&format!(
                    "  running job pod: {}\n",
                    crate::terminal::escape(job)
                ));
            }
            if self.dry_run && !p.plan.is_empty() {
                out.push_str(&crate::stage::plan_text(&p.plan));
                out.push('\n');
            }
            out.push('\n');
        }
        if self.dry_run {
            out.push_str("(dry run: nothing was run)\n\n");
        }
        let rows: Vec<[String; 6]> = self
            .participants
            .iter()
            .map(|p| {
                let rev = |r: Option<u64>| r.map_or("-".into(), |r| r.to_string());
                [
                    crate::terminal::escape(&p.at.participant),
                    p.at.namespace.clone(),
                    p.at.release.clone(),
                    format!("{} -> {}", rev(p.from_revision), rev(p.revision)),
                    serde_json::to_value(p.result)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    p.backup
                        .as_ref()
                        .map_or("-".into(), |b| b.display().to_string()),
                ]
            })
            .collect();
        out.push_str(&crate::output::table(
            [
                "PARTICIPANT",
                "NAMESPACE",
                "RELEASE",
                "REVISION",
                "RESULT",
                "BACKUP",
            ],
            &rows,
        ));
        out.push_str(&crate::output::failures(
            self.participants
                .iter()
                .map(|p| (p.at.participant.as_str(), p.error.as_ref())),
        ));
        out
    }
}

/// The first pass's findings for one participant.
#[derive(Clone)]
struct Planned {
    deployed: DeployedRelease,
    digest: String,
    staged: String,
    unchanged: bool,
}

pub fn upgrade(settings: &UpgradeSettings, out: &Output) -> Result<UpgradeReport> {
    let d = &settings.deploy;
    let targets = targets::resolve(&d.source, d.targets_file.as_deref(), &d.defaults)?;
    for target in &targets {
        crate::chart::values_files::read(&target.values)?;
    }
    let dry_run = d.cluster.dry_run;
    if !dry_run && !settings.backup_dir.is_dir() {
        return Err(Error::invalid_args(
            format!(
                "--backup-dir {} is not a folder.",
                settings.backup_dir.display()
            ),
            "Create it, or name an existing folder (the server's backup is written there first).",
        ));
    }
    let parallel = d.parallel.max(1);
    let mut rows: Vec<Upgraded> = Vec::new();
    let mut plans: Vec<Option<Planned>> = Vec::new();
    for (row, plan) in crate::parallel::map(&targets.iter().collect::<Vec<_>>(), parallel, |t| {
        plan_one(t, settings, out)
    }) {
        rows.push(row);
        plans.push(plan);
    }
    if dry_run {
        return Ok(UpgradeReport {
            dry_run,
            participants: rows,
        });
    }
    if rows.iter().any(|r| r.error.is_some()) {
        for row in rows.iter_mut().filter(|r| r.error.is_none()) {
            row.result = Outcome::Skipped;
            row.error = Some(Brief::from(Error::new(
                Code::JobsRunning,
                "not upgraded: another participant cannot be upgraded now (see its row); nothing was changed",
                "Fix that participant, then upgrade again: a federation moves together.",
            )));
        }
        return Ok(UpgradeReport {
            dry_run,
            participants: rows,
        });
    }
    // Second pass: the server first; clients only once it is upgraded.
    let total = rows.len();
    let mut server_ok = true;
    let mut results: Vec<Upgraded> = Vec::new();
    let mut clients = Vec::new();
    for ((target, row), plan) in targets.iter().zip(rows).zip(plans) {
        let plan = plan.expect("a row without an error has a plan");
        if target.kit.role == Role::Server {
            let row = apply_one(target, row, plan, settings, out);
            server_ok &= matches!(row.result, Outcome::Upgraded | Outcome::Unchanged);
            out.progress(
                results.len() + 1,
                total,
                &format!("participants upgraded ({})", row.at.participant),
            );
            results.push(row);
        } else {
            clients.push((target, row, plan));
        }
    }
    if !server_ok {
        for (_, mut row, _) in clients {
            row.result = Outcome::Skipped;
            row.error = Some(Brief::from(Error::new(
                Code::UpgradeRolledBack,
                "not upgraded: the server was not upgraded, and clients follow it",
                "Fix the server's upgrade (see its row), then upgrade again.",
            )));
            results.push(row);
        }
        return Ok(UpgradeReport {
            dry_run,
            participants: results,
        });
    }
    let done = std::sync::atomic::AtomicUsize::new(results.len());
    let upgraded = crate::parallel::map(&clients, parallel, |(target, row, plan)| {
        let row = apply_one(target, row.clone(), plan.clone(), settings, out);
        let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        out.progress(
            n,
            total,
            &format!("participants upgraded ({})", row.at.participant),
        );
        row
    });
    results.extend(upgraded);
    Ok(UpgradeReport {
        dry_run,
        participants: results,
    })
}

fn new_row(target: &Target) -> Upgraded {
    Upgraded {
        at: target.placement(),
        from_revision: None,
        revision: None,
        result: Outcome::Failed,
        changes: Vec::new(),
        backup: None,
        running_jobs: Vec::new(),
        verdict: None,
        error: None,
        plan: Vec::new(),
    }
}

/// The first pass: reads only (a dry run's plan is recorded, never run).
fn plan_one(
    target: &Target,
    settings: &UpgradeSettings,
    out: &Output,
) -> (Upgraded, Option<Planned>) {
    let mut row = new_row(target);
    match plan_steps(target, settings, out, &mut row) {
        Ok(plan) => {
            row.result = if plan.unchanged {
                Outcome::Unchanged
            } else {
                Outcome::Planned
            };
            (row, Some(plan))
        }
        Err(e) => {
            row.error = Some(e.into());
            (row, None)
        }
    }
}

fn plan_steps(
    target: &Target,
    settings: &UpgradeSettings,
    out: &Output,
    row: &mut Upgraded,
) -> Result<Planned> {
    let d = &settings.deploy;
    let cluster = cluster_for(target, &d.cluster, false);
    let helm = Kubectl::helm(&cluster, d.helm.clone())?;
    let release = &target.kit.release;
    let deployed = deployed_state(&helm, target)?.ok_or_else(|| {
        Error::new(
            Code::ReleaseNotDeployed,
            format!(
                "release {release} is not installed in namespace {}: there is nothing to upgrade",
                target.namespace
            ),
            "Deploy it first: `helm nvflare deploy`.",
        )
    })?;
    row.from_revision = Some(deployed.revision);
    if deployed.status.starts_with("pending") {
        return Err(Error::new(
            Code::ReleaseBusy,
            format!("release {release} is {} (another Helm operation is running or was stopped mid-way)", crate::terminal::escape(&deployed.status)),
            format!("Wait for it, or `helm rollback {release} -n {}` a release stuck pending, then upgrade again.", target.namespace),
        ));
    }
    let deployed_values = &deployed.values;
    let new_summary = KitSummary::of(&target.kit)?;
    row.changes = summary::diff(
        KitSummary::from_values(deployed_values).as_ref(),
        &new_summary,
    );
    row.changes
        .extend(summary::values_diff(deployed_values, &new_values(target)?));
    for set in &d.sets {
        row.changes.push(Change {
            what: "value",
            detail: format!("--set {}", crate::terminal::escape(set)),
        });
    }
    let staged = fingerprint::of(&target.kit.dir)?;
    let digest = release::desired_digest(target, d, &staged)?;
    let record = crate::prepared::stage_record::read(&target.kit.dir)?;
    let staged_already = record
        .as_ref()
        .is_some_and(|r| r.fingerprint.as_deref() == Some(staged.as_str()));
    let unchanged = deployed.status == "deployed"
        && deployed.digest.as_deref() == Some(digest.as_str())
        && staged_already;
    if !unchanged {
        let kubectl = Kubectl::new(&cluster)?;
        row.running_jobs = running_job_pods(&kubectl, target)?;
        if !row.running_jobs.is_empty() && !settings.force {
            return Err(Error::new(
                Code::JobsRunning,
                format!(
                    "{} job pod(s) of {} are running ({}); upgrading would take their parent away: nothing was changed",
                    row.running_jobs.len(),
                    crate::terminal::escape(&target.participant),
                    crate::terminal::escape(&row.running_jobs.join(", "))
                ),
                "Wait for the jobs to finish (or abort them in the admin console), then upgrade; --force upgrades anyway.",
            ));
        }
    }
    if d.cluster.dry_run && !unchanged {
        row.plan = dry_run_plan(target, settings, out, &digest, &staged, deployed.revision)?;
    }
    Ok(Planned {
        deployed,
        digest,
        staged,
        unchanged,
    })
}

/// The chart values the new kit installs: its values.yaml under the operator's values
/// files, merged as Helm merges them (`--set`s are listed on their own).
fn new_values(target: &Target) -> Result<Value> {
    let path = target
        .kit
        .dir
        .join(crate::chart::CHART_DIR)
        .join("values.yaml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| crate::prepared::kit_io("read", &path, e))?;
    let mut base: serde_json::Map<String, Value> =
        serde_saphyr::from_str(&text).unwrap_or_default();
    for file in crate::chart::values_files::read(&target.values)? {
        crate::chart::values_files::merge(&mut base, &file.values);
    }
    Ok(Value::Object(base))
}

/// Pods in the namespace named as NVFlare's launcher names this site's job pods, not
/// owned by a ReplicaSet, and not finished.
fn running_job_pods(kubectl: &Kubectl, target: &Target) -> Result<Vec<String>> {
    let ns = format!("--namespace={}", target.namespace);
    let answer = kubectl.run(&kubectl::args(&[&ns, "get", "pods", "-o", "json"]), None)?;
    let pods: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    let suffix = crate::names::job_pod_suffix(&target.kit.participant);
    let mut names: Vec<String> = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pod| {
            let owned = pod["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|o| o.iter().any(|r| r["kind"] == "ReplicaSet"));
            let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
            !owned && !matches!(phase, "Succeeded" | "Failed")
        })
        .filter_map(|pod| pod["metadata"]["name"].as_str())
        .filter(|name| name.ends_with(&suffix))
        .map(crate::terminal::escape)
        .collect();
    names.sort();
    Ok(names)
}

fn workspace_settings(
    target: &Target,
    settings: &UpgradeSettings,
    cluster: &ClusterSettings,
) -> WorkspaceSettings {
    WorkspaceSettings {
        kit: target.kit.dir.clone(),
        cluster: cluster.clone(),
        image: settings.deploy.stage_image.clone(),
        timeout_seconds: settings.deploy.timeout_seconds,
    }
}

fn stage_settings(
    target: &Target,
    settings: &UpgradeSettings,
    cluster: &ClusterSettings,
) -> StageSettings {
    let d = &settings.deploy;
    StageSettings {
        kit: target.kit.dir.clone(),
        method: target.method,
        cluster: cluster.clone(),
        pvc: None,
        create_pvc: d.create_pvc,
        size: d.size.clone(),
        storage_class: d.storage_class.clone(),
        image: d.stage_image.clone(),
        timeout_seconds: d.timeout_seconds,
        run_as_user: d.run_as_user,
    }
}

fn upgrade_args(
    target: &Target,
    settings: &UpgradeSettings,
    digest: &str,
    staged: &str,
) -> Result<Vec<String>> {
    let mut args = vec!["upgrade".to_string(), target.kit.release.clone()];
    args.extend(release::release_args(
        target,
        &settings.deploy,
        digest,
        staged,
    )?);
    args.push("--wait".into());
    Ok(args)
}

fn rollback_args(target: &Target, settings: &UpgradeSettings, revision: u64) -> Vec<String> {
    kubectl::args(&[
        "rollback",
        &target.kit.release,
        &revision.to_string(),
        "--namespace",
        &target.namespace,
        "--wait",
        "--timeout",
        &format!("{}s", settings.deploy.timeout_seconds),
    ])
}

fn dry_run_plan(
    target: &Target,
    settings: &UpgradeSettings,
    out: &Output,
    digest: &str,
    staged: &str,
    revision: u64,
) -> Result<Vec<PlanStep>> {
    let cluster = cluster_for(target, &settings.deploy.cluster, true);
    let helm = Kubectl::helm(&cluster, settings.deploy.helm.clone())?;
    let step = |command: String, note: &str| PlanStep {
        command,
        stdin: None,
        note: Some(note.into()),
    };
    let mut plan = Vec::new();
    let mut before = Vec::new();
    let raw = settings.backup_dir.join(".nvflare-backup-<random>.tar");
    if target.kit.is_server() {
        before.push(WorkspaceStep::Backup {
            raw: &raw,
            cap: settings.max_backup_bytes,
        });
    }
    if target.method == Method::Pvc {
        before.push(WorkspaceStep::KeepStaged);
    }
    if !before.is_empty() {
        let workspace = workspace_settings(target, settings, &cluster);
        plan.extend(stage::on_workspace(&workspace, out, &before)?.plan);
    }
    let staged_plan = stage::stage(&stage_settings(target, settings, &cluster), out)?;
    plan.extend(staged_plan.dry_run.plan);
    plan.push(step(
        helm.display(&upgrade_args(target, settings, digest, staged)?),
        "upgrade and wait until ready",
    ));
    plan.push(step(
        helm.display(&rollback_args(target, settings, revision)),
        "only if the new revision is not ready, once the kept startup/ and local/ are staged again",
    ));
    Ok(plan)
}

/// The second pass for one participant; every failure is its row.
fn apply_one(
    target: &Target,
    mut row: Upgraded,
    plan: Planned,
    settings: &UpgradeSettings,
    out: &Output,
) -> Upgraded {
    if plan.unchanged {
        row.result = Outcome::Unchanged;
        row.revision = Some(plan.deployed.revision);
        return row;
    }
    if let Err(e) = apply_steps(target, &plan, settings, out, &mut row) {
        if row.result != Outcome::RolledBack {
            row.result = Outcome::Failed;
        }
        row.error = Some(e.into());
    }
    row
}

fn apply_steps(
    target: &Target,
    plan: &Planned,
    settings: &UpgradeSettings,
    out: &Output,
    row: &mut Upgraded,
) -> Result<()> {
    let d = &settings.deploy;
    let cluster = cluster_for(target, &d.cluster, false);
    let workspace = workspace_settings(target, settings, &cluster);
    let release = &target.kit.release;
    let from = plan.deployed.revision;
    if target.kit.is_server() {
        out.status(&format!("{release}: backing up the workspace"));
        let done = backup::backup(
            &BackupSettings {
                workspace: workspace.clone(),
                backup_dir: settings.backup_dir.clone(),
                max_bytes: settings.max_backup_bytes,
            },
            out,
        )
        .map_err(|mut e| {
            e.message = format!(
                "{} (nothing was changed: revision {from} stays deployed)",
                e.message
            );
            e
        })?;
        row.backup = Some(done.backup);
    }
    let keeps = target.method == Method::Pvc;
    if keeps {
        stage::on_workspace(&workspace, out, &[WorkspaceStep::KeepStaged])?;
    }
    let unchanged_state = |what: &str| {
        if keeps {
            format!("{what}; the previous startup/ and local/ were staged again and revision {from} stays deployed")
        } else {
            format!("{what}; revision {from} stays deployed, but the ConfigMap and Secret hold the new kit: stage the previous kit again before its pods restart")
        }
    };
    if let Err(mut e) = stage::stage(&stage_settings(target, settings, &cluster), out) {
        if keeps {
            stage::on_workspace(&workspace, out, &[WorkspaceStep::BringBackStaged])?;
        }
        e.message = unchanged_state(&format!("restaging failed: {}", e.message));
        return Err(e);
    }
    let helm = Kubectl::helm(&cluster, d.helm.clone())?;
    out.status(&format!("{release}: helm upgrade --wait"));
    if let Err(e) = helm.run(
        &upgrade_args(target, settings, &plan.digest, &plan.staged)?,
        None,
    ) {
        if e.code == Code::Interrupted {
            let mut e = e;
            e.message = format!("Interrupted while Helm was upgrading {release}; the new kit is staged and revision {from} may or may not still be deployed.");
            e.hint = format!("Check `helm status {release} -n {}`; `helm rollback {release} {from}` returns to the previous revision (then stage the previous kit again).", target.namespace);
            return Err(e);
        }
        out.status(&format!(
            "{release}: the new revision is not ready; rolling back to revision {from}"
        ));
        if keeps {
            stage::on_workspace(&workspace, out, &[WorkspaceStep::BringBackStaged])?;
        }
        helm.run(&rollback_args(target, settings, from), None).map_err(|mut r| {
            r.message = format!("the new revision was not ready ({}), and rolling back to revision {from} failed too: {}", e.message, r.message);
            r
        })?;
        let after = deployed_state(&helm, target)?;
        row.revision = after.as_ref().map(|a| a.revision);
        row.result = Outcome::RolledBack;
        return Err(Error::new(
            Code::UpgradeRolledBack,
            unchanged_state(&format!(
                "the new revision of {release} did not become ready ({}): rolled back to revision {from} (now revision {}), whose pods run again",
                e.message,
                row.revision.map_or("?".into(), |r| r.to_string())
            )),
            format!("See why with `helm nvflare verify` or `kubectl describe pod -n {}`; the backup and the new kit are untouched.", target.namespace),
        ));
    }
    if keeps {
        stage::on_workspace(&workspace, out, &[WorkspaceStep::DropKept])?;
    }
    let after = deployed_state(&helm, target)?;
    row.revision = after.as_ref().map(|a| a.revision);
    let report = release::verify_target(target, &cluster, d)?;
    row.verdict = Some(report.verdict);
    if report.verdict == Status::Fail {
        return Err(release::verify_failed(&report));
    }
    row.result = Outcome::Upgraded;
    Ok(())
}
