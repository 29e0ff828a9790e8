//! `stage` and `unstage` against the real test control plane: the helper pod admitted and
//! run by a (kwok) kubelet, `kubectl cp` writing into the folder that stands for the PVC,
//! ConfigMaps and Secrets as the API server stores them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support;
use support::cluster::{control_plane, TestNamespace};
use support::kits::Project;
use support::{nvflare_cmd, prepare_json, run_cmd, write, Run};

/// A provisioned project prepared for `ns`: (project, server kit, client kit).
pub fn prepared_for(ns: &TestNamespace) -> (Project, PathBuf, PathBuf) {
    let root = ns.tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(&root.join("k8s.yaml"), &ns.k8s_config());
    let server = root.join("prepared/server");
    let client = root.join("prepared/site-1");
    prepare_json(&project.server_kit(), &config, &server, &[]);
    prepare_json(&project.client_kit("site-1"), &config, &client, &[]);
    (project, server, client)
}

/// helm-nvflare as Helm runs it, against the namespace's cluster.
pub fn plugin(ns: &TestNamespace, args: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args);
    ns.plugin_env(&mut cmd);
    run_cmd(cmd)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every file under `dir` with its bytes, relative to `dir`.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = support::snapshot(dir)
        .into_iter()
        .filter(|(path, _)| !path.to_string_lossy().ends_with('/'))
        .map(|(path, (bytes, _))| (path.display().to_string(), bytes))
        .collect();
    out.sort();
    out
}

fn wait_no_pods(ns: &TestNamespace) {
    ns.wait_until(Duration::from_secs(30), "the helper pod is gone", |ns| {
        ns.names("pods").is_empty()
    });
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn pvc_stage_puts_the_kit_on_the_volume_byte_for_byte_and_restage_replaces_it() {
    let ns = control_plane().namespace("stage-pvc");
    let (_, server, client) = prepared_for(&ns);
    let r = plugin(
        &ns,
        &["stage", p(&server), "--create-pvc", "--format", "json"],
    )
    .success();
    let data = r.json()["data"].clone();
    assert_eq!(data["pvc"], "nvflws");
    // The real PV controller bound the claim to the test's volume.
    let pvc = ns.get_json(&["pvc", "nvflws"]);
    assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    for sub in ["startup", "local"] {
        assert_eq!(
            files(&ns.pvc_dir.join(sub)),
            files(&server.join(sub)),
            "{sub}/ on the volume differs from the kit"
        );
    }
    assert!(
        ns.pvc_dir.join("transfer").is_dir(),
        "the server gets transfer/"
    );
    wait_no_pods(&ns);

    // A file left on the volume from an earlier kit is gone after a restage.
    let stale = ns.pvc_dir.join("startup/old-client.crt");
    std::fs::write(&stale, "stale").unwrap();
    plugin(&ns, &["stage", p(&server)]).success();
    assert!(!stale.exists(), "restage left a stale file on the volume");
    assert_eq!(
        files(&ns.pvc_dir.join("startup")),
        files(&server.join("startup"))
    );
    wait_no_pods(&ns);

    // unstage removes startup/ and local/ and keeps the rest of the volume.
    std::fs::write(ns.pvc_dir.join("transfer/job.zip"), "job").unwrap();
    plugin(&ns, &["unstage", p(&server)]).success();
    assert!(!ns.pvc_dir.join("startup").exists() && !ns.pvc_dir.join("local").exists());
    assert!(ns.pvc_dir.join("transfer/job.zip").exists());
    wait_no_pods(&ns);
    let _ = client;
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn pvc_stage_that_times_out_deletes_its_helper_pod_and_names_the_scheduler_s_reason() {
    let ns = control_plane().namespace("stage-timeout");
    let (_, _, client) = prepared_for(&ns);
    // No node of the namespace takes pods: the helper pod stays Pending.
    for node in ns
        .cluster
        .kubectl_ok(&[
            "get",
            "nodes",
            "-o",
            "name",
            "-l",
            &format!("{}={}", support::cluster::NODE_GROUP_LABEL, ns.name),
        ])
        .split_whitespace()
    {
        ns.cluster.kubectl_ok(&["cordon", node]);
    }
    let r = plugin(
        &ns,
        &[
            "stage",
            p(&client),
            "--create-pvc",
            "--timeout",
            "5s",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let error = r.json()["error"].clone();
    assert_eq!(error["code"], "STAGE_TIMEOUT", "{error}");
    assert!(
        error["hint"].as_str().unwrap().contains("FailedScheduling"),
        "the hint carries the scheduler's event: {error}"
    );
    wait_no_pods(&ns);
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn configmap_stage_objects_are_what_the_api_stored_and_unstage_deletes_them() {
    let ns = control_plane().namespace("stage-cm");
    let (_, _, client) = prepared_for(&ns);
    let r = plugin(
        &ns,
        &[
            "stage",
            p(&client),
            "--method",
            "configmap",
            "--format",
            "json",
        ],
    )
    .success();
    let data = r.json()["data"].clone();
    let cm = ns.get_json(&["configmap", data["config_map"].as_str().unwrap()]);
    let secret = ns.get_json(&["secret", data["secret"].as_str().unwrap()]);
    let local = std::fs::read_to_string(client.join("local/resources.json.default")).unwrap();
    assert_eq!(cm["data"]["resources.json.default"], Value::String(local));
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["client.key"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        key,
        std::fs::read(client.join("startup/client.key")).unwrap()
    );
    // Server-side apply: no last-applied annotation carrying the Secret's data.
    assert!(secret["metadata"]["annotations"]
        .get("kubectl.kubernetes.io/last-applied-configuration")
        .is_none());
    plugin(&ns, &["unstage", p(&client)]).success();
    assert!(ns
        .names("configmaps")
        .iter()
        .all(|n| n == "kube-root-ca.crt"));
    assert!(ns.names("secrets").is_empty());
}
