//! Where each participant runs: a prepared kit or a prepared federation, and the
//! operator's `targets.yaml` (kubeconfig and context, namespace, stage method, values
//! files, chart reference per participant). `deploy`, `status` and `undeploy` all read
//! participants through here. Unknown keys, unknown participants and invalid names are
//! refused before anything runs.
//!
//! ```yaml
//! defaults:                 # optional: what every participant gets unless it says otherwise
//!   kubeconfig: ~/.kube/config
//! participants:
//!   fl.example.com:         # the participant's folder name in the prepared federation
//!     context: hq
//!     namespace: nvflare
//!   site-1:
//!     kubeconfig: site-1.kubeconfig   # relative to targets.yaml
//!     context: hospital-a
//!     namespace: fl-site-1
//!     method: configmap
//!     values: [site-1-values.yaml]
//!     chart: oci://registry.example.com/fl/site-1/nvflare-client
//!     version: 1.0.0
//!     verify: true
//!     keyring: pubring.gpg
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::kit::Role;
use crate::prepared::{Method, PreparedKit};

/// A targets file is a few lines per participant; this is generous.
const MAX_TARGETS_BYTES: u64 = 4 * 1024 * 1024;

/// One participant's entry (or the defaults), as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub method: Option<String>,
    pub values: Option<Vec<PathBuf>>,
    pub chart: Option<String>,
    pub version: Option<String>,
    pub verify: Option<bool>,
    pub keyring: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Entry,
    #[serde(default)]
    participants: BTreeMap<String, Entry>,
}

/// Where a participant's chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chart {
    /// The prepared kit's `helm_chart/`.
    Local(PathBuf),
    /// A pushed chart: `oci://...`, its version, and the keyring to verify it with.
    Oci {
        reference: String,
        version: Option<String>,
        keyring: Option<PathBuf>,
    },
}

/// One participant, resolved: its prepared kit and where it runs.
#[derive(Debug, Clone)]
pub struct Target {
    /// The participant's folder name (or the kit's participant name for one kit).
    pub participant: String,
    pub kit: PreparedKit,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub namespace: String,
    pub method: Method,
    pub values: Vec<PathBuf>,
    pub chart: Chart,
}

/// Who a report's row is about and where it runs: the first columns of every lifecycle
/// command's rows (deploy, status, undeploy, upgrade), flattened into their JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Placement {
    pub participant: String,
    pub role: Role,
    pub cluster: String,
    pub namespace: String,
    pub release: String,
}

impl Target {
    pub fn placement(&self) -> Placement {
        Placement {
            participant: self.participant.clone(),
            role: self.kit.role,
            cluster: self.cluster(),
            namespace: self.namespace.clone(),
            release: self.kit.release.clone(),
        }
    }

    /// The cluster as a table shows it: the context, else "current context".
    pub fn cluster(&self) -> String {
        match (&self.context, &self.kubeconfig) {
            (Some(c), _) => c.clone(),
            (None, Some(k)) => format!("{k} (current context)"),
            (None, None) => "(current context)".into(),
        }
    }
}

/// What the command line says for every participant (the targets file overrides it).
#[derive(Debug, Clone, Default)]
pub struct CommandDefaults {
    /// `--namespace` / HELM_NAMESPACE.
    pub namespace: Option<String>,
    /// `--context` / HELM_KUBECONTEXT.
    pub context: Option<String>,
    pub method: Option<Method>,
    pub values: Vec<PathBuf>,
    /// `--chart`, `--version`, `--verify --keyring` (one kit only).
    pub chart: Option<String>,
    pub version: Option<String>,
    pub keyring: Option<PathBuf>,
    /// `$HOME`, for `~/` in the targets file.
    pub home: Option<PathBuf>,
}

fn targets_error(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::invalid_args(
        format!("{}: {why}", path.display()),
        "targets.yaml has `defaults:` and `participants: {<participant>: {...}}` with the keys kubeconfig, context, namespace, method, values, chart, version, verify, keyring (README: Deploy a federation).",
    )
}

