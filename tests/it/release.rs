//! The plugin as a release: `scripts/release.sh` builds a reproducible archive with the
//! binary inside and signs it; real Helm installs it with no cargo on PATH — Helm 3.17 by
//! URL (no verification), Helm 4.1 from the file with verification, and Helm 4.1 from a
//! real registry (`push --plugin`, plain HTTP and TLS with a login).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::gpg::{Gpg, Key};
use support::manifests::helm;
use support::registry::{Registry, PASSWORD, USER};
use support::{nvflare_cmd, repo, run_cmd, run_with_stdin, tgz_entries, Run};

/// A PATH with the system's tools and no cargo (which lives in ~/.cargo/bin).
const NO_CARGO: &str = "/usr/bin:/bin";

struct Release {
    root: PathBuf,
    archive: PathBuf,
    key: Key,
    /// A second key, not the signer.
    other: Key,
}

/// Built once per test binary: the release build is the slow part (shared with the demo
/// test's target folder, so CI compiles the release profile once).
fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let gpg = Gpg::new(&root);
        let key = gpg.key("Release Manager", Some("r3lease"), None, "0");
        let other = gpg.key("Someone Else", None, None, "0");
        let pass = support::write(&root.join("pass.txt"), "r3lease\n");
        let archive = build(&root.join("dist"), &key, &pass);
        Release {
            root,
            archive,
            key,
            other,
        }
    })
}

fn build(dest: &Path, key: &Key, pass: &Path) -> PathBuf {
    let mut cmd = Command::new(repo().join("scripts/release.sh"));
    cmd.arg("--dest")
        .arg(dest)
        .args(["--sign", "--key", "Release Manager", "--keyring"])
        .arg(&key.secring)
        .arg("--passphrase-file")
        .arg(pass)
        .env("CARGO_TARGET_DIR", repo().join("target/demo"));
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "release.sh: {}\n{}", run.stdout, run.stderr);
    PathBuf::from(run.stdout.trim())
}

fn helm_no_cargo(which: &str, home: &Path) -> Command {
    let mut cmd = helm(which, home);
    cmd.env("PATH", NO_CARGO);
    cmd
}

fn installed_version(which: &str, home: &Path) -> Run {
    let mut cmd = helm_no_cargo(which, home);
    cmd.args(["nvflare", "version"]);
    run_cmd(cmd)
}

