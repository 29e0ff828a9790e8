//! Each kind of kubectl failure, produced for real (the test control plane, a closed port,
//! a listener that never answers), read the same way by `stage`, `unstage` and `verify`:
//! one line, the kind's own code and hint; the command and kubectl's stderr only with
//! `--debug` (HELM_DEBUG) and in JSON under `data.details`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster_stage::{prepared_for, service_account_token};
use crate::support;
use support::cluster::{control_plane, free_port, NamespaceOptions, TestNamespace};
use support::{nvflare_cmd, run_cmd, write, Run};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// helm-nvflare as Helm runs it against `ns`, with extra environment.
fn run(ns: &TestNamespace, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args);
    ns.plugin_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd)
}

/// The failure in JSON, then in text: the code, a one-line message without kubectl's noise,
/// the kind's hint; with HELM_DEBUG the command and stderr; in JSON always.
fn expect_kind(
    ns: &TestNamespace,
    args: &[&str],
    env: &[(&str, &str)],
    code: &str,
    says: &str,
) -> Value {
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let r = run(ns, &json_args, env);
    assert_eq!(r.code, 1, "{args:?}: {}\n{}", r.stdout, r.stderr);
    let envelope = r.json();
    assert_eq!(envelope["error_code"], code, "{args:?}: {envelope}");
    let message = envelope["message"].as_str().unwrap();
    assert!(message.contains(says), "{args:?}: {message}");
    assert!(
        !message.contains('\n')
            && !message.contains("memcache.go")
            && !message.contains("--request-timeout"),
        "{args:?}: {message}"
    );
    let details = &envelope["data"]["details"][0];
    assert!(
        details["command"].as_str().unwrap().contains("kubectl"),
        "{envelope}"
    );
    assert!(details["stderr"].is_string(), "{envelope}");

    let text = run(ns, args, env);
    assert_eq!(text.code, 1);
    let lines: Vec<&str> = text
        .stderr
        .lines()
        .filter(|l| l.starts_with("error["))
        .collect();
    assert_eq!(lines.len(), 1, "{}", text.stderr);
    assert!(
        lines[0].starts_with(&format!("error[{code}]: ")),
        "{}",
        text.stderr
    );
    assert!(
        !text.stderr.contains("command: ") && !text.stderr.contains("memcache.go"),
        "{}",
        text.stderr
    );
    assert!(text.stderr.contains("hint: "), "{}", text.stderr);
    let mut debug_env = env.to_vec();
    debug_env.push(("HELM_DEBUG", "true"));
    let debug = run(ns, args, &debug_env);
    assert!(debug.stderr.contains("  command: "), "{}", debug.stderr);
    // kubectl's own lines, when it printed any (a call we stopped at our deadline printed none).
    if !details["stderr"].as_str().unwrap().is_empty() {
        assert!(debug.stderr.contains("  stderr: "), "{}", debug.stderr);
    }
    envelope
}

/// A kubeconfig for `server` (the test cluster's CA and admin credentials).
fn kubeconfig_for(ns: &TestNamespace, server: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&ns.cluster.kubeconfig).unwrap();
    let moved = text.replace(
        &format!("https://127.0.0.1:{}", ns.cluster.api_port),
        server,
    );
    write(
        &ns.tmp.path().join(format!("kubeconfig-{}", free_port())),
        &moved,
    )
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn unreachable_and_silent_clusters_are_reported_in_one_line_without_waiting_long() {
    let ns = control_plane().namespace("fail-reach");
    let (_, server, client) = prepared_for(&ns);
    // Staged for real first, so unstage has something to undo.
    run(&ns, &["stage", p(&client), "--method", "configmap"], &[]).success();
    let closed = free_port();
    let refused = kubeconfig_for(&ns, &format!("https://127.0.0.1:{closed}"));
    let env = [("KUBECONFIG", refused.to_str().unwrap())];
    for args in [
        vec!["stage", p(&server), "--create-pvc"],
        vec!["unstage", p(&client)],
    ] {
        let started = Instant::now();
        let envelope = expect_kind(
            &ns,
            &args,
            &env,
            "CLUSTER_UNREACHABLE",
            &format!("127.0.0.1:{closed}"),
        );
        assert!(envelope["hint"]
            .as_str()
            .unwrap()
            .contains("kubectl cluster-info"));
        // Not a benchmark: only that nothing waits for --timeout (300 s) or a retry loop.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    let r = run(&ns, &["verify", p(&server), "--format", "json"], &env);
    assert_eq!(r.code, 1);
    let checks = r.json()["data"]["checks"].clone();
    let cluster = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "cluster")
        .unwrap()
        .clone();
    assert!(
        cluster["message"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{closed}")),
        "{cluster}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // A listener that accepts and never answers: kubectl's request timeout, read as a timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_config = kubeconfig_for(&ns, &format!("https://{}", silent.local_addr().unwrap()));
    let env = [("KUBECONFIG", silent_config.to_str().unwrap())];
    let started = Instant::now();
    expect_kind(
        &ns,
        &["stage", p(&server), "--request-timeout", "2s"],
        &env,
        "CLUSTER_TIMEOUT",
        "did not answer in time",
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn rbac_tokens_validation_and_admission_each_have_their_kind() {
    let ns = control_plane().namespace("fail-kinds");
    let (_, server, _) = prepared_for(&ns);
    // Forbidden: a ServiceAccount with no rights; the message and hint name what was refused.
    let nobody = service_account_token(&ns, "nobody", None);
    let envelope = expect_kind(
        &ns,
        &["stage", p(&server), "--create-pvc"],
        &[("HELM_KUBETOKEN", &nobody)],
        "CLUSTER_FORBIDDEN",
        "forbids",
    );
    let hint = envelope["hint"].as_str().unwrap();
    assert!(
        hint.contains("`get` on `namespaces`") || hint.contains("on `"),
        "{hint}"
    );
    assert!(
        !envelope.to_string().contains(&nobody),
        "the token in the output"
    );

    // Unauthorized: a token that no longer works (its ServiceAccount is gone).
    let gone = service_account_token(&ns, "gone", Some("admin"));
    ns.kubectl_ok(&["delete", "serviceaccount", "gone"]);
    std::thread::sleep(Duration::from_secs(1));
    let envelope = expect_kind(
        &ns,
        &["stage", p(&server)],
        &[("HELM_KUBETOKEN", &gone)],
        "CLUSTER_UNAUTHORIZED",
        "credentials",
    );
    assert!(!envelope.to_string().contains(&gone));

    // Invalid: a uid the API server's validation refuses, with its field cause.
    let envelope = expect_kind(
        &ns,
        &[
            "stage",
            p(&server),
            "--create-pvc",
            "--run-as-user",
            "3000000000",
        ],
        &[],
        "CLUSTER_INVALID",
        "runAsUser",
    );
    assert!(
        envelope["message"].as_str().unwrap().contains("invalid"),
        "{envelope}"
    );
    assert!(ns.names("pods").is_empty());
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn pod_security_refusing_the_helper_pod_is_admission_denied() {
    let ns = control_plane().namespace_with("fail-psa", &NamespaceOptions::restricted());
    let (_, _, client) = prepared_for(&ns);
    let envelope = expect_kind(
        &ns,
        &["stage", p(&client), "--create-pvc", "--run-as-user", "0"],
        &[],
        "ADMISSION_DENIED",
        "violates PodSecurity",
    );
    assert!(
        envelope["hint"].as_str().unwrap().contains("Pod Security"),
        "{envelope}"
    );
}
