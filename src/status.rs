//! `status`: one row per participant of a prepared kit or federation, from what Helm,
//! the cluster and the parent's own log say: release and revision, chart, image, pods
//! ready, whether the staged files are the prepared kit's (`yes`, `stale`, `missing`),
//! the certificate's expiry, and registration. A client is `registered` when its parent
//! logged NVFlare's `Successfully registered client:<name>`; otherwise the last
//! connection error it logged is shown. A server shows how many clients joined.
//! Everything read from the cluster is untrusted: escaped and cut to a line.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Brief, Result};
use crate::kit::Role;
use crate::kubectl::{self, ClusterSettings, Kubectl};
use crate::output::Report;
use crate::prepared::{fingerprint, stage_record};
use crate::release::{cluster_for, deployed_state};
use crate::targets::{self, CommandDefaults, Placement, Target};

/// How much of the parent's log is read: the newest lines hold the answer.
const LOG_LINES: &str = "20000";

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub source: PathBuf,
    pub targets_file: Option<PathBuf>,
    pub defaults: CommandDefaults,
    pub cluster: ClusterSettings,
    pub helm: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParticipantStatus {
    #[serde(flatten)]
    pub at: Placement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Helm's status of the release (`deployed`, `failed`, ...), or `not installed`.
    pub helm_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `ready/desired` pods of the parent's Deployment.
    pub pods_ready: String,
    /// `yes`, `stale` (the prepared kit changed since it was staged) or `missing`.
    pub staged: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_expiry: Option<String>,
    /// Client: `yes`, or `no` with the last connection error; server: `<n> clients`;
    /// `unknown` when the log cannot be read.
    pub registered: String,
    /// Why registration is unknown (the log could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Brief>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub participants: Vec<ParticipantStatus>,
}

impl Report for StatusReport {
    fn text(&self) -> String {
        let rows: Vec<[String; 10]> = self
            .participants
            .iter()
            .map(|p| {
                [
                    crate::terminal::escape(&p.at.participant),
                    crate::terminal::escape(&p.at.cluster),
                    p.at.namespace.clone(),
                    p.at.release.clone(),
                    p.revision.map_or("-".into(), |r| r.to_string()),
                    p.chart.clone().unwrap_or_else(|| "-".into()),
                    p.pods_ready.clone(),
                    p.staged.to_string(),
                    p.certificate_expiry.clone().unwrap_or_else(|| "-".into()),
                    p.registered.clone(),
                ]
            })
            .collect();
        let mut out = crate::output::table(
            [
                "PARTICIPANT",
                "CLUSTER",
                "NAMESPACE",
                "RELEASE",
                "REVISION",
                "CHART",
                "READY",
                "STAGED",
                "CERT EXPIRES",
                "REGISTERED",
            ],
            &rows,
        );
        out.push_str(&crate::output::failures(
            self.participants
                .iter()
                .map(|p| (p.at.participant.as_str(), p.error.as_ref())),
        ));
        out
    }
}

pub fn status(settings: &StatusSettings) -> Result<StatusReport> {
    let targets = targets::resolve(
        &settings.source,
        settings.targets_file.as_deref(),
        &settings.defaults,
    )?;
    let participants = crate::parallel::map_per_core(&targets, |t| one(t, settings));
    Ok(StatusReport { participants })
}

fn one(target: &Target, settings: &StatusSettings) -> ParticipantStatus {
    let kit = &target.kit;
    let staged = match stage_record::read(&kit.dir) {
        Ok(None) | Err(_) => "missing",
        Ok(Some(record)) => {
            let now = fingerprint::of(&kit.dir).ok();
            if record.fingerprint.is_some() && record.fingerprint == now {
                "yes"
            } else {
                "stale"
            }
        }
    };
    let mut row = ParticipantStatus {
        at: target.placement(),
        revision: None,
        helm_status: "not installed".into(),
        chart: None,
        image: None,
        pods_ready: "-".into(),
        staged,
        certificate_expiry: kit.certificate_expiry(crate::verify::DEFAULT_WARN_EXPIRY_DAYS),
        registered: "-".into(),
        registered_detail: None,
        error: None,
    };
    if let Err(e) = from_cluster(target, settings, &mut row) {
        row.error = Some(e.into());
    }
    row
}

fn from_cluster(
    target: &Target,
    settings: &StatusSettings,
    row: &mut ParticipantStatus,
) -> Result<()> {
    let cluster = cluster_for(target, &settings.cluster, false);
    let helm = Kubectl::helm(&cluster, settings.helm.clone())?;
    let kubectl = Kubectl::new(&cluster)?;
    let ns = &target.namespace;
    if let Some(deployed) = deployed_state(&helm, target)? {
        row.revision = Some(deployed.revision);
        row.helm_status = deployed.status;
        row.chart = deployed.chart;
    }
    // The chart names its Deployment after the participant's object name.
    let object = target.kit.object_name();
    let deployment = kubectl.call(
        &kubectl::args(&["get", "deployment", &object, "-n", ns, "-o", "json"]),
        None,
        false,
    )?;
    let Ok(deployment) = deployment else {
        row.registered = "no (no Deployment)".into();
        return Ok(());
    };
    let deployment: Value = serde_json::from_str(&deployment).unwrap_or(Value::Null);
    row.image = deployment
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .map(crate::terminal::escape);
    let count = |key: &str| deployment["status"][key].as_u64().unwrap_or(0);
    let desired = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
    row.pods_ready = format!("{}/{desired}", count("readyReplicas"));
    if count("readyReplicas") == 0 {
        row.registered = "no (no ready pod)".into();
        return Ok(());
    }
    let logs = kubectl.call(
        &kubectl::args(&[
            "logs",
            &format!("deployment/{object}"),
            "-n",
            ns,
            &format!("--tail={LOG_LINES}"),
        ]),
        None,
        false,
    )?;
    row.registered = match logs {
        Ok(text) => registration(target, &text),
        Err(failure) => {
            row.registered_detail = Some(crate::parent_log::cut(&failure.one_line()));
            "unknown".into()
        }
    };
    Ok(())
}

/// What the parent's log says about registration (parent_log.rs).
pub fn registration(target: &Target, log: &str) -> String {
    use crate::parent_log::{self, Registration};
    if target.kit.role == Role::Server {
        return format!("{} clients", parent_log::joined(log).len());
    }
    match parent_log::client(log, &target.kit.participant) {
        Registration::Registered => "yes".into(),
        Registration::NotYet(Some(error)) => format!("no: {error}"),
        Registration::NotYet(None) => "no".into(),
    }
}
