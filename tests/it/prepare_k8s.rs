//! `prepare` for the Kubernetes runtime on provision-shaped kits: the prepared kit follows
//! the seed file by file, and the chart passes real Helm 3 and Helm 4, the Kubernetes
//! schemas and Kubernetes' name rules.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::kits::Project;
use support::manifests::{self, HELMS};
use support::{nvflare, read_json, snapshot, write, K8S_CONFIG};

fn prepare(kit: &Path, config: &Path, output: &Path) -> Value {
    support::prepare_json(kit, config, output, &[])
}

/// Python's own `json.dumps(json.load(f), indent=4) + "\n"` of a file, as the reference.
fn python_dumps(path: &Path) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import json,sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), indent=4) + '\\n')"])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = snapshot(dir)
        .keys()
        .map(|p| p.display().to_string())
        .collect();
    names.sort();
    names
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    project: Project,
    config: PathBuf,
}

fn fixture(server: &str) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let project = Project::new(&root.join("workspace/example_project"), server);
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    Fixture {
        _tmp: tmp,
        root,
        project,
        config,
    }
}

#[test]
fn server_named_by_fqdn_follows_the_seed_file_by_file() {
    let f = fixture("fl.example.com");
    let kit = f.project.server_kit();
    let before = snapshot(&kit);
    let out = f.root.join("out/server");
    // The seed is NVFlare 2.8.3's prepare: its layout, chosen by flag.
    let data = support::prepare_json(&kit, &f.config, &out, &["--nvflare-version", "2.8"]);

    let chart = out.join("helm_chart");
    assert_eq!(
        data,
        json!({
            "runtime": "k8s",
            "role": "server",
            "name": "fl.example.com",
            "nvflare_version": "2.8",
            "nvflare_version_from": "flag",
            "namespace": "nvflare",
            "output": out.display().to_string(),
            "helm_chart": chart.display().to_string(),
            "helm_command": format!("helm upgrade --install fl-example-com-e265d5eb {} --namespace nvflare", chart.display()),
            "resources": out.join("local/resources.json.default").display().to_string(),
            "release": "fl-example-com-e265d5eb",
            "service": "nvflare-server",
        })
    );
    assert_eq!(snapshot(&kit), before, "the input kit was modified");

    // startup/: start scripts gone, identity material and role file byte-identical.
    assert_eq!(
        files_under(&out.join("startup")),
        ["fed_server.json", "rootCA.pem", "server.crt", "server.key"]
    );
    for name in ["fed_server.json", "rootCA.pem", "server.crt", "server.key"] {
        assert_eq!(
            std::fs::read(out.join("startup").join(name)).unwrap(),
            std::fs::read(kit.join("startup").join(name)).unwrap(),
            "startup/{name} changed"
        );
    }
    let key_mode = std::fs::metadata(out.join("startup/server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        key_mode & 0o777,
        0o600,
        "the private key lost its 0600 mode"
    );

    // local/: the seed's patches and nothing else.
    assert_eq!(
        files_under(&out.join("local")),
        [
            "authorization.json.default",
            "comm_config.json",
            "log_config.json.default",
            "privacy.json.sample",
            "resources.json.default",
            "study_data.yaml"
        ]
    );
    for name in [
        "authorization.json.default",
        "log_config.json.default",
        "privacy.json.sample",
    ] {
        assert_eq!(
            std::fs::read(out.join("local").join(name)).unwrap(),
            std::fs::read(kit.join("local").join(name)).unwrap()
        );
    }
    assert_eq!(
        std::fs::read_to_string(out.join("readme.txt")).unwrap(),
        std::fs::read_to_string(kit.join("readme.txt")).unwrap()
    );
    assert!(out.join("transfer").is_dir());

    let resources_path = out.join("local/resources.json.default");
    let resources = read_json(&resources_path);
    let original = read_json(&kit.join("local/resources.json.default"));
    // Key order kept, 4-space indent, exactly as Python writes it.
    assert_eq!(
        std::fs::read_to_string(&resources_path).unwrap(),
        python_dumps(&resources_path)
    );
    let keys: Vec<&String> = resources.as_object().unwrap().keys().collect();
    let original_keys: Vec<&String> = original.as_object().unwrap().keys().collect();
    assert_eq!(keys, original_keys);
    assert_eq!(resources["class_allow_list"], original["class_allow_list"]);
    assert_eq!(
        resources["snapshot_persistor"]["args"]["storage"]["args"]["root_dir"],
        "/var/tmp/nvflare/workspace/snapshot-storage"
    );
    let components = resources["components"].as_array().unwrap();
    let ids: Vec<&str> = components
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "job_scheduler",
            "job_manager",
            "job_store",
            "log_receiver",
            "resource_manager",
            "k8s_launcher"
        ]
    );
    assert_eq!(
        components[1]["args"]["uri_root"],
        "/var/tmp/nvflare/workspace/jobs-storage"
    );
    assert_eq!(components[1]["args"]["job_store_id"], "job_store");
    assert_eq!(
        components[4],
        json!({"id": "resource_manager", "path": "nvflare.app_common.resource_managers.passthrough_resource_manager.PassthroughResourceManager", "args": {}})
    );
    let launcher = &components[5];
    assert_eq!(
        launcher["path"],
        "nvflare.app_opt.job_launcher.k8s_launcher.ServerK8sJobLauncher"
    );
    let arg_keys: Vec<&String> = launcher["args"].as_object().unwrap().keys().collect();
    assert_eq!(
        arg_keys,
        [
            "config_file_path",
            "study_data_pvc_file_path",
            "namespace",
            "default_python_path",
            "workspace_mount_path",
            "pending_timeout",
            "image_pull_secrets"
        ]
    );
    assert_eq!(
        launcher["args"],
        json!({
            "config_file_path": null,
            "study_data_pvc_file_path": "/var/tmp/nvflare/workspace/local/study_data.yaml",
            "namespace": "nvflare",
            "default_python_path": "/usr/local/bin/python3",
            "workspace_mount_path": "/var/tmp/nvflare/workspace",
            "pending_timeout": 300,
            "image_pull_secrets": ["job-registry-credentials"],
        })
    );

    // comm_config.json did not exist: the seed's default, patched for the server Service.
    assert_eq!(
        std::fs::read_to_string(out.join("local/comm_config.json")).unwrap(),
        "{\n    \"allow_adhoc_conns\": false,\n    \"backbone_conn_gen\": 2,\n    \"internal\": {\n        \"scheme\": \"tcp\",\n        \"resources\": {\n            \"connection_security\": \"clear\",\n            \"host\": \"nvflare-server\",\n            \"port\": 8102\n        }\n    }\n}\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("local/study_data.yaml")).unwrap(),
        "# Study data mapping used by Docker and Kubernetes job launchers.\n# Example:\n# default:\n#   training:\n#     source: /data/training    # Docker: host path; K8s: PVC claim name\n#     mode: ro                  # ro or rw\n{}\n"
    );

    // The chart, and its values as the guide's "Helm Values Reference" lists them.
    assert_eq!(
        files_under(&chart),
        [
            ".helmignore",
            "Chart.yaml",
            "templates/",
            "templates/NOTES.txt",
            "templates/_helpers.tpl",
            "templates/networkpolicy.yaml",
            "templates/role.yaml",
            "templates/server-deployment.yaml",
            "templates/server-route.yaml",
            "templates/server-service.yaml",
            "templates/server-tcp-services.yaml",
            "templates/server-tlsroute.yaml",
            "templates/serviceaccount.yaml",
            "templates/workspace-pvc.yaml",
            "values.schema.json",
            "values.yaml"
        ]
    );
    let mut values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap())
            .unwrap();
    // Our platform values (beyond the guide's reference) default to empty, nothing renders;
    // the hardening and the probes have defaults (tests/chart_options.rs renders them).
    let platform = json!({
        "nodeSelector": {}, "tolerations": [], "affinity": {}, "topologySpreadConstraints": [],
        "priorityClassName": "", "runtimeClassName": "", "terminationGracePeriodSeconds": null,
        "podLabels": {}, "extraEnv": [], "extraEnvFrom": [], "extraVolumes": [],
        "extraVolumeMounts": [], "initContainers": [],
        "containerSecurityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "startupProbe": {"tcpSocket": {"port": "fl-port"}, "periodSeconds": 10, "failureThreshold": 30},
        "livenessProbe": {"tcpSocket": {"port": "fl-port"}, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 6},
        "readinessProbe": {"tcpSocket": {"port": "fl-port"}, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        "networkPolicy": {"enabled": false, "fromCIDRs": [], "jobPodSelector": {}, "kubeAPICIDRs": ["0.0.0.0/0"],
                          "kubeAPIPorts": [443, 6443], "extraIngress": [], "extraEgress": []},
        "tlsRoute": {"enabled": false, "apiVersion": "v1alpha2", "parentRefs": [], "adminParentRefs": [], "hostnames": ["fl.example.com"]},
        "openshiftRoute": {"enabled": false, "host": "fl.example.com", "adminHost": ""},
    });
    for (key, default) in platform.as_object().unwrap() {
        assert_eq!(
            values.as_object_mut().unwrap().remove(key).as_ref(),
            Some(default),
            "{key}"
        );
    }
    assert_eq!(
        values,
        json!({
            "name": "fl.example.com",
            "serviceName": "nvflare-server",
            "image": {"repository": "localhost:5000/nvflare", "tag": "2.9.0", "digest": "", "pullPolicy": "IfNotPresent"},
            "imagePullSecrets": [{"name": "registry-credentials"}],
            "serviceAccount": {"create": true, "name": "", "annotations": {}, "automountServiceAccountToken": true},
            "podAnnotations": {},
            "rbac": {"create": true},
            "persistence": {"workspace": {"claimName": "nvflws", "volumeName": "workspace", "mountPath": "/var/tmp/nvflare/workspace",
                                          "create": false, "size": "10Gi", "storageClass": "", "accessModes": ["ReadWriteOnce"]}},
            "fedLearnPort": 8002,
            "adminPort": 8003,
            "parentPort": 8102,
            "resources": {"requests": {"cpu": "2", "memory": "8Gi"}},
            "securityContext": {},
            "hostPortEnabled": false,
            "tcpConfigMapEnabled": false,
            "service": {"type": "ClusterIP", "loadBalancerIP": null, "loadBalancerSourceRanges": [], "externalTrafficPolicy": "",
                        "nodePorts": {"fl": null, "admin": null, "parent": null}, "annotations": {}},
            "command": ["/usr/local/bin/python3"],
            "args": ["-u", "-m", "nvflare.private.fed.app.server.server_train", "-m", "/var/tmp/nvflare/workspace",
                     "-s", "fed_server.json", "--set", "secure_train=true", "config_folder=config", "org=nvidia"],
            "workspaceConfig": {"namespace": "", "local": {"configMapName": "", "items": []}, "startup": {"secretName": "", "items": []}},
        })
    );
    let chart_yaml: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart.join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart_yaml["name"], "nvflare-server");
    assert_eq!(chart_yaml["appVersion"], "2.9.0");
    assert_eq!(
        chart_yaml["description"],
        "NVFlare federated learning server for fl.example.com"
    );
}

