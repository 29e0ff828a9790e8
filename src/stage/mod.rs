//! `stage` and `unstage`: put a prepared kit's `startup/` and `local/` where the parent pod
//! reads them, and take them away again. Two ways, as NVFlare documents them:
//! - `pvc`: at the root of the workspace PVC, through a short-lived helper pod and
//!   `kubectl cp`; the helper pod is deleted whatever happens, Ctrl-C included.
//! - `configmap`: `local/` as a ConfigMap and `startup/` as a Secret, recorded in the
//!   chart's `workspaceConfig` so the Deployment mounts them read-only.

mod configmap;
pub mod manifests;
pub mod prepared_kit;
mod pvc;
pub mod record;

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::error::{Code, Error, Result};
use crate::kubectl::{self, ClusterSettings, Failure, Kubectl};
use prepared_kit::PreparedKit;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Pvc,
    Configmap,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pvc => "pvc",
            Method::Configmap => "configmap",
        }
    }
}

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

/// Runs kubectl for a stage or unstage, showing progress on stderr; with `--dry-run`
/// records each call (Secret data redacted) instead of running it.
pub struct Session {
    kubectl: Kubectl,
    namespace: String,
    pub plan: Vec<Value>,
    quiet: bool,
}

impl Session {
    fn new(kubectl: Kubectl, namespace: &str, quiet: bool) -> Session {
        Session {
            kubectl,
            namespace: namespace.to_string(),
            plan: Vec::new(),
            quiet,
        }
    }

    pub fn dry_run(&self) -> bool {
        self.kubectl.dry_run
    }

    fn progress(&self, message: &str) {
        if !self.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "==> {}",
                crate::terminal::escape(message)
            );
        }
    }

    fn namespaced(&self, args: &[String]) -> Vec<String> {
        let mut all = vec![format!("--namespace={}", self.namespace)];
        all.extend(args.iter().cloned());
        all
    }

    fn record_plan(&mut self, args: &[String], manifest: Option<&Value>, note: Option<&str>) {
        let mut step = Map::new();
        step.insert("command".into(), json!(self.kubectl.display(args)));
        if let Some(m) = manifest {
            step.insert("stdin".into(), manifests::redacted(m));
        }
        if let Some(n) = note {
            step.insert("note".into(), json!(n));
        }
        self.plan.push(Value::Object(step));
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

    /// Cleanup: runs even after an error or Ctrl-C, in its own process group.
    pub fn cleanup(&mut self, args: &[String]) -> Result<()> {
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

/// The namespace: `--namespace` or Helm's `HELM_NAMESPACE`, else the kit's. It must be the
/// one the kit was prepared for: its job launcher creates job pods there.
fn resolve_namespace(kit: &PreparedKit, cluster: &ClusterSettings) -> Result<String> {
    let Some(requested) = kubectl::requested_namespace(cluster) else {
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

fn context_of(cluster: &ClusterSettings) -> Option<String> {
    cluster.context.clone().or_else(|| {
        std::env::var("HELM_KUBECONTEXT")
            .ok()
            .filter(|c| !c.is_empty())
    })
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
            s.run(&kubectl::args(["create", "namespace", namespace]), None)?;
            Ok(None)
        }
    }
}

fn progress_done(data: &mut Map<String, Value>, s: &Session) {
    if s.dry_run() {
        data.insert("dry_run".into(), json!(true));
        data.insert("plan".into(), Value::Array(s.plan.clone()));
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

pub fn stage(settings: &StageSettings, quiet: bool) -> Result<Map<String, Value>> {
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
    let mut session = Session::new(Kubectl::new(&cluster)?, &namespace, quiet);
    let context = context_of(&settings.cluster);
    let mut data = match settings.method {
        Method::Pvc => pvc::stage(&mut session, &kit, settings, context)?,
        Method::Configmap => configmap::stage(&mut session, &kit, existing.as_ref(), context)?,
    };
    let chart = kit.dir.join(crate::chart::CHART_DIR);
    data.insert(
        "helm_command".into(),
        json!(format!(
            "helm upgrade --install {} {} --namespace {namespace}",
            kit.release,
            crate::shell::quote(&chart.display().to_string())
        )),
    );
    progress_done(&mut data, &session);
    Ok(data)
}

#[derive(Debug, Clone)]
pub struct UnstageSettings {
    pub kit: PathBuf,
    pub cluster: ClusterSettings,
    pub image: String,
    pub timeout_seconds: u64,
}

/// Deletes exactly what the record names; keeps the record when the delete fails.
pub fn unstage(settings: &UnstageSettings, quiet: bool) -> Result<Map<String, Value>> {
    crate::image::ImageRef::parse(&settings.image).map_err(|why| {
        Error::invalid_args(
            format!("--image is not a valid image reference: {why}."),
            "Use [registry[:port]/]repository[:tag][@digest], e.g. busybox:1.36.",
        )
    })?;
    let kit = PreparedKit::open(&settings.kit)?;
    let Some(rec) = record::read(&kit.dir)? else {
        let mut data = Map::new();
        data.insert("unstaged".into(), json!(false));
        data.insert(
            "message".into(),
            json!(format!(
                "{} is not staged; nothing to do.",
                kit.dir.display()
            )),
        );
        return Ok(data);
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
    let mut session = Session::new(Kubectl::new(&cluster)?, &rec.namespace, quiet);
    let mut data = match rec.method {
        Method::Configmap => configmap::unstage(&mut session, &kit, &rec)?,
        Method::Pvc => pvc::unstage(&mut session, &kit, &rec, settings)?,
    };
    if !session.dry_run() {
        record::remove(&kit.dir)?;
    }
    data.insert("unstaged".into(), json!(true));
    progress_done(&mut data, &session);
    Ok(data)
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
