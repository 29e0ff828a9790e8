//! `stage` and `unstage` against the real test control plane: the helper pod admitted and
//! run by a (kwok) kubelet, `kubectl cp` writing into the folder that stands for the PVC,
//! ConfigMaps and Secrets as the API server stores them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support;
use support::cluster::{control_plane, TestNamespace};
use support::kits::Project;
use support::stand_in_kubectl::StubCluster;
use support::{nvflare_cmd, prepare_json, run_cmd, write, Run};

/// A provisioned project prepared for `ns`: (project, server kit, client kit).
pub fn prepared_for(ns: &TestNamespace) -> (Project, PathBuf, PathBuf) {
    let root = ns.tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(&root.join("k8s.yaml"), &ns.k8s_config());
    let server = root.join("prepared/server");
    let client = root.join("prepared/site-1");
    prepare_json(&project.server_kit(), &config, &server, &[]);
    prepare_json(&project.client_kit("site-1"), &config, &client, &[]);
    (project, server, client)
}

/// helm-nvflare as Helm runs it, against the namespace's cluster.
pub fn plugin(ns: &TestNamespace, args: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args);
    ns.plugin_env(&mut cmd);
    run_cmd(cmd)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every file under `dir` with its bytes, relative to `dir`.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = support::snapshot(dir)
        .into_iter()
        .filter(|(path, _)| !path.to_string_lossy().ends_with('/'))
        .map(|(path, (bytes, _))| (path.display().to_string(), bytes))
        .collect();
    out.sort();
    out
}

