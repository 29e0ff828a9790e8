//! `local/study_runtime.yaml` (NVFlare 2.9, format version 2): what each study gets at this
//! site — a job image, dataset PVCs (mounted at `/data/<study>/<dataset>`), env vars,
//! Secret-backed env vars and files, and (Kubernetes) a pod template.
//!
//! NVFlare 2.9's parent reads this file only when a job starts, so a mistake in it shows
//! up as failed jobs days after deployment. `prepare` checks it now, with NVFlare 2.9.0's
//! rules (`nvflare/app_opt/job_launcher/study_runtime.py`) and, for the names and
//! references that reach Kubernetes, Kubernetes' own rules.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fields::first_line;
use crate::image::ImageRef;
use crate::names;
use crate::runtime_config::{Runtime, RESERVED_DOCKER_KWARGS_2_9 as RESERVED_DOCKER_KWARGS};

pub const STUDY_RUNTIME_YAML: &str = "study_runtime.yaml";
pub const FORMAT_VERSION: i64 = 2;

/// What NVFlare 2.9.0's `deploy prepare` writes when a kit has neither file.
pub const TEMPLATE: &str = include_str!("study_runtime.template.yaml");

const STUDY_KEYS: [&str; 8] = [
    "container",
    "datasets",
    "docker_kwargs",
    "env",
    "pod_template",
    "secret_env",
    "secret_mounts",
    "slurm",
];
const DATASET_KEYS: [&str; 3] = ["mode", "source", "type"];
const SECRET_ENV_KEYS: [&str; 2] = ["key", "source"];
const SECRET_MOUNT_KEYS: [&str; 4] = ["items", "mode", "mount_path", "source"];
/// Env names the launcher sets itself (NVFlare 2.9.0's `_RESERVED_ENV_NAMES`).
const RESERVED_ENV: [&str; 6] = [
    "PYTHONPATH",
    "NVFL_WORKSPACE_OWNER_FQCN",
    "NVFL_WORKSPACE_TRANSFER_TOKEN",
    "NVFLARE_JOB_AUTH_TOKEN",
    "NVFLARE_JOB_TOKEN_SIGNATURE",
    "NVFLARE_JOB_SSID",
];

/// A problem in the file: INVALID_KIT, since the file came with the kit.
fn fail(message: impl std::fmt::Display) -> Error {
    Error::invalid_kit(
        format!("local/{STUDY_RUNTIME_YAML}: {message}"),
        "Fix local/study_runtime.yaml in the kit (NVFlare 2.9 format_version 2), or remove it to get the empty template.",
    )
}

fn show(text: &str) -> String {
    format!("{:?}", crate::terminal::escape(text))
}

fn mapping<'a>(value: &'a Value, label: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| fail(format_args!("{label} must be a mapping.")))
}

fn known_keys(entry: &Map<String, Value>, known: &[&str], label: &str) -> Result<()> {
    let unknown: Vec<String> = crate::fields::unknown_keys(entry, known)
        .into_iter()
        .map(show)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(fail(format_args!(
        "{label} has unknown key(s) [{}]; allowed: {known:?}.",
        unknown.join(", ")
    )))
}

fn non_empty_str<'a>(value: Option<&'a Value>, label: &str) -> Result<&'a str> {
    crate::fields::non_empty_str(value)
        .ok_or_else(|| fail(format_args!("{label} must be a non-empty string.")))
}

/// Study, dataset and secret-mount names: NVFlare's `^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$`.
fn is_nvflare_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && edge(&bytes[0])
        && edge(&bytes[bytes.len() - 1])
        && bytes.iter().all(|b| edge(b) || *b == b'_' || *b == b'-')
}

fn name(value: &str, label: &str) -> Result<()> {
    if is_nvflare_name(value) {
        return Ok(());
    }
    Err(fail(format_args!(
        "{label} {} is not a valid name (lower case letters, digits, '_' or '-', at most 63).",
        show(value)
    )))
}

