//! Staging as current NVFlare does: `local/` as a ConfigMap, `startup/` as a Secret, and
//! the chart's `workspaceConfig` naming both (written before anything is applied), so the
//! Deployment mounts them read-only over `<mountPath>/local` and `<mountPath>/startup`.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::manifests;
use super::{ensure_namespace, Session, StagedObjects, UnstagedObjects};
use crate::chart::values::{Item, LocalConfig, StartupConfig, WorkspaceConfig};
use crate::error::{Code, Error, Result};
use crate::kubectl::args;
use crate::prepared::kit::PreparedKit;
use crate::prepared::stage_record::{self as record, Record};

/// Kubernetes refuses ConfigMaps and Secrets over 1 MiB of data.
pub const OBJECT_LIMIT: usize = 1024 * 1024;
/// Warn from 90% of it on: the next reprovisioning may not fit.
const WARN_AT: usize = OBJECT_LIMIT * 9 / 10;

fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        && key != "."
        && key != ".."
}

/// The files of `startup/` or `local/`: regular files only, no symlinks, no subfolders.
fn collect(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let refuse = |why: String| {
        Error::new(
            Code::InvalidArgs,
            format!(
                "Cannot stage {name}/ as a {}: {why}",
                if name == "startup" {
                    "Secret"
                } else {
                    "ConfigMap"
                }
            ),
            "Use --method pvc for this kit, or make the folder flat with regular files only.",
        )
    };
    let entries = crate::fs_tree::walk(dir, &|_| false).map_err(|e| refuse(e.to_string()))?;
    let mut files = Vec::new();
    for entry in entries {
        let key = entry.rel;
        match entry.kind {
            crate::fs_tree::Kind::File => {}
            crate::fs_tree::Kind::Symlink => {
                return Err(refuse(format!("{name}/{key} is a symlink")))
            }
            _ => return Err(refuse(format!("{name}/{key} is not a regular file"))),
        }
        if !is_valid_key(&key) {
            return Err(refuse(format!(
                "{key:?} is not a valid ConfigMap/Secret key"
            )));
        }
        let bytes = std::fs::read(&entry.path).map_err(|e| refuse(e.to_string()))?;
        files.push((key, bytes));
    }
    files.sort();
    Ok(files)
}

fn check_size(
    what: &str,
    files: &[(String, Vec<u8>)],
    warnings: &mut Vec<String>,
) -> Result<usize> {
    let size: usize = files.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > OBJECT_LIMIT {
        return Err(Error::new(
            Code::StageTooLarge,
            format!("{what} would hold {size} bytes; Kubernetes allows {OBJECT_LIMIT} (1 MiB) per object."),
            "Use --method pvc, or remove large files from the kit.",
        ));
    }
    if size > WARN_AT {
        warnings.push(format!(
            "{what} holds {size} bytes, close to Kubernetes' 1 MiB object limit."
        ));
    }
    Ok(size)
}

fn items(files: &[(String, Vec<u8>)]) -> Vec<Item> {
    files
        .iter()
        .map(|(k, _)| Item {
            key: k.clone(),
            path: k.clone(),
        })
        .collect()
}

/// Rewrites the `workspaceConfig:` block of the chart's values.yaml (the last top-level
/// key `prepare` writes), keeping every comment and other value as it is.
pub(crate) fn set_workspace_config(kit: &PreparedKit, config: &WorkspaceConfig) -> Result<()> {
    let path = kit.dir.join(crate::chart::CHART_DIR).join("values.yaml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| crate::prepared::kit_io("read", &path, e))?;
    let config = serde_json::to_value(config).expect("workspaceConfig serializes");
    let block = format!(
        "workspaceConfig:{}\n",
        crate::yaml_writer::after_key(&config, 2)
    );
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("workspaceConfig:"));
    let new_text = match start {
        Some(start) => {
            let end = lines[start + 1..]
                .iter()
                .position(|l| !l.is_empty() && !l.starts_with(' ') && !l.starts_with('#'))
                .map_or(lines.len(), |p| start + 1 + p);
            let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
            out.push(block.trim_end().to_string());
            out.extend(lines[end..].iter().map(|l| l.to_string()));
            out.join("\n") + "\n"
        }
        None => format!(
            "{text}{}{block}",
            if text.ends_with('\n') { "" } else { "\n" }
        ),
    };
    crate::fs_tree::write_atomically(&path, new_text.as_bytes())
        .map_err(|e| crate::prepared::kit_io("write", &path, e))
}

