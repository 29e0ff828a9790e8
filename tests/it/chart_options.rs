//! The values a platform team runs the chart with in production: hardened defaults that
//! keep NVFlare's image starting, probes, a NetworkPolicy, a chart-made workspace PVC,
//! `metadata.namespace` everywhere, and the server's exposure options (NodePort,
//! LoadBalancer ranges, Gateway API TLSRoute, OpenShift Route). Each renders only when
//! set, lints (`--strict`), passes the Kubernetes 1.30 and 1.33 schemas (and the Gateway
//! API schema), and a wrong type fails at `helm template` through values.schema.json.
//! Checkov counts what is still flagged, beside NVFlare 2.9.0's own chart.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::manifests::{self, documents, find, one, HELMS};
use support::{run_cmd, tool, write};

const PRODUCTION_VALUES: &str = include_str!("../fixtures/production-values.yaml");

fn charts(root: &Path) -> (PathBuf, PathBuf) {
    let (_, server, client) = support::prepared_server_and_client(root);
    (server.join("helm_chart"), client.join("helm_chart"))
}

fn lint_with(which: &str, home: &Path, chart: &Path, extra: &[&str]) {
    let mut cmd = manifests::helm(which, home);
    cmd.args(["lint", "--strict"]).arg(chart).args(extra);
    let run = run_cmd(cmd);
    assert_eq!(
        run.code, 0,
        "{which} lint {extra:?}:\n{}{}",
        run.stdout, run.stderr
    );
}

/// Renders with `extra`, lints with it and validates the result; returns the documents.
fn render(which: &str, root: &Path, chart: &Path, extra: &[&str]) -> Vec<Value> {
    let home = root.join("helm-home");
    lint_with(which, &home, chart, extra);
    let rendered = manifests::template(which, &home, "rel", chart, extra);
    manifests::kubernetes_validate(&rendered, root);
    let docs = documents(&rendered);
    manifests::check_names(&docs);
    for doc in &docs {
        assert_eq!(
            doc["metadata"]["namespace"], "nvflare",
            "{} {} has no metadata.namespace",
            doc["kind"], doc["metadata"]["name"]
        );
    }
    docs
}

