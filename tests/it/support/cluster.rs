//! The real test cluster: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
//! (`scripts/test-cluster.sh`, built by `scripts/install-control-plane.sh`), started once per
//! test binary and stopped when it exits, however it exits: the script runs until its stdin
//! closes, and only this process holds the other end.
//!
//! Each test gets a [`TestNamespace`]: a namespace pinned (PodNodeSelector) to nodes of its
//! own, managed by a kwok of its own that runs in a private mount namespace where
//! `/workspace` (the stage helper's mount) and the kit's mount path are one local folder,
//! the one that stands for the workspace PVC. A PV pre-bound to the claim (no provisioner)
//! lets the real PV controller bind it. `kubectl exec` and `kubectl cp` into the namespace's
//! pods run as local processes of that kwok, as uid 65534.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{repo, run_cmd, tool, write, Run};

/// Where the cluster tools are, from `scripts/install-control-plane.sh --check`.
struct Tools {
    kwok: PathBuf,
    /// The Gateway API TLSRoute and OpenShift Route CRDs (`tlsroutes.yaml`, `routes.yaml`).
    crds: PathBuf,
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let run = run_cmd({
            let mut c = Command::new(repo().join("scripts/install-control-plane.sh"));
            c.arg("--check");
            c
        });
        assert_eq!(
            run.code, 0,
            "the test control plane is not built: run scripts/install-control-plane.sh\n{}",
            run.stderr
        );
        let get = |key: &str| {
            run.stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("install-control-plane.sh --check printed no {key}="))
        };
        Tools {
            kwok: get("kwok"),
            crds: get("crds"),
        }
    })
}

/// A free TCP port on 127.0.0.1 (the kernel's choice; free when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct ControlPlane {
    pub name: &'static str,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub api_port: u16,
    /// Held, never written: the script stops when this process exits and the pipe closes.
    _stdin: Mutex<ChildStdin>,
}

/// The control plane shared by every test of this binary.
pub fn control_plane() -> &'static ControlPlane {
    static ONE: OnceLock<ControlPlane> = OnceLock::new();
    ONE.get_or_init(|| ControlPlane::start("one"))
}

/// A second, independent control plane, for federations across two clusters.
pub fn second_control_plane() -> &'static ControlPlane {
    static TWO: OnceLock<ControlPlane> = OnceLock::new();
    TWO.get_or_init(|| ControlPlane::start("two"))
}

impl ControlPlane {
    fn start(name: &'static str) -> ControlPlane {
        tools();
        let dir = std::env::temp_dir().join(format!(
            "helm-nvflare-cluster-{name}-{}",
            std::process::id()
        ));
        let api_port = free_port();
        let mut child = Command::new(repo().join("scripts/test-cluster.sh"))
            .arg(&dir)
            .env("KUBECTL", tool("kubectl4"))
            .env("ETCD_PORT", free_port().to_string())
            .env("ETCD_PEER_PORT", free_port().to_string())
            .env("API_PORT", api_port.to_string())
            .env("KCM_PORT", free_port().to_string())
            .env("SCHED_PORT", free_port().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run scripts/test-cluster.sh");
        let stdin = child.stdin.take().unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        let kubeconfig = ready
            .trim()
            .strip_prefix("ready ")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let logs = std::fs::read_dir(dir.join("logs"))
                    .map(|d| {
                        d.flatten()
                            .map(|e| e.path().display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                panic!("the test control plane did not start (logs: {logs})")
            });
        // The child is reaped by nobody: it outlives every test and exits with the binary.
        std::mem::forget(child);
        write_kwok_path(&dir.join("kwok-bin"));
        let cluster = ControlPlane {
            name,
            dir,
            kubeconfig,
            api_port,
            _stdin: Mutex::new(stdin),
        };
        // The CRDs of the charts' optional objects (TLSRoute, OpenShift Route).
        for crd in ["tlsroutes.yaml", "routes.yaml"] {
            let path = tools().crds.join(crd);
            cluster.kubectl_ok(&["apply", "--server-side", "-f", path.to_str().unwrap()]);
        }
        cluster.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/tlsroutes.gateway.networking.k8s.io",
            "crd/routes.route.openshift.io",
        ]);
        cluster
    }