/// A Helm 4 install that succeeded, verified against the release key, leaving a plugin
/// that runs.
fn assert_verified_install(home: &Path, run: Run) {
    assert_eq!(run.code, 0, "helm4 install: {}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Signed by: Release Manager"),
        "{}",
        run.stdout
    );
    let run = installed_version("helm4", home);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        run.stdout.contains(&format!("version: {version}")),
        "{}",
        run.stderr
    );
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn release_archive_installs_on_helm3_by_url_and_helm4_verified() {
    let r = release();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        r.archive.file_name().unwrap().to_str().unwrap(),
        format!("helm-nvflare-{version}-linux-amd64.tgz")
    );

    // What is inside: the plugin in helm-nvflare/ (Helm 4's local installer reads that
    // folder), and a root plugin.yaml pointing into it (installers that read the root).
    let entries = tgz_entries(&r.archive);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "plugin.yaml",
        "completion.yaml",
        "plugin.complete",
        "helm-nvflare/plugin.yaml",
        "helm-nvflare/bin/helm-nvflare",
        "helm-nvflare/scripts/install-plugin.sh",
        "helm-nvflare/README.md",
        "helm-nvflare/LICENSE",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    assert!(!names
        .iter()
        .any(|n| n.ends_with("Cargo.toml") || n.contains("src/")));
    let root_yaml = &entries.iter().find(|(n, _)| n == "plugin.yaml").unwrap().1;
    assert!(String::from_utf8_lossy(root_yaml)
        .contains("${HELM_PLUGIN_DIR}/helm-nvflare/bin/helm-nvflare"));

    // Reproducible: built again, the same bytes (the signature is new, the archive not).
    let again = build(&r.root.join("dist-again"), &r.key, &r.root.join("pass.txt"));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&r.archive).unwrap()
    );

    // Helm 3.17 by URL (it takes archives only by URL), no cargo on PATH.
    let home = r.root.join("helm-home-1");
    let base = support::http_files::serve(r.archive.parent().unwrap());
    let url = format!(
        "{base}/{}",
        r.archive.file_name().unwrap().to_str().unwrap()
    );
    let mut install = helm_no_cargo("helm3", &home);
    install.args(["plugin", "install", &url]);
    let run = run_cmd(install);
    assert_eq!(run.code, 0, "helm3 install: {}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("using the bundled binary"),
        "{}",
        run.stdout
    );
    let run = installed_version("helm3", &home);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("version: {version}")),
        "{}",
        run.stdout
    );
    let mut complete = helm_no_cargo("helm3", &home);
    complete.args(["__complete", "nvflare", "pre"]);
    assert!(run_cmd(complete).stdout.contains("prepare"));

    // Helm 4.1 from the file: verified against the signer's public key by default.
    let mut install = helm_no_cargo("helm4", &home);
    install
        .args(["plugin", "install"])
        .arg(&r.archive)
        .arg("--keyring")
        .arg(&r.key.pubring);
    assert_verified_install(&home, run_cmd(install));

    // Refused by Helm 4: another key's keyring; a changed archive; no .prov (unless
    // --verify=false).
    let fresh = |n: u32| r.root.join(format!("helm-home-4-{n}"));
    let mut install = helm_no_cargo("helm4", &fresh(1));
    install
        .args(["plugin", "install"])
        .arg(&r.archive)
        .arg("--keyring")
        .arg(&r.other.pubring);
    assert_ne!(
        run_cmd(install).code,
        0,
        "installed with another key's keyring"
    );

    let tampered_dir = r.root.join("tampered");
    std::fs::create_dir_all(&tampered_dir).unwrap();
    let tampered = tampered_dir.join(r.archive.file_name().unwrap());
    let mut bytes = std::fs::read(&r.archive).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&tampered, bytes).unwrap();
    std::fs::copy(
        format!("{}.prov", r.archive.display()),
        format!("{}.prov", tampered.display()),
    )
    .unwrap();
    let mut install = helm_no_cargo("helm4", &fresh(2));
    install
        .args(["plugin", "install"])
        .arg(&tampered)
        .arg("--keyring")
        .arg(&r.key.pubring);
    let run = run_cmd(install);
    assert_ne!(run.code, 0, "installed a changed archive");
    assert!(run.stderr.contains("verification failed"), "{}", run.stderr);

    let unsigned_dir = r.root.join("unsigned");
    std::fs::create_dir_all(&unsigned_dir).unwrap();
    let unsigned = unsigned_dir.join(r.archive.file_name().unwrap());
    std::fs::copy(&r.archive, &unsigned).unwrap();
    let mut install = helm_no_cargo("helm4", &fresh(3));
    install
        .args(["plugin", "install"])
        .arg(&unsigned)
        .arg("--keyring")
        .arg(&r.key.pubring);
    assert_ne!(run_cmd(install).code, 0, "installed without a .prov");
    let mut install = helm_no_cargo("helm4", &fresh(3));
    install
        .args(["plugin", "install"])
        .arg(&unsigned)
        .arg("--verify=false");
    let run = run_cmd(install);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(installed_version("helm4", &fresh(3))
        .stdout
        .contains("version: "));
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn plugin_installs_from_a_registry_on_helm4() {
    let r = release();
    let version = env!("CARGO_PKG_VERSION");
    let work = tempfile::tempdir().unwrap();

    // Plain HTTP, signed: Helm 4 pulls the archive and the .prov and verifies.
    let registry = Registry::plain(&work.path().join("plain"));
    let mut push = nvflare_cmd();
    push.args(["push", "--plugin"])
        .arg(&r.archive)
        .arg(registry.oci("helm-plugins"))
        .args(["--plain-http", "--format", "json"]);
    let run = run_cmd(push).success();
    let pushed = &run.json()["data"]["plugins"][0];
    assert_eq!(pushed["provenance"], true);
    let reference = format!(
        "oci://{}/helm-plugins/helm-nvflare:{version}",
        registry.host
    );
    assert_eq!(
        pushed["helm_command"].as_str().unwrap(),
        format!("helm plugin install {reference} --plain-http")
    );
    // Reproducible: the same archive and .prov push to the same manifest digest.
    let mut again = nvflare_cmd();
    again
        .args(["push", "--plugin"])
        .arg(&r.archive)
        .arg(registry.oci("helm-plugins"))
        .args(["--plain-http", "--format", "json"]);
    assert_eq!(
        run_cmd(again).success().json()["data"]["plugins"][0]["digest"],
        pushed["digest"]
    );

    let home = work.path().join("helm-home");
    let mut install = helm_no_cargo("helm4", &home);
    install
        .args(["plugin", "install", &reference, "--plain-http", "--keyring"])
        .arg(&r.key.pubring);
    assert_verified_install(&home, run_cmd(install));

    // With another key's keyring Helm 4 refuses it.
    let mut install = helm_no_cargo("helm4", &work.path().join("helm-home-other"));
    install
        .args(["plugin", "install", &reference, "--plain-http", "--keyring"])
        .arg(&r.other.pubring);
    assert_ne!(run_cmd(install).code, 0);

    // TLS with a login: our push and Helm's install both use the registry's CA.
    let registry = Registry::tls_with_auth(&work.path().join("tls"));
    let ca = registry.ca_file.clone().unwrap();
    let mut push = nvflare_cmd();
    push.args(["push", "--plugin"])
        .arg(&r.archive)
        .arg(registry.oci("helm-plugins"))
        .arg("--ca-file")
        .arg(&ca)
        .args(["--username", USER, "--password-stdin", "--format", "json"]);
    run_with_stdin(push, PASSWORD).success();
    let reference = format!(
        "oci://{}/helm-plugins/helm-nvflare:{version}",
        registry.host
    );
    let home = work.path().join("helm-home-tls");
    // Helm 4.1's `plugin install` does not pass --username/--password on to the registry
    // ("basic credential not found"); a stored login works.
    registry.helm_login(helm_no_cargo("helm4", &home)).success();
    let mut install = helm_no_cargo("helm4", &home);
    install
        .args(["plugin", "install", &reference, "--ca-file"])
        .arg(&ca)
        .arg("--keyring")
        .arg(&r.key.pubring);
    assert_verified_install(&home, run_cmd(install));

    // A .prov that does not name the registry file name is refused before anything is sent.
    let odd = work.path().join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    let copy = odd.join(r.archive.file_name().unwrap());
    std::fs::copy(&r.archive, &copy).unwrap();
    let prov = std::fs::read_to_string(format!("{}.prov", r.archive.display())).unwrap();
    std::fs::write(
        format!("{}.prov", copy.display()),
        prov.replace(&format!("nvflare-{version}.tgz:"), "other.tgz:"),
    )
    .unwrap();
    let mut push = nvflare_cmd();
    push.args(["push", "--plugin"])
        .arg(&copy)
        .arg(format!("oci://{}/elsewhere", registry.host))
        .args(["--plain-http", "--format", "json"]);
    let run = run_cmd(push);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(run.stdout.contains("Helm 4 checks"), "{}", run.stdout);
}

