//! `stage` and `unstage`: put a prepared kit's `startup/` and `local/` where the parent pod
//! reads them, and take them away again. Two ways, as NVFlare documents them:
//! - `pvc`: at the root of the workspace PVC, through a short-lived helper pod and
//!   `kubectl cp`; the helper pod is deleted whatever happens, Ctrl-C included.
//! - `configmap`: `local/` as a ConfigMap and `startup/` as a Secret, recorded in the
//!   chart's `workspaceConfig` so the Deployment mounts them read-only.

mod configmap;
pub mod manifests;
mod pvc;
mod workspace;

pub(crate) use workspace::on_workspace;
pub use workspace::{Step as WorkspaceStep, WorkspaceSettings, PREVIOUS, STAGING_OWNS};

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Code, Error, Result};
use crate::kubectl::{self, ClusterSettings, Failure, Kubectl};
use crate::output::{Output, Report};
use crate::prepared::stage_record as record;
use crate::prepared::PreparedKit;
use crate::terminal::{escape, escape_lines};

pub use crate::prepared::Method;

#[derive(Debug, Clone)]
pub struct StageSettings {
    pub kit: PathBuf,
    pub method: Method,
    pub cluster: ClusterSettings,
    /// Workspace PVC; defaults to the chart's `persistence.workspace.claimName`.
    pub pvc: Option<String>,
    pub create_pvc: bool,
    pub size: String,
    pub storage_class: Option<String>,
    pub image: String,
    pub timeout_seconds: u64,
    /// UID for the helper pod; defaults to the chart's runAsUser, the namespace's OpenShift
    /// UID range, or 65534.
    pub run_as_user: Option<i64>,
}

/// One kubectl call of a `--dry-run` plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    /// The command, shell-quoted.
    pub command: String,
    /// The manifest it would send, Secret data redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a `--dry-run` would have done, call by call.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DryRun {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanStep>,
}

impl DryRun {
    fn text(&self) -> String {
        plan_text(&self.plan)
    }
}

/// The plans of several participants (deploy, undeploy): each under a line naming the
/// participant, its cluster and namespace, then that nothing was run.
pub(crate) fn participant_plans<'a>(
    plans: impl Iterator<Item = (&'a crate::targets::Placement, &'a [PlanStep])>,
) -> String {
    let mut out = String::new();
    for (at, plan) in plans {
        out.push_str(&format!(
            "# {} ({}, namespace {})\n{}\n\n",
            escape(&at.participant),
            escape(&at.cluster),
            at.namespace,
            plan_text(plan)
        ));
    }
    out.push_str("(dry run: nothing was run)\n");
    out
}

/// A plan as text: each command (with its note), then the manifest it sends.
pub(crate) fn plan_text(plan: &[PlanStep]) -> String {
    {
        let mut lines = Vec::new();
        for step in plan {
            let note = step
                .note
                .as_deref()
                .map(|n| format!("    # {n}"))
                .unwrap_or_default();
            lines.push(format!("{}{note}", escape(&step.command)));
            if let Some(stdin) = &step.stdin {
                lines.push(escape_lines(
                    &serde_json::to_string_pretty(stdin).unwrap_or_default(),
                ));
            }
        }
        lines.join("\n")
    }
}

/// Where `stage` put the kit.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum StagedObjects {
    Pvc {
        pvc: String,
        helper_pod: String,
        /// What `find` listed on the PVC afterwards (`startup/fed_client.json`, ...).
        files: Vec<String>,
    },
    ConfigMap {
        config_map: String,
        secret: String,
        local_items: Vec<String>,
        startup_items: Vec<String>,
    },
}

/// What `stage` did.
#[derive(Debug, Clone, Serialize)]
pub struct Staged {
    pub method: Method,
    pub participant: String,
    pub namespace: String,
    #[serde(flatten)]
    pub objects: StagedObjects,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The install command for the staged kit.
    pub helm_command: String,
    #[serde(flatten)]
    pub dry_run: DryRun,
}

impl Report for Staged {
    fn text(&self) -> String {
        if self.dry_run.dry_run {
            return format!(
                "{}\n# then install the chart:\n{}",
                self.dry_run.text(),
                escape(&self.helm_command)
            );
        }
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let map = value.as_object_mut().expect("a struct serializes to a map");
        map.remove("warnings");
        crate::output::key_value_lines(map)
    }
}

