//! Real NVFlare 2.8.3 and 2.9.0 processes started from kits prepared by helm-nvflare and
//! deployed by `deploy` (staged into their "PVC" folders, installed, verified) on the test
//! cluster: the server starts, both clients register over mTLS, `status` reads that from
//! their logs through the cluster, the admin API sees them, and a submitted job makes NVFlare's
//! own K8s job launcher, authenticated as the chart's ServiceAccount (a TokenRequest token),
//! create the job pods (and for 2.9 the startup Secrets) in each participant's namespace.
//!
//! Each parent runs as a local process in a private mount namespace where the kit's mount
//! path is its PVC folder and /etc/hosts maps the participants' names to 127.0.0.1, with
//! the command and args `helm template` renders (the release's own Python instead of the
//! image's). kwok marks the job pods Running; nothing runs in them, so the job is aborted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster_verify::release_of;
use crate::support;
use support::cluster::{control_plane, free_port, TestNamespace, DEFAULT_MOUNT_PATH};
use support::manifests::{self, documents, one};
use support::{run_cmd, write};

const ADMIN: &str = "admin@nvidia.com";
const CLIENTS: [&str; 2] = ["site-1", "site-2"];

/// The admin side, through NVFlare's own API (`nvflare.fuel.flare_api`).
const ADMIN_PY: &str = r#"
import json, sys
from nvflare.fuel.flare_api.flare_api import new_secure_session
kit, cmd = sys.argv[1], sys.argv[2]
s = new_secure_session("admin@nvidia.com", kit, timeout=60)
try:
    if cmd == "clients":
        print(json.dumps(sorted(c.name for c in s.get_system_info().client_info)))
    elif cmd == "submit":
        print(json.dumps({"job_id": s.submit_job(sys.argv[3])}))
    elif cmd == "abort":
        s.abort_job(sys.argv[3])
        print(json.dumps({"aborted": sys.argv[3]}))
finally:
    s.close()
"#;

/// helm-nvflare as Helm 4 runs it (HELM_BIN and Helm's homes set) against `ns`.
fn with_helm(ns: &TestNamespace, args: &[&str]) -> support::Run {
    let mut cmd = support::nvflare_cmd();
    cmd.args(args);
    ns.plugin_env(&mut cmd);
    cmd.env("HELM_BIN", support::tool("helm4"));
    for (var, sub) in [
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_DATA_HOME", "data"),
    ] {
        cmd.env(var, ns.tmp.path().join("helm-home").join(sub));
    }
    run_cmd(cmd)
}

fn project_yml(fl_port: u16, admin_port: u16) -> String {
    format!(
        "api_version: 3
name: fedtest
description: helm-nvflare federation test
participants:
  - name: localhost
    type: server
    org: nvidia
    fed_learn_port: {fl_port}
    admin_port: {admin_port}
  - name: site-1
    type: client
    org: nvidia
  - name: site-2
    type: client
    org: nvidia
  - name: {ADMIN}
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
"
    )
}

/// One participant: its namespace on the test cluster, its prepared kit, its parent.
struct Participant {
    name: &'static str,
    ns: TestNamespace,
    kit: PathBuf,
    parent: Option<Child>,
    log: PathBuf,
}

