//! The "Helm Values Reference" of NVFlare's Kubernetes guide, key by key, on our charts
//! with Helm 3 and 4; mistyped keys refused by the schema, naming the key; `verify -f`.

use std::path::Path;

use serde_json::{json, Value};

use crate::support;
use support::manifests::{self, documents, find, one, HELMS};
use support::{nvflare, write};

fn render(which: &str, root: &Path, chart: &Path, set: &[&str]) -> Vec<Value> {
    let mut extra = Vec::new();
    for s in set {
        extra.push("--set");
        extra.push(s);
    }
    documents(&manifests::template(
        which,
        &root.join("helm-home"),
        "rel",
        chart,
        &extra,
    ))
}

fn deployment(docs: &[Value]) -> &Value {
    one(docs, "Deployment")
}

fn container(docs: &[Value]) -> &Value {
    &deployment(docs)["spec"]["template"]["spec"]["containers"][0]
}

fn ports(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_u64().or(p["port"].as_u64()).unwrap())
        .collect()
}

/// Every key of the guide's table, set to a value that is not the default, shows up where
/// the guide says it acts. (Keys: name, siteName, serviceName, image.*, imagePullSecrets,
/// serviceAccount.*, rbac.create, podAnnotations, securityContext, resources,
/// persistence.workspace.*, fedLearnPort, adminPort, parentPort, port, hostPortEnabled,
/// tcpConfigMapEnabled, service.type, service.loadBalancerIP, service.annotations,
/// command, args.)
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm: run scripts/test.sh"
)]
fn every_key_of_the_guides_values_reference_acts_as_the_guide_says() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, server, client) = support::prepared_server_and_client(root);
    let (server, client) = (server.join("helm_chart"), client.join("helm_chart"));
    let common = [
        "image.repository=registry.example.com/fl/nvflare",
        "image.tag=9.9.9",
        "image.pullPolicy=Never",
        "imagePullSecrets[0].name=other-pull",
        "serviceAccount.annotations.team=fl",
        "serviceAccount.automountServiceAccountToken=false",
        "podAnnotations.audit=yes",
        "securityContext.runAsUser=4242",
        "resources.requests.cpu=7",
        "persistence.workspace.claimName=other-claim",
        "persistence.workspace.volumeName=ws2",
        "persistence.workspace.mountPath=/ws",
        "service.annotations.lb=internal",
        "command[0]=/opt/py/bin/python3",
        "args[0]=-X",
    ];
    for which in HELMS {
        for (chart, role_sets) in [
            (
                &server,
                vec![
                    "name=fl-two.example.com",
                    "serviceName=fl-two",
                    "fedLearnPort=9002",
                    "adminPort=9003",
                    "parentPort=9102",
                    "hostPortEnabled=true",
                    "tcpConfigMapEnabled=true",
                    "service.type=LoadBalancer",
                    "service.loadBalancerIP=203.0.113.9",
                ],
            ),
            (
                &client,
                vec![
                    "name=site-one",
                    "siteName=site-one",
                    "serviceName=site-one-svc",
                    "port=9000",
                ],
            ),
        ] {
            let mut set: Vec<&str> = common.to_vec();
            set.extend(role_sets.iter().copied());
            let docs = render(which, root, chart, &set);
            let server_chart = chart == &server;
            let c = container(&docs);
            let pod = &deployment(&docs)["spec"]["template"];
            assert_eq!(
                c["image"], "registry.example.com/fl/nvflare:9.9.9",
                "{which}"
            );
            assert_eq!(c["imagePullPolicy"], "Never");
            assert_eq!(
                pod["spec"]["imagePullSecrets"],
                json!([{"name": "other-pull"}])
            );
            let sa = one(&docs, "ServiceAccount");
            assert_eq!(sa["metadata"]["annotations"]["team"], "fl");
            assert_eq!(sa["automountServiceAccountToken"], false);
            assert_eq!(pod["metadata"]["annotations"]["audit"], "yes");
            assert_eq!(pod["spec"]["securityContext"]["runAsUser"], 4242);
            assert_eq!(c["resources"]["requests"]["cpu"], 7);
            let volume = &pod["spec"]["volumes"][0];
            assert_eq!(volume["name"], "ws2");
            assert_eq!(volume["persistentVolumeClaim"]["claimName"], "other-claim");
            assert_eq!(
                c["volumeMounts"][0],
                json!({"name": "ws2", "mountPath": "/ws"})
            );
            let service = find(&docs, "Service")[0];
            assert_eq!(service["metadata"]["annotations"]["lb"], "internal");
            assert_eq!(c["command"], json!(["/opt/py/bin/python3"]));
            assert_eq!(c["args"][0], "-X");
            if server_chart {
                assert_eq!(deployment(&docs)["metadata"]["name"], "fl-two.example.com");
                assert_eq!(service["metadata"]["name"], "fl-two");
                assert_eq!(ports(&c["ports"]), [9002, 9003, 9102]);
                assert_eq!(ports(&service["spec"]["ports"]), [9002, 9003, 9102]);
                assert_eq!(c["ports"][0]["hostPort"], 9002);
                assert_eq!(service["spec"]["type"], "LoadBalancer");
                assert_eq!(service["spec"]["loadBalancerIP"], "203.0.113.9");
                let tcp = one(&docs, "ConfigMap");
                assert!(
                    tcp["data"].as_object().unwrap().contains_key("9002"),
                    "{tcp}"
                );
            } else {
                assert_eq!(service["metadata"]["name"], "site-one-svc");
                assert_eq!(
                    c["args"].as_array().unwrap().last().unwrap(),
                    "uid=site-one"
                );
                // `port`, NVFlare's name, moves the container's and the Service's port.
                assert_eq!(ports(&c["ports"]), [9000]);
                assert_eq!(ports(&service["spec"]["ports"]), [9000]);
            }
            assert!(find(&docs, "Role").len() == 1);
            let docs = render(
                which,
                root,
                chart,
                &["rbac.create=false", "serviceAccount.create=false"],
            );
            assert!(find(&docs, "Role").is_empty() && find(&docs, "ServiceAccount").is_empty());
        }
        // Both set: `port` wins; parentPort alone still works.
        let docs = render(which, root, &client, &["parentPort=9100", "port=9200"]);
        assert_eq!(ports(&container(&docs)["ports"]), [9200]);
        let docs = render(which, root, &client, &["parentPort=9100"]);
        assert_eq!(ports(&container(&docs)["ports"]), [9100]);
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm: run scripts/test.sh"
)]
fn a_mistyped_value_fails_helm_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, server, client) = support::prepared_server_and_client(root);
    let typo = write(&root.join("typo.yaml"), "tolleration: []\n");
    let nested = write(&root.join("nested.yaml"), "image:\n  tagg: \"2.9.0\"\n");
    for which in HELMS {
        for chart in [server.join("helm_chart"), client.join("helm_chart")] {
            for (extra, key) in [
                (vec!["--set", "nodeSelecter.gpu=true"], "nodeSelecter"),
                (vec!["-f", typo.to_str().unwrap()], "tolleration"),
                (vec!["-f", nested.to_str().unwrap()], "tagg"),
                (
                    vec!["--set", "persistence.workspace.claimname=x"],
                    "claimname",
                ),
                (vec!["--set", "serviceAccount.nam=x"], "nam"),
            ] {
                let r = manifests::template_run(which, &root.join("helm-home"), &chart, &extra);
                assert_ne!(r.code, 0, "{which} {extra:?} was accepted");
                assert!(r.stderr.contains(key), "{which} {extra:?}: {}", r.stderr);
            }
            // What Kubernetes defines stays open; `global` is Helm's.
            manifests::template_run(
                which,
                &root.join("helm-home"),
                &chart,
                &[
                    "--set",
                    "affinity.podAntiAffinity.x=1",
                    "--set",
                    "global.anything=1",
                    "--set",
                    "securityContext.seLinuxOptions.level=s0",
                ],
            )
            .success();
        }
        // The server chart has no `port` (the guide names it for clients only).
        let r = manifests::template_run(
            which,
            &root.join("helm-home"),
            &server.join("helm_chart"),
            &["--set", "port=9000"],
        );
        assert!(r.code != 0 && r.stderr.contains("port"), "{}", r.stderr);
    }
}

