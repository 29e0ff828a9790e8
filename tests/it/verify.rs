//! `verify`'s offline checks on kits made here (certificates, and the CA of a real
//! kubeconfig read by real kubectl) and its refusals of bad input. Verify against the real cluster is in cluster_verify.

use crate::support;

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use support::kits::Project;
use support::stand_in_kubectl::StubCluster;
use support::{failing_checks as failing, named_check as check, nvflare_cmd, run_cmd, write, Run};
use time::{Duration, OffsetDateTime};

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    project: Project,
    server: PathBuf,
    client: PathBuf,
    spy: StubCluster,
    good_kubeconfig: PathBuf,
}

fn cluster_ca(root: &Path, name: &str, key_usage: bool) -> PathBuf {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    if key_usage {
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    }
    let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
    write(&root.join(format!("{name}.pem")), &cert.pem())
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (project, server, client) = support::prepared_server_and_client(&root);
    let spy = StubCluster::spy(&root.join("spy"));
    let good_kubeconfig = kubeconfig(&root, &cluster_ca(&root, "kubernetes-ca", true));
    World {
        server,
        client,
        _tmp: tmp,
        root,
        project,
        spy,
        good_kubeconfig,
    }
}

/// A kubeconfig whose cluster CA is `ca` (the server is never called: --offline).
fn kubeconfig(root: &Path, ca: &Path) -> PathBuf {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(ca).unwrap());
    write(
        &root.join(format!("{}.kubeconfig", ca.file_stem().unwrap().to_string_lossy())),
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:1\", certificate-authority-data: \"{data}\"}}\nusers:\n- name: u\n  user: {{token: x}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
        ),
    )
}