/// A Kubernetes object name (PVC, Secret) the job pod will reference.
fn k8s_object(value: &str, label: &str, kind: &str) -> Result<()> {
    if names::is_dns1123_subdomain(value) {
        return Ok(());
    }
    Err(fail(format_args!(
        "{label} {} is not a valid {kind} name (DNS-1123 subdomain).",
        show(value)
    )))
}

fn absolute_path(value: &str, label: &str) -> Result<()> {
    if value.starts_with('/') && !value.split('/').any(|p| p == "..") {
        return Ok(());
    }
    Err(fail(format_args!(
        "{label} must be an absolute path without '..': {}.",
        show(value)
    )))
}

fn env_name(value: &str, label: &str) -> Result<()> {
    if value.is_empty() {
        return Err(fail(format_args!("{label} must be a non-empty string.")));
    }
    if RESERVED_ENV.contains(&value) {
        return Err(fail(format_args!(
            "{label} {} is launcher-owned and cannot be set in study config.",
            show(value)
        )));
    }
    Ok(())
}

/// Checks `local/study_runtime.yaml` of a kit for the runtime it is prepared for.
/// `local` is the kit's `local/` folder (pod templates are read relative to it).
pub fn check(local: &Path, runtime: Runtime) -> Result<Vec<Grant>> {
    let path = local.join(STUDY_RUNTIME_YAML);
    let text =
        std::fs::read_to_string(&path).map_err(|e| fail(format_args!("cannot be read: {e}")))?;
    check_text(&text, local, runtime)
}

pub(crate) fn check_text(text: &str, local: &Path, runtime: Runtime) -> Result<Vec<Grant>> {
    let config: Value = serde_saphyr::from_str::<Option<Value>>(text)
        .map_err(|e| {
            fail(format_args!(
                "is not valid YAML: {}",
                first_line(&e.to_string())
            ))
        })?
        .unwrap_or(Value::Null);
    let config = mapping(&config, "file content")?;
    known_keys(config, &["format_version", "studies"], "top level")?;
    match config.get("format_version") {
        Some(Value::Number(n)) if n.as_i64() == Some(FORMAT_VERSION) => {}
        other => {
            return Err(fail(format_args!(
                "format_version must be {FORMAT_VERSION}, got {}.",
                other.map_or("nothing".into(), |v| show(&v.to_string()))
            )))
        }
    }
    let Some(studies) = config.get("studies").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let mut grants = Vec::new();
    for (study, entry) in mapping(studies, "studies")? {
        grants.extend(check_study(study, entry, local, runtime)?);
    }
    Ok(grants)
}

