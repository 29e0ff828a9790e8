//! `backup` and `restore`: what a participant keeps on its workspace PVC (the server's job
//! history, snapshots, `transfer/`, logs), copied out to a local archive and put back.
//! `upgrade` backs the server up this way before it changes anything. The archive's
//! format and its checks are in `archive.rs`; the PVC side is staging's helper pod.

pub mod archive;

use std::path::PathBuf;

use serde::Serialize;

pub use archive::{Manifest, DEFAULT_MAX_BYTES, NOT_BACKED_UP};

use crate::error::{Code, Error, Result};
use crate::kubectl::{self, ClusterSettings, Kubectl};
use crate::output::{Output, Report};
use crate::prepared::PreparedKit;
use crate::stage::{self, WorkspaceSettings, WorkspaceStep};

#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub workspace: WorkspaceSettings,
    /// The folder the archive goes to.
    pub backup_dir: PathBuf,
    /// The most the workspace may unpack to.
    pub max_bytes: u64,
}

/// A written, checked backup.
#[derive(Debug, Clone, Serialize)]
pub struct BackedUp {
    pub participant: String,
    pub release: String,
    pub namespace: String,
    pub backup: PathBuf,
    pub files: u64,
    pub bytes: u64,
}

impl Report for BackedUp {
    fn text(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => crate::output::key_value_lines(&map),
            _ => String::new(),
        }
    }
}

/// Copies the workspace out through the helper pod, writes the archive beside a
/// temporary raw copy (removed after), then reads the archive back and compares its
/// file list with what `find` listed on the PVC.
pub fn backup(settings: &BackupSettings, out: &Output) -> Result<BackedUp> {
    let kit = PreparedKit::open(&settings.workspace.kit)?;
    let dir = &settings.backup_dir;
    if !dir.is_dir() {
        return Err(Error::invalid_args(
            format!("--backup-dir {} is not a folder.", dir.display()),
            "Create it, or name an existing folder.",
        ));
    }
    let failed = |e: std::io::Error| {
        Error::new(
            Code::BackupFailed,
            format!("Cannot write in {}: {e}", dir.display()),
            "Check --backup-dir.",
        )
    };
    let raw = tempfile::Builder::new()
        .prefix(".nvflare-backup-")
        .suffix(".tar")
        .tempfile_in(dir)
        .map_err(failed)?;
    let done = stage::on_workspace(
        &settings.workspace,
        out,
        &[WorkspaceStep::Backup {
            raw: raw.path(),
            cap: settings.max_bytes.saturating_add(64 << 20),
        }],
    )?;
    let now = crate::provenance::keyring::now_secs();
    let dest = dir.join(archive::file_name(&kit.release, now));
    let mut manifest = Manifest {
        format: 1,
        participant: kit.participant.clone(),
        role: kit.role,
        release: kit.release.clone(),
        namespace: kit.namespace.clone(),
        created: format!(
            "{}Z",
            crate::provenance::keyring::date_time(now).replace(' ', "T")
        ),
        files: 0,
        bytes: 0,
    };
    archive::write(raw.path(), &dest, &mut manifest, settings.max_bytes)?;
    drop(raw);
    // The archive as a restore will read it, against the PVC's own listing.
    let checked = archive::read(&dest, settings.max_bytes, None);
    let missing: Vec<String> = match &checked {
        Ok(c) => {
            let have: std::collections::BTreeSet<&str> = c
                .entries
                .iter()
                .filter(|e| !e.dir)
                .map(|e| e.path.as_str())
                .collect();
            done.listed
                .iter()
                .filter(|f| !have.contains(f.as_str()))
                .cloned()
                .collect()
        }
        Err(e) => vec![e.message.clone()],
    };
    if !missing.is_empty() {
        let _ = std::fs::remove_file(&dest);
        return Err(Error::new(
            Code::BackupFailed,
            format!(
                "The backup of {} lacks {} file(s) the workspace has: {}; it was removed.",
                kit.release,
                missing.len(),
                crate::terminal::escape(&missing.iter().take(5).cloned().collect::<Vec<_>>().join(", "))
            ),
            "A file the helper pod may not read, or one that changed while it was copied: back up again.",
        ));
    }
    Ok(BackedUp {
        participant: kit.participant,
        release: kit.release,
        namespace: kit.namespace,
        backup: dest,
        files: manifest.files,
        bytes: manifest.bytes,
    })
}

