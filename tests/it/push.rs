//! `push` against a real registry (Debian's docker-registry on 127.0.0.1): plain HTTP and
//! TLS with a test CA and htpasswd authentication. What is pushed is pulled back with real
//! Helm 3 and Helm 4 and must be byte-identical.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::kits::Project;
use support::manifests::{self, helm, HELMS};
use support::registry::{Registry, PASSWORD, USER};
use support::{nvflare, nvflare_cmd, run_cmd, run_with_stdin, write, Run, K8S_CONFIG};

struct Federation {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// (participant, archive) for the server and two clients.
    archives: Vec<(String, PathBuf)>,
}

fn federation() -> Federation {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let mut archives = Vec::new();
    for (name, kit) in [
        ("fl.example.com", project.server_kit()),
        ("site-1", project.client_kit("site-1")),
        ("Hospital_A", project.client_kit("Hospital_A")),
    ] {
        let out = root.join("prepared").join(name);
        let run = nvflare([
            "prepare".as_ref(),
            kit.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
            "--output".as_ref(),
            out.as_os_str(),
            "--package".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
        ])
        .success();
        archives.push((
            name.to_string(),
            PathBuf::from(run.json()["data"]["package"].as_str().unwrap()),
        ));
    }
    Federation {
        _tmp: tmp,
        root,
        archives,
    }
}

