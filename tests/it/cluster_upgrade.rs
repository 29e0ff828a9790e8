//! `upgrade`, `backup` and `restore` on the real test control plane (issue 22): a running
//! federation moved to reprovisioned kits (new certificates, same CA), a new image tag and
//! the 2.9 layout in one command, with the server's history backed up first and still
//! there after; a revision that never becomes ready rolled back with the previous files
//! staged again; an upgrade refused while a job pod runs; hostile backups refused with
//! nothing written to the PVC.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support;
use support::cluster::{control_plane, TestNamespace};
use support::kits::Project;
use support::{nvflare_cmd, prepare_json, run_cmd, snapshot, tgz_entries, tool, write, Run};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn run_in(ns: &TestNamespace, which: &str, home: &Path, args: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args);
    env(&mut cmd, ns, which, home);
    run_cmd(cmd)
}

fn env(cmd: &mut Command, ns: &TestNamespace, which: &str, home: &Path) {
    ns.plugin_env(cmd);
    cmd.env("HELM_BIN", tool(which));
    for (var, sub) in [
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_DATA_HOME", "data"),
    ] {
        cmd.env(var, home.join(which).join(sub));
    }
}

fn rows(run: &Run) -> Vec<Value> {
    run.json()["data"]["participants"]
        .as_array()
        .unwrap()
        .clone()
}

/// `<fed>/<name>` for each participant, prepared for its namespace with `image` and `version`.
fn prepare_federation(
    project: &Project,
    root: &Path,
    fed: &str,
    parts: &[(&str, &TestNamespace)],
    image: &str,
    version: &str,
) -> PathBuf {
    let out = root.join(fed);
    for (name, ns) in parts {
        let config = ns
            .k8s_config()
            .replace("localhost:5000/nvflare:2.9.0", image);
        let config = write(&root.join(format!("{fed}-{name}.k8s.yaml")), &config);
        let kit = if *name == project.server {
            project.server_kit()
        } else {
            project.client_kit(name)
        };
        prepare_json(
            &kit,
            &config,
            &out.join(name),
            &["--nvflare-version", version],
        );
    }
    out
}

