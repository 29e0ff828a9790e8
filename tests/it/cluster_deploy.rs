//! `deploy`, `status` and `undeploy` on the real test control plane, with Helm 3 and 4:
//! one kit, a federation with a namespace each, a federation across two clusters;
//! idempotence, `--dry-run`, a broken client in `status`, and what `undeploy` leaves.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support;
use support::cluster::{control_plane, TestNamespace};
use support::kits::Project;
use support::manifests::HELMS;
use support::{nvflare_cmd, prepare_json, run_cmd, tool, write, Run};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// helm-nvflare as `which` Helm runs it (HELM_BIN, its own homes), against `ns`'s cluster.
fn plugin_with(ns: &TestNamespace, which: &str, args: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args);
    ns.plugin_env(&mut cmd);
    helm_env(&mut cmd, which, &ns.tmp.path().join("helm-home"));
    run_cmd(cmd)
}

fn helm_env(cmd: &mut Command, which: &str, home: &Path) {
    cmd.env("HELM_BIN", tool(which));
    for (var, sub) in [
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_DATA_HOME", "data"),
    ] {
        cmd.env(var, home.join(which).join(sub));
    }
}

/// The newest revision Helm stored for `release` (its `sh.helm.release.v1.<r>.v<N>` Secrets).
fn revision(ns: &TestNamespace, release: &str) -> u64 {
    let prefix = format!("sh.helm.release.v1.{release}.v");
    ns.names("secrets")
        .iter()
        .filter_map(|s| s.strip_prefix(&prefix)?.parse().ok())
        .max()
        .unwrap_or(0)
}

fn prepared_client(ns: &TestNamespace, name: &str) -> PathBuf {
    let root = ns.tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(&root.join("k8s.yaml"), &ns.k8s_config());
    let out = root.join(format!("prepared/{name}"));
    prepare_json(&project.client_kit(name), &config, &out, &[]);
    out
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn deploy_of_one_kit_is_idempotent_and_its_dry_run_creates_nothing() {
    for which in HELMS {
        let ns = control_plane().namespace(&format!("deploy-{which}"));
        let kit = prepared_client(&ns, "site-1");

        // --dry-run: the whole plan, and no API object appears.
        let before = ns.kubectl_ok(&["get", "all,configmaps,secrets,pvc", "-o", "name"]);
        let run = plugin_with(
            &ns,
            which,
            &[
                "deploy",
                p(&kit),
                "--create-pvc",
                "--dry-run",
                "--format",
                "json",
            ],
        );
        assert_eq!(run.code, 0, "{which}: {}\n{}", run.stdout, run.stderr);
        let data = run.json()["data"].clone();
        assert_eq!(data["dry_run"], true);
        let plan: Vec<String> = data["participants"][0]["plan"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["command"].as_str().unwrap().to_string())
            .collect();
        assert!(
            plan.iter()
                .any(|c| c.contains("upgrade") && c.contains("--install")),
            "{plan:?}"
        );
        assert!(plan.iter().any(|c| c.contains("rollout")), "{plan:?}");
        assert_eq!(
            ns.kubectl_ok(&["get", "all,configmaps,secrets,pvc", "-o", "name"]),
            before,
            "{which}: --dry-run created objects"
        );

        // The deploy: staged, installed, rolled out, verified.
        let run = plugin_with(
            &ns,
            which,
            &[
                "deploy",
                p(&kit),
                "--create-pvc",
                "--timeout",
                "90s",
                "--format",
                "json",
            ],
        );
        assert_eq!(run.code, 0, "{which}: {}\n{}", run.stdout, run.stderr);
        let row = run.json()["data"]["participants"][0].clone();
        assert_eq!(row["result"], "deployed", "{row}");
        assert_eq!(row["staged"], "restaged", "{row}");
        assert_eq!(row["verdict"], "pass", "{row}");
        assert_eq!(row["revision"], 1, "{row}");
        assert_eq!(revision(&ns, "site-1"), 1);

        // Again, nothing changed: nothing restaged, the revision stays.
        let run = plugin_with(
            &ns,
            which,
            &[
                "deploy",
                p(&kit),
                "--create-pvc",
                "--timeout",
                "90s",
                "--format",
                "json",
            ],
        );
        assert_eq!(run.code, 0, "{which}: {}\n{}", run.stdout, run.stderr);
        let row = run.json()["data"]["participants"][0].clone();
        assert_eq!(row["result"], "unchanged", "{row}");
        assert_eq!(row["staged"], "unchanged", "{row}");
        assert_eq!(row["revision"], 1, "{row}");
        assert_eq!(revision(&ns, "site-1"), 1);

        // A changed kit file: restaged and upgraded to revision 2.
        let resources = kit.join("local/resources.json.default");
        let text = std::fs::read_to_string(&resources).unwrap();
        std::fs::write(&resources, text.replacen('{', "{\n", 1)).unwrap();
        let run = plugin_with(
            &ns,
            which,
            &["deploy", p(&kit), "--timeout", "90s", "--format", "json"],
        );
        assert_eq!(run.code, 0, "{which}: {}\n{}", run.stdout, run.stderr);
        let row = run.json()["data"]["participants"][0].clone();
        assert_eq!(
            (row["result"].as_str(), row["staged"].as_str()),
            (Some("deployed"), Some("restaged")),
            "{row}"
        );
        assert_eq!(row["revision"], 2, "{row}");
        let _: Value = row;
    }
}

/// Each participant prepared with its own namespace's runtime config into
/// `root/fed/<participant>`: a prepared federation whose participants live apart.
fn federation(root: &Path, participants: &[(&str, &TestNamespace)]) -> PathBuf {
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let fed = root.join("fed");
    for (name, ns) in participants {
        let config = write(&root.join(format!("{name}.k8s.yaml")), &ns.k8s_config());
        let kit = if *name == "fl.example.com" {
            project.server_kit()
        } else {
            project.client_kit(name)
        };
        prepare_json(&kit, &config, &fed.join(name), &[]);
    }
    fed
}

fn run_with(cmd_env: impl Fn(&mut Command), args: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args);
    cmd_env(&mut cmd);
    run_cmd(cmd)
}

