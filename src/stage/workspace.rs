//! What else lives on a workspace PVC besides the staged `startup/` and `local/`: the
//! server's job history, snapshots, `transfer/` and logs. Through the same helper pod as
//! staging: copy it out as a tar stream (a backup), put a checked backup back, and keep
//! the staged folders of the running revision on the PVC while `upgrade` restages, so a
//! rollback gets them back. Private keys never leave the cluster: a backup leaves out
//! `startup/`, and the kept copy stays on the PVC.

use std::path::{Path, PathBuf};

use super::manifests::WORKSPACE;
use super::pvc::{check_claim, exec, identity, with_helper_pod, Helper};
use super::Session;
use crate::error::{Code, Error, Result};
use crate::kubectl::{self, ClusterSettings, Kubectl};
use crate::output::Output;
use crate::prepared::stage_record as record;
use crate::prepared::PreparedKit;

/// Where `upgrade` keeps the running revision's `startup/` and `local/`, on the PVC.
pub const PREVIOUS: &str = ".helm-nvflare-previous";
/// What staging owns at the workspace root: never in a backup, never restored.
pub const STAGING_OWNS: [&str; 3] = ["startup", "local", PREVIOUS];

#[derive(Debug, Clone)]
pub struct WorkspaceSettings {
    pub kit: PathBuf,
    pub cluster: ClusterSettings,
    /// The helper pod's image.
    pub image: String,
    pub timeout_seconds: u64,
}

/// One thing to do on the PVC, in order, all in one helper pod.
pub enum Step<'a> {
    /// Lists what a backup holds, then sends it as a tar stream into `raw` (at most `cap`
    /// bytes).
    Backup { raw: &'a Path, cap: u64 },
    /// Copies the staged `startup/` and `local/` to [`PREVIOUS`].
    KeepStaged,
    /// Puts [`PREVIOUS`] back as the staged folders.
    BringBackStaged,
    /// Removes [`PREVIOUS`].
    DropKept,
    /// Replaces each top-level name in `names` with the folder or file of that name in
    /// `from` (a checked, unpacked backup).
    Restore { from: &'a Path, names: &'a [String] },
}

/// What the steps found: the files a backup listed, the files a restore left; in a dry
/// run, the calls it would make.
#[derive(Debug, Default)]
pub struct Done {
    pub listed: Vec<String>,
    pub plan: Vec<super::PlanStep>,
}

fn path(name: &str) -> String {
    format!("{WORKSPACE}/{name}")
}

/// Every file below the workspace root but the staged folders (and the kept copy).
fn list_files(s: &mut Session, pod: &str) -> Result<Vec<String>> {
    let root = WORKSPACE.to_string();
    let mut find = vec![
        "find".to_string(),
        root,
        "-mindepth".into(),
        "1".into(),
        "(".into(),
    ];
    for (i, name) in STAGING_OWNS.iter().enumerate() {
        if i > 0 {
            find.push("-o".into());
        }
        find.extend(["-path".into(), path(name)]);
    }
    find.extend([
        ")".into(),
        "-prune".into(),
        "-o".into(),
        "-type".into(),
        "f".into(),
        "-print".into(),
    ]);
    let find: Vec<&str> = find.iter().map(String::as_str).collect();
    let listing = s.run(&exec(pod, &find), None)?;
    let mut files: Vec<String> = listing
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{WORKSPACE}/")).map(str::to_string))
        .collect();
    files.sort();
    Ok(files)
}

