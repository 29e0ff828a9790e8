//! `helm install` of the charts and `verify` against the real test control plane: RBAC
//! through the real authorizer, pods scheduled by the real scheduler and run by kwok,
//! Pod Security admission, faults a kubelet reports (kwok stages).

use std::path::Path;

use serde_json::Value;

use crate::cluster_stage::{plugin, prepared_for};
use crate::support;
use support::cluster::{control_plane, NamespaceOptions, TestNamespace};
use support::manifests::{self, HELMS};
use support::stand_in_kubectl::StubCluster;
use support::{failing_checks as failing, named_check as check, run_cmd, write, Run};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The release a prepared kit is installed as (its Chart.yaml's `nvflare/release`).
pub fn release_of(kit: &Path) -> String {
    let chart: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(kit.join("helm_chart/Chart.yaml")).unwrap(),
    )
    .unwrap();
    chart["annotations"]["nvflare/release"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `helm upgrade --install` of a prepared kit's chart into the namespace, with `extra`.
pub fn helm_install(ns: &TestNamespace, which: &str, kit: &Path, extra: &[&str]) -> Run {
    let home = ns.tmp.path().join("helm-home");
    let mut cmd = manifests::helm(which, &home);
    cmd.env("KUBECONFIG", &ns.cluster.kubeconfig)
        .args(["upgrade", "--install", &release_of(kit)])
        .arg(kit.join("helm_chart"))
        .args(["--namespace", &ns.name, "--timeout", "60s"])
        .args(extra);
    run_cmd(cmd)
}

#[track_caller]
pub fn helm_install_ok(ns: &TestNamespace, which: &str, kit: &Path, extra: &[&str]) {
    let r = helm_install(ns, which, kit, extra);
    assert_eq!(
        r.code, 0,
        "{which} install failed:\n{}\n{}",
        r.stdout, r.stderr
    );
}

fn verify(ns: &TestNamespace, kit: &Path, extra: &[&str]) -> (Run, Value) {
    // Short: a broken rollout is the point of most of these runs.
    let mut args = vec!["verify", p(kit), "--format", "json", "--timeout", "8s"];
    args.extend_from_slice(extra);
    let r = plugin(ns, &args);
    let data = r.json()["data"].clone();
    (r, data)
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn a_staged_and_installed_federation_passes_verify_with_helm_3_and_4() {
    for which in HELMS {
        let ns = control_plane().namespace(&format!("verify-{which}"));
        let (_, server, client) = prepared_for(&ns);
        plugin(&ns, &["stage", p(&server), "--create-pvc"]).success();
        helm_install_ok(&ns, which, &server, &["--wait"]);
        // The server's log, as kwok serves it (CRI format): one client joined.
        write(
            &ns.pvc_dir.join("parent.log"),
            "2026-12-01T10:00:00.000000000Z stdout F 2026-12-01 10:00:00 - ClientManager - INFO - Client: New client site-1@10.0.0.7 joined. Sent token.  Total clients: 1\n",
        );
        // Behind a spy: what verify asks the real cluster.
        let spy = StubCluster::spy(&ns.tmp.path().join("spy"));
        let mut cmd = support::nvflare_cmd();
        cmd.args(["verify", p(&server), "--format", "json", "--timeout", "20s"]);
        ns.plugin_env(&mut cmd);
        cmd.env_remove("KUBECTL")
            .env("PATH", spy.path())
            .env("SPY_REAL_KUBECTL", support::tool("kubectl4"))
            .env("STUB_LOG_DIR", &spy.log);
        let r = run_cmd(cmd);
        let data = r.json()["data"].clone();
        assert_eq!(r.code, 0, "{which}: {}", r.stdout);
        assert_eq!(data["verdict"], "pass", "{data}");
        let ids: Vec<&str> = data["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["status"], "pass", "{which}: {c}");
                c["check"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            ids,
            [
                "kit-chart-agree",
                "image",
                "launcher-namespace",
                "job-pod-grants",
                "certificate-chain",
                "certificate-expiry",
                "ca-expiry",
                "certificate-usage",
                "server-host",
                "kubeconfig-ca",
                "namespace",
                "pvc",
                "rollout",
                "pods",
                "service",
                "launcher-rbac",
                "workspace",
                "pull-secrets",
                "study-objects",
                "pod-security",
                "registration"
            ]
        );
        // Read-only calls only; can-i for every verb the launcher needs, as its ServiceAccount.
        let calls = spy.calls();
        let verbs: Vec<&str> = calls
            .iter()
            .map(|(a, _)| a.iter().find(|x| !x.starts_with("--")).unwrap().as_str())
            .collect();
        assert!(
            verbs.iter().all(
                |v| ["config", "get", "rollout", "auth", "exec", "logs", "create"].contains(v)
            ),
            "{verbs:?}"
        );
        let can_i: Vec<&Vec<String>> = calls
            .iter()
            .map(|(a, _)| a)
            .filter(|a| a.contains(&"can-i".to_string()))
            .collect();
        assert_eq!(can_i.len(), 13);
        // The one create is Pod Security's server-side dry run: it creates nothing.
        let creates: Vec<&Vec<String>> = calls
            .iter()
            .map(|(a, _)| a)
            .filter(|a| {
                a.iter()
                    .find(|x| !x.starts_with("--"))
                    .is_some_and(|v| v == "create")
            })
            .collect();
        assert!(
            creates
                .iter()
                .all(|a| a.contains(&"--dry-run=server".to_string())),
            "{creates:?}"
        );
        let sa = format!("--as=system:serviceaccount:{}:fl.example.com", ns.name);
        assert!(can_i.iter().all(|a| a.last().unwrap() == &sa), "{can_i:?}");
        // Text: one line per check and a verdict.
        let text = plugin(&ns, &["verify", p(&server)]).success().stdout;
        assert!(
            text.contains("PASS  launcher-rbac")
                && text.contains("verdict: pass (0 failed, 0 warnings, 21 checks)"),
            "{text}"
        );
        // The client's Role, through the real RBAC authorizer, as its ServiceAccount.
        helm_install_ok(&ns, which, &client, &["--wait"]);
        let sa = format!("system:serviceaccount:{}:site-1", ns.name);
        for (verb, resource) in [
            ("create", "pods"),
            ("watch", "pods"),
            ("patch", "secrets"),
            ("list", "events"),
        ] {
            let can = ns.kubectl(&["auth", "can-i", verb, resource, &format!("--as={sa}")]);
            assert_eq!(can.stdout.trim(), "yes", "{which}: {verb} {resource}");
        }
        let can = ns.kubectl(&[
            "auth",
            "can-i",
            "create",
            "deployments",
            &format!("--as={sa}"),
        ]);
        assert_eq!(
            can.stdout.trim(),
            "no",
            "the launcher may not create Deployments"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn each_broken_deployment_fails_exactly_its_check() {
    let ns = control_plane().namespace("verify-broken");
    let (_, server, client) = prepared_for(&ns);
    let release = release_of(&client);

    // Not staged (the chart makes the PVC): the parent runs, its workspace is empty.
    helm_install_ok(
        &ns,
        "helm4",
        &client,
        &["--wait", "--set", "persistence.workspace.create=true"],
    );
    let (r, data) = verify(&ns, &client, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(failing(&data), ["workspace"], "{data}");
    plugin(&ns, &["stage", p(&client)]).success();
    let (r, data) = verify(&ns, &client, &[]);
    assert_eq!(r.code, 0, "{data}");

    // The Role loses a verb the launcher needs: the real authorizer says no.
    let role = format!("{release}-launcher");
    let verbs = ns.get_json(&["role", &role])["rules"][0]["verbs"].to_string();
    ns.kubectl_ok(&[
        "patch",
        "role",
        &role,
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/rules/0/verbs","value":["get","list","watch"]}]"#,
    ]);
    let (r, data) = verify(&ns, &client, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(failing(&data), ["launcher-rbac"], "{data}");
    assert!(check(&data, "launcher-rbac")["message"]
        .as_str()
        .unwrap()
        .contains("create pods"));
    ns.kubectl_ok(&[
        "patch",
        "role",
        &role,
        "--type=json",
        "-p",
        &format!(r#"[{{"op":"replace","path":"/rules/0/verbs","value":{verbs}}}]"#),
    ]);

    // NVFlare 2.9: a dataset PVC and a Secret local/study_runtime.yaml names are missing.
    let study = client.join("local/study_runtime.yaml");
    let template = std::fs::read_to_string(&study).unwrap();
    write(
        &study,
        "format_version: 2\nstudies:\n  s:\n    datasets:\n      training: {source: training-data, mode: ro}\n    secret_env:\n      TOKEN: {source: study-token, key: token}\n",
    );
    let (r, data) = verify(&ns, &client, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(failing(&data), ["study-objects"], "{data}");
    let message = check(&data, "study-objects")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("dataset PVC training-data does not exist")
            && message.contains("Secret study-token does not exist"),
        "{message}"
    );
    std::fs::write(&study, template).unwrap();

    // A pull Secret the job launcher names is missing.
    ns.kubectl_ok(&["delete", "secret", "job-registry-credentials"]);
    let (r, data) = verify(&ns, &client, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(failing(&data), ["pull-secrets"], "{data}");
    assert!(check(&data, "pull-secrets")["message"]
        .as_str()
        .unwrap()
        .contains("job-registry-credentials (job launcher)"));
    ns.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "job-registry-credentials",
        "--from-literal=x=y",
    ]);

    // The parent's log (kwok serves this file, in the CRI format): a connection error
    // fails registration; NVFlare's registration line passes it.
    write(
        &ns.pvc_dir.join("parent.log"),
        "2026-12-01T10:00:00.000000000Z stdout F 2026-12-01 10:00:00 - FederatedClient - ERROR - Failed to connect to server fl.example.com:8002: SSL handshake failed\n",
    );
    let (r, data) = verify(&ns, &client, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(failing(&data), ["registration"], "{data}");
    assert!(check(&data, "registration")["message"]
        .as_str()
        .unwrap()
        .contains("SSL handshake failed"));
    write(
        &ns.pvc_dir.join("parent.log"),
        "2026-12-01T10:00:01.000000000Z stdout F 2026-12-01 10:00:01 - FederatedClient - INFO - Successfully registered client:site-1 for project example_project.\n",
    );
    let (r, data) = verify(&ns, &client, &[]);
    assert_eq!(r.code, 0, "{data}");
    assert_eq!(check(&data, "registration")["status"], "pass", "{data}");

    // Faults a kubelet reports, and a pod no node can take.
    let cases = [
        (
            vec!["--set", "podLabels.helm-nvflare\\.test/fault=image-pull"],
            "ImagePullBackOff",
        ),
        (
            vec!["--set", "podLabels.helm-nvflare\\.test/fault=crash-loop"],
            "CrashLoopBackOff",
        ),
        (
            vec!["--set", "nodeSelector.pool=nonexistent"],
            "FailedScheduling",
        ),
    ];
    // kwok serves this file as the pod's log, in the CRI log format a kubelet writes.
    write(
        &ns.pvc_dir.join("parent.log"),
        "2026-12-01T10:00:00.000000000Z stdout F starting parent\n\
         2026-12-01T10:00:01.000000000Z stderr F ModuleNotFoundError: No module named 'kubernetes'\n",
    );
    for (mut set, reason) in cases {
        set.extend(["--set", "persistence.workspace.create=true"]);
        helm_install_ok(&ns, "helm4", &client, &set);
        let (r, data) = verify(&ns, &client, &[]);
        assert_eq!(r.code, 1, "{reason}: {data}");
        let failed = failing(&data);
        assert!(failed.contains(&"pods".to_string()), "{reason}: {failed:?}");
        assert!(
            failed
                .iter()
                .all(|f| ["rollout", "pods", "workspace"].contains(&f.as_str())),
            "{reason}: {failed:?}"
        );
        let pods = check(&data, "pods");
        let text = format!("{} {}", pods["message"], pods["hint"]);
        assert!(text.contains(reason), "{reason}: {text}");
        if reason == "CrashLoopBackOff" {
            assert!(
                text.contains("No module named"),
                "the parent's last log lines: {text}"
            );
        }
    }

    // A PVC nothing binds: the pvc check says so, with what to look at.
    // (Its volume is pre-bound to another claim, so nothing here can bind nvflws.)
    let pending = control_plane().namespace_with(
        "verify-pending",
        &NamespaceOptions {
            claim: Some("not-nvflws".into()),
            ..NamespaceOptions::default()
        },
    );
    let (_, _, pending_client) = prepared_for(&pending);
    pending.cluster.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: nvflws, namespace: {}}}\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: fast\n  resources: {{requests: {{storage: 1Gi}}}}\n",
        pending.name
    ));
    helm_install_ok(&pending, "helm4", &pending_client, &[]);
    let (r, data) = verify(&pending, &pending_client, &[]);
    assert_eq!(r.code, 1);
    let pvc = check(&data, "pvc");
    assert!(
        pvc["status"] == "fail" && pvc["hint"].as_str().unwrap().contains("storage class"),
        "{pvc}"
    );

    // Another namespace than the kit's.
    let other = control_plane().namespace("verify-other");
    let mut cmd = support::nvflare_cmd();
    cmd.args(["verify", p(&client), "--format", "json", "--timeout", "20s"]);
    other.plugin_env(&mut cmd);
    let r = run_cmd(cmd);
    assert_eq!(r.code, 1);
    let failed = failing(&r.json()["data"]);
    assert!(
        failed.contains(&"launcher-namespace".to_string()),
        "{failed:?}"
    );
    let _ = server;
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn a_restricted_namespace_admits_the_helper_and_hardened_values_and_refuses_the_defaults() {
    let ns = control_plane().namespace_with("verify-restricted", &NamespaceOptions::restricted());
    let (_, server, _) = prepared_for(&ns);

    // The chart's defaults run as root (the official image does): the ReplicaSet's pods
    // are refused, and verify says why.
    helm_install_ok(&ns, "helm4", &server, &[]);
    let (r, data) = verify(&ns, &server, &[]);
    assert_eq!(r.code, 1);
    let text = check(&data, "pods").to_string();
    assert!(
        text.contains("violates PodSecurity") && text.contains("non-root"),
        "{text}"
    );
    // The same verdict from Pod Security itself, asked with a server-side dry run.
    let probe = check(&data, "pod-security");
    assert_eq!(probe["status"], "fail", "{probe}");
    assert!(
        probe["message"].as_str().unwrap().contains("PodSecurity"),
        "{probe}"
    );

    // The README's production values run as non-root: admitted, ready.
    let values = write(
        &ns.tmp.path().join("production.yaml"),
        include_str!("../fixtures/production-values.yaml"),
    );
    // No --wait: nothing gives the LoadBalancer Service an address here, and Helm waits for one.
    helm_install_ok(&ns, "helm4", &server, &["-f", p(&values)]);
    // The helper pod is non-root with every capability dropped: admitted. (The production
    // values have the chart make the PVC, so staging comes after the install.)
    plugin(&ns, &["stage", p(&server)]).success();
    let (r, data) = verify(&ns, &server, &[]);
    assert_eq!(r.code, 0, "{data}");
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn every_manifest_of_a_dry_run_is_accepted_by_the_api_server() {
    let ns = control_plane().namespace("dry-run");
    let (_, server, client) = prepared_for(&ns);
    let mut manifests = Vec::new();
    for (kit, method) in [(&server, "pvc"), (&client, "configmap")] {
        let r = plugin(
            &ns,
            &[
                "stage",
                p(kit),
                "--method",
                method,
                "--create-pvc",
                "--dry-run",
                "--format",
                "json",
            ],
        )
        .success();
        for step in r.json()["data"]["plan"].as_array().unwrap() {
            if let Some(stdin) = step.get("stdin") {
                manifests.push(stdin.clone());
            }
        }
    }
    assert!(manifests.len() >= 3, "{manifests:?}");
    for manifest in manifests {
        let mut cmd = ns.cluster.kubectl_cmd();
        cmd.args(["apply", "--dry-run=server", "-n", &ns.name, "-f", "-"]);
        let r = support::run_with_stdin(cmd, &manifest.to_string());
        assert_eq!(
            r.code, 0,
            "the API server refused a planned manifest:\n{}\n{manifest}",
            r.stderr
        );
    }
    // And nothing was created.
    assert!(ns.names("pods").is_empty() && ns.names("pvc").is_empty());
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn every_exposure_option_is_accepted_by_the_api_server_with_helm_3_and_4() {
    for which in HELMS {
        let ns = control_plane().namespace(&format!("expose-{which}"));
        let (_, server, client) = prepared_for(&ns);
        let values = write(
            &ns.tmp.path().join("production.yaml"),
            include_str!("../fixtures/production-values.yaml"),
        );
        let cases: [(&[&str], &[&str]); 5] = [
            (&[], &["Deployment", "Service", "Role"]),
            (
                &[
                    "--set",
                    "service.type=NodePort",
                    "--set",
                    "service.nodePorts.fl=30802",
                    "--set",
                    "service.nodePorts.admin=30803",
                    "--set",
                    "service.externalTrafficPolicy=Local",
                ],
                &["Service"],
            ),
            (
                &["-f", p(&values)],
                &["NetworkPolicy", "PersistentVolumeClaim"],
            ),
            (
                &[
                    "--set",
                    "tlsRoute.enabled=true",
                    "--set-json",
                    r#"tlsRoute.parentRefs=[{"name":"gw","namespace":"gateway","sectionName":"fl"}]"#,
                    "--set-json",
                    r#"tlsRoute.adminParentRefs=[{"name":"gw","namespace":"gateway","sectionName":"admin"}]"#,
                    "--set",
                    "openshiftRoute.enabled=true",
                    "--set",
                    "openshiftRoute.adminHost=admin.fl.example.com",
                ],
                &["TLSRoute", "Route"],
            ),
            // The PVC the production values made stays (resource-policy keep): a smaller size
            // than the bound volume's would be refused by the API server.
            (
                &["--set", "networkPolicy.enabled=true"],
                &["NetworkPolicy", "PersistentVolumeClaim"],
            ),
        ];
        for (set, kinds) in cases {
            helm_install_ok(&ns, which, &server, set);
            let objects = ns.get_json(&["all,roles,networkpolicies,pvc,tlsroutes,routes"]);
            let found: Vec<&str> = objects["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["kind"].as_str().unwrap())
                .collect();
            for kind in kinds {
                assert!(
                    found.contains(kind),
                    "{which} {set:?}: no {kind} in {found:?}"
                );
            }
        }
        // The NodePorts are what the API server allocated.
        helm_install_ok(
            &ns,
            which,
            &server,
            &[
                "--set",
                "service.type=NodePort",
                "--set",
                "service.nodePorts.fl=30802",
            ],
        );
        let service = ns.get_json(&["service", "nvflare-server"]);
        assert_eq!(service["spec"]["ports"][0]["nodePort"], 30802, "{which}");
        ns.kubectl_ok(&["delete", "service", "nvflare-server"]);
        helm_install_ok(
            &ns,
            which,
            &client,
            &["--set", "networkPolicy.enabled=true", "--wait"],
        );
    }
}