fn check_study(study: &str, entry: &Value, local: &Path, runtime: Runtime) -> Result<Vec<Grant>> {
    name(study, "study name")?;
    let label = format!("studies.{study}");
    let entry = mapping(entry, &label)?;
    known_keys(entry, &STUDY_KEYS, &label)?;
    if entry.contains_key("slurm") {
        return Err(fail(
            "slurm is Slurm-only and is not supported by this launcher.",
        ));
    }
    if let Some(container) = entry.get("container") {
        let label = format!("{label}.container");
        let container = mapping(container, &label)?;
        known_keys(container, &["image"], &label)?;
        let image = non_empty_str(container.get("image"), &format!("{label}.image"))?;
        ImageRef::parse(image).map_err(|why| {
            fail(format_args!(
                "{label}.image {} is not a valid image reference: {why}.",
                show(image)
            ))
        })?;
    }
    let pod = entry
        .get("pod_template")
        .map(|template| check_pod_template(template, local, runtime))
        .transpose()?;
    if let Some(kwargs) = entry.get("docker_kwargs") {
        if runtime != Runtime::Docker {
            return Err(fail(
                "docker_kwargs is Docker-only and is not supported by this launcher.",
            ));
        }
        let label = format!("{label}.docker_kwargs");
        let reserved: Vec<&str> = RESERVED_DOCKER_KWARGS
            .into_iter()
            .filter(|k| mapping(kwargs, &label).is_ok_and(|m| m.contains_key(*k)))
            .collect();
        mapping(kwargs, &label)?;
        if !reserved.is_empty() {
            return Err(fail(format_args!(
                "{label} must not contain launcher-owned key(s) {reserved:?}."
            )));
        }
    }
    if let Some(datasets) = entry.get("datasets") {
        for (dataset, item) in mapping(datasets, &format!("{label}.datasets"))? {
            check_dataset(study, dataset, item, runtime)?;
        }
    }
    let mut env_names = Vec::new();
    if let Some(env) = entry.get("env") {
        for (var, value) in mapping(env, &format!("{label}.env"))? {
            env_name(var, &format!("{label}.env variable name"))?;
            match value {
                Value::Object(_) | Value::Array(_) | Value::Null => {
                    return Err(fail(format_args!(
                        "{label}.env.{var} must be a scalar value."
                    )))
                }
                Value::String(s) if s.is_empty() => {
                    return Err(fail(format_args!(
                        "{label}.env.{var} must not be empty; set a value or remove the key."
                    )))
                }
                _ => env_names.push(var.clone()),
            }
        }
    }
    if let Some(secret_env) = entry.get("secret_env") {
        for (var, reference) in mapping(secret_env, &format!("{label}.secret_env"))? {
            let item = format!("{label}.secret_env.{var}");
            env_name(var, &format!("{item} variable name"))?;
            let reference = mapping(reference, &item)?;
            known_keys(reference, &SECRET_ENV_KEYS, &item)?;
            let source = non_empty_str(reference.get("source"), &format!("{item}.source"))?;
            non_empty_str(reference.get("key"), &format!("{item}.key"))?;
            if runtime == Runtime::K8s {
                k8s_object(source, &format!("{item}.source"), "Secret")?;
            }
            if env_names.contains(var) {
                return Err(fail(format_args!(
                    "{label} defines [{}] in both env and secret_env.",
                    show(var)
                )));
            }
        }
    }
    if let Some(mounts) = entry.get("secret_mounts") {
        for (mount, item) in mapping(mounts, &format!("{label}.secret_mounts"))? {
            check_secret_mount(study, mount, item, runtime)?;
        }
    }
    let declared: Vec<&str> = ["secret_env", "secret_mounts"]
        .iter()
        .filter_map(|k| entry.get(*k).and_then(Value::as_object))
        .flat_map(|m| m.values())
        .filter_map(|r| r.get("source").and_then(Value::as_str))
        .collect();
    Ok(pod
        .map(|pod| {
            pod_grants(&pod, &declared)
                .into_iter()
                .map(|what| Grant {
                    study: study.to_string(),
                    what,
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Something a study's pod template gives every job pod of the study beyond what the
/// launcher gives it: the template comes with the kit, from the project admin, and
/// becomes the job pod of every job at the site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Grant {
    pub study: String,
    pub what: String,
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "study {}: {}", self.study, self.what)
    }
}

/// What a Pod template grants: privileged or privilege-escalating containers, added
/// capabilities, the host's network, PID or IPC namespace, hostPath volumes, a
/// ServiceAccount of its own, and Secrets the study does not declare in its `secret_env`
/// or `secret_mounts`.
fn pod_grants(pod: &Map<String, Value>, declared_secrets: &[&str]) -> Vec<String> {
    let mut grants = Vec::new();
    let spec = pod.get("spec").and_then(Value::as_object);
    let Some(spec) = spec else {
        return grants;
    };
    let shown = |v: &Value| show(v.as_str().unwrap_or(&v.to_string()));
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec.get(key) == Some(&Value::Bool(true)) {
            grants.push(format!(
                "the host's {} namespace ({key})",
                &key[4..].to_lowercase()
            ));
        }
    }
    for key in ["serviceAccountName", "serviceAccount"] {
        if let Some(account) = spec
            .get(key)
            .filter(|a| a.as_str().is_some_and(|a| !a.is_empty()))
        {
            grants.push(format!("ServiceAccount {} ({key})", shown(account)));
        }
    }
    let mut secrets: Vec<String> = Vec::new();
    for volume in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(path) = volume.pointer("/hostPath/path") {
            grants.push(format!("hostPath volume {}", shown(path)));
        }
        if let Some(name) = volume.pointer("/secret/secretName").and_then(Value::as_str) {
            secrets.push(name.to_string());
        }
        for source in volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = source.pointer("/secret/name").and_then(Value::as_str) {
                secrets.push(name.to_string());
            }
        }
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for container in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = container
                .get("name")
                .map(shown)
                .unwrap_or_else(|| "?".into());
            let security = container.get("securityContext");
            let flag = |key: &str| security.and_then(|s| s.get(key)) == Some(&Value::Bool(true));
            if flag("privileged") {
                grants.push(format!("privileged container {name}"));
            }
            if flag("allowPrivilegeEscalation") {
                grants.push(format!("privilege escalation in container {name}"));
            }
            let added = security
                .and_then(|s| s.pointer("/capabilities/add"))
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty());
            if let Some(added) = added {
                let caps: Vec<String> = added.iter().map(shown).collect();
                grants.push(format!(
                    "capabilities {} in container {name}",
                    caps.join(", ")
                ));
            }
            for env in container
                .get("env")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(secret) = env
                    .pointer("/valueFrom/secretKeyRef/name")
                    .and_then(Value::as_str)
                {
                    secrets.push(secret.to_string());
                }
            }
            for from in container
                .get("envFrom")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(secret) = from.pointer("/secretRef/name").and_then(Value::as_str) {
                    secrets.push(secret.to_string());
                }
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    for secret in secrets
        .iter()
        .filter(|s| !declared_secrets.contains(&s.as_str()))
    {
        grants.push(format!(
            "Secret {} (not in the study's secret_env or secret_mounts)",
            show(secret)
        ));
    }
    grants
}