fn deployment_image(ns: &TestNamespace, name: &str) -> String {
    ns.get_json(&["deployment", name])["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

fn put(dir: &Path, rel: &str, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let mut d = path.parent().unwrap();
    while d.starts_with(dir) && d != dir {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
        d = d.parent().unwrap();
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn issue_22_upgrade_moves_a_federation_to_reprovisioned_kits_and_keeps_the_servers_history() {
    let which = "helm4";
    let server_ns = control_plane().namespace("upg-server");
    let client_ns = control_plane().namespace("upg-site");
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let home = root.join("helm-home");
    let parts = [("fl.example.com", &server_ns), ("site-1", &client_ns)];
    let mut project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let v1 = prepare_federation(
        &project,
        root,
        "v1",
        &parts,
        "localhost:5000/nvflare:2.8.3",
        "2.8",
    );
    let targets = write(
        &root.join("targets.yaml"),
        &format!(
            "participants:\n  fl.example.com: {{namespace: {}}}\n  site-1: {{namespace: {}}}\n",
            server_ns.name, client_ns.name
        ),
    );
    let plugin = |args: &[&str]| {
        let mut cmd = nvflare_cmd();
        cmd.args(args);
        env(&mut cmd, &server_ns, which, &home);
        cmd.env_remove("HELM_NAMESPACE");
        run_cmd(cmd)
    };
    let run = plugin(&[
        "deploy",
        p(&v1),
        "--targets",
        p(&targets),
        "--create-pvc",
        "--timeout",
        "90s",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // What the server wrote on its PVC: job history, an upload, a log.
    let history: Vec<(&str, Vec<u8>)> = vec![
        (
            "example_project/jobs/j1/meta.json",
            br#"{"job_id": "j1"}"#.to_vec(),
        ),
        (
            "transfer/upload.bin",
            (0..=255u8).cycle().take(70_000).collect(),
        ),
        ("log.txt", b"2026-12-01 server started\n".to_vec()),
    ];
    for (rel, bytes) in &history {
        put(&server_ns.pvc_dir, rel, bytes);
    }

    // Reprovisioned: new certificates from the same CA, the 2.9.0 image, the 2.9 layout.
    project.prod = root.join("ws/example_project/prod_01");
    let v2 = prepare_federation(
        &project,
        root,
        "v2",
        &parts,
        "localhost:5000/nvflare:2.9.0",
        "2.9",
    );
    let backups = root.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let upgrade = |extra: &[&str]| {
        let mut args = vec![
            "upgrade",
            p(&v2),
            "--targets",
            p(&targets),
            "--backup-dir",
            p(&backups),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--timeout", "90s", "--format", "json"]);
        plugin(&args)
    };

    // --dry-run: the diff and the plan; nothing changes.
    let run = upgrade(&["--dry-run"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let planned = rows(&run);
    assert_eq!(planned[0]["participant"], "fl.example.com");
    for row in &planned {
        assert_eq!(row["result"], "planned", "{row}");
        let changes: Vec<String> = row["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}: {}",
                    c["what"].as_str().unwrap(),
                    c["detail"].as_str().unwrap()
                )
            })
            .collect();
        let has = |prefix: &str| changes.iter().any(|c| c.starts_with(prefix));
        assert!(has("layout: NVFlare 2.8 -> 2.9"), "{changes:?}");
        assert!(
            has("image: localhost:5000/nvflare:2.8.3 -> localhost:5000/nvflare:2.9.0"),
            "{changes:?}"
        );
        assert!(has("certificates: same CA"), "{changes:?}");
        assert!(
            has("value: image.tag: \"2.8.3\" -> \"2.9.0\""),
            "{changes:?}"
        );
        // startup/ by fingerprint only: 16 hex digits, never a PEM line.
        assert!(
            changes
                .iter()
                .any(|c| c.starts_with("file: startup/") && c.contains(" -> ")),
            "{changes:?}"
        );
        assert!(!run.stdout.contains("BEGIN"), "{}", run.stdout);
        let plan: Vec<&str> = row["plan"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["command"].as_str().unwrap())
            .collect();
        assert!(
            plan.iter()
                .any(|c| c.contains(" upgrade ") && c.contains("--wait")),
            "{plan:?}"
        );
        assert!(plan.iter().any(|c| c.contains(" rollback ")), "{plan:?}");
    }
    assert!(
        planned[0]["plan"].to_string().contains("tar -cf -"),
        "the server's plan backs up first"
    );
    assert_eq!(
        std::fs::read_dir(&backups).unwrap().count(),
        0,
        "--dry-run wrote a backup"
    );
    assert_eq!(
        deployment_image(&server_ns, "fl.example.com"),
        "localhost:5000/nvflare:2.8.3"
    );

    // The upgrade: server first (backed up), then the client.
    let run = upgrade(&[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let done = rows(&run);
    for row in &done {
        assert_eq!(row["result"], "upgraded", "{row}");
        assert_eq!(
            (row["from_revision"].as_u64(), row["revision"].as_u64()),
            (Some(1), Some(2)),
            "{row}"
        );
        assert_eq!(row["verdict"], "pass", "{row}");
    }
    for (name, ns) in parts {
        assert_eq!(deployment_image(ns, name), "localhost:5000/nvflare:2.9.0");
        let role = if name == "site-1" { "client" } else { "server" };
        assert_eq!(
            std::fs::read(ns.pvc_dir.join(format!("startup/{role}.crt"))).unwrap(),
            std::fs::read(v2.join(name).join(format!("startup/{role}.crt"))).unwrap(),
            "{name}: the reprovisioned certificate is staged"
        );
        assert!(
            !ns.pvc_dir.join(".helm-nvflare-previous").exists(),
            "the kept copy is removed"
        );
    }
    // The backup: its manifest first, the history byte-equal, no startup/ (no private key).
    let backup = PathBuf::from(done[0]["backup"].as_str().unwrap());
    assert_eq!(backup.parent().unwrap(), backups);
    let name = backup.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("nvflare-backup-fl-example-com-") && name.ends_with("Z.tgz"),
        "{name}"
    );
    assert!(done[1]["backup"].is_null(), "clients are not backed up");
    let entries = tgz_entries(&backup);
    assert_eq!(entries[0].0, ".helm-nvflare-backup.json");
    let manifest: Value = serde_json::from_slice(&entries[0].1).unwrap();
    assert_eq!(
        (manifest["participant"].as_str(), manifest["role"].as_str()),
        (Some("fl.example.com"), Some("server"))
    );
    for (rel, bytes) in &history {
        let found = entries
            .iter()
            .find(|(n, _)| n == rel)
            .unwrap_or_else(|| panic!("{rel} not in the backup"));
        assert_eq!(&found.1, bytes, "{rel}");
        assert_eq!(
            &std::fs::read(server_ns.pvc_dir.join(rel)).unwrap(),
            bytes,
            "{rel} is still on the PVC"
        );
    }
    assert!(
        !entries
            .iter()
            .any(|(n, _)| n.starts_with("startup") || n.starts_with("local")),
        "{:?}",
        entries.iter().map(|e| &e.0).collect::<Vec<_>>()
    );

    // Again: nothing to do, no new revision, no new backup.
    let run = upgrade(&[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        rows(&run)
            .iter()
            .all(|r| r["result"] == "unchanged" && r["revision"] == 2),
        "{}",
        run.stdout
    );
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1);

    // restore: refused while the server runs; then puts the history back byte-equal.
    let server_kit = v2.join("fl.example.com");
    let restore = |extra: &[&str]| {
        let mut args = vec!["restore", p(&backup), p(&server_kit), "--format", "json"];
        args.extend_from_slice(extra);
        run_in(&server_ns, which, &home, &args)
    };
    let run = restore(&[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["error_code"],
        "WORKSPACE_IN_USE",
        "{}",
        run.stdout
    );
    server_ns.kubectl_ok(&["scale", "deployment", "fl.example.com", "--replicas=0"]);
    server_ns.wait_until(
        std::time::Duration::from_secs(60),
        "the server's pod is gone",
        |ns| {
            ns.get_json(&["deployment", "fl.example.com"])["status"]["replicas"]
                .as_u64()
                .unwrap_or(0)
                == 0
        },
    );
    std::fs::remove_dir_all(server_ns.pvc_dir.join("transfer")).unwrap();
    std::fs::remove_dir_all(server_ns.pvc_dir.join("example_project")).unwrap();
    std::fs::write(server_ns.pvc_dir.join("log.txt"), "changed since").unwrap();
    let staged_before = snapshot(&server_ns.pvc_dir.join("startup"));
    let run = restore(&[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["data"]["restored"],
        serde_json::json!(["example_project", "log.txt", "transfer"])
    );
    for (rel, bytes) in &history {
        assert_eq!(
            &std::fs::read(server_ns.pvc_dir.join(rel)).unwrap(),
            bytes,
            "{rel} restored"
        );
    }
    assert_eq!(
        snapshot(&server_ns.pvc_dir.join("startup")),
        staged_before,
        "restore never touches startup/"
    );
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn issue_22_a_revision_that_never_becomes_ready_is_rolled_back_and_a_running_job_refuses_the_upgrade(
) {
    let which = "helm3";
    let ns = control_plane().namespace("upg-roll");
    let root = ns.tmp.path().to_path_buf();
    let home = root.join("helm-home");
    let mut project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let v1 = prepare_federation(
        &project,
        &root,
        "v1",
        &[("site-1", &ns)],
        "localhost:5000/nvflare:2.9.0",
        "2.9",
    )
    .join("site-1");
    let run = run_in(
        &ns,
        which,
        &home,
        &[
            "deploy",
            p(&v1),
            "--create-pvc",
            "--timeout",
            "90s",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    project.prod = root.join("ws/example_project/prod_01");
    let v2 = prepare_federation(
        &project,
        &root,
        "v2",
        &[("site-1", &ns)],
        "localhost:5000/nvflare:2.9.0",
        "2.9",
    )
    .join("site-1");
    let v1_cert = std::fs::read(v1.join("startup/client.crt")).unwrap();
    assert_ne!(
        v1_cert,
        std::fs::read(v2.join("startup/client.crt")).unwrap()
    );

    // A job pod of site-1, named as NVFlare's launcher names it: refused, nothing changed.
    ns.apply_pod("0f1e2d3c-job-site-1-f505dccd");
    let run = run_in(
        &ns,
        which,
        &home,
        &["upgrade", p(&v2), "--timeout", "90s", "--format", "json"],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let row = rows(&run)[0].clone();
    assert_eq!(row["error"]["error_code"], "JOBS_RUNNING", "{row}");
    assert_eq!(
        row["running_jobs"],
        serde_json::json!(["0f1e2d3c-job-site-1-f505dccd"]),
        "{row}"
    );
    assert_eq!(
        std::fs::read(ns.pvc_dir.join("startup/client.crt")).unwrap(),
        v1_cert,
        "nothing was restaged"
    );
    ns.kubectl_ok(&[
        "delete",
        "pod",
        "0f1e2d3c-job-site-1-f505dccd",
        "--wait=true",
    ]);

    // A new revision whose pod never becomes ready (the kubelet reports ImagePullBackOff).
    let run = run_in(
        &ns,
        which,
        &home,
        &[
            "upgrade",
            p(&v2),
            "--set",
            "podLabels.helm-nvflare\\.test/fault=image-pull",
            "--timeout",
            "20s",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let row = rows(&run)[0].clone();
    assert_eq!(row["result"], "rolled-back", "{row}");
    assert_eq!(row["error"]["error_code"], "UPGRADE_ROLLED_BACK", "{row}");
    assert_eq!(
        (row["from_revision"].as_u64(), row["revision"].as_u64()),
        (Some(1), Some(3)),
        "{row}"
    );
    assert!(
        row["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rolled back to revision 1"),
        "{row}"
    );
    // The previous revision runs again, on the files it started on.
    ns.wait_until(
        std::time::Duration::from_secs(60),
        "site-1 is ready again without the fault",
        |ns| {
            let d = ns.get_json(&["deployment", "site-1"]);
            d["status"]["readyReplicas"] == 1
                && d["spec"]["template"]["metadata"]["labels"]["helm-nvflare.test/fault"].is_null()
        },
    );
    assert_eq!(
        std::fs::read(ns.pvc_dir.join("startup/client.crt")).unwrap(),
        v1_cert,
        "the previous certificate is staged again"
    );
    assert!(!ns.pvc_dir.join(".helm-nvflare-previous").exists());
    let history = run_cmd({
        let mut cmd = Command::new(tool(which));
        cmd.args(["history", "site-1", "-n", &ns.name, "-o", "json"]);
        env(&mut cmd, &ns, which, &home);
        cmd
    });
    let statuses: Vec<String> = serde_json::from_str::<Value>(&history.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["superseded", "failed", "deployed"],
        "{}",
        history.stdout
    );
}

/// A backup archive written by hand: `entries` after a manifest for `participant`.
fn hostile_backup(
    path: &Path,
    participant: &str,
    build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<std::fs::File>>),
) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::best(),
    );
    let mut b = tar::Builder::new(gz);
    let manifest = serde_json::json!({"format": 1, "participant": participant, "role": "server", "release": participant,
        "namespace": "nvflare", "created": "2026-12-01T00:00:00Z", "files": 1, "bytes": 1});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, ".helm-nvflare-backup.json", bytes.as_slice())
        .unwrap();
    build(&mut b);
    b.into_inner().unwrap().finish().unwrap();
}

fn raw_file(
    b: &mut tar::Builder<flate2::write::GzEncoder<std::fs::File>>,
    name: &str,
    size: u64,
    data: impl std::io::Read,
) {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn issue_22_hostile_backups_are_refused_and_nothing_reaches_the_pvc() {
    let ns = control_plane().namespace("upg-hostile");
    let root = ns.tmp.path().to_path_buf();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let kit = prepare_federation(
        &project,
        &root,
        "v1",
        &[("fl.example.com", &ns)],
        "localhost:5000/nvflare:2.9.0",
        "2.9",
    )
    .join("fl.example.com");
    put(&ns.pvc_dir, "transfer/keep.txt", b"mine");
    let before = snapshot(&ns.pvc_dir);
    let owner = "fl.example.com";
    let cases: Vec<(
        &str,
        &str,
        Box<dyn FnOnce(&mut tar::Builder<flate2::write::GzEncoder<std::fs::File>>)>,
        &str,
    )> = vec![
        (
            "dotdot",
            owner,
            Box::new(|b| raw_file(b, "../../etc/cron.d/x", 2, &b"x\n"[..])),
            "leaves the workspace",
        ),
        (
            "absolute",
            owner,
            Box::new(|b| raw_file(b, "/tmp/x", 2, &b"x\n"[..])),
            "leaves the workspace",
        ),
        (
            "symlink",
            owner,
            Box::new(|b| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, "transfer", "/etc").unwrap();
            }),
            "symbolic link",
        ),
        (
            "startup",
            owner,
            Box::new(|b| raw_file(b, "startup/rootCA.pem", 2, &b"x\n"[..])),
            "which staging owns",
        ),
        // 64 MiB of zeros in a few tens of KiB, against a 10 MiB cap.
        (
            "bomb",
            owner,
            Box::new(|b| {
                raw_file(
                    b,
                    "transfer/zeros",
                    64 << 20,
                    std::io::repeat(0).take(64 << 20),
                )
            }),
            "more than 10 MiB",
        ),
        (
            "other participant",
            "site-2",
            Box::new(|b| raw_file(b, "transfer/x", 2, &b"x\n"[..])),
            "is a backup of site-2",
        ),
    ];
    use std::io::Read as _;
    for (label, participant, build, why) in cases {
        let archive = root.join(format!("{}.tgz", label.replace(' ', "-")));
        hostile_backup(&archive, participant, build);
        let run = run_in(
            &ns,
            "helm4",
            &root.join("helm-home"),
            &[
                "restore",
                p(&archive),
                p(&kit),
                "--max-size",
                "10Mi",
                "--format",
                "json",
            ],
        );
        assert_eq!(run.code, 4, "{label}: {}\n{}", run.stdout, run.stderr);
        let error = run.json();
        let code = if label == "other participant" {
            "BACKUP_MISMATCH"
        } else {
            "INVALID_BACKUP"
        };
        assert_eq!(error["error_code"], code, "{label}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(why),
            "{label}: {error}"
        );
        assert_eq!(snapshot(&ns.pvc_dir), before, "{label}: the PVC changed");
        assert!(
            ns.names("pods").is_empty(),
            "{label}: a helper pod was started"
        );
    }
}