fn verify(w: &World, kit: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Run, Value) {
    let mut cmd = nvflare_cmd();
    cmd.arg("verify")
        .arg(kit)
        .args(extra)
        .args(["--format", "json"])
        // Real kubectl reading a real kubeconfig, behind a spy that logs each call.
        .env("PATH", w.spy.path())
        // Not `tool()`: bad-input cases never reach kubectl and run in the fast tier too.
        .env(
            "SPY_REAL_KUBECTL",
            support::repo().join(".tools/bin/kubectl4"),
        )
        .env("STUB_LOG_DIR", &w.spy.log)
        .env("HELM_NAMESPACE", "nvflare")
        .env("KUBECONFIG", &w.good_kubeconfig)
        .env_remove("KUBECTL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = run_cmd(cmd);
    let data = run.json()["data"].clone();
    (run, data)
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs kubectl: run scripts/test.sh"
)]
fn offline_checks_catch_certificate_problems() {
    let w = world();
    let now = OffsetDateTime::now_utc();
    // Expired, and expiring within 30 days.
    let (cert, key) = w.project.issue_custom(
        "site-1",
        &["site-1"],
        now - Duration::days(400),
        now - Duration::days(1),
    );
    w.project.install_identity(&w.client, "client", &cert, &key);
    let (run, data) = verify(&w, &w.client, &["--offline"], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(failing(&data), ["certificate-expiry"]);
    assert!(
        w.spy
            .calls()
            .iter()
            .all(|(a, _)| a.contains(&"config".to_string())),
        "--offline called the cluster"
    );
    let (cert, key) = w.project.issue_custom(
        "site-1",
        &["site-1"],
        now - Duration::days(300),
        now + Duration::days(10),
    );
    w.project.install_identity(&w.client, "client", &cert, &key);
    let (run, data) = verify(&w, &w.client, &["--offline"], &[]);
    assert_eq!(run.code, 0);
    assert_eq!(data["verdict"], "warn");
    assert!(
        check(&data, "certificate-expiry")["message"]
            .as_str()
            .unwrap()
            .contains("expires in 9 days")
            || check(&data, "certificate-expiry")["message"]
                .as_str()
                .unwrap()
                .contains("expires in 10 days")
    );

    // A server certificate that does not name the host clients dial.
    let (cert, key) = w.project.issue_custom(
        "other.example.com",
        &["other.example.com"],
        now - Duration::days(1),
        now + Duration::days(365),
    );
    w.project.install_identity(&w.server, "server", &cert, &key);
    let (run, data) = verify(&w, &w.server, &["--offline"], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(failing(&data), ["server-host"]);
    assert!(check(&data, "server-host")["hint"]
        .as_str()
        .unwrap()
        .contains("host_names"));

    // A certificate from another provisioning.
    let stranger = Project::new(&w.root.join("other-project"), "fl.example.com");
    let (cert, key) = stranger.issue("site-1", Some("nvidia"));
    std::fs::write(w.client.join("startup/client.crt"), cert).unwrap();
    std::fs::write(w.client.join("startup/client.key"), key).unwrap();
    let (_, data) = verify(&w, &w.client, &["--offline"], &[]);
    assert_eq!(failing(&data), ["certificate-chain"]);

    // A cluster CA without keyUsage (the Python 3.13 strictness).
    let bad = kubeconfig(&w.root, &cluster_ca(&w.root, "microk8s-ca", false));
    let (run, data) = verify(
        &w,
        &w.server,
        &["--offline"],
        &[("KUBECONFIG", bad.to_str().unwrap())],
    );
    assert_eq!(run.code, 1);
    assert!(failing(&data).contains(&"kubeconfig-ca".to_string()));
    assert!(check(&data, "kubeconfig-ca")["hint"]
        .as_str()
        .unwrap()
        .contains("RFC 5280"));
}

#[test]
fn bad_input_exits_4() {
    let w = world();
    let (run, _) = verify(
        &w,
        &w.root.join("ws/example_project/prod_00/site-1"),
        &[],
        &[],
    );
    assert_eq!(run.code, 4);
    assert_eq!(run.json()["error_code"], "NOT_PREPARED");
    let (run, _) = verify(&w, &w.client, &["--kubectl", "/nonexistent/kubectl"], &[]);
    assert_eq!(run.code, 4);
    assert_eq!(run.json()["error_code"], "KUBECTL_NOT_FOUND");
}

/// Issue 22, item 3: chains through intermediates, NVFlare's per-job CA
/// (`startup/job_ca.crt`), the extended key usage each link needs, and `--warn-expiry`.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs kubectl: run scripts/test.sh"
)]
fn issue_22_3_chains_job_ca_usage_and_the_warning_threshold() {
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let w = world();
    // Through an intermediate: the certificate file carries it after the leaf.
    let (mid_params, mid_key, mid_pem) = w.project.sub_ca("site CA", 365);
    let (leaf, key) = w
        .project
        .issue_by("site-1", Some((&mid_params, &mid_key)), vec![]);
    w.project
        .install_identity(&w.client, "client", &format!("{leaf}{mid_pem}"), &key);
    let (run, data) = verify(&w, &w.client, &["--offline"], &[]);
    assert_eq!(run.code, 0, "{data}");
    let chain = check(&data, "certificate-chain")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        chain.contains("through CN=site CA -> CN=example_project"),
        "{chain}"
    );
    // Without the intermediate in the file there is no chain.
    w.project.install_identity(&w.client, "client", &leaf, &key);
    let (_, data) = verify(&w, &w.client, &["--offline"], &[]);
    assert_eq!(failing(&data), ["certificate-chain"], "{data}");

    // A 2.9 client whose certificate only allows clientAuth cannot serve its internal link.
    let (leaf, key) = w.project.issue_by("site-1", None, vec![ClientAuth]);
    w.project.install_identity(&w.client, "client", &leaf, &key);
    let (_, data) = verify(&w, &w.client, &["--offline"], &[]);
    assert_eq!(failing(&data), ["certificate-usage"], "{data}");
    assert!(check(&data, "certificate-usage")["message"]
        .as_str()
        .unwrap()
        .contains("lacks serverAuth"));
    let (leaf, key) = w
        .project
        .issue_by("site-1", None, vec![ClientAuth, ServerAuth]);
    w.project.install_identity(&w.client, "client", &leaf, &key);
    let (run, data) = verify(&w, &w.client, &["--offline"], &[]);
    assert_eq!(run.code, 0, "{data}");
    assert_eq!(check(&data, "certificate-usage")["status"], "pass");

    // The server's job CA: chains to rootCA.pem and in date; expiring soon is a warning
    // unless the threshold is lower; from another provisioning it fails.
    let job_ca = w.server.join("startup/job_ca.crt");
    let (_, _, pem) = w.project.sub_ca("job CA", 365);
    std::fs::write(&job_ca, pem).unwrap();
    let (run, data) = verify(&w, &w.server, &["--offline"], &[]);
    assert_eq!(run.code, 0, "{data}");
    assert!(
        check(&data, "job-ca")["message"]
            .as_str()
            .unwrap()
            .contains("chains to rootCA.pem"),
        "{data}"
    );
    let (_, _, pem) = w.project.sub_ca("job CA", 10);
    std::fs::write(&job_ca, pem).unwrap();
    let (_, data) = verify(&w, &w.server, &["--offline"], &[]);
    assert_eq!(check(&data, "job-ca")["status"], "warn", "{data}");
    let (_, data) = verify(&w, &w.server, &["--offline", "--warn-expiry", "5d"], &[]);
    assert_eq!(check(&data, "job-ca")["status"], "pass", "{data}");
    let stranger = Project::new(&w.root.join("other-project"), "fl.example.com");
    let (_, _, pem) = stranger.sub_ca("job CA", 365);
    std::fs::write(&job_ca, pem).unwrap();
    let (run, data) = verify(&w, &w.server, &["--offline"], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(failing(&data), ["job-ca"], "{data}");
    let (run, _) = verify(&w, &w.server, &["--offline", "--warn-expiry", "soon"], &[]);
    assert_eq!(run.code, 4);

    // prepare takes a server kit that carries a job CA, and the job CA goes along.
    let kit = w.project.server_kit();
    let (_, job_key, pem) = w.project.sub_ca("job CA", 365);
    std::fs::write(kit.join("startup/job_ca.crt"), pem).unwrap();
    std::fs::write(kit.join("startup/job_ca.key"), job_key.serialize_pem()).unwrap();
    let config = support::write(&w.root.join("job-ca.k8s.yaml"), support::K8S_CONFIG);
    let out = w.root.join("prepared-job-ca");
    support::prepare_json(&kit, &config, &out, &[]);
    assert!(out.join("startup/job_ca.crt").is_file() && out.join("startup/job_ca.key").is_file());
    let (run, data) = verify(&w, &out, &["--offline"], &[]);
    assert_eq!(run.code, 0, "{data}");
    assert_eq!(check(&data, "job-ca")["status"], "pass", "{data}");
}
