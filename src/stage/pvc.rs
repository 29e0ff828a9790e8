//! Staging onto the workspace PVC through a helper pod, as the guide does by hand:
//! namespace, PVC, helper pod, wait, replace `startup/` and `local/` at the PVC root,
//! `transfer/` for the server, list, delete the helper pod (always).

use std::path::Path;

use serde_json::Value;

use super::manifests::{self, Identity, WORKSPACE};
use super::{
    ensure_namespace, Session, StageSettings, StagedObjects, UnstageSettings, UnstagedObjects,
};
use crate::error::{Code, Error, Result};
use crate::kubectl::{self, args};
use crate::prepared::kit::PreparedKit;
use crate::prepared::stage_record::{self as record, Record};

/// `kubectl exec <pod> -c stage -- <command...>`.
pub(super) fn exec(pod: &str, command: &[&str]) -> Vec<String> {
    [&["exec", pod, "-c", "stage", "--"], command]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

pub(super) fn check_claim(claim: &str) -> Result<()> {
    if crate::names::is_dns1123_subdomain(claim) {
        return Ok(());
    }
    Err(Error::invalid_args(
        format!("{claim:?} is not a valid PersistentVolumeClaim name."),
        "Use lower case letters, digits, '-' and '.'.",
    ))
}

fn ensure_pvc(s: &mut Session, claim: &str, settings: &StageSettings, release: &str) -> Result<()> {
    let get = kubectl::get_json("pvc", claim);
    if s.dry_run() {
        // Nothing is checked in a dry run: show the check, and the PVC it would create.
        s.plan_conditional(&get, None, "checks that the PVC exists");
        if settings.create_pvc {
            let pvc = manifests::workspace_pvc(
                claim,
                release,
                &settings.size,
                settings.storage_class.as_deref(),
            );
            s.plan_conditional(
                &args(&["apply", "-f", "-"]),
                Some(&pvc),
                "only if the PVC is missing (--create-pvc)",
            );
        }
        return Ok(());
    }
    let answer = s
        .query(
            &get,
            "if it is missing: created with --create-pvc, an error otherwise",
            r#"{"status":{"phase":"Bound"}}"#,
        )?
        .map_err(|f| f.into_error())?;
    match kubectl::found(&answer)? {
        // Pending is normal for WaitForFirstConsumer storage: the helper pod binds it.
        Some(pvc) => {
            s.progress(&format!("PVC {claim}: {}", pvc["status"]["phase"].as_str().unwrap_or("found")));
            Ok(())
        }
        None if settings.create_pvc => {
            s.progress(&format!("creating PVC {claim} ({})", settings.size));
            let pvc = manifests::workspace_pvc(claim, release, &settings.size, settings.storage_class.as_deref());
            s.run(&args(&["apply", "-f", "-"]), Some(&pvc)).map(|_| ())
        }
        None => Err(Error::new(
            Code::PvcNotFound,
            format!("PersistentVolumeClaim {claim} does not exist in namespace {}.", s.namespace),
            "Create it (see the guide's workspace-pvc.yaml), or pass --create-pvc [--size 10Gi] [--storage-class SC].",
        )),
    }
}

pub(super) fn identity(
    settings: Option<&StageSettings>,
    kit: &PreparedKit,
    openshift_uid: Option<i64>,
) -> Identity {
    let (chart_uid, chart_group) = kit.values.pod_identity();
    let uid = settings
        .and_then(|s| s.run_as_user)
        .or(chart_uid)
        .or(openshift_uid)
        .unwrap_or(65534);
    Identity {
        run_as_user: Some(uid),
        fs_group: chart_group.or(openshift_uid).or(Some(uid)),
    }
}

/// What the helper pod mounts and runs as.
pub(super) struct Helper<'a> {
    pub claim: &'a str,
    pub image: &'a str,
    pub identity: Identity,
    pub timeout: u64,
}

/// Starts the helper pod, runs `work` with its name, and deletes the pod whatever `work`
/// (or the start) did: the one place the "always delete" promise is kept.
pub(super) fn with_helper_pod<T>(
    s: &mut Session,
    kit: &PreparedKit,
    helper: &Helper,
    work: impl FnOnce(&mut Session, &str) -> Result<T>,
) -> Result<(String, T)> {
    let name = manifests::helper_pod_name(&kit.release);
    let pod = manifests::helper_pod(
        &name,
        &kit.release,
        helper.claim,
        helper.image,
        &kit.pull_secrets(),
        &helper.identity,
    );
    let result = start_helper(s, &pod, &name, helper.timeout).and_then(|()| work(s, &name));
    s.progress(&format!("deleting helper pod {name}"));
    let cleanup = s.cleanup(&args(&[
        "delete",
        "pod",
        &name,
        "--ignore-not-found=true",
        "--wait=false",
    ]));
    let value = result?;
    cleanup?;
    Ok((name, value))
}

/// Starts the helper pod and waits for it; the caller deletes it.
fn start_helper(s: &mut Session, pod: &Value, name: &str, timeout: u64) -> Result<()> {
    s.run(
        &args(&[
            "delete",
            "pod",
            name,
            "--ignore-not-found=true",
            "--wait=true",
        ]),
        None,
    )?;
    s.progress(&format!("starting helper pod {name}"));
    s.run(&args(&["apply", "-f", "-"]), Some(pod))?;
    let wait = vec![
        "wait".to_string(),
        "--for=condition=Ready".into(),
        format!("pod/{name}"),
        format!("--timeout={timeout}s"),
    ];
    match s.query(&wait, "waits until the helper pod is ready", "")? {
        Ok(_) => Ok(()),
        Err(failure) => {
            let events = args(&[
                "get",
                "events",
                "--field-selector",
                &format!("involvedObject.name={name}"),
                "-o",
                "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
                "--no-headers",
            ]);
            let events = match s.query(&events, "", "")? {
                Ok(text) if !text.trim().is_empty() => {
                    text.trim().lines().collect::<Vec<_>>().join("; ")
                }
                _ => "no events".to_string(),
            };
            Err(Error::new(
                Code::StageTimeout,
                format!("Helper pod {name} was not ready within {timeout}s: {}", failure.stderr),
                format!("Pod events: {events}. Check the image ({}), pull secrets and that the PVC can bind (kubectl describe pvc).", pod["spec"]["containers"][0]["image"].as_str().unwrap_or("?")),
            ))
        }
    }
}

