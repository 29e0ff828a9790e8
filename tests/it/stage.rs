//! `stage` and `unstage` against a stand-in kubectl that logs every call and answers like
//! a cluster, failures included.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{json, Value};
use support::manifests;
use support::stand_in_kubectl::StubCluster;
use support::{nvflare, nvflare_cmd, run_cmd, write, Run};

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    server: PathBuf,
    client: PathBuf,
    stub: StubCluster,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (_, server, client) = support::prepared_server_and_client(&root);
    let stub = StubCluster::new(&root);
    World {
        root,
        server,
        client,
        stub,
        _tmp: tmp,
    }
}

/// Runs helm-nvflare as Helm would run the plugin: HELM_* variables, stand-in kubectl.
fn run(w: &World, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args)
        .env("PATH", w.stub.path())
        .env("STUB_LOG_DIR", &w.stub.log)
        .env("HELM_NAMESPACE", "nvflare")
        .env("HELM_KUBECONTEXT", "fl-cluster")
        .env("HELM_KUBETOKEN", "tok-SECRET-123")
        .env_remove("KUBECTL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn validate_manifests(w: &World) {
    for (args, stdin) in w.stub.calls() {
        if let Some(json) = stdin {
            let value: Value = serde_json::from_str(&json).unwrap();
            let yaml = if value["kind"] == "List" {
                value["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| serde_json::to_string(i).unwrap())
                    .collect::<Vec<_>>()
                    .join("\n---\n")
            } else {
                json.clone()
            };
            manifests::kubernetes_validate(&yaml, &w.root);
            let docs: Vec<Value> = if value["kind"] == "List" {
                value["items"].as_array().unwrap().clone()
            } else {
                vec![value]
            };
            manifests::check_names(&docs);
            assert!(args.contains(&"-f".to_string()));
        }
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn pvc_stage_of_a_server_sends_the_guides_sequence() {
    let w = world();
    let run = run(&w, &["stage", p(&w.server), "--format", "json"], &[]).success();
    let data = run.json()["data"].clone();
    assert_eq!(
        w.stub.summary(),
        [
            "get namespace nvflare",
            "get pvc nvflws",
            "delete pod nvflare-stage-fl-example-com-e265d5eb",
            "apply -f -",
            "wait pod/nvflare-stage-fl-example-com-e265d5eb",
            "exec rm -rf /workspace/startup /workspace/local",
            "cp startup nvflare-stage-fl-example-com-e265d5eb:/workspace/startup",
            "cp local nvflare-stage-fl-example-com-e265d5eb:/workspace/local",
            "exec mkdir -p /workspace/transfer",
            "exec find /workspace/startup /workspace/local -type f",
            "delete pod nvflare-stage-fl-example-com-e265d5eb",
        ]
    );
    for (args, _) in w.stub.calls() {
        assert_eq!(
            &args[..4],
            [
                "--context=fl-cluster",
                "--user=helm-nvflare-token",
                "--request-timeout=300s",
                "--namespace=nvflare"
            ],
            "{args:?}"
        );
        assert!(
            !args.join(" ").contains("tok-SECRET-123"),
            "token on a command line"
        );
    }
    // The token reached kubectl in a private kubeconfig, removed afterwards.
    let configs = w.stub.kubeconfigs();
    assert_eq!(configs.len(), w.stub.calls().len());
    for (mode, body, env) in &configs {
        assert_eq!(mode, "600");
        assert!(
            body.contains("name: helm-nvflare-token") && body.contains("token: \"tok-SECRET-123\"")
        );
        let file = env.split(':').next().unwrap();
        assert!(!Path::new(file).exists(), "{file} was left behind");
    }
    validate_manifests(&w);
    let (_, pod) = &w.stub.calls()[3];
    let pod: Value = serde_json::from_str(pod.as_ref().unwrap()).unwrap();
    assert_eq!(
        pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "nvflws"
    );
    assert_eq!(
        pod["spec"]["imagePullSecrets"],
        json!([{"name": "registry-credentials"}])
    );
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["spec"]["containers"][0]["image"], "busybox:1.36");
    assert_eq!(
        pod["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert_eq!(data["pvc"], "nvflws");
    assert!(data["files"]
        .as_array()
        .unwrap()
        .contains(&json!("startup/server.key")));
    assert!(data["helm_command"]
        .as_str()
        .unwrap()
        .starts_with("helm upgrade --install fl-example-com-e265d5eb "));
    assert!(!run.stdout.contains("tok-SECRET-123") && !run.stderr.contains("tok-SECRET-123"));
    let mut record: Value = serde_json::from_str(
        &std::fs::read_to_string(w.server.join(".helm-nvflare-stage.json")).unwrap(),
    )
    .unwrap();
    // The record is bound to its folder: path and inode.
    assert_eq!(record["folder"], json!(w.server.display().to_string()));
    assert!(record["folder_id"].as_str().unwrap().contains(':'));
    let record = record.as_object_mut().unwrap();
    record.remove("folder");
    record.remove("folder_id");
    assert_eq!(
        Value::Object(record.clone()),
        json!({"method": "pvc", "namespace": "nvflare", "context": "fl-cluster", "pvc": "nvflws"})
    );
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn pvc_stage_of_a_client_creates_what_is_missing() {
    let w = world();
    // A missing PVC is an error unless --create-pvc; no pod is started.
    let r = run(
        &w,
        &["stage", p(&w.client), "--format", "json"],
        &[("STUB_PVC", "missing")],
    );
    assert_eq!(r.code, 4);
    assert_eq!(r.json()["error"]["code"], "PVC_NOT_FOUND");
    assert_eq!(
        w.stub.summary(),
        ["get namespace nvflare", "get pvc nvflws"]
    );
    w.stub.reset();
    let env = [("STUB_PVC", "missing"), ("STUB_NAMESPACE_EXISTS", "0")];
    run(
        &w,
        &[
            "stage",
            p(&w.client),
            "--create-pvc",
            "--size",
            "20Gi",
            "--storage-class",
            "fast",
            "--image",
            "registry.example.com/busybox:1.36",
        ],
        &env,
    )
    .success();
    let summary = w.stub.summary();
    assert_eq!(
        &summary[..4],
        [
            "get namespace nvflare",
            "create namespace nvflare",
            "get pvc nvflws",
            "apply -f -"
        ]
    );
    assert!(
        !summary.iter().any(|s| s.contains("transfer")),
        "clients get no transfer/: {summary:?}"
    );
    validate_manifests(&w);
    let pvc: Value = serde_json::from_str(w.stub.calls()[3].1.as_ref().unwrap()).unwrap();
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert_eq!(pvc["spec"]["storageClassName"], "fast");
    let pod: Value = serde_json::from_str(w.stub.calls()[5].1.as_ref().unwrap()).unwrap();
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "registry.example.com/busybox:1.36"
    );
}

#[test]
fn helper_pod_is_deleted_after_every_failure() {
    for (fail_env, code, exit) in [
        (("STUB_FAIL", " cp "), "KUBECTL_FAILED", 1),
        (("STUB_FAIL", " find "), "KUBECTL_FAILED", 1),
        (("STUB_WAIT", "timeout"), "STAGE_TIMEOUT", 1),
    ] {
        let w = world();
        let r = run(
            &w,
            &[
                "stage",
                p(&w.client),
                "--format",
                "json",
                "--timeout",
                "30s",
            ],
            &[fail_env],
        );
        assert_eq!(r.code, exit, "{fail_env:?}: {}", r.stdout);
        let error = r.json()["error"].clone();
        assert_eq!(error["code"], code);
        let summary = w.stub.summary();
        assert_eq!(
            summary.last().unwrap(),
            "delete pod nvflare-stage-site-1",
            "{fail_env:?}: {summary:?}"
        );
        let (last_args, _) = w.stub.calls().last().unwrap().clone();
        assert!(last_args.contains(&"--ignore-not-found=true".to_string()));
        assert!(
            !r.stdout.contains("tok-SECRET-123"),
            "token leaked: {}",
            r.stdout
        );
        if code == "KUBECTL_FAILED" {
            let message = error["message"].as_str().unwrap();
            // The token is in no command line, so no message can show it.
            assert!(
                message.contains("kubectl")
                    && message.contains("stub failure")
                    && message.contains("--user=helm-nvflare-token")
                    && !message.contains("tok-SECRET-123"),
                "{message}"
            );
        } else {
            assert!(
                error["hint"]
                    .as_str()
                    .unwrap()
                    .contains("Failed to pull image"),
                "{error}"
            );
            assert!(!summary.iter().any(|s| s.starts_with("cp ")));
        }
    }
}

#[test]
fn ctrl_c_still_deletes_the_helper_pod() {
    let w = world();
    let mut cmd = nvflare_cmd();
    cmd.args(["stage", p(&w.client), "--format", "json"])
        .env("PATH", w.stub.path())
        .env("STUB_LOG_DIR", &w.stub.log)
        .env("HELM_NAMESPACE", "nvflare")
        .env("STUB_WAIT_SLEEP", "20")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // Its own process group, as a terminal's foreground job: Ctrl-C reaches kubectl too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !w.stub.summary().iter().any(|s| s.starts_with("wait")) {
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the wait"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(Command::new("kill")
        .args(["-INT", "--", &format!("-{pid}")])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("INTERRUPTED"));
    assert_eq!(
        w.stub.summary().last().unwrap(),
        "delete pod nvflare-stage-site-1"
    );
}

#[test]
fn refusals_before_any_call_to_the_cluster() {
    let w = world();
    let not_prepared = w.root.join("ws/example_project/prod_00/site-1");
    let cases: Vec<(Vec<String>, Vec<(&str, &str)>, &str, i32)> = vec![
        (
            vec!["stage".into(), p(&not_prepared).into()],
            vec![],
            "NOT_PREPARED",
            4,
        ),
        (
            vec!["stage".into(), p(&w.client).into()],
            vec![("HELM_NAMESPACE", "default")],
            "NAMESPACE_MISMATCH",
            4,
        ),
        (
            vec![
                "stage".into(),
                p(&w.client).into(),
                "--kubectl".into(),
                "/nonexistent/kubectl".into(),
            ],
            vec![],
            "KUBECTL_NOT_FOUND",
            4,
        ),
    ];
    for (args, env, code, exit) in cases {
        w.stub.reset();
        let mut all = args.clone();
        all.extend(["--format".into(), "json".into()]);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let r = run(&w, &refs, &env);
        assert_eq!(r.code, exit, "{code}: {}", r.stdout);
        assert_eq!(r.json()["error"]["code"], code);
        assert!(w.stub.calls().is_empty(), "{code}: kubectl was called");
    }
    // A docker-prepared kit is refused too.
    let docker_cfg = write(
        &w.root.join("docker.yaml"),
        "runtime: docker\nparent:\n  docker_image: nvflare\n",
    );
    let docker_out = w.root.join("docker-kit");
    nvflare([
        "prepare",
        p(&w.root.join("ws/example_project/prod_00/site-1")),
        "--config",
        p(&docker_cfg),
        "--output",
        p(&docker_out),
    ])
    .success();
    let r = run(&w, &["stage", p(&docker_out), "--format", "json"], &[]);
    assert_eq!(r.json()["error"]["code"], "NOT_PREPARED");
}

#[test]
fn dry_run_shows_the_whole_plan_and_runs_nothing() {
    let w = world();
    let key = std::fs::read_to_string(w.client.join("startup/client.key")).unwrap();
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    for method in ["pvc", "configmap"] {
        let r = run(
            &w,
            &["stage", p(&w.client), "--method", method, "--dry-run"],
            &[],
        )
        .success();
        assert!(
            w.stub.calls().is_empty(),
            "{method}: dry run called kubectl"
        );
        assert!(r.stdout.contains("kubectl --context=fl-cluster --user=helm-nvflare-token --request-timeout=300s --namespace=nvflare get namespace nvflare"), "{}", r.stdout);
        assert!(!r.stdout.contains("tok-SECRET-123"));
        assert!(
            !r.stdout.contains("PRIVATE KEY") && !r.stdout.contains(&key_b64[..40]),
            "{method}: key material in the plan"
        );
        if method == "pvc" {
            assert!(r.stdout.contains("\"kind\": \"Pod\"") && r.stdout.contains(" cp -c stage "));
            assert!(r.stdout.contains(
                "delete pod nvflare-stage-site-1 --ignore-not-found=true --wait=false    # always"
            ));
        } else {
            assert!(r.stdout.contains("\"kind\": \"Secret\"") && r.stdout.contains("<redacted: "));
            assert!(r.stdout.contains("\"kind\": \"ConfigMap\""));
        }
        assert!(!w.client.join(".helm-nvflare-stage.json").exists());
        let json = run(
            &w,
            &[
                "stage",
                p(&w.client),
                "--method",
                method,
                "--dry-run",
                "--format",
                "json",
            ],
            &[],
        )
        .success()
        .json();
        assert_eq!(json["data"]["dry_run"], true);
        assert!(json["data"]["plan"].as_array().unwrap().len() >= 2);
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn configmap_stage_records_workspace_config_and_unstage_removes_exactly_it() {
    let w = world();
    let home = w.root.join("helm-home");
    let r = run(
        &w,
        &[
            "stage",
            p(&w.client),
            "--method",
            "configmap",
            "--format",
            "json",
        ],
        &[],
    )
    .success();
    let data = r.json()["data"].clone();
    assert_eq!(data["config_map"], "site-1-local");
    assert_eq!(data["secret"], "site-1-startup");
    assert_eq!(w.stub.summary(), ["get namespace nvflare", "apply -f -"]);
    let apply = &w.stub.calls()[1].0;
    assert!(
        apply.contains(&"--server-side".to_string())
            && apply.contains(&"--field-manager=helm-nvflare".to_string())
    );
    validate_manifests(&w);
    let list: Value = serde_json::from_str(w.stub.calls()[1].1.as_ref().unwrap()).unwrap();
    let (cm, secret) = (&list["items"][0], &list["items"][1]);
    assert_eq!(cm["kind"], "ConfigMap");
    let cm_text = cm.to_string();
    assert!(
        !cm_text.contains("PRIVATE KEY") && !cm_text.contains("CERTIFICATE"),
        "key material in the ConfigMap"
    );
    assert!(cm["data"]["resources.json.default"]
        .as_str()
        .unwrap()
        .contains("k8s_launcher"));
    let key = std::fs::read(w.client.join("startup/client.key")).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["client.key"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, key, "the Secret carries the key");

    // values.yaml now names them; the chart mounts them read-only.
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(w.client.join("helm_chart/values.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(values["workspaceConfig"]["namespace"], "nvflare");
    assert_eq!(
        values["workspaceConfig"]["local"]["configMapName"],
        "site-1-local"
    );
    assert!(values["workspaceConfig"]["startup"]["items"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "client.key", "path": "client.key"})));
    assert_eq!(
        values["image"]["repository"], "localhost:5000/nvflare",
        "other values kept"
    );
    let rendered = manifests::template("helm4", &home, "site-1", &w.client.join("helm_chart"), &[]);
    let docs = manifests::documents(&rendered);
    let pod = &manifests::one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][2]["secret"]["secretName"], "site-1-startup");
    manifests::kubernetes_validate(&rendered, &w.root);

    // Restaging reuses the names; another namespace is refused; prepare will not replace it.
    w.stub.reset();
    run(&w, &["stage", p(&w.client), "--method", "configmap"], &[]).success();
    assert_eq!(w.stub.calls().len(), 2);
    let r = run(
        &w,
        &[
            "stage",
            p(&w.client),
            "--method",
            "configmap",
            "--namespace",
            "other",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.json()["error"]["code"], "NAMESPACE_MISMATCH");
    let prep = nvflare([
        "prepare",
        p(&w.root.join("ws/example_project/prod_00/site-1")),
        "--config",
        p(&w.root.join("k8s.yaml")),
        "--output",
        p(&w.client),
        "--format",
        "json",
    ]);
    assert_eq!(prep.code, 4);
    assert_eq!(prep.json()["error"]["code"], "OUTPUT_STAGED");

    // A failed delete keeps the record; then unstage deletes exactly the recorded names.
    w.stub.reset();
    let r = run(
        &w,
        &["unstage", p(&w.client), "--format", "json"],
        &[("STUB_FAIL", " delete ")],
    );
    assert_eq!(r.code, 1);
    assert!(w.client.join(".helm-nvflare-stage.json").exists());
    w.stub.reset();
    run(&w, &["unstage", p(&w.client)], &[]).success();
    let calls = w.stub.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        &calls[0].0[4..],
        [
            "delete",
            "configmap/site-1-local",
            "secret/site-1-startup",
            "--ignore-not-found=true"
        ]
    );
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(w.client.join("helm_chart/values.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        values["workspaceConfig"],
        json!({"namespace": "", "local": {"configMapName": "", "items": []}, "startup": {"secretName": "", "items": []}})
    );
    assert!(!w.client.join(".helm-nvflare-stage.json").exists());
    // Idempotent.
    w.stub.reset();
    let r = run(&w, &["unstage", p(&w.client), "--format", "json"], &[]).success();
    assert_eq!(r.json()["data"]["unstaged"], false);
    assert!(w.stub.calls().is_empty());
}

#[test]
fn configmap_stage_refuses_symlinks_and_objects_over_one_mebibyte() {
    let w = world();
    write(
        &w.client.join("local/big.bin"),
        &"x".repeat(1024 * 1024 + 1),
    );
    let r = run(
        &w,
        &[
            "stage",
            p(&w.client),
            "--method",
            "configmap",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, 4);
    assert_eq!(r.json()["error"]["code"], "STAGE_TOO_LARGE");
    std::fs::write(w.client.join("local/big.bin"), "x".repeat(950 * 1024)).unwrap();
    let r = run(
        &w,
        &["stage", p(&w.client), "--method", "configmap", "--dry-run"],
        &[],
    )
    .success();
    assert!(
        r.stderr.contains("close to Kubernetes' 1 MiB object limit"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(w.client.join("local/big.bin")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", w.client.join("local/link")).unwrap();
    let r = run(
        &w,
        &[
            "stage",
            p(&w.client),
            "--method",
            "configmap",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, 4);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("symlink"));
    assert!(w.stub.calls().is_empty());
    assert!(!w.client.join(".helm-nvflare-stage.json").exists());
}

#[test]
fn pvc_unstage_removes_startup_and_local_with_a_helper_pod() {
    let w = world();
    run(&w, &["stage", p(&w.server)], &[]).success();
    w.stub.reset();
    let r = run(
        &w,
        &["unstage", p(&w.server), "--format", "json"],
        &[("HELM_NAMESPACE", "ignored-for-unstage")],
    )
    .success();
    assert_eq!(r.json()["data"]["removed"], json!(["startup/", "local/"]));
    assert_eq!(
        w.stub.summary(),
        [
            "get pvc nvflws",
            "delete pod nvflare-stage-fl-example-com-e265d5eb",
            "apply -f -",
            "wait pod/nvflare-stage-fl-example-com-e265d5eb",
            "exec rm -rf /workspace/startup /workspace/local",
            "delete pod nvflare-stage-fl-example-com-e265d5eb",
        ]
    );
    assert!(w
        .stub
        .calls()
        .iter()
        .all(|(a, _)| a.contains(&"--namespace=nvflare".to_string())));
    assert!(!w.server.join(".helm-nvflare-stage.json").exists());
}

/// A dry run claims nothing about the cluster, and shows every manifest it would apply,
/// the PVC of --create-pvc included; each passes the Kubernetes schemas.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn dry_run_with_create_pvc_shows_the_pvc_and_checks_nothing() {
    let w = world();
    let r = run(
        &w,
        &[
            "stage",
            p(&w.client),
            "--create-pvc",
            "--dry-run",
            "--format",
            "json",
        ],
        &[],
    )
    .success();
    assert!(w.stub.calls().is_empty());
    assert!(
        !r.stderr.contains("Bound"),
        "a dry run claimed a PVC state: {}",
        r.stderr
    );
    let plan = r.json()["data"]["plan"].as_array().unwrap().clone();
    let manifests: Vec<&Value> = plan.iter().filter_map(|step| step.get("stdin")).collect();
    let kinds: Vec<&str> = manifests
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["PersistentVolumeClaim", "Pod"], "{plan:?}");
    for manifest in manifests {
        manifests::kubernetes_validate(&serde_json::to_string(manifest).unwrap(), &w.root);
    }
    let pvc_step = plan
        .iter()
        .find(|s| s["stdin"]["kind"] == "PersistentVolumeClaim")
        .unwrap();
    assert!(pvc_step["note"]
        .as_str()
        .unwrap()
        .contains("only if the PVC is missing"));
}