fn check_dataset(study: &str, dataset: &str, item: &Value, runtime: Runtime) -> Result<()> {
    let label = format!("studies.{study}.datasets.{dataset}");
    name(dataset, &format!("{label} dataset name"))?;
    let item = mapping(item, &label)?;
    match item.get("type") {
        None => {}
        Some(Value::String(t)) if t == "mount" => {}
        Some(Value::String(t)) if t == "databricks" => {
            return Err(fail(format_args!(
                "{label} type 'databricks' is not yet supported."
            )))
        }
        Some(other) => {
            return Err(fail(format_args!(
                "{label} has unknown type {}; allowed: 'mount'.",
                show(&other.to_string())
            )))
        }
    }
    known_keys(item, &DATASET_KEYS, &label)?;
    let source = non_empty_str(item.get("source"), &format!("{label}.source"))?;
    match runtime {
        Runtime::K8s => k8s_object(source, &format!("{label}.source"), "PersistentVolumeClaim")?,
        Runtime::Docker => absolute_path(source, &format!("{label}.source"))?,
    }
    match item.get("mode").and_then(Value::as_str) {
        Some("ro" | "rw") => Ok(()),
        _ => Err(fail(format_args!("{label}.mode must be 'ro' or 'rw'."))),
    }
}

fn check_secret_mount(study: &str, mount: &str, item: &Value, runtime: Runtime) -> Result<()> {
    let label = format!("studies.{study}.secret_mounts.{mount}");
    name(mount, &format!("{label} mount name"))?;
    let item = mapping(item, &label)?;
    known_keys(item, &SECRET_MOUNT_KEYS, &label)?;
    if item.get("mode").is_some_and(|m| m.as_str() != Some("ro")) {
        return Err(fail(format_args!(
            "{label}.mode must be 'ro'; secret mounts are always read-only."
        )));
    }
    let mount_path = non_empty_str(item.get("mount_path"), &format!("{label}.mount_path"))?;
    absolute_path(mount_path, &format!("{label}.mount_path"))?;
    if let Some(items) = item.get("items") {
        if runtime != Runtime::K8s {
            return Err(fail(format_args!(
                "{label}.items is Kubernetes-only and is not supported by this launcher; point source at a directory containing only the intended files."
            )));
        }
        let items = mapping(items, &format!("{label}.items"))?;
        if items.is_empty() {
            return Err(fail(format_args!(
                "{label}.items must not be empty; omit it for full projection."
            )));
        }
        for (key, path) in items {
            if key.is_empty() {
                return Err(fail(format_args!(
                    "{label}.items key must be a non-empty string."
                )));
            }
            let path = non_empty_str(Some(path), &format!("{label}.items.{key}"))?;
            if path.starts_with('/') || path.split('/').any(|p| p == "..") {
                return Err(fail(format_args!(
                    "{label}.items.{key} must be a relative path without '..': {}.",
                    show(path)
                )));
            }
        }
    }
    let source = non_empty_str(item.get("source"), &format!("{label}.source"))?;
    match runtime {
        Runtime::K8s => k8s_object(source, &format!("{label}.source"), "Secret"),
        Runtime::Docker => absolute_path(source, &format!("{label}.source")),
    }
}