#[test]
fn client_names_are_sanitized_as_the_seed_does() {
    let f = fixture("fl.example.com");
    let long = "a".repeat(64);
    let cases = [
        ("site-1", "site-1", "site-1"),
        ("Hospital_A", "hospital-a-3822580f", "hospital-a-3822580f"),
        ("123site", "site-123site-5f10c088", "site-123site-5f10c088"),
        (
            long.as_str(),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-ffe054fe",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-ffe054fe",
        ),
    ];
    for (name, service, release) in cases {
        let kit = f.project.client_kit(name);
        let out = f.root.join("out").join(name);
        let data = prepare(&kit, &f.config, &out);
        assert_eq!(data["service"], service, "{name}");
        assert_eq!(data["release"], release, "{name}");
        assert!(service.len() <= 63 && release.len() <= 53);
        let comm = read_json(&out.join("local/comm_config.json"));
        assert_eq!(comm["internal"]["resources"]["host"], service);
        let values: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(out.join("helm_chart/values.yaml")).unwrap(),
        )
        .unwrap();
        assert_eq!(values["name"], name);
        assert_eq!(values["siteName"], name);
        assert_eq!(values["serviceName"], service);
        assert_eq!(values["parentPort"], 8102);
        assert_eq!(values["image"]["pullPolicy"], "Always");
        assert_eq!(
            values["args"],
            json!([
                "-u",
                "-m",
                "nvflare.private.fed.app.client.client_train",
                "-m",
                "/var/tmp/nvflare/workspace",
                "-s",
                "fed_client.json",
                "--set",
                "secure_train=true",
                "config_folder=config",
                "org=nvidia"
            ])
        );
        let resources = read_json(&out.join("local/resources.json.default"));
        let launcher = resources["components"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            launcher["path"],
            "nvflare.app_opt.job_launcher.k8s_launcher.ClientK8sJobLauncher"
        );
        let ids: Vec<&str> = resources["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["site_log_streamer", "resource_manager", "k8s_launcher"]
        );
    }
}