    pub fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }

    /// Real kubectl 1.33 as the cluster admin.
    pub fn kubectl_cmd(&self) -> Command {
        let mut cmd = Command::new(tool("kubectl4"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    pub fn kubectl(&self, args: &[&str]) -> Run {
        let mut cmd = self.kubectl_cmd();
        cmd.args(args);
        run_cmd(cmd)
    }

    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let run = self.kubectl(args);
        assert_eq!(run.code, 0, "kubectl {args:?} failed:\n{}", run.stderr);
        run.stdout
    }

    /// `kubectl apply -f -` of `yaml`.
    #[track_caller]
    pub fn apply(&self, yaml: &str) {
        let mut cmd = self.kubectl_cmd();
        cmd.args(["apply", "-f", "-"]);
        let run = super::run_with_stdin(cmd, yaml);
        assert_eq!(run.code, 0, "kubectl apply failed:\n{}\n{yaml}", run.stderr);
    }

    /// JSON of `kubectl get <what...> -o json`.
    #[track_caller]
    pub fn get_json(&self, what: &[&str]) -> serde_json::Value {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&args)).unwrap()
    }

    /// A namespace of the test's own, with its nodes, its kwok and its workspace folder.
    pub fn namespace(&'static self, prefix: &str) -> TestNamespace {
        TestNamespace::create(self, prefix, &NamespaceOptions::default())
    }

    pub fn namespace_with(
        &'static self,
        prefix: &str,
        options: &NamespaceOptions,
    ) -> TestNamespace {
        TestNamespace::create(self, prefix, options)
    }
}

/// How a test namespace is made.
#[derive(Default)]
pub struct NamespaceOptions {
    /// Labels for the namespace (`pod-security.kubernetes.io/enforce=restricted`).
    pub labels: Vec<(String, String)>,
    /// The workspace claim a PV is pre-bound to (default `nvflws`).
    pub claim: Option<String>,
    /// Where the parent pod mounts the workspace (default the guide's path).
    pub mount_path: Option<String>,
}

impl NamespaceOptions {
    /// A namespace whose Pod Security level is `restricted` (enforced).
    pub fn restricted() -> NamespaceOptions {
        NamespaceOptions {
            labels: vec![(
                "pod-security.kubernetes.io/enforce".into(),
                "restricted".into(),
            )],
            ..NamespaceOptions::default()
        }
    }
}

pub const DEFAULT_MOUNT_PATH: &str = "/var/tmp/nvflare/workspace";
/// The label that ties a test's nodes to its kwok and its namespace.
pub const NODE_GROUP_LABEL: &str = "helm-nvflare.test/node-group";