/// A Pod template is a page of YAML; anything far larger is not one.
const MAX_POD_TEMPLATE_BYTES: u64 = 1024 * 1024;

/// `pod_template`: Kubernetes only; a mapping, or a path relative to `local/` of a YAML
/// file in the kit defining a Pod.
fn check_pod_template(
    template: &Value,
    local: &Path,
    runtime: Runtime,
) -> Result<Map<String, Value>> {
    if runtime != Runtime::K8s {
        return Err(fail(
            "pod_template is Kubernetes-only and is not supported by this launcher.",
        ));
    }
    let (pod, label) = match template {
        Value::String(rel) => {
            let relative = Path::new(rel);
            if rel.is_empty()
                || relative.is_absolute()
                || relative
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(fail(format_args!(
                    "pod_template must be a relative path under the config directory: {}",
                    show(rel)
                )));
            }
            // Kit content: never through a link, never a FIFO or device, never unbounded.
            let bytes = crate::fs_tree::read_untrusted(local, relative, MAX_POD_TEMPLATE_BYTES)
                .map_err(|e| {
                    let why = if e.kind() == std::io::ErrorKind::NotFound {
                        "was not found".to_string()
                    } else {
                        format!("cannot be read: {e}")
                    };
                    fail(format_args!(
                        "pod_template file local/{} {why}.",
                        crate::terminal::escape(rel)
                    ))
                })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                fail(format_args!(
                    "pod_template file local/{} is not UTF-8 text.",
                    crate::terminal::escape(rel)
                ))
            })?;
            let pod: Value = serde_saphyr::from_str::<Option<Value>>(&text)
                .map_err(|e| {
                    fail(format_args!(
                        "could not parse pod_template file local/{}: {}",
                        crate::terminal::escape(rel),
                        first_line(&e.to_string())
                    ))
                })?
                .unwrap_or(Value::Null);
            (
                pod,
                format!("pod_template file local/{}", crate::terminal::escape(rel)),
            )
        }
        other => (other.clone(), "inline pod_template".to_string()),
    };
    let pod = mapping(&pod, &label)?;
    match pod.get("kind") {
        None | Some(Value::Null) => Ok(pod.clone()),
        Some(Value::String(k)) if k == "Pod" => Ok(pod.clone()),
        Some(_) => Err(fail(format_args!("{label} must define kind: Pod."))),
    }
}

