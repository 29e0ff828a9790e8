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

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::error::{Brief, Code, Result};
use crate::kit::Role;
use crate::kubectl::{self, ClusterSettings, Kubectl};
use crate::output::{Output, Report};
use crate::prepared::{fingerprint, stage_record};
pub use crate::release::DeploySettings;
use crate::release::{
    cluster_for, deployed_state, desired_digest, release_args, verify_failed, verify_target,
};
use crate::stage::{self, PlanStep, StageSettings};
use crate::targets::{self, Placement, Target};
use crate::verify::Status;

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
    #[serde(flatten)]
    pub at: Placement,
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
                self.participants.iter().map(|p| (&p.at, p.plan.as_slice())),
            ));
        }
        let rows: Vec<[String; 6]> = self
            .participants
            .iter()
            .map(|p| {
                [
                    crate::terminal::escape(&p.at.participant),
                    crate::terminal::escape(&p.at.cluster),
                    p.at.namespace.clone(),
                    p.at.release.clone(),
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
                .map(|p| (p.at.participant.as_str(), p.error.as_ref())),
        ));
        out
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
                &format!(
                    "participants deployed ({} {:?})",
                    d.at.participant, d.result
                )
                .to_lowercase(),
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
        at: target.placement(),
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