#[test]
fn verify_with_values_files_names_unknown_keys_and_checks_the_port() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, _, client) = support::prepared_server_and_client(root);
    let kit = client.to_str().unwrap();
    let verify = |files: &[&Path]| {
        let mut args = vec![
            "verify".to_string(),
            kit.to_string(),
            "--offline".into(),
            "--format".into(),
            "json".into(),
        ];
        for f in files {
            args.push("-f".into());
            args.push(f.display().to_string());
        }
        let r = nvflare(&args);
        let data = r.json()["data"].clone();
        (r.code, data)
    };
    let check = |data: &Value, id: &str| -> Value {
        data["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let good = write(
        &root.join("good.yaml"),
        "nodeSelector: {pool: gpu}\nport: 8102\n",
    );
    let (code, data) = verify(&[&good]);
    assert_eq!(code, 0, "{data}");
    assert_eq!(check(&data, "values")["status"], "pass");
    let typo = write(
        &root.join("typo.yaml"),
        "nodeSelecter: {pool: gpu}\nimage: {tagg: x}\n",
    );
    let (code, data) = verify(&[&good, &typo]);
    assert_eq!(code, 1);
    let values = check(&data, "values");
    let message = values["message"].as_str().unwrap();
    assert!(
        message.contains("nodeSelecter (did you mean nodeSelector?)")
            && message.contains("image.tagg (did you mean tag?)"),
        "{message}"
    );
    // A port the kit's comm_config does not use: job pods would dial the wrong port.
    let port = write(&root.join("port.yaml"), "port: 9000\n");
    let (code, data) = verify(&[&port]);
    assert_eq!(code, 1);
    assert_eq!(check(&data, "kit-chart-agree")["status"], "fail", "{data}");
    // A later file's `port: null` gives parentPort back.
    let unset = write(&root.join("unset.yaml"), "port: null\n");
    let (code, _) = verify(&[&port, &unset]);
    assert_eq!(code, 0);
    // Without -f there is no values check.
    let (_, data) = verify(&[]);
    assert!(check(&data, "values").is_null());
    let r = nvflare([
        "verify",
        kit,
        "--offline",
        "-f",
        root.join("missing.yaml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 4);
}
