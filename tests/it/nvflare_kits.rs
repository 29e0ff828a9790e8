//! Kits made by the real `nvflare provision` of NVFlare 2.8.3 and 2.9.0: every server and
//! client kit is prepared for that release (`--nvflare-version`), its `local/` and
//! `startup/` are byte for byte what that release's own `nvflare deploy prepare` writes,
//! and its chart passes Helm 3 and Helm 4, the Kubernetes schemas and name rules.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::manifests::{self, HELMS};
use support::{run_cmd, snapshot, tool, write, K8S_CONFIG};

const PROJECT_YML: &str = "api_version: 3
name: example_project
description: helm-nvflare test project
participants:
  - name: fl.example.com
    type: server
    org: nvidia
    fed_learn_port: 8002
    admin_port: 8003
  - name: Hospital_A
    type: client
    org: nvidia
  - name: 123site
    type: client
    org: nvidia
  - name: Site_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
    type: client
    org: nvidia
  - name: admin@nvidia.com
    type: admin
    org: nvidia
    role: project_admin
builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args:
      config_folder: config
  - path: nvflare.lighter.impl.cert.CertBuilder
  - path: nvflare.lighter.impl.signature.SignatureBuilder
";

/// The NVFlare releases compared: (the `--nvflare-version` value, that release's `nvflare`,
/// each installed in its own virtualenv by scripts/install-test-deps.sh).
fn releases() -> [(&'static str, PathBuf); 2] {
    [
        (
            "2.8",
            support::repo().join(".tools/venv-nvflare-2.8/bin/nvflare"),
        ),
        ("2.9", tool("nvflare")),
    ]
}

fn provision(nvflare: &Path, root: &Path) -> PathBuf {
    let project = write(&root.join("project.yml"), PROJECT_YML);
    let mut cmd = Command::new(nvflare);
    cmd.args(["provision", "-p"])
        .arg(&project)
        .arg("-w")
        .arg(root.join("workspace"))
        .arg("--force")
        .current_dir(root);
    run_cmd(cmd).success();
    root.join("workspace/example_project/prod_00")
}

/// That release's own `nvflare deploy prepare` of `kit` into `output`.
fn nvflare_prepare(nvflare: &Path, kit: &Path, config: &Path, output: &Path) -> support::Run {
    let mut cmd = Command::new(nvflare);
    cmd.args(["deploy", "prepare"])
        .arg(kit)
        .arg("--config")
        .arg(config)
        .arg("--output")
        .arg(output);
    run_cmd(cmd)
}

/// Every kit `nvflare provision` wrote, prepared by us for `version` and by that release's
/// own `nvflare deploy prepare`: `local/` and `startup/` are the same bytes and modes.
/// Returns how many kits were compared.
fn compare_with_nvflare(version: &str, nvflare: &Path, root: &Path, config: &Path) -> usize {
    let prod = provision(nvflare, root);
    let home = root.join("helm-home");
    let mut prepared = 0;
    let mut kits: Vec<PathBuf> = std::fs::read_dir(&prod)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    kits.sort();
    if version == "2.9" {
        // NVFlare 2.9 keeps a legacy kit's study_data.yaml (and mounts it), and keeps a
        // kit's own study_runtime.yaml.
        for (variant, file, text) in [
            ("legacy-study-data", "study_data.yaml", "default:\n  training:\n    source: nvfldata\n    mode: ro\n"),
            ("study-runtime", "study_runtime.yaml", "format_version: 2\nstudies:\n  default:\n    datasets:\n      training: {source: nvfldata, mode: ro}\n"),
        ] {
            let copy = root.join(variant).join("Hospital_A");
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            let status = Command::new("cp").arg("-a").arg(prod.join("Hospital_A")).arg(&copy).status().unwrap();
            assert!(status.success());
            write(&copy.join("local").join(file), text);
            kits.push(copy);
        }
    }
    for kit in kits {
        let name = kit
            .strip_prefix(root)
            .unwrap()
            .display()
            .to_string()
            .replace('/', "_");
        let ours = root.join("ours").join(&name);
        let theirs = root.join("theirs").join(&name);
        let run = support::prepare_run(&kit, &config, &ours, &["--nvflare-version", version]);
        if name.ends_with("admin@nvidia.com") {
            assert_eq!(run.code, 4);
            assert_eq!(run.json()["error_code"], "UNSUPPORTED_KIT");
            continue;
        }
        let data = run.success().json()["data"].clone();
        assert_eq!(data["nvflare_version"], version);
        prepared += 1;

        nvflare_prepare(nvflare, &kit, config, &theirs).success();
        let kit_files = |files: std::collections::BTreeMap<PathBuf, (Vec<u8>, u32)>| {
            files
                .into_iter()
                .filter(|(p, _)| p.starts_with("local") || p.starts_with("startup"))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let ours_files = kit_files(snapshot(&ours));
        let theirs_files = kit_files(snapshot(&theirs));
        assert_eq!(
            ours_files.keys().collect::<Vec<_>>(),
            theirs_files.keys().collect::<Vec<_>>(),
            "NVFlare {version}, {name}: not the same files in local/ and startup/"
        );
        for (path, (bytes, mode)) in &theirs_files {
            let (our_bytes, our_mode) = &ours_files[path];
            assert_eq!(
                String::from_utf8_lossy(our_bytes),
                String::from_utf8_lossy(bytes),
                "NVFlare {version}, {name}: {} differs from nvflare deploy prepare",
                path.display()
            );
            assert_eq!(
                our_mode,
                mode,
                "NVFlare {version}, {name}: {} mode",
                path.display()
            );
        }

        let chart = PathBuf::from(data["helm_chart"].as_str().unwrap());
        for which in HELMS {
            manifests::lint(which, &home, &chart);
            let rendered =
                manifests::template(which, &home, data["release"].as_str().unwrap(), &chart, &[]);
            let docs = manifests::documents(&rendered);
            manifests::check_names(&docs);
            manifests::kubernetes_validate(&rendered, root);
            let role = docs.iter().find(|d| d["kind"] == "Role").unwrap();
            let resources: Vec<&str> = role["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["resources"][0].as_str().unwrap())
                .collect();
            let want: &[&str] = if version == "2.8" {
                &["pods", "secrets"]
            } else {
                &["pods", "events", "secrets"]
            };
            assert_eq!(resources, want, "NVFlare {version} launcher Role");
        }
    }
    prepared
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn provisioned_kits_prepare_like_nvflare_2_8_and_2_9() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(&tmp.path().join("k8s.yaml"), K8S_CONFIG);
    for (version, nvflare) in releases() {
        let root = tmp.path().join(version);
        std::fs::create_dir_all(&root).unwrap();
        let compared = compare_with_nvflare(version, &nvflare, &root, &config);
        let kits = if version == "2.9" { 6 } else { 4 };
        assert_eq!(
            compared, kits,
            "NVFlare {version}: server, three clients (and two variants)"
        );
    }
}

/// A config that sets every optional key, from which each case sets one key to `null`.
const FULL_CONFIG: &str = "runtime: k8s
namespace: nvflare
server_service_name: nvflare-server
parent:
  docker_image: localhost:5000/nvflare:2.9.0
  image_pull_secrets: [registry-credentials]
  parent_port: 8102
  workspace_pvc: nvflws
  workspace_mount_path: /var/tmp/nvflare/workspace
  python_path: /usr/local/bin/python3
  resources: {requests: {cpu: \"2\"}}
  pod_security_context: {runAsUser: 1000}
job_launcher:
  config_file_path: /etc/kube/config
  default_python_path: /usr/local/bin/python3
  image_pull_secrets: [job-creds]
  pending_timeout: 300
  job_pod_security_context: {runAsUser: 1000}
";

/// Where an explicit `null` is written through by NVFlare and breaks the site, we use the
/// default instead: these files differ from NVFlare's, and only these (README, "Where it
/// differs from nvflare deploy prepare").
const NULL_FIXES: [(&str, &str); 3] = [
    ("parent.parent_port", "local/comm_config.json"),
    (
        "parent.workspace_mount_path",
        "local/resources.json.default",
    ),
    (
        "job_launcher.default_python_path",
        "local/resources.json.default",
    ),
];

/// `config` with `key` (dotted) set to null.
fn with_null(key: &str) -> String {
    let mut config: serde_json::Value = serde_saphyr::from_str(FULL_CONFIG).unwrap();
    let mut at = &mut config;
    let parts: Vec<&str> = key.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        at = &mut at[*part];
    }
    at[parts[parts.len() - 1]] = serde_json::Value::Null;
    // JSON is YAML.
    serde_json::to_string_pretty(&config).unwrap()
}

fn kit_files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| p.starts_with("local") || p.starts_with("startup"))
        .map(|(p, (bytes, _))| (p, bytes))
        .collect()
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs NVFlare 2.8.3 and 2.9.0: run scripts/test.sh"
)]
fn explicit_nulls_prepare_like_nvflare_2_8_and_2_9_but_for_the_listed_fixes() {
    let keys = [
        "namespace",
        "server_service_name",
        "parent",
        "job_launcher",
        "parent.parent_port",
        "parent.workspace_pvc",
        "parent.workspace_mount_path",
        "parent.python_path",
        "parent.resources",
        "parent.pod_security_context",
        "parent.image_pull_secrets",
        "parent.internal_connection_security",
        "job_launcher.config_file_path",
        "job_launcher.default_python_path",
        "job_launcher.image_pull_secrets",
        "job_launcher.pending_timeout",
        "job_launcher.job_pod_security_context",
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (version, nvflare) in releases() {
        let root = tmp.path().join(version);
        let prod = provision(&nvflare, &root);
        for kit in ["fl.example.com", "Hospital_A"] {
            for key in keys {
                // 2.8 has no internal_connection_security (we refuse it there, INVALID_CONFIG).
                if version == "2.8" && key == "parent.internal_connection_security" {
                    continue;
                }
                let case = format!("{version} {kit} {key}: null");
                let name = format!("{kit}-{key}");
                let config = write(&root.join(format!("{name}.yaml")), &with_null(key));
                let (ours, theirs) = (
                    root.join("ours").join(&name),
                    root.join("theirs").join(&name),
                );
                let run = support::prepare_run(
                    &prod.join(kit),
                    &config,
                    &ours,
                    &["--nvflare-version", version],
                );
                let reference = nvflare_prepare(&nvflare, &prod.join(kit), &config, &theirs);
                // Refused by both, or prepared by both.
                assert_eq!(
                    run.code, reference.code,
                    "{case}: ours {} / NVFlare's\n{}",
                    run.stdout, reference.stderr
                );
                if run.code != 0 {
                    assert_eq!(run.json()["error_code"], "INVALID_CONFIG", "{case}");
                    continue;
                }
                let (a, b) = (kit_files(&ours), kit_files(&theirs));
                assert_eq!(
                    a.keys().collect::<Vec<_>>(),
                    b.keys().collect::<Vec<_>>(),
                    "{case}"
                );
                let differs: Vec<String> = a
                    .iter()
                    .filter(|(p, bytes)| b.get(*p) != Some(bytes))
                    .map(|(p, _)| p.display().to_string())
                    .collect();
                let expected: Vec<String> = NULL_FIXES
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, f)| f.to_string())
                    .collect();
                assert_eq!(differs, expected, "{case}");
                let resources =
                    std::fs::read_to_string(ours.join("local/resources.json.default")).unwrap();
                match key {
                    "parent.parent_port" => assert!(
                        std::fs::read_to_string(ours.join("local/comm_config.json"))
                            .unwrap()
                            .contains("\"port\": 8102"),
                        "{case}"
                    ),
                    "parent.workspace_mount_path" => {
                        assert!(
                            resources.contains(
                                "\"workspace_mount_path\": \"/var/tmp/nvflare/workspace\""
                            ),
                            "{case}"
                        )
                    }
                    "job_launcher.default_python_path" => {
                        assert!(
                            resources
                                .contains("\"default_python_path\": \"/usr/local/bin/python3\""),
                            "{case}"
                        )
                    }
                    // 2.9's launcher reads null as "never time out"; 2.8 drops the key.
                    "job_launcher.pending_timeout" => assert_eq!(
                        resources.contains("\"pending_timeout\": null"),
                        version == "2.9",
                        "{case}: {resources}"
                    ),
                    _ => {}
                }
            }
        }
    }
    // The README lists each fix.
    let readme = std::fs::read_to_string(support::repo().join("README.md")).unwrap();
    for (key, _) in NULL_FIXES {
        assert!(
            readme.contains(&format!("`{key}: null`")),
            "README does not list the null fix for {key}"
        );
    }
}