fn wait_no_pods(ns: &TestNamespace) {
    ns.wait_until(Duration::from_secs(30), "the helper pod is gone", |ns| {
        ns.names("pods").is_empty()
    });
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn pvc_stage_puts_the_kit_on_the_volume_byte_for_byte_and_restage_replaces_it() {
    let ns = control_plane().namespace("stage-pvc");
    let (_, server, client) = prepared_for(&ns);
    let r = plugin(
        &ns,
        &["stage", p(&server), "--create-pvc", "--format", "json"],
    )
    .success();
    let data = r.json()["data"].clone();
    assert_eq!(data["pvc"], "nvflws");
    // The real PV controller bound the claim to the test's volume.
    let pvc = ns.get_json(&["pvc", "nvflws"]);
    assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    for sub in ["startup", "local"] {
        assert_eq!(
            files(&ns.pvc_dir.join(sub)),
            files(&server.join(sub)),
            "{sub}/ on the volume differs from the kit"
        );
    }
    assert!(
        ns.pvc_dir.join("transfer").is_dir(),
        "the server gets transfer/"
    );
    wait_no_pods(&ns);

    // A file left on the volume from an earlier kit is gone after a restage.
    let stale = ns.pvc_dir.join("startup/old-client.crt");
    std::fs::write(&stale, "stale").unwrap();
    plugin(&ns, &["stage", p(&server)]).success();
    assert!(!stale.exists(), "restage left a stale file on the volume");
    assert_eq!(
        files(&ns.pvc_dir.join("startup")),
        files(&server.join("startup"))
    );
    wait_no_pods(&ns);

    // unstage removes startup/ and local/ and keeps the rest of the volume.
    std::fs::write(ns.pvc_dir.join("transfer/job.zip"), "job").unwrap();
    plugin(&ns, &["unstage", p(&server)]).success();
    assert!(!ns.pvc_dir.join("startup").exists() && !ns.pvc_dir.join("local").exists());
    assert!(ns.pvc_dir.join("transfer/job.zip").exists());
    wait_no_pods(&ns);
    let _ = client;
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn pvc_stage_that_times_out_deletes_its_helper_pod_and_names_the_scheduler_s_reason() {
    let ns = control_plane().namespace("stage-timeout");
    let (_, _, client) = prepared_for(&ns);
    // No node of the namespace takes pods: the helper pod stays Pending.
    ns.cordon_nodes();
    let r = plugin(
        &ns,
        &[
            "stage",
            p(&client),
            "--create-pvc",
            "--timeout",
            "5s",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let error = r.json();
    assert_eq!(error["error_code"], "STAGE_TIMEOUT", "{error}");
    assert!(
        error["hint"].as_str().unwrap().contains("FailedScheduling"),
        "the hint carries the scheduler's event: {error}"
    );
    wait_no_pods(&ns);
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn configmap_stage_objects_are_what_the_api_stored_and_unstage_deletes_them() {
    let ns = control_plane().namespace("stage-cm");
    let (_, _, client) = prepared_for(&ns);
    let r = plugin(
        &ns,
        &[
            "stage",
            p(&client),
            "--method",
            "configmap",
            "--format",
            "json",
        ],
    )
    .success();
    let data = r.json()["data"].clone();
    let cm = ns.get_json(&["configmap", data["config_map"].as_str().unwrap()]);
    let secret = ns.get_json(&["secret", data["secret"].as_str().unwrap()]);
    let local = std::fs::read_to_string(client.join("local/resources.json.default")).unwrap();
    assert_eq!(cm["data"]["resources.json.default"], Value::String(local));
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["client.key"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        key,
        std::fs::read(client.join("startup/client.key")).unwrap()
    );
    // Server-side apply: no last-applied annotation carrying the Secret's data.
    assert!(secret["metadata"]["annotations"]
        .get("kubectl.kubernetes.io/last-applied-configuration")
        .is_none());
    plugin(&ns, &["unstage", p(&client)]).success();
    assert!(ns
        .names("configmaps")
        .iter()
        .all(|n| n == "kube-root-ca.crt"));
    // Only the site's own pull Secrets stay.
    assert!(ns
        .names("secrets")
        .iter()
        .all(|n| n.ends_with("registry-credentials")));
}

/// A ServiceAccount of the namespace bound to `clusterrole` there (none: no rights), and a
/// token for it from the TokenRequest API.
pub fn service_account_token(ns: &TestNamespace, name: &str, clusterrole: Option<&str>) -> String {
    ns.kubectl_ok(&["create", "serviceaccount", name]);
    if let Some(role) = clusterrole {
        ns.kubectl_ok(&[
            "create",
            "rolebinding",
            name,
            &format!("--clusterrole={role}"),
            &format!("--serviceaccount={}:{name}", ns.name),
        ]);
    }
    ns.kubectl_ok(&["create", "token", name, "--duration=1h"])
        .trim()
        .to_string()
}

/// helm-nvflare as Helm runs it with `HELM_KUBETOKEN`, behind a spy that logs each kubectl
/// call and runs the real kubectl.
fn with_spy(ns: &TestNamespace, spy: &StubCluster, token: &str, args: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args);
    ns.plugin_env(&mut cmd);
    cmd.env_remove("KUBECTL")
        .env("PATH", spy.path())
        .env("SPY_REAL_KUBECTL", support::tool("kubectl4"))
        .env("STUB_LOG_DIR", &spy.log)
        .env("HELM_KUBECONTEXT", "test")
        .env("HELM_KUBETOKEN", token);
    run_cmd(cmd)
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn pvc_stage_of_a_server_sends_the_guides_sequence_as_the_token_s_identity() {
    let ns = control_plane().namespace("stage-seq");
    let (_, server, _) = prepared_for(&ns);
    ns.cluster.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: nvflws, namespace: {}}}\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  resources: {{requests: {{storage: 1Gi}}}}\n",
        ns.name
    ));
    let token = service_account_token(&ns, "stager", Some("admin"));
    let spy = StubCluster::spy(&ns.tmp.path().join("spy"));
    let run = with_spy(
        &ns,
        &spy,
        &token,
        &["stage", p(&server), "--format", "json"],
    )
    .success();
    let data = run.json()["data"].clone();
    let helper = "nvflare-stage-fl-example-com-e265d5eb";
    assert_eq!(
        spy.summary(),
        [
            format!("get namespace {}", ns.name),
            "get pvc nvflws".into(),
            format!("delete pod {helper}"),
            "apply -f -".into(),
            format!("wait pod/{helper}"),
            "exec rm -rf /workspace/startup /workspace/local".into(),
            format!("cp startup {helper}:/workspace/startup"),
            format!("cp local {helper}:/workspace/local"),
            "exec mkdir -p /workspace/transfer".into(),
            "exec find /workspace/startup /workspace/local -type f".into(),
            format!("delete pod {helper}"),
        ]
    );
    for (args, _) in spy.calls() {
        // Waits and copies get --timeout (300 s); reads and applies --request-timeout (30 s).
        let verb = args.iter().find(|a| !a.starts_with("--")).unwrap().as_str();
        let limit = if ["wait", "cp", "exec", "delete"].contains(&verb) {
            "300s"
        } else {
            "30s"
        };
        assert_eq!(
            &args[..4],
            [
                "--context=test",
                "--user=helm-nvflare-token",
                &format!("--request-timeout={limit}"),
                &format!("--namespace={}", ns.name)
            ],
            "{args:?}"
        );
        assert!(!args.join(" ").contains(&token), "token on a command line");
    }
    // The token reached kubectl in a private kubeconfig, removed afterwards.
    let configs = spy.kubeconfigs();
    assert_eq!(configs.len(), spy.calls().len());
    for (mode, body, env) in &configs {
        assert_eq!(mode, "600");
        assert!(
            body.contains("name: helm-nvflare-token")
                && body.contains(&format!("token: \"{token}\""))
        );
        let file = env.split(':').next().unwrap();
        assert!(!Path::new(file).exists(), "{file} was left behind");
    }
    let (_, pod) = &spy.calls()[3];
    let pod: Value = serde_json::from_str(pod.as_ref().unwrap()).unwrap();
    assert_eq!(
        pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "nvflws"
    );
    assert_eq!(
        pod["spec"]["imagePullSecrets"],
        serde_json::json!([{"name": "registry-credentials"}])
    );
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["spec"]["containers"][0]["image"], "busybox:1.36");
    assert_eq!(
        pod["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert!(data["files"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("startup/server.key")));
    assert!(data["helm_command"]
        .as_str()
        .unwrap()
        .starts_with("helm upgrade --install fl-example-com-e265d5eb "));
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token));
    let mut record: Value = serde_json::from_str(
        &std::fs::read_to_string(server.join(".helm-nvflare-stage.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        record["folder"],
        serde_json::json!(server.display().to_string())
    );
    assert!(record["folder_id"].as_str().unwrap().contains(':'));
    let record = record.as_object_mut().unwrap();
    record.remove("folder");
    record.remove("folder_id");
    // The fingerprint of what was staged: the prepared kit's startup/ and local/.
    let fingerprint = record.remove("fingerprint").unwrap();
    assert!(fingerprint.as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        Value::Object(record.clone()),
        serde_json::json!({"method": "pvc", "namespace": ns.name, "context": "test", "pvc": "nvflws"})
    );
    assert_eq!(
        files(&ns.pvc_dir.join("startup")),
        files(&server.join("startup"))
    );

    // Whose token it is matters: one without rights in the namespace is refused by RBAC.
    let nobody = service_account_token(&ns, "nobody", None);
    spy.reset();
    let r = with_spy(
        &ns,
        &spy,
        &nobody,
        &["stage", p(&server), "--format", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("forbidden"), "{}", r.stdout);
    assert!(!r.stdout.contains(&nobody) && !r.stderr.contains(&nobody));
}

/// Deletes a namespace the test did not make through the fixture (one `stage` created).
struct Cleanup<'a>(&'a TestNamespace, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .cluster
            .kubectl(&["delete", "namespace", &self.1, "--wait=false"]);
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn pvc_stage_of_a_client_creates_the_namespace_and_pvc_it_is_told_to() {
    let ns = control_plane().namespace("stage-new");
    let fresh = format!("{}-made", ns.name);
    let _cleanup = Cleanup(&ns, fresh.clone());
    let project = Project::new(&ns.tmp.path().join("ws/example_project"), "fl.example.com");
    let config = write(
        &ns.tmp.path().join("k8s.yaml"),
        &support::K8S_CONFIG.replace("namespace: nvflare", &format!("namespace: {fresh}")),
    );
    let client = ns.tmp.path().join("prepared/site-1");
    prepare_json(&project.client_kit("site-1"), &config, &client, &[]);
    let in_fresh = |args: &[&str]| {
        let mut cmd = nvflare_cmd();
        cmd.args(args);
        ns.plugin_env(&mut cmd);
        cmd.env("HELM_NAMESPACE", &fresh);
        run_cmd(cmd)
    };
    // The namespace is made; a missing PVC is an error without --create-pvc, and no pod starts.
    let r = in_fresh(&["stage", p(&client), "--format", "json"]);
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert_eq!(r.json()["error_code"], "PVC_NOT_FOUND");
    assert_eq!(
        ns.cluster
            .kubectl_ok(&["get", "namespace", &fresh, "-o", "name"])
            .trim(),
        format!("namespace/{fresh}")
    );
    assert!(ns
        .cluster
        .kubectl_ok(&["get", "pods", "-n", &fresh, "-o", "name"])
        .trim()
        .is_empty());
    // With --create-pvc: the PVC as asked. Nothing binds a "fast" class here, so the helper
    // pod never starts: the stage times out and deletes it.
    let r = in_fresh(&[
        "stage",
        p(&client),
        "--create-pvc",
        "--size",
        "20Gi",
        "--storage-class",
        "fast",
        "--image",
        "registry.example.com/busybox:1.36",
        "--timeout",
        "5s",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.json()["error_code"], "STAGE_TIMEOUT");
    let pvc = ns.cluster.get_json(&["pvc", "nvflws", "-n", &fresh]);
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert_eq!(pvc["spec"]["storageClassName"], "fast");
    let events = ns
        .cluster
        .kubectl_ok(&["get", "events", "-n", &fresh, "-o", "json"]);
    assert!(
        events.contains("registry.example.com/busybox:1.36")
            || events.contains("nvflare-stage-site-1"),
        "{events}"
    );
    ns.wait_until(Duration::from_secs(30), "the helper pod is gone", |ns| {
        ns.cluster
            .kubectl_ok(&["get", "pods", "-n", &fresh, "-o", "name"])
            .trim()
            .is_empty()
    });
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs the test control plane: run scripts/test.sh"
)]
fn a_failed_copy_and_ctrl_c_still_delete_the_helper_pod() {
    use std::os::unix::fs::PermissionsExt;
    let ns = control_plane().namespace("stage-fail");
    let (_, _, client) = prepared_for(&ns);
    // The volume refuses writes (as a full or read-only one would): `kubectl cp` fails.
    std::fs::set_permissions(&ns.pvc_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let r = plugin(
        &ns,
        &["stage", p(&client), "--create-pvc", "--format", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.json()["error_code"], "KUBECTL_FAILED", "{}", r.stdout);
    wait_no_pods(&ns);
    std::fs::set_permissions(&ns.pvc_dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Ctrl-C while the helper pod waits for a node (none takes pods): exit 130, pod deleted.
    ns.cordon_nodes();
    let mut cmd = nvflare_cmd();
    cmd.args(["stage", p(&client), "--format", "json"]);
    ns.plugin_env(&mut cmd);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // Its own process group, as a terminal's foreground job: Ctrl-C reaches kubectl too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    ns.wait_until(Duration::from_secs(30), "the helper pod exists", |ns| {
        !ns.names("pods").is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{pid}")])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("INTERRUPTED"));
    wait_no_pods(&ns);
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs NVFlare 2.9.0 and the test control plane: run scripts/test.sh"
)]
fn an_output_nvflare_staged_is_not_replaced_until_nvflare_unstages_it() {
    let ns = control_plane().namespace("nvflare-staged");
    let (_, _, client) = prepared_for(&ns);
    // NVFlare's own `deploy k8s stage` runs `kubectl` from PATH: the real one, on the test cluster.
    let bin = ns.tmp.path().join("kubectl-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(support::tool("kubectl4"), bin.join("kubectl")).unwrap();
    let nvflare = |verb: &str| {
        let mut cmd = std::process::Command::new(support::tool("nvflare"));
        cmd.args(["deploy", "k8s", verb])
            .arg(&client)
            .args(["--namespace", &ns.name]);
        cmd.env("KUBECONFIG", &ns.cluster.kubeconfig)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env_remove("KUBECTL");
        run_cmd(cmd)
    };
    nvflare("stage").success();
    assert!(
        ns.names("configmaps").iter().any(|n| n.contains("site-1")),
        "{:?}",
        ns.names("configmaps")
    );
    let source = ns.tmp.path().join("ws/example_project/prod_00/site-1");
    let config = ns.tmp.path().join("k8s.yaml");
    let r = support::prepare_run(&source, &config, &client, &[]);
    assert_eq!(r.code, 4, "{}", r.stdout);
    let envelope = r.json();
    assert_eq!(envelope["error_code"], "OUTPUT_STAGED");
    assert!(
        envelope["hint"]
            .as_str()
            .unwrap()
            .contains("nvflare deploy k8 unstage"),
        "{envelope}"
    );
    assert!(
        client.join("helm_chart/values.yaml").exists(),
        "the staged output is untouched"
    );
    nvflare("unstage").success();
    prepare_json(&source, &config, &client, &[]);
}