fn container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn defaults_are_hardened_probed_and_namespaced() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, client) = charts(tmp.path());
    for which in HELMS {
        for (chart, port) in [(&server, "fl-port"), (&client, "parent-port")] {
            let docs = render(which, tmp.path(), chart, &[]);
            let c = container(&docs);
            assert_eq!(
                c["securityContext"],
                json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                       "seccompProfile": {"type": "RuntimeDefault"}})
            );
            for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                assert_eq!(c[probe]["tcpSocket"]["port"], port, "{probe}");
            }
            // Restarted only after 2 minutes without a listener; 5 minutes to start.
            assert_eq!(
                c["livenessProbe"]["periodSeconds"].as_i64().unwrap()
                    * c["livenessProbe"]["failureThreshold"].as_i64().unwrap(),
                120
            );
            assert_eq!(
                c["startupProbe"]["periodSeconds"].as_i64().unwrap()
                    * c["startupProbe"]["failureThreshold"].as_i64().unwrap(),
                300
            );
            for kind in [
                "NetworkPolicy",
                "PersistentVolumeClaim",
                "TLSRoute",
                "Route",
            ] {
                assert!(find(&docs, kind).is_empty(), "{kind} rendered by default");
            }
            // Probes off: set to null.
            let off = render(
                which,
                tmp.path(),
                chart,
                &["--set", "livenessProbe=null", "--set", "startupProbe=null"],
            );
            assert!(container(&off).get("livenessProbe").is_none());
            assert!(container(&off).get("startupProbe").is_none());
            assert!(container(&off).get("readinessProbe").is_some());
        }
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn production_values_render_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, _) = charts(tmp.path());
    let readme = std::fs::read_to_string(support::repo().join("README.md")).unwrap();
    assert!(
        readme.contains(PRODUCTION_VALUES),
        "README.md must show tests/fixtures/production-values.yaml as it is"
    );
    let values = write(
        &tmp.path().join("production-values.yaml"),
        PRODUCTION_VALUES,
    );
    let values = values.to_str().unwrap();
    for which in HELMS {
        let docs = render(which, tmp.path(), &server, &["-f", values]);
        let service = one(&docs, "Service");
        assert_eq!(service["spec"]["type"], "LoadBalancer");
        assert_eq!(
            service["spec"]["loadBalancerSourceRanges"],
            json!(["203.0.113.0/24", "198.51.100.0/24"])
        );
        assert_eq!(service["spec"]["externalTrafficPolicy"], "Local");
        let policy = one(&docs, "NetworkPolicy");
        let ingress = policy["spec"]["ingress"].as_array().unwrap();
        assert_eq!(
            ingress[0]["ports"],
            json!([{"port": "fl-port", "protocol": "TCP"}, {"port": "admin-port", "protocol": "TCP"}])
        );
        assert_eq!(
            ingress[0]["from"],
            json!([{"ipBlock": {"cidr": "203.0.113.0/24"}}, {"ipBlock": {"cidr": "198.51.100.0/24"}}])
        );
        assert_eq!(
            ingress[1],
            json!({"ports": [{"port": "parent-port", "protocol": "TCP"}], "from": [{"podSelector": {}}]})
        );
        let egress_ports: Vec<Value> = policy["spec"]["egress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["ports"].clone())
            .collect();
        assert_eq!(
            egress_ports,
            [
                json!([{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]),
                json!([{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}])
            ]
        );
        let pvc = one(&docs, "PersistentVolumeClaim");
        assert_eq!(pvc["metadata"]["name"], "nvflws");
        assert_eq!(
            pvc["metadata"]["annotations"]["helm.sh/resource-policy"],
            "keep"
        );
        assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "50Gi");
        let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
        assert_eq!(pod["tolerations"][0]["key"], "nvidia.com/gpu");
        assert_eq!(pod["securityContext"]["fsGroup"], 10001);
        assert!(container(&docs)["image"]
            .as_str()
            .unwrap()
            .ends_with("@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"));
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn exposure_options_render_only_when_enabled() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, client) = charts(tmp.path());
    for which in HELMS {
        let docs = render(
            which,
            tmp.path(),
            &server,
            &[
                "--set",
                "service.type=NodePort",
                "--set",
                "service.nodePorts.fl=30802",
                "--set",
                "service.nodePorts.admin=30803",
                "--set",
                "service.externalTrafficPolicy=Local",
                // Ignored unless the type is LoadBalancer.
                "--set",
                "service.loadBalancerSourceRanges={10.0.0.0/8}",
            ],
        );
        let spec = &one(&docs, "Service")["spec"];
        assert_eq!(spec["type"], "NodePort");
        assert!(spec.get("loadBalancerSourceRanges").is_none());
        let node_ports: Vec<&Value> = spec["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["nodePort"])
            .collect();
        assert_eq!(node_ports, [&json!(30802), &json!(30803), &Value::Null]);

        let docs = render(
            which,
            tmp.path(),
            &server,
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
        );
        let routes = find(&docs, "TLSRoute");
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0]["spec"]["hostnames"], json!(["fl.example.com"]));
        assert_eq!(
            routes[0]["spec"]["rules"][0]["backendRefs"],
            json!([{"name": "nvflare-server", "port": 8002}])
        );
        assert_eq!(
            routes[1]["spec"]["rules"][0]["backendRefs"][0]["port"],
            8003
        );
        let openshift = find(&docs, "Route");
        assert_eq!(openshift.len(), 2);
        // No schema package for route.openshift.io here: its fields, one by one.
        for (route, host, port) in [
            (openshift[0], "fl.example.com", "fl-port"),
            (openshift[1], "admin.fl.example.com", "admin-port"),
        ] {
            assert_eq!(route["apiVersion"], "route.openshift.io/v1");
            assert_eq!(
                route["spec"],
                json!({"host": host, "to": {"kind": "Service", "name": "nvflare-server", "weight": 100},
                "port": {"targetPort": port}, "tls": {"termination": "passthrough", "insecureEdgeTerminationPolicy": "None"},
                "wildcardPolicy": "None"})
            );
        }

        // A TLSRoute without its Gateway listener is refused with a reason.
        let run = manifests::template_run(
            which,
            &tmp.path().join("helm-home"),
            &server,
            &["--set", "tlsRoute.enabled=true"],
        );
        assert_ne!(run.code, 0);
        assert!(
            run.stderr
                .contains("give the Gateway listener for the fl port"),
            "{}",
            run.stderr
        );

        let docs = render(
            which,
            tmp.path(),
            &client,
            &[
                "--set",
                "networkPolicy.enabled=true",
                "--set",
                "persistence.workspace.create=true",
                "--set",
                "persistence.workspace.storageClass=standard",
            ],
        );
        let policy = one(&docs, "NetworkPolicy");
        let egress = policy["spec"]["egress"].as_array().unwrap();
        assert_eq!(
            egress[2]["ports"],
            json!([{"port": 8002, "protocol": "TCP"}]),
            "the server's FL port from fed_client.json"
        );
        assert_eq!(
            policy["spec"]["ingress"].as_array().unwrap().len(),
            1,
            "a client admits only its job pods"
        );
        assert_eq!(
            one(&docs, "PersistentVolumeClaim")["spec"]["storageClassName"],
            "standard"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn wrong_types_fail_through_the_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, client) = charts(tmp.path());
    let home = tmp.path().join("helm-home");
    let cases: [(&Path, &[&str], &str); 9] = [
        (&server, &["--set", "service.nodePorts.fl=80"], "nodePorts"),
        (
            &server,
            &["--set", "service.externalTrafficPolicy=Nearest"],
            "externalTrafficPolicy",
        ),
        (
            &server,
            &["--set", "networkPolicy.fromCIDRs=everyone"],
            "fromCIDRs",
        ),
        (
            &server,
            &["--set", "tlsRoute.hostnames={UPPER.example.com}"],
            "hostnames",
        ),
        (&server, &["--set", "livenessProbe=3"], "livenessProbe"),
        (
            &client,
            &[
                "--set",
                "persistence.workspace.accessModes={ReadWriteSometimes}",
            ],
            "accessModes",
        ),
        (
            &client,
            &["--set", "persistence.workspace.size=lots"],
            "size",
        ),
        (
            &client,
            &["--set", "networkPolicy.serverPorts={0}"],
            "serverPorts",
        ),
        (
            &client,
            &["--set", "networkPolicy.unknown=true"],
            "networkPolicy",
        ),
    ];
    for which in HELMS {
        for (chart, set, needle) in cases {
            let run = manifests::template_run(which, &home, chart, set);
            assert_ne!(run.code, 0, "{which} {set:?} rendered");
            assert!(
                run.stderr.contains("schema") && run.stderr.contains(needle),
                "{which} {set:?}: {}",
                run.stderr
            );
        }
    }
}

