//! Shared test support: provision-shaped kits with real X.509 certificates, running the
//! binary, the real Helm 3 / Helm 4 / kubernetes-validate from `.tools/`, and Kubernetes'
//! name rules for rendered manifests.
#![allow(dead_code)]

pub mod cluster;
pub mod gpg;
pub mod http_files;
pub mod kits;
pub mod manifests;
pub mod oci;
pub mod registry;
pub mod stand_in_kubectl;
pub mod token_registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_helm-nvflare"))
}

/// A tool installed by `scripts/install-test-deps.sh`. Missing tools fail the test: a test
/// that silently skips proves nothing.
pub fn tool(name: &str) -> PathBuf {
    let candidates = [
        repo().join(".tools/bin").join(name),
        repo().join(".tools/venv/bin").join(name),
        repo().join(".tools/venv-checkov/bin").join(name),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| panic!("{name} is missing: run scripts/install-test-deps.sh first"))
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

pub fn run_cmd(mut cmd: Command) -> Run {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `helm-nvflare` with `args`.
pub fn nvflare<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(bin());
    cmd.args(args);
    run_cmd(cmd)
}

/// Every file under `dir` with its bytes and mode, for "nothing was written" checks.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if meta.is_dir() {
                out.insert(rel.join(""), (Vec::new(), meta.permissions().mode()));
                stack.push(path);
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.insert(rel, (bytes, meta.permissions().mode()));
            } else {
                // FIFOs and sockets are recorded, never read: opening a FIFO would block.
                out.insert(rel, (b"<special>".to_vec(), meta.permissions().mode()));
            }
        }
    }
    out
}

/// A k8s.yaml like the guide's example, on a registry with a port.
pub const K8S_CONFIG: &str = "runtime: k8s
namespace: nvflare
parent:
  docker_image: localhost:5000/nvflare:2.9.0
  image_pull_secrets:
    - registry-credentials
  parent_port: 8102
  workspace_pvc: nvflws
  workspace_mount_path: /var/tmp/nvflare/workspace
  python_path: /usr/local/bin/python3
  resources:
    requests:
      cpu: \"2\"
      memory: 8Gi
job_launcher:
  config_file_path:
  default_python_path: /usr/local/bin/python3
  image_pull_secrets:
    - job-registry-credentials
  pending_timeout: 300
";

pub fn write(path: &Path, text: &str) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A Command for `helm-nvflare`, to add environment or stdin to.
pub fn nvflare_cmd() -> Command {
    Command::new(bin())
}

/// Runs `cmd` with `input` on stdin.
pub fn run_with_stdin(mut cmd: Command, input: &str) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The entries of a .tgz as (path, bytes), in archive order.
pub fn tgz_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// `prepare <kit> --config <config> --output <out> --format json <extra>`.
pub fn prepare_run(kit: &Path, config: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.arg("prepare")
        .arg(kit)
        .arg("--config")
        .arg(config)
        .arg("--output")
        .arg(out)
        .args(extra)
        .args(["--format", "json"]);
    run_cmd(cmd)
}

/// [`prepare_run`], which must succeed; returns the envelope's data.
pub fn prepare_json(kit: &Path, config: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let envelope = prepare_run(kit, config, out, extra).success().json();
    assert_eq!(envelope["status"], "ok");
    assert_eq!(envelope["schema_version"], "1");
    assert_eq!(envelope["exit_code"], 0);
    envelope["data"].clone()
}

/// A temporary workspace with a provisioned project (server `fl.example.com`) and the
/// guide's k8s.yaml.
pub struct Workspace {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub project: kits::Project,
    pub config: PathBuf,
}

impl Workspace {
    pub fn new() -> Workspace {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let project = kits::Project::new(&root.join("ws/example_project"), "fl.example.com");
        let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
        Workspace {
            _tmp: tmp,
            root,
            project,
            config,
        }
    }
}

/// A project with server `fl.example.com` and client `site-1`, prepared with K8S_CONFIG
/// into `<root>/prepared/{server,site-1}`: (project, server kit, client kit).
pub fn prepared_server_and_client(root: &Path) -> (kits::Project, PathBuf, PathBuf) {
    let project = kits::Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let server = root.join("prepared/server");
    let client = root.join("prepared/site-1");
    prepare_json(&project.server_kit(), &config, &server, &[]);
    prepare_json(&project.client_kit("site-1"), &config, &client, &[]);
    (project, server, client)
}

/// The sha256 of bytes, as lower-case hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> String {
    sha256_bytes(&std::fs::read(path).unwrap())
}

/// The ids of a verify report's failed checks, in order.
pub fn failing_checks(data: &serde_json::Value) -> Vec<String> {
    data["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["check"].as_str().unwrap().to_string())
        .collect()
}

/// One check of a verify report, by id.
pub fn named_check<'a>(data: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    data["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {data}"))
}
