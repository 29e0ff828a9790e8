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