/// Charts for a server named by FQDN and clients with awkward names, with the default
/// values and with every optional feature switched on.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn charts_pass_helm_lint_template_kubernetes_validate_and_name_rules() {
    let f = fixture("fl.example.com");
    let long = "Z".repeat(64);
    let mut charts = vec![(
        "server",
        prepare(
            &f.project.server_kit(),
            &f.config,
            &f.root.join("out/server"),
        ),
    )];
    for name in ["Hospital_A", "123site", long.as_str()] {
        charts.push((
            "client",
            prepare(
                &f.project.client_kit(name),
                &f.config,
                &f.root.join("out").join(name),
            ),
        ));
    }
    let home = f.root.join("helm-home");
    // Server-only values (the guide's scope column): the client chart's schema refuses them.
    let server_options = [
        "--set",
        "hostPortEnabled=true",
        "--set",
        "tcpConfigMapEnabled=true",
        "--set",
        "service.type=LoadBalancer",
        "--set",
        "service.loadBalancerIP=10.0.0.9",
    ];
    let options: [&[&str]; 2] = [
        &[],
        &[
            "--set",
            "workspaceConfig.namespace=nvflare",
            "--set",
            "workspaceConfig.local.configMapName=site-local",
            "--set",
            "workspaceConfig.local.items[0].key=resources.json.default",
            "--set",
            "workspaceConfig.local.items[0].path=resources.json.default",
            "--set",
            "workspaceConfig.startup.secretName=site-startup",
            "--set",
            "podAnnotations.team=fl",
            "--set",
            "serviceAccount.annotations.owner=ml",
        ],
    ];
    for (role, data) in &charts {
        let chart = PathBuf::from(data["helm_chart"].as_str().unwrap());
        let release = data["release"].as_str().unwrap();
        for which in HELMS {
            manifests::lint(which, &home, &chart);
            for extra in options {
                let mut extra = extra.to_vec();
                if *role == "server" && !extra.is_empty() {
                    extra.extend(server_options);
                }
                let rendered = manifests::template(which, &home, release, &chart, &extra);
                let docs = manifests::documents(&rendered);
                manifests::check_names(&docs);
                manifests::kubernetes_validate(&rendered, &f.root);
                let deployment = manifests::one(&docs, "Deployment");
                let pod = &deployment["spec"]["template"]["spec"];
                let container = &pod["containers"][0];
                assert_eq!(container["image"], "localhost:5000/nvflare:2.9.0");
                assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
                assert_eq!(
                    pod["imagePullSecrets"],
                    json!([{"name": "registry-credentials"}])
                );
                assert_eq!(
                    pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
                    "nvflws"
                );
                let role_doc = manifests::one(&docs, "Role");
                assert_eq!(
                    role_doc["rules"],
                    json!([
                        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get", "list", "watch"]},
                        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "get", "update", "patch", "delete"]},
                    ])
                );
                let binding = manifests::one(&docs, "RoleBinding");
                assert_eq!(binding["subjects"][0]["name"], pod["serviceAccountName"]);
                assert_eq!(binding["roleRef"]["name"], role_doc["metadata"]["name"]);
                let service = manifests::one(&docs, "Service");
                assert_eq!(service["metadata"]["name"], data["service"]);
                if *role == "server" {
                    assert_eq!(deployment["metadata"]["name"], "fl.example.com");
                    assert_eq!(container["name"], "fl-example-com");
                    let ports: Vec<(String, u64)> = service["spec"]["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| {
                            (
                                p["name"].as_str().unwrap().to_string(),
                                p["port"].as_u64().unwrap(),
                            )
                        })
                        .collect();
                    assert_eq!(
                        ports,
                        [
                            ("fl-port".into(), 8002),
                            ("admin-port".into(), 8003),
                            ("parent-port".into(), 8102)
                        ]
                    );
                } else {
                    let args = container["args"].as_array().unwrap();
                    assert_eq!(
                        args.last().unwrap(),
                        &json!(format!("uid={}", data["name"].as_str().unwrap()))
                    );
                }
                if !extra.is_empty() {
                    let mounts = &container["volumeMounts"];
                    assert_eq!(
                        mounts[1],
                        json!({"name": "workspace-local", "mountPath": "/var/tmp/nvflare/workspace/local", "readOnly": true})
                    );
                    assert_eq!(
                        mounts[2],
                        json!({"name": "workspace-startup", "mountPath": "/var/tmp/nvflare/workspace/startup", "readOnly": true})
                    );
                    assert_eq!(pod["volumes"][1]["configMap"]["name"], "site-local");
                    assert_eq!(
                        pod["volumes"][1]["configMap"]["items"],
                        json!([{"key": "resources.json.default", "path": "resources.json.default"}])
                    );
                    assert_eq!(pod["volumes"][2]["secret"]["secretName"], "site-startup");
                    if *role == "server" {
                        assert_eq!(container["ports"][0]["hostPort"], 8002);
                        assert_eq!(container["ports"][1]["hostPort"], 8003);
                        assert_eq!(service["spec"]["type"], "LoadBalancer");
                        let tcp = manifests::one(&docs, "ConfigMap");
                        assert_eq!(tcp["metadata"]["namespace"], "ingress");
                        assert_eq!(
                            tcp["data"],
                            json!({"8002": "nvflare/nvflare-server:8002", "8003": "nvflare/nvflare-server:8003"})
                        );
                    }
                } else {
                    assert!(manifests::find(&docs, "ConfigMap").is_empty());
                }
            }
        }
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn values_are_overridable_at_install_time_and_wrong_types_fail() {
    let f = fixture("server");
    let data = prepare(
        &f.project.server_kit(),
        &f.config,
        &f.root.join("out/server"),
    );
    let chart = PathBuf::from(data["helm_chart"].as_str().unwrap());
    let home = f.root.join("helm-home");
    let values_file = write(&f.root.join("my-values.yaml"), "image:\n  repository: registry.example.com/nvflare\n  tag: dev\nresources:\n  limits:\n    memory: 16Gi\n");
    for which in HELMS {
        let rendered = manifests::template(
            which,
            &home,
            "server",
            &chart,
            &["--set", "image.tag=2.9.1", "--set", "service.type=NodePort"],
        );
        let docs = manifests::documents(&rendered);
        assert_eq!(
            manifests::one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
                ["image"],
            "localhost:5000/nvflare:2.9.1"
        );
        assert_eq!(manifests::one(&docs, "Service")["spec"]["type"], "NodePort");

        let rendered = manifests::template(
            which,
            &home,
            "server",
            &chart,
            &["-f", values_file.to_str().unwrap()],
        );
        let docs = manifests::documents(&rendered);
        let container =
            &manifests::one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "registry.example.com/nvflare:dev");
        assert_eq!(
            container["resources"],
            json!({"limits": {"memory": "16Gi"}, "requests": {"cpu": "2", "memory": "8Gi"}})
        );

        for bad in [
            "fedLearnPort=abc",
            "hostPortEnabled=maybe",
            "service.type=Ingress",
            "serviceName=Bad_Name",
            "parentPort=70000",
        ] {
            let run = manifests::template_run(which, &home, &chart, &["--set", bad]);
            assert_ne!(run.code, 0, "{which}: --set {bad} should fail the schema");
            assert!(
                run.stderr.contains("schema") || run.stderr.contains("values don't meet"),
                "{which} {bad}: {}",
                run.stderr
            );
        }
        // A participant name that is not a Kubernetes name is sanitized, not rejected.
        let rendered = manifests::template(
            which,
            &home,
            "server",
            &chart,
            &["--set", "name=My_Server.Example"],
        );
        let docs = manifests::documents(&rendered);
        manifests::check_names(&docs);
        manifests::kubernetes_validate(&rendered, &f.root);
        // A staged namespace other than the release's is refused before anything is applied.
        let run = manifests::template_run(
            which,
            &home,
            &chart,
            &[
                "--set",
                "workspaceConfig.namespace=elsewhere",
                "--set",
                "workspaceConfig.local.configMapName=x",
            ],
        );
        assert_ne!(run.code, 0);
        assert!(
            run.stderr.contains("staged in namespace \"elsewhere\""),
            "{}",
            run.stderr
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn image_references_are_split_properly() {
    let f = fixture("server");
    let kit = f.project.client_kit("site-1");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let home = f.root.join("helm-home");
    let cases = [
        (
            "localhost:5000/nvflare",
            "localhost:5000/nvflare",
            "",
            "",
            "localhost:5000/nvflare",
            "latest",
        ),
        (
            "nvcr.io/nvidia/nvflare:2.9.0",
            "nvcr.io/nvidia/nvflare",
            "2.9.0",
            "",
            "nvcr.io/nvidia/nvflare:2.9.0",
            "2.9.0",
        ),
    ];
    let with_digest = format!("registry.example.com:443/fl/nvflare:2.9.0@{digest}");
    let digest_case = (
        "",
        "registry.example.com:443/fl/nvflare",
        "2.9.0",
        digest.as_str(),
        with_digest.as_str(),
        "2.9.0",
    );
    for (i, (image, repo, tag, dig, rendered_image, app_version)) in
        cases.into_iter().chain([digest_case]).enumerate()
    {
        let image = if image.is_empty() {
            with_digest.as_str()
        } else {
            image
        };
        let config = write(
            &f.root.join(format!("k8s-{i}.yaml")),
            &format!("runtime: k8s\nparent:\n  docker_image: {image}\n"),
        );
        let out = f.root.join(format!("out-{i}"));
        let data = prepare(&kit, &config, &out);
        let chart = PathBuf::from(data["helm_chart"].as_str().unwrap());
        let values: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap())
                .unwrap();
        assert_eq!(
            values["image"],
            json!({"repository": repo, "tag": tag, "digest": dig, "pullPolicy": "Always"})
        );
        let chart_yaml: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(chart.join("Chart.yaml")).unwrap())
                .unwrap();
        assert_eq!(chart_yaml["appVersion"], app_version);
        let rendered = manifests::template("helm4", &home, "site-1", &chart, &[]);
        let docs = manifests::documents(&rendered);
        assert_eq!(
            manifests::one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
                ["image"],
            rendered_image
        );
        assert_eq!(data["namespace"], "default");
    }
}