/// Every file of `dir`, relative to its parent (`startup/fed_client.json`).
fn files(dir: &Path) -> Result<Vec<String>> {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = crate::fs_tree::walk_files(dir).map_err(|e| {
        Error::new(
            Code::StageIncomplete,
            format!(
                "Cannot list {} to check what was copied: {e}",
                dir.display()
            ),
            "Check the prepared kit's permissions, then stage again.",
        )
    })?;
    Ok(files
        .into_iter()
        .map(|rel| format!("{base}/{rel}"))
        .collect())
}

fn copy_in(s: &mut Session, kit: &PreparedKit, name: &str) -> Result<Vec<String>> {
    s.progress("replacing startup/ and local/ at the PVC root");
    let remove = exec(
        name,
        &[
            "rm",
            "-rf",
            &format!("{WORKSPACE}/startup"),
            &format!("{WORKSPACE}/local"),
        ],
    );
    s.run(&remove, None)?;
    for sub in ["startup", "local"] {
        let local = kubectl::local_path(&kit.dir.join(sub))?;
        s.run(
            &[
                "cp".into(),
                "-c".into(),
                "stage".into(),
                local,
                format!("{name}:{WORKSPACE}/{sub}"),
            ],
            None,
        )?;
    }
    if kit.is_server() {
        let mkdir = exec(name, &["mkdir", "-p", &format!("{WORKSPACE}/transfer")]);
        s.run(&mkdir, None)?;
    }
    let list = exec(
        name,
        &[
            "find",
            &format!("{WORKSPACE}/startup"),
            &format!("{WORKSPACE}/local"),
            "-type",
            "f",
        ],
    );
    let listing = s.run(&list, None)?;
    let staged: Vec<String> = listing
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix(&format!("{WORKSPACE}/"))
                .map(str::to_string)
        })
        .collect();
    if s.dry_run() {
        return Ok(Vec::new());
    }
    let mut expected = files(&kit.dir.join("startup"))?;
    expected.extend(files(&kit.dir.join("local"))?);
    let missing: Vec<&String> = expected.iter().filter(|f| !staged.contains(f)).collect();
    if !missing.is_empty() {
        return Err(Error::new(
            Code::StageIncomplete,
            format!("After copying, the PVC lacks {} file(s): {}", missing.len(), missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")),
            "Check the PVC's free space and that the helper pod may write to it (--run-as-user, fsGroup).",
        ));
    }
    let mut sorted = staged;
    sorted.sort();
    Ok(sorted)
}

pub fn stage(
    s: &mut Session,
    kit: &PreparedKit,
    settings: &StageSettings,
    context: Option<String>,
) -> Result<StagedObjects> {
    let claim = settings
        .pvc
        .clone()
        .unwrap_or_else(|| kit.claim_name().to_string());
    check_claim(&claim)?;
    let namespace = s.namespace.clone();
    let openshift_uid = ensure_namespace(s, &namespace)?;
    ensure_pvc(s, &claim, settings, &kit.release)?;
    if !s.dry_run() {
        record::write(
            &kit.dir,
            &Record {
                pvc: Some(claim.clone()),
                ..Record::new(super::Method::Pvc, &namespace, context)
            },
        )?;
    }
    let helper = Helper {
        claim: &claim,
        image: &settings.image,
        identity: identity(Some(settings), kit, openshift_uid),
        timeout: settings.timeout_seconds,
    };
    let (helper_pod, files) = with_helper_pod(s, kit, &helper, |s, name| copy_in(s, kit, name))?;
    Ok(StagedObjects::Pvc {
        pvc: claim,
        helper_pod,
        files,
    })
}

pub fn unstage(
    s: &mut Session,
    kit: &PreparedKit,
    rec: &Record,
    settings: &UnstageSettings,
) -> Result<UnstagedObjects> {
    let claim = rec
        .pvc
        .clone()
        .unwrap_or_else(|| kit.claim_name().to_string());
    let get = kubectl::get_json("pvc", &claim);
    let answer = s
        .query(&get, "if the PVC is gone there is nothing to remove", "{}")?
        .map_err(|f| f.into_error())?;
    if kubectl::found(&answer)?.is_none() {
        return Ok(UnstagedObjects::Pvc {
            pvc: claim,
            removed: Vec::new(),
        });
    }
    let helper = Helper {
        claim: &claim,
        image: &settings.image,
        identity: identity(None, kit, None),
        timeout: settings.timeout_seconds,
    };
    with_helper_pod(s, kit, &helper, |s, name| {
        s.progress("removing startup/ and local/ from the PVC");
        let remove = exec(
            name,
            &[
                "rm",
                "-rf",
                &format!("{WORKSPACE}/startup"),
                &format!("{WORKSPACE}/local"),
            ],
        );
        s.run(&remove, None).map(|_| ())
    })?;
    Ok(UnstagedObjects::Pvc {
        pvc: claim,
        removed: vec!["startup/".into(), "local/".into()],
    })
}