fn rows(run: &Run) -> Vec<Value> {
    run.json()["data"]["participants"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn a_federation_deploys_with_a_namespace_each_and_status_sees_a_broken_client() {
    let which = "helm4";
    let names = ["fl.example.com", "site-1", "site-2", "site-3"];
    let spaces: Vec<TestNamespace> = names
        .iter()
        .map(|n| control_plane().namespace(&format!("fed-{}", n.split('.').next().unwrap())))
        .collect();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let pairs: Vec<(&str, &TestNamespace)> = names.iter().copied().zip(spaces.iter()).collect();
    let fed = federation(root, &pairs);
    let mut targets = String::from("participants:\n");
    for (name, ns) in &pairs {
        targets.push_str(&format!("  {name}:\n    namespace: {}\n", ns.name));
    }
    let targets = write(&root.join("targets.yaml"), &targets);
    let env = |cmd: &mut Command| {
        spaces[0].plugin_env(cmd);
        cmd.env_remove("HELM_NAMESPACE");
        helm_env(cmd, which, &root.join("helm-home"));
    };

    let run = run_with(
        env,
        &[
            "deploy",
            p(&fed),
            "--targets",
            p(&targets),
            "--create-pvc",
            "--parallel",
            "3",
            "--timeout",
            "90s",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let deployed = rows(&run);
    assert_eq!(
        deployed[0]["participant"], "fl.example.com",
        "the server goes first"
    );
    for (row, (name, ns)) in deployed.iter().zip(&pairs) {
        assert_eq!(row["participant"], *name);
        assert_eq!(row["namespace"], ns.name.as_str());
        assert_eq!(
            (row["result"].as_str(), row["revision"].as_u64()),
            (Some("deployed"), Some(1)),
            "{row}"
        );
    }
    // The text form: one table.
    let run = run_with(
        env,
        &[
            "deploy",
            p(&fed),
            "--targets",
            p(&targets),
            "--timeout",
            "90s",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("PARTICIPANT"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("unchanged").count(), 4, "{}", run.stdout);

    let status = |env: &dyn Fn(&mut Command)| {
        let run = run_with(
            env,
            &[
                "status",
                p(&fed),
                "--targets",
                p(&targets),
                "--format",
                "json",
            ],
        );
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        rows(&run)
    };
    for row in status(&env) {
        assert_eq!(row["staged"], "yes", "{row}");
        assert_eq!(row["pods_ready"], "1/1", "{row}");
        assert_eq!(row["revision"], 1, "{row}");
        assert_eq!(row["helm_status"], "deployed", "{row}");
        assert!(row["certificate_expiry"].as_str().is_some(), "{row}");
    }

    // Break two clients: site-2 scaled to 0, site-3's prepared kit changed since staging.
    spaces[2].kubectl_ok(&["scale", "deployment", "site-2", "--replicas=0"]);
    let resources = fed.join("site-3/local/resources.json.default");
    let text = std::fs::read_to_string(&resources).unwrap();
    std::fs::write(&resources, text.replacen('{', "{\n", 1)).unwrap();
    spaces[2].wait_until(
        std::time::Duration::from_secs(30),
        "site-2 has no ready pod",
        |ns| {
            ns.get_json(&["deployment", "site-2"])["status"]["readyReplicas"]
                .as_u64()
                .unwrap_or(0)
                == 0
        },
    );
    let after = status(&env);
    assert_eq!(after[2]["pods_ready"], "0/0", "{}", after[2]);
    assert_eq!(after[3]["staged"], "stale", "{}", after[3]);
    assert_eq!(after[1]["staged"], "yes");

    // undeploy: releases gone, what was staged removed, every workspace PVC kept.
    let run = run_with(
        env,
        &[
            "undeploy",
            p(&fed),
            "--targets",
            p(&targets),
            "--timeout",
            "60s",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let undeployed = rows(&run);
    assert_eq!(
        undeployed.last().unwrap()["participant"],
        "fl.example.com",
        "the server goes last"
    );
    for (row, ns) in undeployed
        .iter()
        .zip(spaces.iter().skip(1).chain(spaces.iter().take(1)))
    {
        assert_eq!(row["release_result"], "uninstalled", "{row}");
        assert_eq!(row["stage_result"], "unstaged", "{row}");
        assert_eq!(row["workspace"], "kept", "{row}");
        assert_eq!(revision(ns, row["release"].as_str().unwrap()), 0, "{row}");
        assert_eq!(ns.names("pvc"), ["nvflws"], "{row}");
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn a_federation_deploys_across_two_clusters_in_one_command() {
    let which = "helm3";
    let one = control_plane().namespace("two-server");
    let two_a = support::cluster::second_control_plane().namespace("two-site-1");
    let two_b = support::cluster::second_control_plane().namespace("two-site-2");
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let fed = federation(
        root,
        &[
            ("fl.example.com", &one),
            ("site-1", &two_a),
            ("site-2", &two_b),
        ],
    );
    // One kubeconfig with a context per cluster, as an operator would have.
    let second = std::fs::read_to_string(&two_a.cluster.kubeconfig)
        .unwrap()
        .replace("name: test", "name: two")
        .replace("cluster: test", "cluster: two")
        .replace("user: admin", "user: admin-two")
        .replace("name: admin", "name: admin-two")
        .replace("current-context: test", "current-context: two");
    let second = write(&root.join("two.kubeconfig"), &second);
    let mut merge = Command::new(tool("kubectl4"));
    merge.args(["config", "view", "--flatten"]).env(
        "KUBECONFIG",
        format!("{}:{}", one.cluster.kubeconfig.display(), second.display()),
    );
    write(&root.join("kubeconfig"), &run_cmd(merge).success().stdout);
    let targets = write(
        &root.join("targets.yaml"),
        &format!(
            "defaults:\n  kubeconfig: kubeconfig\nparticipants:\n  fl.example.com: {{context: test, namespace: {}}}\n  site-1: {{context: two, namespace: {}}}\n  site-2: {{context: two, namespace: {}}}\n",
            one.name, two_a.name, two_b.name
        ),
    );
    let env = |cmd: &mut Command| {
        one.plugin_env(cmd);
        cmd.env_remove("HELM_NAMESPACE")
            .env("KUBECONFIG", "/nonexistent");
        helm_env(cmd, which, &root.join("helm-home"));
    };
    let run = run_with(
        env,
        &[
            "deploy",
            p(&fed),
            "--targets",
            p(&targets),
            "--create-pvc",
            "--timeout",
            "90s",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let clusters: Vec<(String, String)> = rows(&run)
        .iter()
        .map(|r| {
            (
                r["cluster"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        clusters,
        [
            ("test".into(), "deployed".into()),
            ("two".into(), "deployed".into()),
            ("two".into(), "deployed".into())
        ]
    );
    let server_release = rows(&run)[0]["release"].as_str().unwrap().to_string();
    assert_eq!(revision(&one, &server_release), 1);
    assert_eq!(revision(&two_a, "site-1"), 1);
    assert_eq!(revision(&two_b, "site-2"), 1);
    // The second cluster holds no server, the first no client.
    assert!(one
        .names("deployments")
        .iter()
        .all(|d| !d.starts_with("site-")));

    // Each parent's log as kwok serves it (CRI format), with the lines NVFlare writes:
    // status reads them through each participant's own cluster.
    let cri = |line: &str| format!("2026-12-01T10:00:00.000000000Z stdout F {line}\n");
    write(
        &one.pvc_dir.join("parent.log"),
        &(cri("Client: New client site-1@10.0.0.7 joined. Sent token.  Total clients: 1")
            + &cri("Client: New client site-2@10.0.0.8 joined. Sent token.  Total clients: 2")),
    );
    for (ns, name) in [(&two_a, "site-1"), (&two_b, "site-2")] {
        write(
            &ns.pvc_dir.join("parent.log"),
            &cri(&format!(
                "Successfully registered client:{name} for project example_project."
            )),
        );
    }
    let run = run_with(
        env,
        &[
            "status",
            p(&fed),
            "--targets",
            p(&targets),
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let seen: Vec<(String, String, String)> = rows(&run)
        .iter()
        .map(|r| {
            (
                r["cluster"].as_str().unwrap().to_string(),
                r["pods_ready"].as_str().unwrap().to_string(),
                r["registered"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("test".into(), "1/1".into(), "2 clients".into()),
            ("two".into(), "1/1".into(), "yes".into()),
            ("two".into(), "1/1".into(), "yes".into())
        ]
    );

    let run = run_with(
        env,
        &[
            "undeploy",
            p(&fed),
            "--targets",
            p(&targets),
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(revision(&two_a, "site-1"), 0);
    assert_eq!(two_a.names("pvc"), ["nvflws"]);
}

/// A targets file with an unknown key, an unknown participant or an invalid namespace is
/// refused before anything runs; `undeploy --delete-workspace` needs `--yes`, and then
/// deletes the workspace PVC that otherwise stays.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn bad_targets_run_nothing_and_the_workspace_goes_only_when_asked() {
    let which = "helm4";
    let ns = control_plane().namespace("deploy-targets");
    let kit = prepared_client(&ns, "site-1");
    let fed = kit.parent().unwrap().to_path_buf();
    let before = ns.kubectl_ok(&["get", "all,configmaps,secrets,pvc", "-o", "name"]);
    for (targets, says) in [
        ("participants:\n  site-1: {namespce: x}\n", "namespce"),
        (
            "participants:\n  site-9: {namespace: x}\n",
            "no prepared participant \"site-9\"",
        ),
        (
            "participants:\n  site-1: {namespace: Not_Valid}\n",
            "not a valid namespace",
        ),
        ("defaults: {method: rsync}\n", "not pvc or configmap"),
    ] {
        let file = write(&ns.tmp.path().join("targets.yaml"), targets);
        let run = plugin_with(
            &ns,
            which,
            &["deploy", p(&fed), "--targets", p(&file), "--format", "json"],
        );
        assert_eq!(run.code, 4, "{targets}: {}", run.stdout);
        assert_eq!(run.json()["error_code"], "INVALID_ARGS", "{targets}");
        let message = run.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains(says), "{targets}: {message}");
    }
    assert_eq!(
        ns.kubectl_ok(&["get", "all,configmaps,secrets,pvc", "-o", "name"]),
        before
    );

    let run = plugin_with(
        &ns,
        which,
        &["deploy", p(&kit), "--create-pvc", "--timeout", "90s"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let run = plugin_with(
        &ns,
        which,
        &[
            "undeploy",
            p(&kit),
            "--delete-workspace",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(run.stdout.contains("--yes"), "{}", run.stdout);
    assert_eq!(
        revision(&ns, "site-1"),
        1,
        "a refused undeploy changed something"
    );
    let run = plugin_with(
        &ns,
        which,
        &[
            "undeploy",
            p(&kit),
            "--delete-workspace",
            "--yes",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["data"]["participants"][0]["workspace"],
        "deleted"
    );
    assert_eq!(revision(&ns, "site-1"), 0);
    ns.wait_until(
        std::time::Duration::from_secs(30),
        "the PVC is gone",
        |ns| ns.names("pvc").is_empty(),
    );
}

/// SIGTERM while Helm installs: the deploy stops at once (exit 130), says that Helm was
/// stopped mid-way and what state that leaves, and keeps what it staged recorded (so
/// `unstage` or the next deploy can act on it). The hanging Helm is a stand-in: a real
/// Helm cannot be made to hang on cue; every other Helm call goes to the real one.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn sigterm_during_helm_says_what_state_it_leaves() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let ns = control_plane().namespace("deploy-sigterm");
    let kit = prepared_client(&ns, "site-1");
    let marker = ns.tmp.path().join("helm-upgrade-started");
    let stub = write(
        &ns.tmp.path().join("hanging-helm"),
        &format!(
            "#!/bin/sh\nif [ \"$1\" = upgrade ]; then touch '{}'; exec sleep 60; fi\nexec '{}' \"$@\"\n",
            marker.display(),
            tool("helm4").display()
        ),
    );
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = nvflare_cmd();
    cmd.args(["deploy", p(&kit), "--create-pvc", "--format", "json"]);
    ns.plugin_env(&mut cmd);
    helm_env(&mut cmd, "helm4", &ns.tmp.path().join("helm-home"));
    cmd.env("HELM_BIN", &stub)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "deploy never reached helm upgrade"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited for Helm"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let error = &json["data"]["participants"][0]["error"];
    assert_eq!(error["error_code"], "INTERRUPTED", "{json}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("Interrupted while Helm was installing or upgrading site-1")
            && message.contains("no revision was installed")
            && message.contains("stays staged"),
        "{message}"
    );
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("helm status site-1"),
        "{error}"
    );
    // What was staged is recorded, so unstage can remove it.
    assert!(kit.join(".helm-nvflare-stage.json").is_file());
    assert_eq!(revision(&ns, "site-1"), 0);
}

/// `status --watch` refreshes the table until interrupted, then exits 0; with
/// `--format json` it is refused (one envelope per run).
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn status_watch_refreshes_until_interrupted() {
    use std::process::Stdio;
    use std::time::Duration;
    let ns = control_plane().namespace("status-watch");
    let kit = prepared_client(&ns, "site-1");
    let run = plugin_with(
        &ns,
        "helm4",
        &["status", p(&kit), "--watch", "--format", "json"],
    );
    assert_eq!(run.code, 4, "{}", run.stdout);
    let mut cmd = nvflare_cmd();
    cmd.args(["status", p(&kit), "--watch", "--interval", "1s"]);
    ns.plugin_env(&mut cmd);
    helm_env(&mut cmd, "helm4", &ns.tmp.path().join("helm-home"));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.matches("PARTICIPANT").count() >= 2, "{stdout}");
    assert!(
        stdout.contains("not installed") || stdout.contains("missing"),
        "{stdout}"
    );
}