#[test]
fn defaults_to_kit_config_and_prepared_folder_and_replaces_previous_output() {
    let f = fixture("server");
    let kit = f.project.client_kit("site-1");
    std::fs::copy(&f.config, kit.join("config.yaml")).unwrap();
    let run = nvflare(["prepare".as_ref(), kit.as_os_str()]).success();
    let out = kit.join("prepared/k8s");
    assert!(
        run.stdout.contains(&format!(
            "helm_command: helm upgrade --install site-1 {} --namespace nvflare",
            out.join("helm_chart").display()
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .starts_with("runtime: k8s\nrole: client\nname: site-1\nnvflare_version: 2.9\nnvflare_version_from: image_tag\nnamespace: nvflare\n"),
        "{}",
        run.stdout
    );
    assert!(out.join("helm_chart/values.yaml").is_file());
    // The copy never contains the prepared folder itself.
    assert!(!out.join("prepared").exists());
    std::fs::write(out.join("stale.txt"), "old").unwrap();
    nvflare(["prepare".as_ref(), "--kit".as_ref(), kit.as_os_str()]).success();
    assert!(
        !out.join("stale.txt").exists(),
        "the previous output was not replaced"
    );
    let leftovers: Vec<_> = std::fs::read_dir(kit.join("prepared"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from("k8s")],
        "temporary folders left behind"
    );
}

#[test]
fn custom_launcher_and_resource_configuration_is_replaced_with_warnings() {
    let f = fixture("server");
    let kit = f.project.client_kit("site-1");
    let resources = r#"{
  "format_version": 2,
  "components": [
    {"id": "resource_manager", "path": "my.Manager", "args": {"x": 1}},
    {"id": "resource_consumer", "path": "my.Consumer"},
    {"id": "k8s_launcher", "path": "my.Launcher", "args": {}},
    {"id": "process_launcher", "path": "nvflare.app_common.job_launcher.client_process_launcher.ClientProcessJobLauncher", "args": {}}
  ]
}"#;
    std::fs::write(kit.join("local/resources.json.default"), resources).unwrap();
    std::fs::write(kit.join("local/resources.json"), "{}").unwrap();
    std::fs::write(kit.join("local/comm_config.json"), "{\"internal\": {\"resources\": {\"host\": \"x\", \"max_message_size\": 1}}, \"extra\": \"é\"}").unwrap();
    let out = f.root.join("out");
    let run = nvflare([
        "prepare".as_ref(),
        kit.as_os_str(),
        "--config".as_ref(),
        f.config.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ])
    .success();
    let warnings = run.json()["data"]["warnings"].clone();
    assert_eq!(
        warnings,
        json!([
            "deploy prepare replaces component 'resource_manager' with PassthroughResourceManager; existing resource manager path/args will not be used by the prepared runtime.",
            "deploy prepare removes component 'resource_consumer' from resources.json.default; existing resource consumer configuration will not be used by the prepared runtime.",
            "deploy prepare replaces component 'k8s_launcher' with generated 'k8s_launcher' configuration; existing launcher path/args will not be used by the prepared runtime.",
        ])
    );
    // JSON keeps NVFlare's words; a person reads on stderr what changed and whether to act.
    for plain in [
        "Warning: local/resources.json.default: the kit's resource manager is replaced by PassthroughResourceManager",
        "Warning: local/resources.json.default: the kit's resource consumer 'resource_consumer' is removed",
        "Warning: local/resources.json.default: the kit's job launcher 'k8s_launcher' is replaced by the runtime's",
    ] {
        assert!(run.stderr.contains(plain), "{plain}\n{}", run.stderr);
    }
    assert_eq!(run.stderr.matches("Warning: ").count(), 3, "{}", run.stderr);
    assert!(!out.join("local/resources.json").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("local/comm_config.json")).unwrap(),
        "{\n    \"internal\": {\n        \"resources\": {\n            \"host\": \"site-1\",\n            \"max_message_size\": 1,\n            \"port\": 8102,\n            \"connection_security\": \"mtls\"\n        },\n        \"scheme\": \"tcp\"\n    },\n    \"extra\": \"\\u00e9\"\n}\n"
    );
}