impl Drop for Participant {
    fn drop(&mut self) {
        if let Some(mut child) = self.parent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn runtime_config(ns: &TestNamespace, parent_port: u16, kubeconfig: &Path) -> String {
    format!(
        "runtime: k8s
namespace: {ns}
parent:
  docker_image: localhost:5000/nvflare:2.9.0
  image_pull_secrets: [registry-credentials]
  parent_port: {parent_port}
  workspace_pvc: nvflws
  workspace_mount_path: {DEFAULT_MOUNT_PATH}
  python_path: /usr/local/bin/python3
job_launcher:
  config_file_path: {kubeconfig}
  default_python_path: /usr/local/bin/python3
  image_pull_secrets: [job-registry-credentials]
  pending_timeout: 300
  job_pod_security_context: {{runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001}}
",
        ns = ns.name,
        kubeconfig = kubeconfig.display()
    )
}

/// A kubeconfig for the cluster that authenticates as `serviceaccount` with a token from
/// the TokenRequest API, as the launcher in a pod would be.
fn service_account_kubeconfig(ns: &TestNamespace, serviceaccount: &str, path: &Path) {
    let token = ns.kubectl_ok(&["create", "token", serviceaccount, "--duration=1h"]);
    let ca = std::fs::read(ns.cluster.pki().join("ca.crt")).unwrap();
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    write(
        path,
        &format!(
            "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {{server: \"https://127.0.0.1:{port}\", certificate-authority-data: \"{ca}\"}}
users:
- name: launcher
  user: {{token: \"{token}\"}}
contexts:
- name: launcher
  context: {{cluster: test, user: launcher, namespace: \"{ns}\"}}
current-context: launcher
",
            port = ns.cluster.api_port,
            token = token.trim(),
            ns = ns.name
        ),
    );
}

/// The parent container's command and args, as the chart renders them.
fn parent_command(kit: &Path, ns: &TestNamespace) -> Vec<String> {
    let rendered = manifests::template(
        "helm4",
        &ns.tmp.path().join("helm-home"),
        &release_of(kit),
        &kit.join("helm_chart"),
        &[],
    );
    let docs = documents(&rendered);
    let container = &one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let mut all: Vec<String> = Vec::new();
    for part in ["command", "args"] {
        for v in container[part].as_array().unwrap() {
            all.push(v.as_str().unwrap().to_string());
        }
    }
    all
}

/// Starts `command` (its first word replaced by `python`) in a private mount namespace
/// where the mount path is `pvc` and /etc/hosts is `hosts`; output to `log`.
fn start_parent(python: &Path, command: &[String], pvc: &Path, hosts: &Path, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$2" && mount --bind "$3" /etc/hosts && cd "$2" && shift 3 && exec "$@""#)
        .arg("sh")
        .arg(pvc)
        .arg(DEFAULT_MOUNT_PATH)
        .arg(hosts)
        .arg(python)
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("cannot start the parent")
}

fn wait_for_log(log: &Path, needle: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        if start.elapsed() > limit {
            let tail: Vec<&str> = text.lines().rev().take(25).collect();
            panic!(
                "{} never logged {needle:?}; last lines (newest first):\n{}",
                log.display(),
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn admin(python: &Path, hosts: &Path, admin_kit: &Path, script: &Path, args: &[&str]) -> Value {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/hosts && shift && exec "$@""#)
        .arg("sh")
        .arg(hosts)
        .arg(python)
        .arg(script)
        .arg(admin_kit)
        .args(args);
    let r = run_cmd(cmd);
    assert_eq!(
        r.code, 0,
        "admin {args:?} failed:\n{}\n{}",
        r.stdout, r.stderr
    );
    let last = r.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("admin {args:?}: {e}: {}", r.stdout))
}

fn federation_runs_and_launches_job_pods(version: &str, venv: &Path) {
    let python = venv.join("bin/python");
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let (fl_port, admin_port) = (free_port(), free_port());
    let project = write(&root.join("project.yml"), &project_yml(fl_port, admin_port));
    let mut cmd = Command::new(venv.join("bin/nvflare"));
    cmd.args(["provision", "-p"])
        .arg(&project)
        .arg("-w")
        .arg(root.join("ws"))
        .current_dir(root);
    run_cmd(cmd).success();
    let prod = root.join("ws/fedtest/prod_00");
    let hosts = write(&root.join("hosts"), "127.0.0.1 localhost site-1 site-2\n");

    // Prepare, stage and install each participant in a namespace of its own.
    let mut participants = Vec::new();
    for name in ["localhost", CLIENTS[0], CLIENTS[1]] {
        let ns = control_plane().namespace(&format!(
            "fl{}-{}",
            version.replace('.', ""),
            if name == "localhost" { "server" } else { name }
        ));
        let kubeconfig = ns.tmp.path().join("launcher.kubeconfig");
        let config = write(
            &ns.tmp.path().join("k8s.yaml"),
            &runtime_config(&ns, free_port(), &kubeconfig),
        );
        let kit = ns.tmp.path().join("prepared").join(name);
        support::prepare_json(
            &prod.join(name),
            &config,
            &kit,
            &["--nvflare-version", version],
        );
        // Staged, installed and verified in one step.
        let run = with_helm(
            &ns,
            &[
                "deploy",
                kit.to_str().unwrap(),
                "--create-pvc",
                "--timeout",
                "90s",
            ],
        );
        assert_eq!(
            run.code, 0,
            "deploy {name}:\n{}\n{}",
            run.stdout, run.stderr
        );
        // The chart's ServiceAccount is named after the release.
        service_account_kubeconfig(&ns, &release_of(&kit), &kubeconfig);
        let log = ns.tmp.path().join("parent.out");
        participants.push(Participant {
            name,
            ns,
            kit,
            parent: None,
            log,
        });
    }

    // The parents, server first.
    for p in participants.iter_mut() {
        let command = parent_command(&p.kit, &p.ns);
        p.parent = Some(start_parent(
            &python,
            &command,
            &p.ns.pvc_dir,
            &hosts,
            &p.log,
        ));
        if p.name == "localhost" {
            wait_for_log(&p.log, "Server started", Duration::from_secs(90));
        }
    }
    for p in &participants[1..] {
        wait_for_log(
            &p.log,
            &format!("Successfully registered client:{}", p.name),
            Duration::from_secs(90),
        );
    }
    wait_for_log(
        &participants[0].log,
        "Total clients: 2",
        Duration::from_secs(30),
    );
    // `status` reads the parents' logs through the cluster (kwok serves each pod's log
    // from its PVC folder, in the CRI format kubelets write).
    for p in &participants {
        let log = std::fs::read_to_string(&p.log).unwrap_or_default();
        let cri: String = log
            .lines()
            .map(|l| format!("2026-01-01T00:00:00.000000000Z stdout F {l}\n"))
            .collect();
        std::fs::write(p.ns.pvc_dir.join("parent.log"), cri).unwrap();
        let run = with_helm(
            &p.ns,
            &["status", p.kit.to_str().unwrap(), "--format", "json"],
        );
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let row = run.json()["data"]["participants"][0].clone();
        let expected = if p.name == "localhost" {
            "2 clients"
        } else {
            "yes"
        };
        assert_eq!(row["registered"], expected, "{}: {row}", p.name);
        assert_eq!(row["staged"], "yes", "{row}");
    }
    let script = write(&root.join("admin.py"), ADMIN_PY);
    let admin_kit = prod.join(ADMIN);
    assert_eq!(
        admin(&python, &hosts, &admin_kit, &script, &["clients"]),
        serde_json::json!(CLIENTS)
    );

    // A job: NVFlare's launchers create its pods, as the charts' ServiceAccounts.
    let job = root.join("job");
    write(
        &job.join("meta.json"),
        r#"{"name": "smoke", "resource_spec": {}, "deploy_map": {"app": ["@ALL"]}, "min_clients": 2,
            "launcher_spec": {"default": {"k8s": {"image": "localhost:5000/nvflare-job:test"}}}}"#,
    );
    write(
        &job.join("app/config/config_fed_server.json"),
        r#"{"format_version": 2, "workflows": [], "components": []}"#,
    );
    write(
        &job.join("app/config/config_fed_client.json"),
        r#"{"format_version": 2, "executors": [], "components": []}"#,
    );
    let job_id = admin(
        &python,
        &hosts,
        &admin_kit,
        &script,
        &["submit", job.to_str().unwrap()],
    )["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    for p in &participants {
        let ns = &p.ns;
        let log = std::fs::read_to_string(&p.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let what = format!(
            "{}: a job pod of {job_id} is Running; the parent's log so far (newest first):\n{}",
            p.name,
            tail.join("\n")
        );
        ns.wait_until(Duration::from_secs(90), &what, |ns| {
            ns.get_json(&["pods"])["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|pod| {
                    pod["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(&job_id[..8])
                        && pod["status"]["phase"] == "Running"
                })
        });
        let pods = ns.get_json(&["pods"]);
        let pod = pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|pod| {
                pod["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&job_id[..8])
            })
            .unwrap();
        let spec = &pod["spec"];
        let container = &spec["containers"][0];
        assert_eq!(
            container["image"], "localhost:5000/nvflare-job:test",
            "{}: {pod}",
            p.name
        );
        assert_eq!(
            spec["imagePullSecrets"],
            serde_json::json!([{"name": "job-registry-credentials"}]),
            "{}",
            p.name
        );
        // NVFlare's launcher gives the job its own workspace at the kit's mount path and
        // carries the startup kit in a Secret it creates in the namespace (both releases).
        let mounts = container["volumeMounts"].to_string();
        assert!(mounts.contains(DEFAULT_MOUNT_PATH), "{}: {mounts}", p.name);
        let secret = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|v| v["secret"]["secretName"].as_str())
            .unwrap_or_else(|| panic!("{}: no startup Secret volume: {}", p.name, spec["volumes"]));
        assert!(
            ns.names("secrets").contains(&secret.to_string()),
            "{}: Secret {secret} was not created",
            p.name
        );
        let command = format!("{} {}", container["command"], container["args"]);
        assert!(
            command.contains("/usr/local/bin/python3"),
            "{}: the kit's default_python_path: {command}",
            p.name
        );
        assert!(command.contains(&job_id), "{}: {command}", p.name);
    }
    admin(&python, &hosts, &admin_kit, &script, &["abort", &job_id]);
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs NVFlare and the test control plane: run scripts/test.sh"
)]
fn nvflare_2_9_federation_registers_and_its_launchers_create_job_pods() {
    federation_runs_and_launches_job_pods("2.9", &support::repo().join(".tools/venv"));
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs NVFlare and the test control plane: run scripts/test.sh"
)]
fn nvflare_2_8_federation_registers_and_its_launchers_create_job_pods() {
    federation_runs_and_launches_job_pods("2.8", &support::repo().join(".tools/venv-nvflare-2.8"));
}