fn push(
    archives: &[&Path],
    remote: &str,
    flags: &[&str],
    env: &[(&str, &Path)],
    stdin: Option<&str>,
) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.arg("push")
        .args(archives)
        .arg(remote)
        .args(flags)
        .args(["--format", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match stdin {
        Some(input) => run_with_stdin(cmd, input),
        None => run_cmd(cmd),
    }
}

fn pull(
    which: &str,
    home: &Path,
    oci: &str,
    version: &str,
    dest: &Path,
    flags: &[&str],
) -> PathBuf {
    std::fs::create_dir_all(dest).unwrap();
    let mut cmd = helm(which, home);
    cmd.args(["pull", oci, "--version", version, "-d"])
        .arg(dest)
        .args(flags);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{which} pull {oci}: {}", run.stderr);
    let name = oci.rsplit('/').next().unwrap();
    dest.join(format!("{name}-{version}.tgz"))
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn plain_http_push_then_helm3_and_helm4_pull_identical_bytes() {
    let fed = federation();
    let registry = Registry::plain(&fed.root.join("registry"));
    let remote = registry.oci("nvflare/fl");
    let paths: Vec<&Path> = fed.archives.iter().map(|(_, p)| p.as_path()).collect();
    let run = push(&paths, &remote, &["--plain-http"], &[], None).success();
    let charts = run.json()["data"]["charts"].as_array().unwrap().clone();
    assert_eq!(charts.len(), 3);
    let expected = [
        ("fl-example-com-e265d5eb", "nvflare-server"),
        ("site-1", "nvflare-client"),
        ("hospital-a-3822580f", "nvflare-client"),
    ];
    let home = fed.root.join("helm-home");
    for (chart, ((release, chart_name), (_, archive))) in
        charts.iter().zip(expected.iter().zip(&fed.archives))
    {
        let oci = format!("oci://{}/nvflare/fl/{release}/{chart_name}", registry.host);
        assert_eq!(
            chart["reference"],
            format!("{}/nvflare/fl/{release}/{chart_name}:0.1.0", registry.host)
        );
        assert_eq!(
            chart["helm_command"],
            format!("helm upgrade --install {release} {oci} --version 0.1.0 --namespace nvflare")
        );
        assert!(chart["digest"].as_str().unwrap().starts_with("sha256:"));
        for which in ["helm3", "helm4"] {
            let dest = fed.root.join(format!("pulled-{which}-{release}"));
            let pulled = pull(which, &home, &oci, "0.1.0", &dest, &["--plain-http"]);
            assert_eq!(
                std::fs::read(&pulled).unwrap(),
                std::fs::read(archive).unwrap(),
                "{which}: pulled archive differs"
            );
            let rendered = manifests::template(which, &home, release, &pulled, &[]);
            manifests::check_names(&manifests::documents(&rendered));
            let mut show = helm(which, &home);
            show.args(["show", "chart", &oci, "--version", "0.1.0", "--plain-http"]);
            let shown: Value = serde_saphyr::from_str(&run_cmd(show).success().stdout).unwrap();
            assert_eq!(shown["name"], *chart_name);
        }
    }
    // Two clients, both `nvflare-client`, did not overwrite each other.
    assert_ne!(charts[1]["digest"], charts[2]["digest"]);

    // The same archive pushed again (from anywhere) has the same manifest digest.
    let again = push(&[paths[1]], &remote, &["--plain-http"], &[], None).success();
    assert_eq!(
        again.json()["data"]["charts"][0]["digest"],
        charts[1]["digest"]
    );
    // And a `+` in the version becomes `_` in the tag, as Helm does.
    let out = fed.root.join("plus");
    let run = nvflare([
        "package".as_ref(),
        fed.root.join("prepared/site-1").as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "--version".as_ref(),
        "1.0.0+fl.2".as_ref(),
    ])
    .success();
    assert!(run.stdout.contains("nvflare-client-1.0.0+fl.2.tgz"));
    let pushed = push(
        &[&out.join("nvflare-client-1.0.0+fl.2.tgz")],
        &remote,
        &["--plain-http"],
        &[],
        None,
    )
    .success();
    assert_eq!(
        pushed.json()["data"]["charts"][0]["reference"],
        format!(
            "{}/nvflare/fl/site-1/nvflare-client:1.0.0_fl.2",
            registry.host
        )
    );
    let dest = fed.root.join("pulled-plus");
    let pulled = pull(
        "helm4",
        &home,
        &format!("oci://{}/nvflare/fl/site-1/nvflare-client", registry.host),
        "1.0.0+fl.2",
        &dest,
        &["--plain-http"],
    );
    assert!(pulled.is_file());
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn tls_registry_with_authentication() {
    let fed = federation();
    let registry = Registry::tls_with_auth(&fed.root.join("registry"));
    let ca = registry.ca_file.clone().unwrap();
    let ca_flag = ca.to_str().unwrap();
    let remote = registry.oci("fl");
    let archive = fed.archives[1].1.as_path();
    let home = fed.root.join("helm-home");
    let no_config = [
        ("HELM_REGISTRY_CONFIG", fed.root.join("none.json")),
        ("DOCKER_CONFIG", fed.root.join("no-docker")),
    ];
    let no_config: Vec<(&str, &Path)> = no_config.iter().map(|(k, v)| (*k, v.as_path())).collect();

    // --username + --password-stdin.
    let run = push(
        &[archive],
        &remote,
        &["--ca-file", ca_flag, "--username", USER, "--password-stdin"],
        &no_config,
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let digest = run.json()["data"]["charts"][0]["digest"].clone();
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));

    // What `helm registry login` stored (Helm 4 does TLS on loopback; Helm 3 would not).
    let registry_config = fed.root.join("registry-config.json");
    let mut login = helm("helm4", &home);
    login.env("HELM_REGISTRY_CONFIG", &registry_config);
    let run = registry.helm_login(login);
    assert_eq!(run.code, 0, "helm registry login: {}", run.stderr);
    let run = push(
        &[archive],
        &remote,
        &["--ca-file", ca_flag],
        &[("HELM_REGISTRY_CONFIG", &registry_config)],
        None,
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["data"]["charts"][0]["digest"], digest);

    let mut pull_cmd = helm("helm4", &home);
    let dest = fed.root.join("pulled");
    std::fs::create_dir_all(&dest).unwrap();
    pull_cmd
        .args([
            "pull",
            &format!("oci://{}/fl/site-1/nvflare-client", registry.host),
            "--version",
            "0.1.0",
            "--ca-file",
            ca_flag,
            "-d",
        ])
        .arg(&dest)
        .env("HELM_REGISTRY_CONFIG", &registry_config);
    run_cmd(pull_cmd).success();
    assert_eq!(
        std::fs::read(dest.join("nvflare-client-0.1.0.tgz")).unwrap(),
        std::fs::read(archive).unwrap()
    );

    // A refused login, no credentials, an untrusted certificate: clear errors, exit 4.
    let run = push(
        &[archive],
        &remote,
        &["--ca-file", ca_flag, "--username", USER, "--password-stdin"],
        &no_config,
        Some("wrong-password-123"),
    );
    assert_eq!(run.code, 4);
    assert_eq!(run.json()["error_code"], "REGISTRY_AUTH_FAILED");
    assert!(
        !run.stdout.contains("wrong-password-123") && !run.stderr.contains("wrong-password-123")
    );
    let run = push(
        &[archive],
        &remote,
        &["--ca-file", ca_flag],
        &no_config,
        None,
    );
    assert_eq!(run.code, 4);
    assert_eq!(run.json()["error_code"], "REGISTRY_AUTH_FAILED");
    assert!(run.json()["hint"]
        .as_str()
        .unwrap()
        .contains("helm registry login"));
    let run = push(
        &[archive],
        &remote,
        &[],
        &[("HELM_REGISTRY_CONFIG", &registry_config)],
        None,
    );
    assert_eq!(run.code, 4);
    assert_eq!(run.json()["error_code"], "REGISTRY_TLS");
    assert!(run.json()["hint"].as_str().unwrap().contains("--ca-file"));
    // Skipping verification works, for testing setups.
    let run = push(
        &[archive],
        &remote,
        &["--insecure-skip-tls-verify"],
        &[("HELM_REGISTRY_CONFIG", &registry_config)],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn unreachable_registry_and_bad_archives() {
    let fed = federation();
    let archive = fed.archives[0].1.as_path();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = push(
        &[archive],
        &format!("oci://127.0.0.1:{closed}/fl"),
        &["--plain-http"],
        &[],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["error_code"], "REGISTRY_UNREACHABLE");

    // Every archive is checked before anything is pushed.
    let registry = Registry::plain(&fed.root.join("registry"));
    let not_a_chart = write(&fed.root.join("notes.tgz"), "plain text");
    for (bad, code) in [
        (fed.root.join("missing.tgz"), "INVALID_ARCHIVE"),
        (not_a_chart, "INVALID_ARCHIVE"),
    ] {
        let run = push(
            &[archive, &bad],
            &registry.oci("fl"),
            &["--plain-http"],
            &[],
            None,
        );
        assert_eq!(run.code, 4, "{}", run.stdout);
        assert_eq!(run.json()["error_code"], code);
    }
    assert!(
        !registry
            .dir
            .join("data/docker/registry/v2/repositories")
            .exists(),
        "something was pushed"
    );
    let run = push(&[archive], "https://example.com/x", &[], &[], None);
    assert_eq!(run.code, 4);
    assert_eq!(run.json()["error_code"], "INVALID_ARGS");
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn mutual_tls_with_a_client_certificate() {
    let fed = federation();
    let registry = Registry::mutual_tls(&fed.root.join("registry"));
    let ca = registry.ca_file.clone().unwrap();
    let cert = registry.dir.join("client.crt");
    let key = registry.dir.join("client.key");
    let archive = fed.archives[1].1.as_path();
    let env: Vec<(&str, &Path)> = vec![
        ("HELM_REGISTRY_CONFIG", Path::new("/nonexistent")),
        ("DOCKER_CONFIG", Path::new("/nonexistent")),
    ];
    let tls = [
        "--ca-file",
        ca.to_str().unwrap(),
        "--cert-file",
        cert.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ];
    let auth = ["--username", USER, "--password-stdin"];
    let flags: Vec<&str> = tls.iter().chain(auth.iter()).copied().collect();
    let run = push(
        &[archive],
        &registry.oci("fl"),
        &flags,
        &env,
        Some(PASSWORD),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let reference = run.json()["data"]["charts"][0]["reference"].clone();
    assert!(reference
        .as_str()
        .unwrap()
        .ends_with("/fl/site-1/nvflare-client:0.1.0"));

    // Without the client certificate the registry refuses the connection.
    let flags: Vec<&str> = tls[..2].iter().chain(auth.iter()).copied().collect();
    let run = push(
        &[archive],
        &registry.oci("fl"),
        &flags,
        &env,
        Some(PASSWORD),
    );
    assert_ne!(run.code, 0);
    let code = run.json()["error_code"].as_str().unwrap().to_string();
    assert!(
        code == "REGISTRY_TLS" || code == "REGISTRY_UNREACHABLE",
        "{code}"
    );

    // An unusable key file is named, its contents never shown.
    let not_a_key = write(
        &fed.root.join("not-a-key.pem"),
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
    );
    let bad = [
        "--ca-file",
        ca.to_str().unwrap(),
        "--cert-file",
        cert.to_str().unwrap(),
        "--key-file",
        not_a_key.to_str().unwrap(),
    ];
    let run = push(&[archive], &registry.oci("fl"), &bad, &env, None);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(run.stdout.contains("not-a-key.pem") && !run.stdout.contains("not base64 at all"));
}

/// An archive signed by `helm package --sign` goes up with its `.prov` as the provenance
/// layer, so `helm pull --verify` checks it on Helm 3 and 4; a `.prov` that names another
/// archive is refused before anything is sent.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn provenance_goes_with_a_signed_archive() {
    let fed = federation();
    let root = &fed.root;
    let gnupg = root.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let params = write(
        &root.join("key-params"),
        "%no-protection\nKey-Type: RSA\nKey-Length: 2048\nName-Real: helm-nvflare test\nName-Email: test@example.com\nExpire-Date: 0\n%commit\n",
    );
    let gpg = |args: &[&str], out: Option<&Path>| {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", &gnupg).arg("--batch").args(args);
        let output = cmd.output().unwrap();
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if let Some(out) = out {
            std::fs::write(out, output.stdout).unwrap();
        }
    };
    gpg(&["--gen-key", params.to_str().unwrap()], None);
    let (secring, pubring) = (root.join("secring.gpg"), root.join("pubring.gpg"));
    gpg(&["--export-secret-keys"], Some(&secring));
    gpg(&["--export"], Some(&pubring));

    // Helm signs a chart we prepared.
    let chart = fed.archives[1].1.parent().unwrap().join("helm_chart");
    let home = root.join("helm-home");
    let signed_dir = root.join("signed");
    let mut sign = helm("helm3", &home);
    sign.args([
        "package",
        "--sign",
        "--key",
        "helm-nvflare test",
        "--keyring",
    ])
    .arg(&secring)
    .arg(&chart)
    .arg("-d")
    .arg(&signed_dir);
    run_cmd(sign).success();
    let archive = signed_dir.join("nvflare-client-0.1.0.tgz");
    assert!(signed_dir.join("nvflare-client-0.1.0.tgz.prov").is_file());

    let registry = Registry::plain(&root.join("registry"));
    let remote = registry.oci("fl");
    let run = push(&[archive.as_path()], &remote, &["--plain-http"], &[], None).success();
    assert_eq!(run.json()["data"]["charts"][0]["provenance"], true);
    for which in HELMS {
        let dest = root.join(format!("verified-{which}"));
        pull(
            which,
            &home,
            &format!("oci://{}/fl/site-1/nvflare-client", registry.host),
            "0.1.0",
            &dest,
            &[
                "--plain-http",
                "--verify",
                "--keyring",
                pubring.to_str().unwrap(),
            ],
        );
        assert!(
            dest.join("nvflare-client-0.1.0.tgz.prov").is_file(),
            "{which}: no .prov pulled"
        );
    }

    // A .prov of another archive is refused, and nothing is pushed.
    let other = root.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(&fed.archives[2].1, other.join("nvflare-client-0.1.0.tgz")).unwrap();
    std::fs::copy(
        signed_dir.join("nvflare-client-0.1.0.tgz.prov"),
        other.join("nvflare-client-0.1.0.tgz.prov"),
    )
    .unwrap();
    let run = push(
        &[other.join("nvflare-client-0.1.0.tgz").as_path()],
        &remote,
        &["--plain-http"],
        &[],
        None,
    );
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(
        run.stdout.contains("does not name this archive's sha256"),
        "{}",
        run.stdout
    );
}