/// `study_runtime.yaml`'s text with each study's `container.image` replaced by what
/// `new` gives for it (unchanged where it gives None), and how many were replaced; None
/// when the text does not parse or nothing was replaced. Written as JSON (which YAML reads
/// the same; comments are dropped) under the comment line `comment`.
pub(crate) fn with_job_images(
    text: &str,
    comment: &str,
    new: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, usize)> {
    let mut config: Value = serde_saphyr::from_str::<Option<Value>>(text).ok()??;
    let mut n = 0;
    for study in config["studies"]
        .as_object_mut()
        .into_iter()
        .flat_map(|m| m.values_mut())
    {
        let Some(image) = study["container"]["image"].as_str() else {
            continue;
        };
        if let Some(replaced) = new(image) {
            study["container"]["image"] = Value::String(replaced);
            n += 1;
        }
    }
    (n > 0).then(|| {
        let json = serde_json::to_string_pretty(&config).expect("JSON values serialize");
        (format!("# {comment}\n{json}\n"), n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k8s(text: &str) -> std::result::Result<(), String> {
        check_text(text, Path::new("/nonexistent"), Runtime::K8s)
            .map(|_| ())
            .map_err(|e| e.message)
    }

    #[test]
    fn the_template_is_valid_for_both_runtimes() {
        k8s(TEMPLATE).unwrap();
        check_text(TEMPLATE, Path::new("/"), Runtime::Docker).unwrap();
    }

    #[test]
    fn a_full_study_passes() {
        k8s("format_version: 2
studies:
  cancer_study:
    container: {image: registry.example.com:5000/nvflare-job:2.9.0}
    datasets:
      training: {source: nvfldata, mode: ro}
    env: {DB_HOST: postgres.svc, RETRIES: 3, DEBUG: true}
    secret_env:
      DB_PASSWORD: {source: study-db, key: password}
    secret_mounts:
      db-ca: {source: study-db-ca, mount_path: /var/run/nvflare/secrets/db-ca, items: {ca.crt: ca.crt}}
    pod_template: {spec: {nodeSelector: {gpu: a100}}}
")
        .unwrap();
    }

    #[test]
    fn mistakes_are_named() {
        for (text, needle) in [
            ("format_version: 1\nstudies: {}\n", "format_version must be 2"),
            ("studies: {}\n", "format_version must be 2, got nothing"),
            ("format_version: 2\nextra: 1\n", "top level has unknown key(s) [\"extra\"]"),
            ("format_version: 2\nstudies: {Study: {}}\n", "study name \"Study\" is not a valid name"),
            ("format_version: 2\nstudies: {s: {datasets: {d: {source: Bad_PVC, mode: ro}}}}\n", "is not a valid PersistentVolumeClaim name"),
            ("format_version: 2\nstudies: {s: {datasets: {d: {source: pvc, mode: rwx}}}}\n", "mode must be 'ro' or 'rw'"),
            ("format_version: 2\nstudies: {s: {container: {image: 'repo/Upper:1'}}}\n", "is not a valid image reference"),
            ("format_version: 2\nstudies: {s: {secret_mounts: {m: {source: s, mount_path: rel/path}}}}\n", "must be an absolute path"),
            ("format_version: 2\nstudies: {s: {secret_env: {X: {source: s}}}}\n", "secret_env.X.key must be a non-empty string"),
            ("format_version: 2\nstudies: {s: {env: {PYTHONPATH: /x}}}\n", "is launcher-owned"),
            ("format_version: 2\nstudies: {s: {env: {A: ''}}}\n", "must not be empty"),
            ("format_version: 2\nstudies: {s: {env: {A: x}, secret_env: {A: {source: s, key: k}}}}\n", "in both env and secret_env"),
            ("format_version: 2\nstudies: {s: {docker_kwargs: {shm_size: 8g}}}\n", "Docker-only"),
            ("format_version: 2\nstudies: {s: {pod_template: ../../etc/passwd}}\n", "relative path under the config directory"),
            ("format_version: 2\nstudies: {s: {pod_template: {kind: Deployment}}}\n", "must define kind: Pod"),
            ("format_version: 2\nstudies: {s: {pod_template: pods/x.yaml}}\n", "was not found"),
            ("format_version: 2\nstudies: {s: {slurm: {}}}\n", "Slurm-only"),
            ("[1, 2]\n", "file content must be a mapping"),
        ] {
            let err = k8s(text).expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.starts_with("local/study_runtime.yaml: "), "{err}");
        }
    }

    #[test]
    fn docker_sources_are_host_paths() {
        let text = "format_version: 2\nstudies: {s: {datasets: {d: {source: /data/training, mode: ro}}, docker_kwargs: {shm_size: 8g}}}\n";
        check_text(text, Path::new("/"), Runtime::Docker).unwrap();
        let err = check_text(
            "format_version: 2\nstudies: {s: {docker_kwargs: {image: x}}}\n",
            Path::new("/"),
            Runtime::Docker,
        )
        .unwrap_err();
        assert!(err.message.contains("launcher-owned"), "{}", err.message);
    }
}