/// Dotted paths of a values tree, into mappings but not into the ones whose keys are the
/// operator's or Kubernetes' (annotations, labels, resources, security contexts).
fn value_paths(
    map: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    out: &mut Vec<String>,
) {
    const FREE: [&str; 6] = [
        "resources",
        "securityContext",
        "nodeSelector",
        "podAnnotations",
        "annotations",
        "podLabels",
    ];
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        out.push(path.clone());
        if let serde_json::Value::Object(inner) = value {
            if !FREE.contains(&key.as_str()) {
                value_paths(inner, &path, out);
            }
        }
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs NVFlare 2.8.3 and 2.9.0: run scripts/test.sh"
)]
fn the_readme_lists_every_way_the_chart_differs_from_nvflares() {
    let readme = std::fs::read_to_string(support::repo().join("README.md")).unwrap();
    let start = readme
        .find("### Where it differs from `nvflare deploy prepare`")
        .unwrap();
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").unwrap() + 4];
    let listed = |path: &str| {
        let parts: Vec<&str> = path.split('.').collect();
        (1..=parts.len()).any(|n| section.contains(&format!("`{}`", parts[..n].join("."))))
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = write(&tmp.path().join("k8s.yaml"), K8S_CONFIG);
    for (version, nvflare) in releases() {
        let root = tmp.path().join(version);
        let prod = provision(&nvflare, &root);
        for kit in ["fl.example.com", "Hospital_A"] {
            let (ours, theirs) = (root.join("ours").join(kit), root.join("theirs").join(kit));
            support::prepare_json(
                &prod.join(kit),
                &config,
                &ours,
                &["--nvflare-version", version],
            );
            nvflare_prepare(&nvflare, &prod.join(kit), &config, &theirs).success();
            let paths = |dir: &Path| {
                let values: serde_json::Value = serde_saphyr::from_str(
                    &std::fs::read_to_string(dir.join("helm_chart/values.yaml")).unwrap(),
                )
                .unwrap();
                let mut out = Vec::new();
                value_paths(values.as_object().unwrap(), "", &mut out);
                out
            };
            let (ours_keys, theirs_keys) = (paths(&ours), paths(&theirs));
            let missing: Vec<&String> = theirs_keys
                .iter()
                .filter(|k| !ours_keys.contains(k))
                .collect();
            assert!(
                missing.is_empty(),
                "{version} {kit}: NVFlare's chart has values ours lacks: {missing:?}"
            );
            let unlisted: Vec<&String> = ours_keys
                .iter()
                .filter(|k| !theirs_keys.contains(k) && !listed(k))
                .collect();
            assert!(unlisted.is_empty(), "{version} {kit}: values only our chart has, not in the README's list: {unlisted:?}");
            let files = |dir: &Path| -> Vec<String> {
                snapshot(&dir.join("helm_chart"))
                    .keys()
                    .map(|p| p.display().to_string())
                    .filter(|p| !p.ends_with('/'))
                    .collect()
            };
            let (ours_files, theirs_files) = (files(&ours), files(&theirs));
            for f in &theirs_files {
                assert!(
                    ours_files.contains(f),
                    "{version} {kit}: NVFlare's chart has {f}, ours does not"
                );
            }
            for f in ours_files
                .iter()
                .filter(|f| !theirs_files.contains(f) && *f != "Chart.yaml" && *f != "values.yaml")
            {
                assert!(
                    section.contains(&format!("`{f}`")),
                    "{version} {kit}: {f} is only in our chart and not in the README's list"
                );
            }
        }
    }
}