/// What `unstage` removed.
#[derive(Debug, Clone, Serialize)]
pub struct Unstaged {
    pub unstaged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub objects: Option<UnstagedObjects>,
    #[serde(flatten)]
    pub dry_run: DryRun,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum UnstagedObjects {
    Pvc {
        pvc: String,
        /// What was removed from the PVC (`startup/`, `local/`); absent when the PVC is gone.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        removed: Vec<String>,
    },
    ConfigMap {
        config_map: String,
        secret: String,
    },
}

impl Report for Unstaged {
    fn text(&self) -> String {
        if self.dry_run.dry_run {
            return self.dry_run.text();
        }
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => crate::output::key_value_lines(&map),
            _ => String::new(),
        }
    }
}

/// Runs kubectl for a stage or unstage, showing each step through the output handle; with
/// `--dry-run` records each call (Secret data redacted) instead of running it.
pub struct Session<'a> {
    kubectl: Kubectl,
    namespace: String,
    plan: Vec<PlanStep>,
    out: &'a Output,
}

impl<'a> Session<'a> {
    fn new(kubectl: Kubectl, namespace: &str, out: &'a Output) -> Session<'a> {
        Session {
            kubectl,
            namespace: namespace.to_string(),
            plan: Vec::new(),
            out,
        }
    }

    /// The plan of a dry run, or nothing.
    fn finish(self) -> DryRun {
        DryRun {
            dry_run: self.kubectl.dry_run,
            plan: self.plan,
        }
    }

    pub fn dry_run(&self) -> bool {
        self.kubectl.dry_run
    }

    /// A step being done; a dry run does nothing, so it says nothing.
    fn progress(&self, message: &str) {
        if !self.dry_run() {
            self.out.status(message);
        }
    }

    fn warn(&self, message: &str) {
        self.out.warn(message);
    }

    fn namespaced(&self, args: &[String]) -> Vec<String> {
        let mut all = vec![format!("--namespace={}", self.namespace)];
        all.extend(args.iter().cloned());
        all
    }

    fn record_plan(&mut self, args: &[String], manifest: Option<&Value>, note: Option<&str>) {
        self.plan.push(PlanStep {
            command: self.kubectl.display(args),
            stdin: manifest.map(manifests::redacted),
            note: note.map(str::to_string),
        });
    }

    /// In a dry run, a call that would run only in some cases (`note` says which); it is
    /// shown with its manifest, and nothing is claimed about the cluster.
    pub(crate) fn plan_conditional(
        &mut self,
        args: &[String],
        manifest: Option<&Value>,
        note: &str,
    ) {
        let args = self.namespaced(args);
        self.record_plan(&args, manifest, Some(note));
    }

    /// A call that must succeed; `manifest` goes to stdin as JSON.
    pub fn run(&mut self, args: &[String], manifest: Option<&Value>) -> Result<String> {
        let args = self.namespaced(args);
        if self.dry_run() {
            self.record_plan(&args, manifest, None);
            return Ok(String::new());
        }
        let input = manifest.map(|m| serde_json::to_vec(m).expect("manifests serialize"));
        self.kubectl.run(&args, input.as_deref())
    }

    /// A call whose failure the caller handles (NotFound, timeouts). In a dry run it is
    /// recorded with `note` and treated as succeeding with `dry_answer`.
    pub fn query(
        &mut self,
        args: &[String],
        note: &str,
        dry_answer: &str,
    ) -> Result<std::result::Result<String, Failure>> {
        let args = self.namespaced(args);
        if self.dry_run() {
            self.record_plan(&args, None, Some(note));
            return Ok(Ok(dry_answer.to_string()));
        }
        crate::interrupt::check()?;
        self.kubectl.call(&args, None, false)
    }

    /// A call whose stdout (bytes) goes to `sink`, at most `cap` of them.
    pub fn download(&mut self, args: &[String], sink: &std::path::Path, cap: u64) -> Result<u64> {
        let args = self.namespaced(args);
        if self.dry_run() {
            self.record_plan(
                &args,
                None,
                Some(&format!(
                    "into {}, then written as the backup and listed",
                    sink.display()
                )),
            );
            return Ok(0);
        }
        crate::interrupt::check()?;
        let file = std::fs::File::create(sink).map_err(|e| {
            Error::new(
                Code::BackupFailed,
                format!("Cannot write {}: {e}", sink.display()),
                "Check --backup-dir.",
            )
        })?;
        self.kubectl
            .download(&args, file, cap)?
            .map_err(|f| f.into_error())
    }

    /// Cleanup: runs even after an error or Ctrl-C, in its own process group.
    pub(crate) fn cleanup(&mut self, args: &[String]) -> Result<()> {
        let args = self.namespaced(args);
        if self.dry_run() {
            self.record_plan(
                &args,
                None,
                Some("always, also when a step fails or on Ctrl-C"),
            );
            return Ok(());
        }
        match self.kubectl.call(&args, None, true)? {
            Ok(_) => Ok(()),
            Err(failure) => Err(failure.into_error()),
        }
    }
}

/// Stage writes its record and the chart's workspaceConfig into the prepared kit.

/// The namespace: `--namespace` or Helm's `HELM_NAMESPACE`, else the kit's. It must be the
/// one the kit was prepared for: its job launcher creates job pods there.
fn resolve_namespace(kit: &PreparedKit, cluster: &ClusterSettings) -> Result<String> {
    let Some(requested) = cluster.requested_namespace() else {
        return Ok(kit.namespace.clone());
    };
    if requested == kit.namespace {
        return Ok(requested);
    }
    let source = if cluster.namespace.is_some() {
        "--namespace"
    } else {
        "HELM_NAMESPACE (helm's -n or the kubeconfig context)"
    };
    Err(Error::new(
        Code::NamespaceMismatch,
        format!(
            "{} was prepared for namespace {:?}, but {source} is {requested:?}.",
            kit.dir.display(),
            kit.namespace
        ),
        format!(
            "Use -n {} (Helm passes it on), or prepare again with `namespace: {requested}` in k8s.yaml.",
            kit.namespace
        ),
    ))
}

/// Creates the namespace when it is missing; returns the first UID of its OpenShift UID
/// range when it has one.
fn ensure_namespace(s: &mut Session, namespace: &str) -> Result<Option<i64>> {
    s.progress(&format!("namespace {namespace}"));
    let get = kubectl::get_json("namespace", namespace);
    let answer = s
        .query(&get, "if it is missing: kubectl create namespace", "{}")?
        .map_err(|f| f.into_error())?;
    match kubectl::found(&answer)? {
        Some(ns) => {
            let range = ns["metadata"]["annotations"]["openshift.io/sa.scc.uid-range"]
                .as_str()
                .unwrap_or("");
            Ok(range.split('/').next().and_then(|uid| uid.parse().ok()))
        }
        None => {
            s.progress(&format!("creating namespace {namespace}"));
            s.run(&kubectl::args(&["create", "namespace", namespace]), None)?;
            Ok(None)
        }
    }
}

/// The operator's flags reach kubectl and the cluster: each must be valid for its kind.
fn check_settings(settings: &StageSettings) -> Result<()> {
    crate::image::ImageRef::parse(&settings.image).map_err(|why| {
        Error::invalid_args(
            format!("--image is not a valid image reference: {why}."),
            "Use [registry[:port]/]repository[:tag][@digest], e.g. busybox:1.36.",
        )
    })?;
    if !is_storage_size(&settings.size) {
        return Err(Error::invalid_args(
            format!("--size {:?} is not a storage size.", settings.size),
            "Use a Kubernetes quantity such as 10Gi, 500Mi or 1Ti.",
        ));
    }
    if let Some(class) = settings
        .storage_class
        .as_deref()
        .filter(|c| !crate::names::is_dns1123_subdomain(c))
    {
        return Err(Error::invalid_args(
            format!("--storage-class {class:?} is not a valid StorageClass name."),
            "Use lower case letters, digits, '-' and '.' (kubectl get storageclass lists them).",
        ));
    }
    Ok(())
}

/// A Kubernetes quantity for a volume size: digits, an optional fraction, a unit.
fn is_storage_size(size: &str) -> bool {
    const UNITS: [&str; 13] = [
        "", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    let number_end = size
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(size.len());
    let (number, unit) = size.split_at(number_end);
    !number.is_empty()
        && number.len() <= 18
        && number.bytes().filter(|b| *b == b'.').count() <= 1
        && number.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && number.bytes().last().is_some_and(|b| b.is_ascii_digit())
        && UNITS.contains(&unit)
}

pub fn stage(settings: &StageSettings, out: &Output) -> Result<Staged> {
    check_settings(settings)?;
    let kit = PreparedKit::open(&settings.kit)?;
    let namespace = resolve_namespace(&kit, &settings.cluster)?;
    let existing = record::read(&kit.dir)?;
    if let Some(previous) = &existing {
        if previous.namespace != namespace {
            return Err(Error::new(
                Code::NamespaceMismatch,
                format!(
                    "{} is staged in namespace {:?}; refusing to stage it in {namespace:?} too.",
                    kit.dir.display(),
                    previous.namespace
                ),
                format!("Run `helm nvflare unstage {}` first.", kit.dir.display()),
            ));
        }
    }
    let cluster = ClusterSettings {
        timeout_seconds: settings.timeout_seconds,
        ..settings.cluster.clone()
    };
    let mut session = Session::new(Kubectl::new(&cluster)?, &namespace, out);
    let context = settings.cluster.requested_context();
    let (objects, warnings) = match settings.method {
        Method::Pvc => (
            pvc::stage(&mut session, &kit, settings, context)?,
            Vec::new(),
        ),
        Method::Configmap => configmap::stage(&mut session, &kit, existing.as_ref(), context)?,
    };
    if !session.dry_run() {
        // Staging finished: what is in the cluster is now exactly this kit.
        if let Some(record) = record::read(&kit.dir)? {
            record::write(
                &kit.dir,
                &record::Record {
                    fingerprint: Some(crate::prepared::fingerprint::of(&kit.dir)?),
                    ..record
                },
            )?;
        }
    }
    let chart = kit.dir.join(crate::chart::CHART_DIR);
    Ok(Staged {
        method: settings.method,
        participant: kit.participant.clone(),
        helm_command: format!(
            "helm upgrade --install {} {} --namespace {namespace}",
            kit.release,
            crate::shell_quote::quote(&chart.display().to_string())
        ),
        namespace,
        objects,
        warnings,
        dry_run: session.finish(),
    })
}

#[derive(Debug, Clone)]
pub struct UnstageSettings {
    pub kit: PathBuf,
    pub cluster: ClusterSettings,
    pub image: String,
    pub timeout_seconds: u64,
}

/// Deletes exactly what the record names; keeps the record when the delete fails.
pub fn unstage(settings: &UnstageSettings, out: &Output) -> Result<Unstaged> {
    crate::image::ImageRef::parse(&settings.image).map_err(|why| {
        Error::invalid_args(
            format!("--image is not a valid image reference: {why}."),
            "Use [registry[:port]/]repository[:tag][@digest], e.g. busybox:1.36.",
        )
    })?;
    let kit = PreparedKit::open(&settings.kit)?;
    let Some(rec) = record::read(&kit.dir)? else {
        return Ok(Unstaged {
            unstaged: false,
            message: Some(format!(
                "{} is not staged; nothing to do.",
                kit.dir.display()
            )),
            method: None,
            namespace: None,
            objects: None,
            dry_run: DryRun::default(),
        });
    };
    if let Some(ns) = &settings.cluster.namespace {
        if *ns != rec.namespace {
            return Err(Error::new(
                Code::NamespaceMismatch,
                format!(
                    "{} is staged in namespace {:?}, not {ns:?}.",
                    kit.dir.display(),
                    rec.namespace
                ),
                "Leave out --namespace: unstage uses the namespace it was staged in.",
            ));
        }
    }
    let mut cluster = settings.cluster.clone();
    if cluster.context.is_none() {
        cluster.context = rec.context.clone();
    }
    cluster.timeout_seconds = settings.timeout_seconds;
    let mut session = Session::new(Kubectl::new(&cluster)?, &rec.namespace, out);
    let objects = match rec.method {
        Method::Configmap => configmap::unstage(&mut session, &kit, &rec)?,
        Method::Pvc => pvc::unstage(&mut session, &kit, &rec, settings)?,
    };
    if !session.dry_run() {
        record::remove(&kit.dir)?;
    }
    Ok(Unstaged {
        unstaged: true,
        message: None,
        method: Some(rec.method),
        namespace: Some(rec.namespace.clone()),
        objects: Some(objects),
        dry_run: session.finish(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn storage_sizes() {
        for ok in ["10Gi", "500Mi", "1", "1.5Ti", "100G"] {
            assert!(super::is_storage_size(ok), "{ok}");
        }
        for bad in ["", "Gi", "10 Gi", "10gi", "-1Gi", "1.Gi", "--foo", "10Gi\n"] {
            assert!(!super::is_storage_size(bad), "{bad}");
        }
    }
}