pub struct TestNamespace {
    pub cluster: &'static ControlPlane,
    pub name: String,
    /// The folder that stands for the workspace PVC (owned by 65534).
    pub pvc_dir: PathBuf,
    pub tmp: tempfile::TempDir,
    kwok: Option<Child>,
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl TestNamespace {
    fn create(
        cluster: &'static ControlPlane,
        prefix: &str,
        options: &NamespaceOptions,
    ) -> TestNamespace {
        let name = unique(prefix);
        assert!(name.len() <= 40, "namespace prefix too long: {name}");
        let tmp = tempfile::tempdir().unwrap();
        let pvc_dir = tmp.path().join("pvc");
        std::fs::create_dir_all(&pvc_dir).unwrap();
        chown(&pvc_dir, 65534);
        let claim = options.claim.clone().unwrap_or_else(|| "nvflws".into());
        let mount_path = options
            .mount_path
            .clone()
            .unwrap_or_else(|| DEFAULT_MOUNT_PATH.into());

        let mut labels = format!("    {NODE_GROUP_LABEL}: \"{name}\"\n");
        for (k, v) in &options.labels {
            labels.push_str(&format!("    {k}: \"{v}\"\n"));
        }
        cluster.apply(&format!(
            "apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  labels:
{labels}  annotations:
    scheduler.alpha.kubernetes.io/node-selector: {NODE_GROUP_LABEL}={name}
    scheduler.alpha.kubernetes.io/defaultTolerations: '[{{\"key\": \"{NODE_GROUP_LABEL}\", \"operator\": \"Equal\", \"value\": \"{name}\", \"effect\": \"NoSchedule\"}}]'
---
{nodes}---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: {name}-workspace
  labels:
    {NODE_GROUP_LABEL}: \"{name}\"
spec:
  capacity: {{storage: 100Gi}}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: \"\"
  claimRef: {{namespace: {name}, name: {claim}}}
  hostPath: {{path: {pvc}, type: \"\"}}
---
{pull_secrets}",
            nodes = nodes(&name),
            pvc = pvc_dir.display(),
            pull_secrets = pull_secrets(&name),
        ));
        let mut ns = TestNamespace {
            cluster,
            name,
            pvc_dir,
            tmp,
            kwok: None,
        };
        ns.kwok = Some(ns.start_kwok(&mount_path));
        ns.wait_until(
            Duration::from_secs(60),
            "its nodes are Ready and its ServiceAccount exists",
            |ns| {
                let nodes = ns.cluster.kubectl(&[
                    "get",
                    "nodes",
                    "-l",
                    &format!("{NODE_GROUP_LABEL}={}", ns.name),
                    "-o",
                    "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
                ]);
                let sa = ns
                    .cluster
                    .kubectl(&["get", "serviceaccount", "default", "-n", &ns.name]);
                nodes
                    .stdout
                    .split_whitespace()
                    .filter(|s| *s == "True")
                    .count()
                    == 2
                    && sa.code == 0
            },
        );
        ns
    }

    fn start_kwok(&self, mount_path: &str) -> Child {
        use std::os::unix::process::CommandExt;
        let t = tools();
        let port = free_port();
        let stages = t.kwok.join("stage");
        let config = write(&self.tmp.path().join("kwok.yaml"), KWOK_CONFIG);
        for p in ["/workspace", mount_path] {
            std::fs::create_dir_all(p).unwrap();
        }
        let log = std::fs::File::create(self.tmp.path().join("kwok.log")).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"pvc=$1; shift; for m in /workspace "$1"; do mount --bind "$pvc" "$m" || exit 1; done; shift; exec "$@""#)
            .arg("sh")
            .arg(&self.pvc_dir)
            .arg(mount_path)
            .arg(t.kwok.join("kwok"))
            .arg(format!("--kubeconfig={}", self.cluster.kubeconfig.display()))
            .arg(format!("--config={}", stages.join("node/fast/node-initialize.yaml").display()))
            .arg(format!(
                "--config={}",
                stages
                    .join("node/heartbeat-with-lease/node-heartbeat-with-lease.yaml")
                    .display()
            ))
            .arg(format!("--config={}", stages.join("pod/fast/pod-complete.yaml").display()))
            .arg(format!("--config={}", stages.join("pod/fast/pod-delete.yaml").display()))
            .arg(format!("--config={}", repo().join("tests/it/support/kwok-stages.yaml").display()))
            .arg(format!("--config={}", config.display()))
            .arg(format!("--manage-nodes-with-label-selector={NODE_GROUP_LABEL}={}", self.name))
            .arg("--node-ip=127.0.0.1")
            .arg(format!("--node-port={port}"))
            .arg(format!("--server-address=127.0.0.1:{port}"))
            .arg(format!("--tls-cert-file={}", self.cluster.pki().join("kubelet.crt").display()))
            .arg(format!("--tls-private-key-file={}", self.cluster.pki().join("kubelet.key").display()))
            .arg("--node-lease-duration-seconds=40")
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", self.cluster.dir.join("kwok-bin").display()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // Killed with this test's thread if the test binary dies without unwinding.
        unsafe {
            cmd.pre_exec(|| {
                libc_prctl_pdeathsig();
                Ok(())
            });
        }
        cmd.spawn().expect("cannot start kwok")
    }

    /// Polls `ready` every 250 ms until it holds, or panics after `limit` saying `what`.
    #[track_caller]
    pub fn wait_until(&self, limit: Duration, what: &str, mut ready: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            if start.elapsed() > limit {
                let log =
                    std::fs::read_to_string(self.tmp.path().join("kwok.log")).unwrap_or_default();
                let tail: Vec<&str> = log
                    .lines()
                    .rev()
                    .filter(|l| !l.contains(r#""level":"INFO""#))
                    .take(15)
                    .collect();
                panic!(
                    "namespace {}: not true after {limit:?}: {what}\nkwok's warnings (newest first):\n{}\nthe namespace's events:\n{}",
                    self.name,
                    tail.join("\n"),
                    self.kubectl(&["get", "events", "--sort-by=.lastTimestamp"]).stdout
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A bare pod, as NVFlare's launcher creates a job pod (no owner, never restarted),
    /// waited for until it runs.
    pub fn apply_pod(&self, name: &str) {
        self.cluster.apply(&format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - {{name: job, image: localhost:5000/nvflare-job:1}}
",
            ns = self.name
        ));
        self.wait_until(Duration::from_secs(60), "the job pod runs", |ns| {
            ns.get_json(&["pod", name])["status"]["phase"] == "Running"
        });
    }

    /// Marks the namespace's nodes unschedulable: its new pods stay Pending.
    pub fn cordon_nodes(&self) {
        let selector = format!("{NODE_GROUP_LABEL}={}", self.name);
        let nodes = self
            .cluster
            .kubectl_ok(&["get", "nodes", "-o", "name", "-l", &selector]);
        for node in nodes.split_whitespace() {
            self.cluster.kubectl_ok(&["cordon", node]);
        }
    }

    /// kubectl in this namespace, as the cluster admin.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        self.cluster.kubectl(&all)
    }

    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let run = self.kubectl(args);
        assert_eq!(run.code, 0, "kubectl {args:?} failed:\n{}", run.stderr);
        run.stdout
    }

    #[track_caller]
    pub fn get_json(&self, what: &[&str]) -> serde_json::Value {
        let mut all = what.to_vec();
        all.extend_from_slice(&["-n", self.name.as_str()]);
        self.cluster.get_json(&all)
    }

    /// The names of the objects of `kind` in the namespace.
    pub fn names(&self, kind: &str) -> Vec<String> {
        let out = self.kubectl_ok(&["get", kind, "-o", "jsonpath={.items[*].metadata.name}"]);
        out.split_whitespace().map(str::to_string).collect()
    }

    /// The k8s.yaml of the guide, for this namespace (`namespace: <this>`).
    pub fn k8s_config(&self) -> String {
        super::K8S_CONFIG.replace("namespace: nvflare", &format!("namespace: {}", self.name))
    }

    /// Environment for helm-nvflare as Helm runs it against this cluster and namespace.
    pub fn plugin_env(&self, cmd: &mut Command) {
        cmd.env("KUBECONFIG", &self.cluster.kubeconfig)
            .env("KUBECTL", tool("kubectl4"))
            .env("HELM_NAMESPACE", &self.name)
            .env_remove("HELM_KUBECONTEXT")
            .env_remove("HELM_KUBETOKEN");
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if let Some(mut kwok) = self.kwok.take() {
            let _ = kwok.kill();
            let _ = kwok.wait();
        }
        let selector = format!("{NODE_GROUP_LABEL}={}", self.name);
        // Objects go with the namespace; nodes and PVs are cluster-wide.
        let _ = self
            .cluster
            .kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
        let _ = self
            .cluster
            .kubectl(&["delete", "nodes,pv", "-l", &selector, "--wait=false"]);
        // Files kwok's exec'd commands wrote as 65534 go with the temp folder.
    }
}

/// Two nodes for a namespace: one with GPUs, one tainted (`dedicated=nvflare:NoSchedule`).
/// Both carry the namespace's own taint, which only its pods tolerate (a default toleration
/// of the namespace): a pod of a namespace the test did not make, such as one `stage`
/// creates, is scheduled nowhere, never onto another test's folder.
fn nodes(ns: &str) -> String {
    let node = |suffix: &str, extra_labels: &str, taints: &str, gpus: &str| {
        format!(
            "apiVersion: v1
kind: Node
metadata:
  name: {ns}-{suffix}
  annotations:
    node.alpha.kubernetes.io/ttl: \"0\"
    kwok.x-k8s.io/node: fake
  labels:
    {NODE_GROUP_LABEL}: \"{ns}\"
    kubernetes.io/hostname: {ns}-{suffix}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
{extra_labels}spec:
  taints:
  - {{key: {NODE_GROUP_LABEL}, value: \"{ns}\", effect: NoSchedule}}
{taints}status:
  allocatable: {{cpu: \"32\", memory: 256Gi, ephemeral-storage: 1Ti, pods: \"110\"{gpus}}}
  capacity: {{cpu: \"32\", memory: 256Gi, ephemeral-storage: 1Ti, pods: \"110\"{gpus}}}
"
        )
    };
    format!(
        "{}---\n{}",
        node(
            "gpu",
            "    nvidia.com/gpu.present: \"true\"\n",
            "",
            ", nvidia.com/gpu: \"4\""
        ),
        node(
            "tainted",
            "",
            "  - {key: dedicated, value: nvflare, effect: NoSchedule}\n",
            ""
        )
    )
}

/// The image pull Secrets the test runtime config names (support/mod.rs: K8S_CONFIG), as
/// a site creates them before it deploys.
fn pull_secrets(namespace: &str) -> String {
    ["registry-credentials", "job-registry-credentials"]
        .iter()
        .map(|name| {
            format!(
                "apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: {namespace}}}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{{\"auths\": {{\"localhost:5000\": {{\"auth\": \"dGVzdDp0ZXN0\"}}}}}}'
"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// kwok's exec and logs configuration: exec'd commands run locally as 65534; a parent
/// pod's logs are the file `parent.log` in the PVC folder (the real NVFlare log in the
/// NVFlare test, a line the test writes otherwise).
const KWOK_CONFIG: &str = "kind: ClusterExec
apiVersion: kwok.x-k8s.io/v1alpha1
metadata:
  name: local-exec
spec:
  execs:
  - local:
      workDir: /workspace
      envs:
      - name: PATH
        value: /usr/local/bin:/usr/bin:/bin
      securityContext:
        runAsUser: 65534
        runAsGroup: 65534
---
kind: ClusterLogs
apiVersion: kwok.x-k8s.io/v1alpha1
metadata:
  name: local-logs
spec:
  logs:
  - containers: []
    logsFile: /workspace/parent.log
    follow: false
";

/// Commands kwok runs for `kubectl exec` that need mending, first on kwok's PATH (kwok
/// resolves an exec'd command with its own PATH). kwok 0.8.0 never closes an exec'd
/// command's stdin (`pkg/utils/exec`: the copy into the pipe is not followed by a close), and
/// GNU tar reads whole 10 KiB records, so the `tar -xmf -` of `kubectl cp` waits forever for
/// the rest of a record kubectl's archive never fills. With 512-byte records tar stops at the
/// end-of-archive marker, as it would at end of input. World-readable: exec'd commands run as
/// 65534.
fn write_kwok_path(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let tar = write(
        &dir.join("tar"),
        "#!/bin/sh\nexec /usr/bin/tar --record-size=512 \"$@\"\n",
    );
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&tar, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::chown(c.as_ptr(), uid, uid) };
    assert_eq!(
        rc,
        0,
        "chown {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn libc_prctl_pdeathsig() {
    // SAFETY: prctl with constant arguments, in the child before exec.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
}
