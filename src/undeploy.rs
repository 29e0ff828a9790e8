//! `undeploy`: `helm uninstall`, then `unstage`, for a prepared kit or every participant
//! of a prepared federation (clients first, the server last). The workspace PVC, and the
//! server's job history on it, stays unless `delete_workspace` (`--delete-workspace
//! --yes`). A failing participant does not stop the others.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Brief, Result};
use crate::kit::Role;
use crate::kubectl::{self, ClusterSettings, Kubectl};
use crate::output::{Output, Report};
use crate::release::{cluster_for, deployed_state};
use crate::stage::{self, PlanStep, UnstageSettings};
use crate::targets::{self, CommandDefaults, Placement, Target};

#[derive(Debug, Clone)]
pub struct UndeploySettings {
    pub source: PathBuf,
    pub targets_file: Option<PathBuf>,
    pub defaults: CommandDefaults,
    pub cluster: ClusterSettings,
    pub helm: Option<String>,
    pub stage_image: String,
    pub timeout_seconds: u64,
    /// Also delete the workspace PVC (and the job history on it).
    pub delete_workspace: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Undeployed {
    #[serde(flatten)]
    pub at: Placement,
    /// `uninstalled`, `not installed`, `planned` or `failed`.
    pub release_result: &'static str,
    /// `unstaged`, `not staged`, `planned` or `failed`.
    pub stage_result: &'static str,
    /// `kept`, `deleted` or `planned`.
    pub workspace: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Brief>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UndeployReport {
    pub dry_run: bool,
    pub participants: Vec<Undeployed>,
}

impl Report for UndeployReport {
    /// 130 when interrupted, else 1 when any participant failed.
    fn exit_code(&self) -> i32 {
        crate::output::rows_exit_code(self.participants.iter().map(|p| p.error.as_ref()))
    }

    fn text(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            out.push_str(&crate::stage::participant_plans(
                self.participants.iter().map(|p| (&p.at, p.plan.as_slice())),
            ));
            out.push('\n');
        }
        let rows: Vec<[String; 7]> = self
            .participants
            .iter()
            .map(|p| {
                [
                    crate::terminal::escape(&p.at.participant),
                    crate::terminal::escape(&p.at.cluster),
                    p.at.namespace.clone(),
                    p.at.release.clone(),
                    p.release_result.to_string(),
                    p.stage_result.to_string(),
                    p.workspace.to_string(),
                ]
            })
            .collect();
        out.push_str(&crate::output::table(
            [
                "PARTICIPANT",
                "CLUSTER",
                "NAMESPACE",
                "RELEASE",
                "HELM",
                "STAGED FILES",
                "WORKSPACE PVC",
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

pub fn undeploy(settings: &UndeploySettings, out: &Output) -> Result<UndeployReport> {
    let mut targets = targets::resolve(
        &settings.source,
        settings.targets_file.as_deref(),
        &settings.defaults,
    )?;
    // Clients first: a server taken down first would leave them retrying.
    targets.sort_by_key(|t| t.kit.role == Role::Server);
    let participants = targets.iter().map(|t| one(t, settings, out)).collect();
    Ok(UndeployReport {
        dry_run: settings.cluster.dry_run,
        participants,
    })
}

fn one(target: &Target, settings: &UndeploySettings, out: &Output) -> Undeployed {
    let mut row = Undeployed {
        at: target.placement(),
        release_result: "failed",
        stage_result: "failed",
        workspace: "kept",
        error: None,
        plan: Vec::new(),
    };
    if let Err(e) = steps(target, settings, out, &mut row) {
        row.error = Some(e.into());
    }
    row
}

fn steps(
    target: &Target,
    settings: &UndeploySettings,
    out: &Output,
    row: &mut Undeployed,
) -> Result<()> {
    let dry_run = settings.cluster.dry_run;
    let cluster = ClusterSettings {
        timeout_seconds: settings.timeout_seconds,
        ..cluster_for(target, &settings.cluster, dry_run)
    };
    let helm = Kubectl::helm(&cluster, settings.helm.clone())?;
    let release = &target.kit.release;
    let uninstall = kubectl::args(&[
        "uninstall",
        release,
        "--namespace",
        &target.namespace,
        "--wait",
        "--timeout",
        &format!("{}s", settings.timeout_seconds),
    ]);
    if dry_run {
        row.plan.push(PlanStep {
            command: helm.display(&uninstall),
            stdin: None,
            note: None,
        });
        row.release_result = "planned";
    } else if deployed_state(&helm, target)?.is_some() {
        helm.run(&uninstall, None)?;
        row.release_result = "uninstalled";
    } else {
        row.release_result = "not installed";
    }
    let unstaged = stage::unstage(
        &UnstageSettings {
            kit: target.kit.dir.clone(),
            cluster: cluster.clone(),
            image: settings.stage_image.clone(),
            timeout_seconds: settings.timeout_seconds,
        },
        out,
    )?;
    row.plan.extend(unstaged.dry_run.plan);
    row.stage_result = match (dry_run, unstaged.unstaged) {
        (true, _) => "planned",
        (false, true) => "unstaged",
        (false, false) => "not staged",
    };
    if settings.delete_workspace {
        let kubectl = Kubectl::new(&cluster)?;
        let delete = kubectl::args(&[
            "delete",
            "pvc",
            target.kit.claim_name(),
            "--namespace",
            &target.namespace,
            "--ignore-not-found",
        ]);
        if dry_run {
            row.plan.push(PlanStep {
                command: kubectl.display(&delete),
                stdin: None,
                note: None,
            });
            row.workspace = "planned";
        } else {
            kubectl.run(&delete, None)?;
            row.workspace = "deleted";
        }
    }
    Ok(())
}