/// The values a platform team sets (a GPU node pool with taints, spreading, priority,
/// extra env and volumes, an init container, a hardened container): each renders where
/// Kubernetes expects it, lints, and passes the schemas; none renders when unset; a wrong
/// type fails at `helm template` through values.schema.json.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn platform_values_render_only_when_set() {
    let ws = support::Workspace::new();
    let home = ws.root.join("helm-home");
    let values = write(
        &ws.root.join("platform.yaml"),
        r#"nodeSelector: {nvidia.com/gpu.present: "true"}
tolerations:
  - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions: [{key: pool, operator: In, values: [gpu]}]
topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}
priorityClassName: fl-critical
runtimeClassName: nvidia
terminationGracePeriodSeconds: 120
podLabels: {team: federated-learning}
extraEnv: [{name: HTTPS_PROXY, value: "http://proxy:3128"}]
extraEnvFrom: [{secretRef: {name: fl-extra}}]
extraVolumes: [{name: datasets, persistentVolumeClaim: {claimName: datasets}}]
extraVolumeMounts: [{name: datasets, mountPath: /data, readOnly: true}]
initContainers: [{name: fix-perms, image: "busybox:1.36", command: [sh, -c, "true"]}]
containerSecurityContext:
  allowPrivilegeEscalation: false
  capabilities: {drop: [ALL]}
  seccompProfile: {type: RuntimeDefault}