/// The ConfigMap and Secret names: the recorded ones when restaging, else from the release.
fn object_names(kit: &PreparedKit, existing: Option<&Record>) -> Result<(String, String)> {
    let defaults = (
        format!("{}-local", kit.release),
        format!("{}-startup", kit.release),
    );
    match existing {
        None => Ok(defaults),
        Some(rec) if rec.method == super::Method::Configmap => Ok((
            rec.config_map.clone().unwrap_or(defaults.0),
            rec.secret.clone().unwrap_or(defaults.1),
        )),
        Some(rec) => Err(Error::new(
            Code::InvalidArgs,
            format!(
                "{} is staged with --method {}; unstage it before staging another way.",
                kit.dir.display(),
                rec.method.as_str()
            ),
            format!("Run `helm nvflare unstage {}` first.", kit.dir.display()),
        )),
    }
}

/// The ConfigMap (text files as `data`, others as `binaryData`) and the Secret, as one List.
fn manifests_for(
    kit: &PreparedKit,
    (cm_name, secret_name): (&str, &str),
    local: &[(String, Vec<u8>)],
    startup: &[(String, Vec<u8>)],
) -> Value {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, bytes) in local {
        match std::str::from_utf8(bytes) {
            Ok(text) => data.insert(key.clone(), json!(text)),
            Err(_) => binary.insert(key.clone(), json!(b64(bytes))),
        };
    }
    let config_map = manifests::config_map(
        cm_name,
        &kit.release,
        Value::Object(data),
        Value::Object(binary),
    );
    let secret_data: Map<String, Value> = startup
        .iter()
        .map(|(k, v)| (k.clone(), json!(b64(v))))
        .collect();
    let secret = manifests::secret(secret_name, &kit.release, Value::Object(secret_data));
    json!({"apiVersion": "v1", "kind": "List", "items": [config_map, secret]})
}

pub fn stage(
    s: &mut Session,
    kit: &PreparedKit,
    existing: Option<&Record>,
    context: Option<String>,
) -> Result<(StagedObjects, Vec<String>)> {
    let namespace = s.namespace.clone();
    let local = collect(&kit.dir.join("local"))?;
    let startup = collect(&kit.dir.join("startup"))?;
    let (cm_name, secret_name) = object_names(kit, existing)?;
    let mut warnings = Vec::new();
    check_size(&format!("ConfigMap {cm_name}"), &local, &mut warnings)?;
    // Secret data travels base64-encoded; the limit applies to the decoded bytes.
    check_size(&format!("Secret {secret_name}"), &startup, &mut warnings)?;
    for w in &warnings {
        s.warn(w);
    }
    let list = manifests_for(kit, (&cm_name, &secret_name), &local, &startup);
    if !s.dry_run() {
        // Recorded before anything is applied, so unstage can always remove it.
        record::write(
            &kit.dir,
            &Record {
                config_map: Some(cm_name.clone()),
                secret: Some(secret_name.clone()),
                ..Record::new(super::Method::Configmap, &namespace, context)
            },
        )?;
        let workspace_config = WorkspaceConfig {
            namespace: namespace.clone(),
            local: LocalConfig {
                config_map_name: cm_name.clone(),
                items: items(&local),
            },
            startup: StartupConfig {
                secret_name: secret_name.clone(),
                items: items(&startup),
            },
        };
        set_workspace_config(kit, &workspace_config)?;
    }
    ensure_namespace(s, &namespace)?;
    s.progress(&format!(
        "applying ConfigMap {cm_name} and Secret {secret_name}"
    ));
    // Server-side apply: client-side apply would copy the whole Secret into an annotation.
    s.run(
        &args(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=helm-nvflare",
            "-f",
            "-",
        ]),
        Some(&list),
    )?;
    let keys = |files: &[(String, Vec<u8>)]| files.iter().map(|(k, _)| k.clone()).collect();
    Ok((
        StagedObjects::ConfigMap {
            config_map: cm_name,
            secret: secret_name,
            local_items: keys(&local),
            startup_items: keys(&startup),
        },
        warnings,
    ))
}

pub fn unstage(s: &mut Session, kit: &PreparedKit, rec: &Record) -> Result<UnstagedObjects> {
    let cm = rec.config_map.clone().unwrap_or_default();
    let secret = rec.secret.clone().unwrap_or_default();
    s.progress(&format!("deleting ConfigMap {cm} and Secret {secret}"));
    s.run(
        &[
            "delete".into(),
            format!("configmap/{cm}"),
            format!("secret/{secret}"),
            "--ignore-not-found=true".into(),
        ],
        None,
    )?;
    if !s.dry_run() {
        set_workspace_config(kit, &WorkspaceConfig::default())?;
    }
    Ok(UnstagedObjects::ConfigMap {
        config_map: cm,
        secret,
    })
}
