//! `stage` and `unstage` where only a stand-in kubectl will do: refusals that must call
//! nothing, dry runs that must call nothing, failures on cue. Staging against the real
//! cluster is in cluster_stage.

use crate::support;

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use support::manifests;
use support::stand_in_kubectl::StubCluster;
use support::{nvflare, nvflare_cmd, run_cmd, write, Run};

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    client: PathBuf,
    stub: StubCluster,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (_, _, client) = support::prepared_server_and_client(&root);
    let stub = StubCluster::new(&root);
    World {
        root,
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

#[test]
fn a_failed_listing_still_deletes_the_helper_pod() {
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
        &[("STUB_FAIL", " find ")],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    let error = r.json();
    assert_eq!(error["error_code"], "KUBECTL_FAILED");
    assert_eq!(
        w.stub.summary().last().unwrap(),
        "delete pod nvflare-stage-site-1"
    );
    let (last_args, _) = w.stub.calls().last().unwrap().clone();
    assert!(last_args.contains(&"--ignore-not-found=true".to_string()));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("stub failure")
            && message.contains("kubectl exec nvflare-stage-site-1 find /workspace/startup failed"),
        "{message}"
    );
    // The token is in no command line, so neither the message nor the command shows it.
    let command = error["data"]["details"][0]["command"].as_str().unwrap();
    assert!(
        command.contains("--user=helm-nvflare-token") && !command.contains("tok-SECRET-123"),
        "{command}"
    );
    assert!(
        !r.stdout.contains("tok-SECRET-123"),
        "token leaked: {}",
        r.stdout
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
        assert_eq!(r.json()["error_code"], code);
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
    assert_eq!(r.json()["error_code"], "NOT_PREPARED");
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
        assert!(r.stdout.contains("kubectl --context=fl-cluster --user=helm-nvflare-token --request-timeout=30s --namespace=nvflare get namespace nvflare"), "{}", r.stdout);
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

/// A delete the cluster refuses halfway keeps the record, so unstage can be run again; then
/// unstage deletes exactly the recorded names with one call. (The real cluster's side of
/// ConfigMap staging is in cluster_stage.)
#[test]
fn configmap_unstage_keeps_the_record_when_the_delete_fails() {
    let w = world();
    run(&w, &["stage", p(&w.client), "--method", "configmap"], &[]).success();
    let apply = &w.stub.calls()[1].0;
    assert!(
        apply.contains(&"--server-side".to_string())
            && apply.contains(&"--field-manager=helm-nvflare".to_string())
    );
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
    assert_eq!(r.json()["error_code"], "STAGE_TOO_LARGE");
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
    assert!(r.json()["message"].as_str().unwrap().contains("symlink"));
    assert!(w.stub.calls().is_empty());
    assert!(!w.client.join(".helm-nvflare-stage.json").exists());
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
