//! Chart archives and every answer from kubectl or a registry are untrusted: they are
//! checked before use, bounded in time and memory, and never reach the terminal raw. Each
//! test is a reproduction from issue 9 (problems 5 to 8) or issue 20 (items 6 and 7).

use crate::support;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::kits::Project;
use support::stand_in_kubectl::StubCluster;
use support::{nvflare, nvflare_cmd, prepare_json, run_cmd, tgz_entries, write, Run, K8S_CONFIG};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn code(run: &Run) -> String {
    run.json()["error_code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code: {}\n{}", run.stdout, run.stderr))
        .to_string()
}

/// A good archive's entries, from a prepared and packaged client.
fn packaged_client(root: &Path) -> Vec<(String, Vec<u8>)> {
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let out = root.join("prepared/site-1");
    let data = prepare_json(&project.client_kit("site-1"), &config, &out, &["--package"]);
    tgz_entries(Path::new(data["package"].as_str().unwrap()))
}

/// Writes a .tgz whose entries are given raw: name bytes and type are not checked here.
fn raw_tgz(path: &Path, entries: &[(&[u8], tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            header.set_link_name("/etc/passwd").unwrap();
            header.set_size(0);
        }
        header.set_cksum();
        let body: &[u8] = if header.size().unwrap() == 0 {
            &[]
        } else {
            data
        };
        tar.append(&header, body).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// `push <archive> <remote> --plain-http --format json`.
fn push_json(archive: &Path, remote: &str) -> Run {
    nvflare([
        "push",
        p(archive),
        remote,
        "--plain-http",
        "--format",
        "json",
    ])
}

/// A listener that must never see a connection: push checks before it sends anything.
struct Silent(TcpListener);

impl Silent {
    fn new() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Silent(listener)
    }
    fn remote(&self) -> String {
        format!("oci://{}/fl", self.0.local_addr().unwrap())
    }
    fn untouched(&self) -> bool {
        matches!(self.0.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

#[test]
fn issue_9_5_push_refuses_archives_package_would_never_write() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let good = packaged_client(root);
    let good: Vec<(String, Vec<u8>)> = good;
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let chart_yaml = |name: &str, version: &str| {
        format!("apiVersion: v2\nname: {name}\nversion: {version}\n").into_bytes()
    };
    type Entries = Vec<(Vec<u8>, tar::EntryType, Vec<u8>)>;
    let regular = tar::EntryType::Regular;
    let base = |extra: Entries| {
        let mut all: Entries = good
            .iter()
            .map(|(n, d)| (n.clone().into_bytes(), regular, d.clone()))
            .collect();
        all.extend(extra);
        all
    };
    let cases: Vec<(&str, Entries, &str)> = vec![
        (
            "dot-dot path",
            base(vec![(
                b"nvflare-client/../x".to_vec(),
                regular,
                b"x".to_vec(),
            )]),
            "INVALID_ARCHIVE",
        ),
        (
            "absolute path",
            base(vec![(b"/etc/x".to_vec(), regular, b"x".to_vec())]),
            "INVALID_ARCHIVE",
        ),
        (
            "symlink",
            base(vec![(
                b"nvflare-client/passwd".to_vec(),
                tar::EntryType::Symlink,
                vec![],
            )]),
            "INVALID_ARCHIVE",
        ),
        (
            "hard link",
            base(vec![(
                b"nvflare-client/passwd".to_vec(),
                tar::EntryType::Link,
                vec![],
            )]),
            "INVALID_ARCHIVE",
        ),
        (
            "device",
            base(vec![(
                b"nvflare-client/dev".to_vec(),
                tar::EntryType::Char,
                vec![],
            )]),
            "INVALID_ARCHIVE",
        ),
        (
            "startup folder",
            base(vec![(
                b"nvflare-client/startup/fed_client.json".to_vec(),
                regular,
                b"{}".to_vec(),
            )]),
            "KEY_MATERIAL_IN_CHART",
        ),
        (
            "PEM key under files/",
            base(vec![(
                b"nvflare-client/files/notes.txt".to_vec(),
                regular,
                pem.clone().into_bytes(),
            )]),
            "KEY_MATERIAL_IN_CHART",
        ),
        (
            "two top folders",
            base(vec![(b"other/x".to_vec(), regular, b"x".to_vec())]),
            "INVALID_ARCHIVE",
        ),
        (
            "chart name ../escaped",
            vec![(
                b"escaped/Chart.yaml".to_vec(),
                regular,
                chart_yaml("../escaped", "1.0.0"),
            )],
            "INVALID_ARCHIVE",
        ),
        (
            "version beyond u64",
            vec![(
                b"c/Chart.yaml".to_vec(),
                regular,
                chart_yaml("c", "99999999999999999999.0.0"),
            )],
            "INVALID_ARCHIVE",
        ),
    ];
    let silent = Silent::new();
    for (name, entries, expected) in &cases {
        let archive = root.join("bad.tgz");
        let refs: Vec<(&[u8], tar::EntryType, &[u8])> = entries
            .iter()
            .map(|(n, k, d)| (n.as_slice(), *k, d.as_slice()))
            .collect();
        raw_tgz(&archive, &refs);
        let run = push_json(&archive, &silent.remote());
        assert_eq!(run.code, 4, "{name}: {}", run.stdout);
        assert_eq!(code(&run), *expected, "{name}");
        assert!(
            !run.stdout.contains("PRIVATE KEY"),
            "{name}: key in the message"
        );
    }
    // Damaged gzip: truncated, or with bytes after the stream.
    let refs: Vec<(&[u8], tar::EntryType, &[u8])> = good
        .iter()
        .map(|(n, d)| (n.as_bytes(), regular, d.as_slice()))
        .collect();
    let archive = root.join("bad.tgz");
    let bytes = raw_tgz(&archive, &refs);
    for (name, damaged) in [
        ("truncated gzip", bytes[..bytes.len() / 2].to_vec()),
        ("trailing garbage", [bytes.as_slice(), b"garbage"].concat()),
        (
            "a second gzip member",
            [bytes.as_slice(), bytes.as_slice()].concat(),
        ),
    ] {
        std::fs::write(&archive, damaged).unwrap();
        let run = push_json(&archive, &silent.remote());
        assert_eq!(code(&run), "INVALID_ARCHIVE", "{name}");
    }
    assert!(
        silent.untouched(),
        "push sent something for a refused archive"
    );
    // The good archive itself passes the checks (and then finds nobody answering).
    std::fs::write(&archive, &bytes).unwrap();
    drop(silent);
    let run = nvflare([
        "push",
        p(&archive),
        "oci://127.0.0.1:9/fl",
        "--plain-http",
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "REGISTRY_UNREACHABLE");
}

#[test]
fn issue_9_6_a_registry_that_never_answers_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let good = packaged_client(tmp.path());
    let archive = tmp.path().join("good.tgz");
    let refs: Vec<(&[u8], tar::EntryType, &[u8])> = good
        .iter()
        .map(|(n, d)| (n.as_bytes(), tar::EntryType::Regular, d.as_slice()))
        .collect();
    raw_tgz(&archive, &refs);
    // Accepts connections, reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = format!("oci://{}/fl", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(4) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let started = Instant::now();
    let run = nvflare([
        "push",
        p(&archive),
        &remote,
        "--plain-http",
        "--timeout",
        "2s",
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "REGISTRY_TIMEOUT");
    assert_eq!(run.code, 1);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

struct Cluster {
    _tmp: tempfile::TempDir,
    client: PathBuf,
    stub: StubCluster,
}

fn cluster() -> Cluster {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (_, _, client) = support::prepared_server_and_client(&root);
    let stub = StubCluster::new(&root);
    Cluster {
        _tmp: tmp,
        client,
        stub,
    }
}

fn kubectl_cmd(c: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = nvflare_cmd();
    cmd.args(args)
        .env("PATH", c.stub.path())
        .env("STUB_LOG_DIR", &c.stub.log)
        .env("HELM_NAMESPACE", "nvflare")
        .env_remove("KUBECTL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn issue_9_6_a_kubectl_that_hangs_is_stopped_and_the_helper_pod_still_deleted() {
    let c = cluster();
    let started = Instant::now();
    let cmd = kubectl_cmd(
        &c,
        &["stage", p(&c.client), "--timeout", "2s", "--format", "json"],
        &[("STUB_HANG", " exec ")],
    );
    let run = run_cmd(cmd);
    assert_eq!(code(&run), "CLUSTER_TIMEOUT", "{}", run.stderr);
    assert_eq!(run.code, 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        c.stub.summary().last().unwrap(),
        "delete pod nvflare-stage-site-1",
        "{:?}",
        c.stub.summary()
    );
}

#[test]
fn issue_9_6_kubectl_output_is_capped() {
    let c = cluster();
    // Under a 400 MB address-space limit: buffering the flood (it never ends) would die.
    let bin = support::bin();
    let mut cmd = Command::new("bash");
    cmd.args(["-c", "ulimit -v 400000; exec \"$0\" \"$@\""])
        .arg(&bin)
        .args(["verify", p(&c.client), "--format", "json"])
        .env("PATH", c.stub.path())
        .env("STUB_LOG_DIR", &c.stub.log)
        .env("HELM_NAMESPACE", "nvflare")
        .env("STUB_FLOOD", " get pods ")
        .env_remove("KUBECTL");
    let run = run_cmd(cmd);
    assert_eq!(code(&run), "OUTPUT_TOO_LARGE", "{}", run.stderr);
    assert_eq!(run.code, 1);
}

#[test]
fn issue_9_6_sigterm_and_sighup_clean_up_like_ctrl_c() {
    for signal in ["-TERM", "-HUP"] {
        let c = cluster();
        let mut cmd = kubectl_cmd(
            &c,
            &["stage", p(&c.client), "--format", "json"],
            &[("STUB_WAIT_SLEEP", "20")],
        );
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !c.stub.summary().iter().any(|s| s.starts_with("wait")) {
            assert!(Instant::now() < deadline, "never reached the wait");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        // To our process only: no terminal sends it to the whole group.
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let out = child.wait_with_output().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{signal}: waited for kubectl"
        );
        assert_eq!(
            out.status.code(),
            Some(130),
            "{signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("INTERRUPTED"));
        assert_eq!(
            c.stub.summary().last().unwrap(),
            "delete pod nvflare-stage-site-1",
            "{signal}"
        );
    }
}

#[test]
fn issue_9_7_answers_from_the_cluster_never_reach_the_terminal_raw() {
    let c = cluster();
    let forged = "starting\\033[2J\\033[32mPASS  launcher-rbac  forged\\rPASS";
    let phase = serde_json::to_string("Pending\u{1b}[32m\nPASS  pvc  forged").unwrap();
    let cmd = kubectl_cmd(
        &c,
        &["verify", p(&c.client)],
        &[
            ("STUB_PODS", "crash"),
            ("STUB_LOGS", forged),
            ("STUB_PVC_PHASE_JSON", &phase),
        ],
    );
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r'),
            "{stream}: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("PASS  pvc  forged")
                || l.starts_with("PASS  launcher-rbac  forged")),
            "{stream}: a forged line: {text}"
        );
    }
    assert!(
        run.stdout.contains("\\x1b[2J"),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn issue_9_8_the_small_things_are_validated() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // A server target with port 0.
    let project = Project::new(&root.join("ws0/example_project"), "server1").with_ports(0, 8003);
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let run = nvflare([
        "prepare",
        p(&project.server_kit()),
        "--config",
        p(&config),
        "--output",
        p(&root.join("o0")),
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "INVALID_KIT", "{}", run.stdout);

    let c = cluster();
    for (args, expected) in [
        (
            vec![
                "package",
                p(&c.client),
                "--version",
                "99999999999999999999.0.0",
            ],
            "INVALID_ARGS",
        ),
        (
            vec!["stage", p(&c.client), "--timeout", "99999999999999999h"],
            "INVALID_ARGS",
        ),
        (
            vec!["stage", p(&c.client), "--image", "busybox;rm -rf /"],
            "INVALID_ARGS",
        ),
        (
            vec![
                "stage",
                p(&c.client),
                "--create-pvc",
                "--size",
                "10Gi --dry-run",
            ],
            "INVALID_ARGS",
        ),
        (
            vec![
                "stage",
                p(&c.client),
                "--create-pvc",
                "--storage-class",
                "--kubeconfig=x",
            ],
            "INVALID_ARGS",
        ),
        (
            vec!["verify", p(&c.client), "--release", "-x"],
            "INVALID_ARGS",
        ),
    ] {
        let mut full = args.clone();
        full.extend(["--format", "json"]);
        let run = run_cmd(kubectl_cmd(&c, &full, &[]));
        assert_eq!(code(&run), expected, "{args:?}: {}", run.stdout);
        assert!(c.stub.calls().is_empty(), "{args:?} called kubectl");
    }

    // Two kits for one participant in a federation: both named, nothing written.
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    project.server_kit();
    let first = project.client_kit("site-1");
    let copy = project.prod.join("site-1-copy");
    assert!(Command::new("cp")
        .arg("-r")
        .arg(&first)
        .arg(&copy)
        .status()
        .unwrap()
        .success());
    let out = root.join("fed-out");
    let run = nvflare([
        "prepare",
        p(&project.prod),
        "--config",
        p(&config),
        "--output",
        p(&out),
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "INVALID_FEDERATION", "{}", run.stdout);
    let text = run.stdout.clone();
    assert!(
        text.contains("site-1-copy") && text.contains("kit site-1"),
        "{text}"
    );
    assert!(!out.exists());

    // A temporary folder left by a killed run (its process is gone) is removed.
    let dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    let mut dead = dead;
    dead.wait().unwrap();
    let stale = root.join(format!(".o1.prepare-{pid}-abcdef"));
    write(&stale.join("startup/client.key"), "key");
    let kit = project.client_kit("site-2");
    prepare_json(&kit, &config, &root.join("o1"), &[]);
    assert!(
        !stale.exists(),
        "a stale temporary folder with keys was left"
    );
}

/// A gpg-made secret keyring, as the README's signing recipe writes it.
fn secring(root: &Path) -> Vec<u8> {
    let gpg = support::gpg::Gpg::new(root);
    let key = gpg.key_from(
        "Archive Admin",
        "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nExpire-Date: 0",
        None,
    );
    std::fs::read(key.secring).unwrap()
}

/// Issue 20, item 6: Helm reads the last of two entries for one path, so an archive that
/// has two is refused by push, sign and verify-chart alike; `push --plugin` scans for
/// keys as a chart push does.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn issue_20_6_archives_are_read_as_helm_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let entries = packaged_client(root);
    let mut raw: Vec<(&[u8], tar::EntryType, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_bytes(), tar::EntryType::Regular, d.as_slice()))
        .collect();
    let chart_yaml = b"apiVersion: v2\nname: nvflare-client\nversion: 6.6.6\n".to_vec();
    raw.push((
        b"nvflare-client/Chart.yaml",
        tar::EntryType::Regular,
        &chart_yaml,
    ));
    let archive = root.join("dup/nvflare-client-0.1.0.tgz");
    std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let bytes = raw_tgz(&archive, &raw);

    let silent = Silent::new();
    let run = push_json(&archive, &silent.remote());
    assert_eq!(code(&run), "INVALID_ARCHIVE", "{}", run.stdout);
    assert!(run.stdout.contains("twice"), "{}", run.stdout);
    assert!(silent.untouched());

    let gpg = support::gpg::Gpg::new(&root.join("g"));
    let key = gpg.key_from(
        "Dup Admin",
        "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nExpire-Date: 0",
        None,
    );
    let run = nvflare([
        "sign",
        p(&archive),
        "--key",
        "Dup Admin",
        "--keyring",
        p(&key.secring),
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "INVALID_ARCHIVE", "{}", run.stdout);
    assert!(!root.join("dup/nvflare-client-0.1.0.tgz.prov").exists());

    // Signed by gpg all the same: the signature is good, the archive is still refused.
    let body = write(
        &root.join("body.txt"),
        &format!(
            "name: nvflare-client\nversion: 0.1.0\n\n...\nfiles:\n  nvflare-client-0.1.0.tgz: sha256:{}",
            support::sha256_bytes(&bytes)
        ),
    );
    let prov = gpg.run(&[
        "--local-user",
        "dup.admin@example.com",
        "--clearsign",
        "-o",
        "-",
        p(&body),
    ]);
    std::fs::write(root.join("dup/nvflare-client-0.1.0.tgz.prov"), prov).unwrap();
    let run = nvflare([
        "verify-chart",
        p(&archive),
        "--keyring",
        p(&key.pubring),
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "INVALID_ARCHIVE", "{}", run.stdout);
    assert!(run.stdout.contains("twice"), "{}", run.stdout);

    // A plugin archive with a keyring inside is not pushed.
    let plugin_yaml = b"name: nvflare\nversion: 0.1.0\n".to_vec();
    let keyring = secring(&root.join("k"));
    let plugin = root.join("helm-nvflare-0.1.0-linux-amd64.tgz");
    raw_tgz(
        &plugin,
        &[
            (
                b"helm-nvflare/plugin.yaml",
                tar::EntryType::Regular,
                &plugin_yaml,
            ),
            (b"helm-nvflare/data/blob", tar::EntryType::Regular, &keyring),
        ],
    );
    let run = nvflare([
        "push",
        "--plugin",
        p(&plugin),
        &silent.remote(),
        "--plain-http",
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "KEY_MATERIAL_IN_CHART", "{}", run.stdout);
    assert!(run.stdout.contains("OpenPGP secret key"), "{}", run.stdout);
    assert!(silent.untouched());
}

/// Issue 20, item 7: binary OpenPGP secret keys (what `gpg --export-secret-keys` writes,
/// and what the README's signing recipe makes) are found in a chart folder and in an
/// archive, under a neutral name, base64-wrapped in values, and by keyring file names.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn issue_20_7_the_key_scanner_knows_openpgp() {
    use base64::Engine;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let entries = packaged_client(root);
    let keyring = secring(&root.join("k"));
    let wrapped = format!(
        "replicaCount: 1\nblob: {}\n",
        base64::engine::general_purpose::STANDARD.encode(&keyring)
    );
    let silent = Silent::new();
    for (name, data) in [
        ("nvflare-client/files/blob.bin", keyring.clone()),
        ("nvflare-client/extra.yaml", wrapped.into_bytes()),
        (
            "nvflare-client/files/release.gpg",
            b"not a key at all".to_vec(),
        ),
    ] {
        let mut raw: Vec<(&[u8], tar::EntryType, &[u8])> = entries
            .iter()
            .map(|(n, d)| (n.as_bytes(), tar::EntryType::Regular, d.as_slice()))
            .collect();
        raw.push((name.as_bytes(), tar::EntryType::Regular, &data));
        let archive = root.join("a/nvflare-client-0.1.0.tgz");
        std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
        raw_tgz(&archive, &raw);
        let run = push_json(&archive, &silent.remote());
        assert_eq!(
            code(&run),
            "KEY_MATERIAL_IN_CHART",
            "{name}: {}",
            run.stdout
        );
        assert!(silent.untouched());
    }

    // In the chart folder, before anything is packaged: the README's recipe output.
    let chart = root.join("prepared/site-1/helm_chart");
    std::fs::write(chart.join("secring.gpg"), &keyring).unwrap();
    let run = nvflare([
        "package",
        p(&root.join("prepared/site-1")),
        "-d",
        p(&root.join("dist")),
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "KEY_MATERIAL_IN_CHART", "{}", run.stdout);
    std::fs::remove_file(chart.join("secring.gpg")).unwrap();
    std::fs::write(chart.join("notes.bin"), &keyring).unwrap();
    let run = nvflare([
        "package",
        p(&root.join("prepared/site-1")),
        "-d",
        p(&root.join("dist")),
        "--format",
        "json",
    ]);
    assert_eq!(code(&run), "KEY_MATERIAL_IN_CHART", "{}", run.stdout);
    assert!(run.stdout.contains("OpenPGP secret key"), "{}", run.stdout);
    assert!(!root.join("dist").exists());
}
