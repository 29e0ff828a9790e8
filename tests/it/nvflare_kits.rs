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
        let run = support::nvflare([
            "prepare".as_ref(),
            kit.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
            "--output".as_ref(),
            ours.as_os_str(),
            "--nvflare-version".as_ref(),
            version.as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        if name.ends_with("admin@nvidia.com") {
            assert_eq!(run.code, 4);
            assert_eq!(run.json()["error"]["code"], "UNSUPPORTED_KIT");
            continue;
        }
        let data = run.success().json()["data"].clone();
        assert_eq!(data["nvflare_version"], version);
        prepared += 1;

        let mut reference = Command::new(nvflare);
        reference
            .args(["deploy", "prepare"])
            .arg(&kit)
            .arg("--config")
            .arg(config)
            .arg("--output")
            .arg(&theirs);
        run_cmd(reference).success();
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