/// Issue 23, item 4: the signed plugin travels in a site's bundle and installs, verified,
/// from the site's registry after `bundle push`.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn issue_23_a_bundle_carries_the_signed_plugin_to_the_sites_registry() {
    use support::oci;
    let r = release();
    let version = env!("CARGO_PKG_VERSION");
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    let source = Registry::plain(&root.join("source"));
    oci::image(
        &source.host,
        "nvidia/nvflare",
        Some("2.9.0"),
        "amd64",
        &[oci::layer("opt/x", 1000, b'p')],
        true,
    );
    let image = format!("{}/nvidia/nvflare:2.9.0", source.host);
    let project = support::kits::Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = support::write(
        &root.join("k8s.yaml"),
        &support::K8S_CONFIG.replace("localhost:5000/nvflare:2.9.0", &image),
    );
    let out = root.join("prepared/site-1");
    support::prepare_json(&project.client_kit("site-1"), &config, &out, &[]);
    let bundle = root.join("site.tar");
    let mut cmd = nvflare_cmd();
    cmd.arg("bundle")
        .arg(&out)
        .arg("-o")
        .arg(&bundle)
        .args(["--stage-image", &image, "--plugin"])
        .arg(&r.archive);
    cmd.args(["--plain-http", "--format", "json"]);
    let run = run_cmd(cmd).success();
    let name = r.archive.file_name().unwrap().to_str().unwrap();
    assert_eq!(run.json()["data"]["plugin"], name);

    drop(source);
    let site = Registry::plain(&root.join("site"));
    let mut push = nvflare_cmd();
    push.args(["bundle", "push"])
        .arg(&bundle)
        .arg("--to")
        .arg(site.oci("fl"))
        .args(["--plain-http", "--format", "json"]);
    let run = run_cmd(push).success();
    let plugin = &run.json()["data"]["plugin"];
    assert_eq!(plugin["provenance"], true, "{plugin}");
    let reference = format!("oci://{}/fl/helm-nvflare:{version}", site.host);
    let home = root.join("helm-home");
    let mut install = helm_no_cargo("helm4", &home);
    install
        .args(["plugin", "install", &reference, "--plain-http", "--keyring"])
        .arg(&r.key.pubring);
    assert_verified_install(&home, run_cmd(install));
}