"#,
    );
    for (name, kit) in [
        ("server", ws.project.server_kit()),
        ("site-1", ws.project.client_kit("site-1")),
    ] {
        let out = ws.root.join("prepared").join(name);
        let data = support::prepare_json(&kit, &ws.config, &out, &[]);
        let chart = out.join("helm_chart");
        let release = data["release"].as_str().unwrap();
        for which in HELMS {
            let plain = manifests::template(which, &home, release, &chart, &[]);
            for key in [
                "nodeSelector",
                "tolerations",
                "priorityClassName",
                "initContainers",
                "envFrom",
            ] {
                assert!(
                    !plain.contains(key),
                    "{which} {name}: {key} rendered when unset"
                );
            }
            let mut lint = manifests::helm(which, &home);
            lint.args(["lint", "--strict"])
                .arg(&chart)
                .arg("-f")
                .arg(&values);
            support::run_cmd(lint).success();
            let rendered = manifests::template(
                which,
                &home,
                release,
                &chart,
                &["-f", values.to_str().unwrap()],
            );
            manifests::kubernetes_validate(&rendered, &ws.root);
            let docs = manifests::documents(&rendered);
            manifests::check_names(&docs);
            let pod = &manifests::one(&docs, "Deployment")["spec"]["template"];
            let spec = &pod["spec"];
            assert_eq!(spec["nodeSelector"]["nvidia.com/gpu.present"], "true");
            assert_eq!(spec["tolerations"][0]["key"], "nvidia.com/gpu");
            assert_eq!(spec["priorityClassName"], "fl-critical");
            assert_eq!(spec["runtimeClassName"], "nvidia");
            assert_eq!(spec["terminationGracePeriodSeconds"], 120);
            assert_eq!(spec["initContainers"][0]["name"], "fix-perms");
            assert_eq!(pod["metadata"]["labels"]["team"], "federated-learning");
            let container = &spec["containers"][0];
            assert_eq!(container["env"][0]["name"], "HTTPS_PROXY");
            assert_eq!(container["envFrom"][0]["secretRef"]["name"], "fl-extra");
            assert_eq!(
                container["securityContext"]["capabilities"]["drop"][0],
                "ALL"
            );
            assert_eq!(container["volumeMounts"][1]["mountPath"], "/data");
            assert_eq!(spec["volumes"][1]["name"], "datasets");
            let wrong =
                manifests::template_run(which, &home, &chart, &["--set", "tolerations=everything"]);
            assert_ne!(
                wrong.code, 0,
                "{which}: a string for tolerations passed the schema"
            );
        }
    }
}