fn step(s: &mut Session, pod: &str, step: &Step, done: &mut Done) -> Result<()> {
    match step {
        Step::Backup { raw, cap } => {
            s.progress("listing the workspace");
            done.listed = list_files(s, pod)?;
            s.progress(&format!(
                "copying {} file(s) out of the workspace",
                done.listed.len()
            ));
            let mut tar = vec!["tar", "-cf", "-", "-C", WORKSPACE];
            let excludes: Vec<String> = STAGING_OWNS
                .iter()
                .map(|n| format!("--exclude=./{n}"))
                .collect();
            tar.extend(excludes.iter().map(String::as_str));
            tar.push(".");
            s.download(&exec(pod, &tar), raw, *cap)?;
            Ok(())
        }
        Step::KeepStaged => {
            s.progress("keeping the staged startup/ and local/ on the PVC for a rollback");
            s.run(&exec(pod, &["rm", "-rf", &path(PREVIOUS)]), None)?;
            s.run(&exec(pod, &["mkdir", "-p", &path(PREVIOUS)]), None)?;
            s.run(
                &exec(
                    pod,
                    &[
                        "cp",
                        "-a",
                        &path("startup"),
                        &path("local"),
                        &path(PREVIOUS),
                    ],
                ),
                None,
            )?;
            Ok(())
        }
        Step::BringBackStaged => {
            s.progress("putting the previous startup/ and local/ back");
            s.run(
                &exec(pod, &["rm", "-rf", &path("startup"), &path("local")]),
                None,
            )?;
            let kept = |n: &str| format!("{}/{n}", path(PREVIOUS));
            s.run(
                &exec(pod, &["mv", &kept("startup"), &kept("local"), WORKSPACE]),
                None,
            )?;
            s.run(&exec(pod, &["rm", "-rf", &path(PREVIOUS)]), None)?;
            Ok(())
        }
        Step::DropKept => {
            s.run(&exec(pod, &["rm", "-rf", &path(PREVIOUS)]), None)?;
            Ok(())
        }
        Step::Restore { from, names } => {
            for name in names.iter() {
                s.progress(&format!("restoring {}", crate::terminal::escape(name)));
                s.run(&exec(pod, &["rm", "-rf", &path(name)]), None)?;
                s.run(
                    &[
                        "cp".into(),
                        "-c".into(),
                        "stage".into(),
                        kubectl::local_path(&from.join(name))?,
                        format!("{pod}:{}", path(name)),
                    ],
                    None,
                )?;
            }
            done.listed = list_files(s, pod)?;
            Ok(())
        }
    }
}

/// Runs `steps` on the workspace PVC of the prepared kit, in one helper pod that is
/// deleted afterwards whatever happened.
pub(crate) fn on_workspace(
    settings: &WorkspaceSettings,
    out: &Output,
    steps: &[Step],
) -> Result<Done> {
    let kit = PreparedKit::open(&settings.kit)?;
    let namespace = super::resolve_namespace(&kit, &settings.cluster)?;
    let rec = record::read(&kit.dir)?;
    let claim = rec
        .as_ref()
        .and_then(|r| r.pvc.clone())
        .unwrap_or_else(|| kit.claim_name().to_string());
    check_claim(&claim)?;
    let cluster = ClusterSettings {
        timeout_seconds: settings.timeout_seconds,
        ..settings.cluster.clone()
    };
    let mut s = Session::new(Kubectl::new(&cluster)?, &namespace, out);
    let get = kubectl::get_json("pvc", &claim);
    let answer = s.query(&get, "", "{}")?.map_err(|f| f.into_error())?;
    if kubectl::found(&answer)?.is_none() {
        return Err(Error::new(
            Code::PvcNotFound,
            format!("PersistentVolumeClaim {claim} does not exist in namespace {namespace}."),
            "Stage the kit first (`helm nvflare stage --create-pvc`), which creates it.",
        ));
    }
    let helper = Helper {
        claim: &claim,
        image: &settings.image,
        identity: identity(None, &kit, None),
        timeout: settings.timeout_seconds,
    };
    let (_, mut done) = with_helper_pod(&mut s, &kit, &helper, |s, pod| {
        let mut done = Done::default();
        for one in steps {
            step(s, pod, one, &mut done)?;
        }
        Ok(done)
    })?;
    done.plan = s.finish().plan;
    Ok(done)
}
