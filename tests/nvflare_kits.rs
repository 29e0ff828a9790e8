//! Kits made by the real `nvflare provision` (NVFlare 2.9.0): every server and client kit is
//! prepared, its chart passes Helm 3 and Helm 4, the Kubernetes schemas and name rules, and
//! its `local/` and `startup/` match what NVFlare's own `nvflare deploy prepare` writes,
//! byte for byte, apart from where NVFlare 2.9.0 itself departs from the seed (below).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::manifests::{self, HELMS};
use support::{nvflare, run_cmd, snapshot, tool, write, K8S_CONFIG};

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

fn provision(root: &Path) -> PathBuf {
    let project = write(&root.join("project.yml"), PROJECT_YML);
    let mut cmd = Command::new(tool("nvflare"));
    cmd.args(["provision", "-p"])
        .arg(&project)
        .arg("-w")
        .arg(root.join("workspace"))
        .arg("--force")
        .current_dir(root);
    run_cmd(cmd).success();
    root.join("workspace/example_project/prod_00")
}

/// NVFlare 2.9.0's `deploy prepare` is newer than the seed this project follows. Where they
/// differ, the seed wins; this maps 2.9.0's text onto the seed's so the rest can be compared
/// byte for byte:
/// - 2.9.0 writes `local/study_runtime.yaml`; the seed writes `local/study_data.yaml`.
/// - 2.9.0 keeps `connection_security: mtls` for the internal connection; the seed sets clear.
/// - 2.9.0 drops the K8s launcher's `study_data_pvc_file_path`; the seed writes it.
fn seed_view_of_nvflare_290(rel: &str, text: &str) -> String {
    match rel {
        "local/comm_config.json" => text.replace("\"connection_security\": \"mtls\"", "\"connection_security\": \"clear\""),
        "local/resources.json.default" => text.replace(
            "\"config_file_path\": null,\n",
            "\"config_file_path\": null,\n                \"study_data_pvc_file_path\": \"/var/tmp/nvflare/workspace/local/study_data.yaml\",\n",
        ),
        _ => text.to_string(),
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn provisioned_kits_prepare_like_nvflare_and_render_valid_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let prod = provision(root);
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let home = root.join("helm-home");
    let mut prepared = 0;
    for entry in std::fs::read_dir(&prod).unwrap() {
        let kit = entry.unwrap().path();
        let name = kit.file_name().unwrap().to_string_lossy().into_owned();
        let ours = root.join("ours").join(&name);
        let theirs = root.join("theirs").join(&name);
        let run = nvflare([
            "prepare".as_ref(),
            kit.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
            "--output".as_ref(),
            ours.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        if name.starts_with("admin@") {
            assert_eq!(run.code, 4);
            assert_eq!(run.json()["error"]["code"], "UNSUPPORTED_KIT");
            continue;
        }
        let data = run.success().json()["data"].clone();
        prepared += 1;

        let mut reference = Command::new(tool("nvflare"));
        reference
            .args(["deploy", "prepare"])
            .arg(&kit)
            .arg("--config")
            .arg(&config)
            .arg("--output")
            .arg(&theirs);
        run_cmd(reference).success();
        let ours_files = snapshot(&ours);
        let theirs_files = snapshot(&theirs);
        for (path, (bytes, mode)) in &theirs_files {
            let rel = path.display().to_string();
            if rel.starts_with("helm_chart") || rel == "local/study_runtime.yaml" {
                continue;
            }
            let (our_bytes, our_mode) = ours_files
                .get(path)
                .unwrap_or_else(|| panic!("{name}: we did not write {rel}"));
            let expected = seed_view_of_nvflare_290(&rel, &String::from_utf8_lossy(bytes));
            assert_eq!(
                String::from_utf8_lossy(our_bytes),
                expected,
                "{name}: {rel} differs from nvflare deploy prepare"
            );
            assert_eq!(our_mode, mode, "{name}: {rel} mode differs");
        }
        let extra: Vec<&PathBuf> = ours_files
            .keys()
            .filter(|p| !theirs_files.contains_key(*p) && !p.starts_with("helm_chart"))
            .collect();
        assert_eq!(
            extra,
            [
                &PathBuf::from(".helm-nvflare-output.json"),
                &PathBuf::from("local/study_data.yaml")
            ],
            "{name}: files nvflare does not write (our output marker, and the seed's study_data.yaml)"
        );

        let chart = PathBuf::from(data["helm_chart"].as_str().unwrap());
        for which in HELMS {
            manifests::lint(which, &home, &chart);
            let rendered =
                manifests::template(which, &home, data["release"].as_str().unwrap(), &chart, &[]);
            let docs = manifests::documents(&rendered);
            manifests::check_names(&docs);
            manifests::kubernetes_validate(&rendered, root);
        }
    }
    assert_eq!(prepared, 4, "server and three clients");
}