/// Failed checkov checks on `helm template` output (Kubernetes framework).
fn checkov_failed(root: &Path, name: &str, rendered: &str) -> Vec<String> {
    let dir = root.join("checkov").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.yaml"), rendered).unwrap();
    let mut cmd = Command::new(tool("checkov"));
    // -f, not -d: checkov skips folders whose path has a dot-folder (tempdirs do).
    cmd.args([
        "--framework",
        "kubernetes",
        "--compact",
        "--quiet",
        "-o",
        "json",
        "-f",
    ])
    .arg(dir.join("manifest.yaml"));
    let run = run_cmd(cmd);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("checkov: {e}\n{}\n{}", run.stdout, run.stderr));
    let mut ids: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .map(|c| c["check_id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// NVFlare 2.9.0's own chart for the same kit, as its `deploy prepare` writes it.
fn nvflare_chart(root: &Path, kit: &Path, name: &str) -> PathBuf {
    let out = root.join("nvflare").join(name);
    let config = write(&root.join("nvflare-k8s.yaml"), support::K8S_CONFIG);
    let mut cmd = Command::new(tool("nvflare"));
    cmd.args(["deploy", "prepare"])
        .arg(kit)
        .arg("--config")
        .arg(&config)
        .arg("--output")
        .arg(&out);
    run_cmd(cmd).success();
    out.join("helm_chart")
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn checkov_flags_less_than_half_of_what_it_flags_on_nvflares_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (project, server_out, client_out) = support::prepared_server_and_client(root);
    let home = root.join("helm-home");
    let render =
        |chart: &Path, extra: &[&str]| manifests::template("helm4", &home, "rel", chart, extra);
    let theirs_server = checkov_failed(
        root,
        "nvflare-server",
        &render(&nvflare_chart(root, &project.server_kit(), "server"), &[]),
    );
    let theirs_client = checkov_failed(
        root,
        "nvflare-client",
        &render(
            &nvflare_chart(root, &project.client_kit("site-1"), "site-1"),
            &[],
        ),
    );
    let ours_server = checkov_failed(root, "server", &render(&server_out.join("helm_chart"), &[]));
    let ours_client = checkov_failed(root, "client", &render(&client_out.join("helm_chart"), &[]));
    let digest =
        "image.digest=sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";
    let hardened = checkov_failed(
        root,
        "hardened",
        &render(
            &server_out.join("helm_chart"),
            &["--set", "networkPolicy.enabled=true", "--set", digest],
        ),
    );
    let values = write(&root.join("production-values.yaml"), PRODUCTION_VALUES);
    let production = checkov_failed(
        root,
        "production",
        &render(
            &server_out.join("helm_chart"),
            &["-f", values.to_str().unwrap()],
        ),
    );
    eprintln!("checkov failed checks: NVFlare 2.9.0 server {} client {}; ours server {} {ours_server:?}, client {} {ours_client:?}; with a NetworkPolicy and a digest {} {hardened:?}; production values {} {production:?}",
        theirs_server.len(), theirs_client.len(), ours_server.len(), ours_client.len(), hardened.len(), production.len());
    assert!(
        ours_server.len() * 2 < theirs_server.len(),
        "server: {ours_server:?} vs {theirs_server:?}"
    );
    assert!(
        ours_client.len() * 2 < theirs_client.len(),
        "client: {ours_client:?} vs {theirs_client:?}"
    );
    let mut expected = ours_server.clone();
    // A digest also satisfies the pull-policy check (CKV_K8S_15).
    expected.retain(|id| !["CKV2_K8S_6", "CKV_K8S_43", "CKV_K8S_15"].contains(&id.as_str()));
    assert_eq!(
        hardened, expected,
        "a NetworkPolicy and a digest clear their checks"
    );
    // What remains is justified in the README: the launcher needs the ServiceAccount token,
    // and Python's caches need a writable root filesystem.
    assert_eq!(production, ["CKV_K8S_22", "CKV_K8S_38"]);
}