/// The participants of `source` (a prepared kit, or a folder of them), server first, then
/// by name, each with where it runs.
pub fn resolve(
    source: &Path,
    targets_file: Option<&Path>,
    defaults: &CommandDefaults,
) -> Result<Vec<Target>> {
    let kits = participants(source)?;
    let file = match targets_file {
        Some(path) => read(path)?,
        None => File::default(),
    };
    let base = targets_file
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let unknown: Vec<&String> = file
        .participants
        .keys()
        .filter(|name| !kits.iter().any(|(n, _)| n == *name))
        .collect();
    if let (false, Some(path)) = (unknown.is_empty(), targets_file) {
        return Err(targets_error(
            path,
            format!(
                "no prepared participant {} in {} (it has {})",
                unknown
                    .iter()
                    .map(|n| format!("{:?}", crate::terminal::escape(n)))
                    .collect::<Vec<_>>()
                    .join(", "),
                source.display(),
                kits.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let one_kit = kits.len() == 1 && PreparedKit::open(source).is_ok();
    let mut targets = Vec::new();
    for (name, kit) in kits {
        let own = file.participants.get(&name).cloned().unwrap_or_default();
        let pick = |f: fn(&Entry) -> Option<String>| f(&own).or_else(|| f(&file.defaults));
        let path_of = |p: PathBuf| {
            let p = expand_home(&p, defaults.home.as_deref());
            if p.is_absolute() {
                p
            } else {
                base.join(p)
            }
        };
        let place = targets_file.unwrap_or(source);
        let namespace = pick(|e| e.namespace.clone())
            .or_else(|| defaults.namespace.clone())
            .unwrap_or_else(|| kit.namespace.clone());
        if !crate::names::is_dns1123_label(&namespace) {
            return Err(targets_error(
                place,
                format!(
                    "{name}: namespace {:?} is not a valid namespace name",
                    crate::terminal::escape(&namespace)
                ),
            ));
        }
        let context = pick(|e| e.context.clone()).or_else(|| defaults.context.clone());
        if let Some(c) = &context {
            if c.is_empty()
                || c.starts_with('-')
                || c.len() > 1024
                || c.chars().any(char::is_control)
            {
                return Err(targets_error(
                    place,
                    format!(
                        "{name}: context {:?} is not a kubeconfig context name",
                        crate::terminal::escape(c)
                    ),
                ));
            }
        }
        let method = match pick(|e| e.method.clone()).as_deref() {
            None => defaults.method.unwrap_or(Method::Pvc),
            Some("pvc") => Method::Pvc,
            Some("configmap") => Method::Configmap,
            Some(other) => {
                return Err(targets_error(
                    place,
                    format!(
                        "{name}: method {:?} is not pvc or configmap",
                        crate::terminal::escape(other)
                    ),
                ))
            }
        };
        let kubeconfig = own
            .kubeconfig
            .clone()
            .or_else(|| file.defaults.kubeconfig.clone())
            .map(path_of);
        if let Some(k) = &kubeconfig {
            if !k.is_file() {
                return Err(targets_error(
                    place,
                    format!("{name}: kubeconfig {} is not a file", k.display()),
                ));
            }
        }
        let mut values: Vec<PathBuf> = defaults.values.clone();
        values.extend(
            file.defaults
                .values
                .iter()
                .flatten()
                .chain(own.values.iter().flatten())
                .cloned()
                .map(path_of),
        );
        let chart_ref = own
            .chart
            .clone()
            .or_else(|| one_kit.then(|| defaults.chart.clone()).flatten());
        let chart = match chart_ref {
            None => Chart::Local(kit.dir.join(crate::chart::CHART_DIR)),
            Some(reference) => {
                let version = own.version.clone().or_else(|| defaults.version.clone());
                crate::registry::pull::ChartRef::parse(&reference, version.as_deref())
                    .map_err(|e| targets_error(place, format!("{name}: {}", e.message)))?;
                let verify = own.verify.or(file.defaults.verify).unwrap_or(false)
                    || defaults.keyring.is_some();
                let keyring = own
                    .keyring
                    .clone()
                    .or_else(|| file.defaults.keyring.clone())
                    .map(path_of)
                    .or_else(|| defaults.keyring.clone());
                Chart::Oci {
                    reference,
                    version,
                    keyring: if verify { keyring } else { None },
                }
            }
        };
        targets.push(Target {
            participant: name,
            kubeconfig: kubeconfig.map(|k| k.display().to_string()),
            context,
            namespace,
            method,
            values,
            chart,
            kit,
        });
    }
    Ok(targets)
}

fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

fn read(path: &Path) -> Result<File> {
    let bytes = crate::fs_tree::read_untrusted(
        path.parent().unwrap_or(Path::new(".")),
        Path::new(path.file_name().unwrap_or_default()),
        MAX_TARGETS_BYTES,
    )
    .map_err(|e| targets_error(path, e))?;
    let text = String::from_utf8(bytes).map_err(|_| targets_error(path, "not UTF-8 text"))?;
    serde_saphyr::from_str::<Option<File>>(&text)
        .map(Option::unwrap_or_default)
        .map_err(|e| {
            targets_error(
                path,
                e.to_string().lines().next().unwrap_or("does not parse"),
            )
        })
}

/// (name, kit) of each participant: `source` itself when it is a prepared kit, else its
/// subfolders that are. The server comes first, then the rest by name.
fn participants(source: &Path) -> Result<Vec<(String, PreparedKit)>> {
    if let Ok(kit) = PreparedKit::open(source) {
        return Ok(vec![(kit.participant.clone(), kit)]);
    }
    let charts = crate::federation::prepared_charts(source);
    if charts.is_empty() {
        // The kit's own error says what is missing.
        return PreparedKit::open(source).map(|k| vec![(k.participant.clone(), k)]);
    }
    let mut kits = charts
        .into_iter()
        .map(|(name, dir)| PreparedKit::open(&dir).map(|k| (name, k)))
        .collect::<Result<Vec<_>>>()?;
    kits.sort_by_key(|(name, k)| (k.role != Role::Server, name.clone()));
    Ok(kits)
}

#[cfg(test)]
mod tests {
    use super::File;

    #[test]
    fn unknown_keys_are_refused() {
        let ok: File = serde_saphyr::from_str(
            "participants:\n  site-1: {namespace: a, context: c, values: [x.yaml]}\n",
        )
        .unwrap();
        assert_eq!(ok.participants["site-1"].namespace.as_deref(), Some("a"));
        for bad in [
            "participants:\n  site-1: {namespce: a}\n",
            "defaults: {kubecfg: x}\n",
            "targets: {}\n",
        ] {
            assert!(serde_saphyr::from_str::<File>(bad).is_err(), "{bad}");
        }
    }
}