#[derive(Debug, Clone)]
pub struct RestoreSettings {
    pub backup: PathBuf,
    pub workspace: WorkspaceSettings,
    pub max_bytes: u64,
    /// Restore while the parent pod runs.
    pub force: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub participant: String,
    pub release: String,
    pub namespace: String,
    pub backup: PathBuf,
    /// The backup's own record of when it was made.
    pub created: String,
    /// The top-level folders and files replaced.
    pub restored: Vec<String>,
    pub files: u64,
    pub bytes: u64,
}

impl Report for Restored {
    fn text(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => crate::output::key_value_lines(&map),
            _ => String::new(),
        }
    }
}

/// Unpacks the whole backup into a temporary folder, checking every entry (a plain file
/// or folder, within the caps) and that its manifest names the kit's participant; only
/// then copies each top-level entry onto the PVC.
pub fn restore(settings: &RestoreSettings, out: &Output) -> Result<Restored> {
    let kit = PreparedKit::open(&settings.workspace.kit)?;
    // One pass: every entry is checked as it is unpacked into a folder of ours; nothing
    // reaches the cluster until the whole archive has passed.
    let scratch = tempfile::tempdir().map_err(|e| {
        Error::new(
            Code::BackupFailed,
            format!("Cannot make a temporary folder: {e}"),
            "Check TMPDIR.",
        )
    })?;
    let unpacked = archive::read(&settings.backup, settings.max_bytes, Some(scratch.path()))?;
    archive::check_owner(
        &settings.backup,
        &unpacked.manifest,
        &kit.participant,
        kit.role,
    )?;
    if !settings.force {
        refuse_if_running(&kit, &settings.workspace.cluster)?;
    }
    let names = unpacked.top_level();
    let done = stage::on_workspace(
        &settings.workspace,
        out,
        &[WorkspaceStep::Restore {
            from: scratch.path(),
            names: &names,
        }],
    )?;
    let missing: Vec<&str> = unpacked
        .entries
        .iter()
        .filter(|e| !e.dir && !done.listed.contains(&e.path))
        .map(|e| e.path.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::new(
            Code::StageIncomplete,
            format!(
                "After restoring, the PVC lacks {} file(s): {}",
                missing.len(),
                crate::terminal::escape(&missing.iter().take(5).copied().collect::<Vec<_>>().join(", "))
            ),
            "Check the PVC's free space and that the helper pod may write to it, then restore again.",
        ));
    }
    Ok(Restored {
        participant: kit.participant,
        release: kit.release,
        namespace: kit.namespace,
        backup: settings.backup.clone(),
        created: unpacked.manifest.created.clone(),
        restored: names,
        files: unpacked.manifest.files,
        bytes: unpacked.manifest.bytes,
    })
}

/// A parent pod writing to the workspace while it is replaced would mix both: refuse.
fn refuse_if_running(kit: &PreparedKit, cluster: &ClusterSettings) -> Result<()> {
    let kubectl = Kubectl::new(&ClusterSettings {
        namespace: Some(kit.namespace.clone()),
        ..cluster.clone()
    })?;
    let ns = format!("--namespace={}", kit.namespace);
    let answer = kubectl.call(
        &kubectl::args(&[&ns, "get", "deployment", &kit.object_name(), "-o", "json"]),
        None,
        false,
    )?;
    let Ok(text) = answer else {
        return Ok(());
    };
    let deployment: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let replicas = deployment["status"]["replicas"].as_u64().unwrap_or(0);
    if replicas == 0 {
        return Ok(());
    }
    Err(Error::new(
        Code::WorkspaceInUse,
        format!(
            "Deployment {} in namespace {} runs {replicas} parent pod(s) on this workspace; nothing was restored.",
            kit.object_name(),
            kit.namespace
        ),
        format!(
            "Stop it first (`kubectl scale deployment/{} --replicas=0 -n {}`, or `helm nvflare undeploy`), restore, then deploy; or pass --force.",
            kit.object_name(),
            kit.namespace
        ),
    ))
}
