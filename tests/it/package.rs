//! `package`: archives laid out as `helm package` lays them out, byte-reproducible whatever
//! the files' mtimes, modes, umask or folder order, installable by Helm 3 and Helm 4, and
//! never carrying key material.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::kits::Project;
use support::manifests::{self, helm, HELMS};
use support::{nvflare, run_cmd, snapshot, tgz_entries, write, K8S_CONFIG};

struct Prepared {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// The prepared kit (with helm_chart/, startup/ and local/).
    kit: PathBuf,
}

fn prepared(site: &str) -> Prepared {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let kit = project.client_kit(site);
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let out = root.join("prepared").join(site);
    nvflare([
        "prepare".as_ref(),
        kit.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ])
    .success();
    Prepared {
        _tmp: tmp,
        root,
        kit: out,
    }
}

fn package(source: &Path, dest: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "package".into(),
        source.as_os_str().to_owned(),
        "-d".into(),
        dest.as_os_str().to_owned(),
    ];
    args.extend(extra.iter().map(|a| a.into()));
    args.extend(["--format".into(), "json".into()]);
    let run = nvflare(args).success();
    run.json()["data"].clone()
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Copies `src` to `dst` creating entries in reverse name order, with new mtimes and modes.
fn scrambled_copy(src: &Path, dst: &Path, stamp: &str) {
    std::fs::create_dir_all(dst).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
    for entry in entries {
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            scrambled_copy(&entry.path(), &to, stamp);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
            let mode = if to.extension().is_some_and(|e| e == "yaml") {
                "0600"
            } else {
                "0755"
            };
            assert!(Command::new("chmod")
                .args([mode])
                .arg(&to)
                .status()
                .unwrap()
                .success());
        }
        assert!(Command::new("touch")
            .args(["-d", stamp])
            .arg(&to)
            .status()
            .unwrap()
            .success());
    }
}

#[test]
fn archives_are_byte_reproducible() {
    let p = prepared("site-1");
    let first = package(&p.kit, &p.root.join("a"), &[]);
    let archive = PathBuf::from(first["archive"].as_str().unwrap());
    assert_eq!(archive, p.root.join("a/nvflare-client-0.1.0.tgz"));
    assert_eq!(first["sha256"], sha256_of(&archive));
    assert_eq!(first["chart"], "nvflare-client");
    assert_eq!(first["version"], "0.1.0");

    // Same content, everything else different: mtimes, modes, creation order, umask.
    let copy = p.root.join("elsewhere/chart");
    scrambled_copy(&p.kit.join("helm_chart"), &copy, "2001-02-03 04:05:06");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 077; exec \"$0\" package \"$1\" -d \"$2\" --format json")
        .arg(support::bin())
        .arg(&copy)
        .arg(p.root.join("b"));
    let second = run_cmd(cmd).success().json()["data"].clone();
    assert_eq!(second["sha256"], first["sha256"]);
    assert_eq!(
        std::fs::read(p.root.join("b/nvflare-client-0.1.0.tgz")).unwrap(),
        std::fs::read(&archive).unwrap()
    );

    // Packaging again over the existing archive gives the same bytes.
    let third = package(&p.kit, &p.root.join("a"), &[]);
    assert_eq!(third["sha256"], first["sha256"]);
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn layout_matches_helm_package_and_helm_reads_it() {
    let p = prepared("Hospital_A");
    let data = package(
        &p.kit,
        &p.root.join("dist"),
        &[
            "--version",
            "1.4.0-rc.1+build.7",
            "--app-version",
            "2.9.0-custom",
        ],
    );
    let archive = PathBuf::from(data["archive"].as_str().unwrap());
    assert!(archive.ends_with("nvflare-client-1.4.0-rc.1+build.7.tgz"));
    let ours: Vec<String> = tgz_entries(&archive).into_iter().map(|(n, _)| n).collect();
    let home = p.root.join("helm-home");
    for which in HELMS {
        // helm package's own archive of the same chart: same entries, same order.
        let dest = p.root.join(format!("helm-package-{which}"));
        let mut cmd = helm(which, &home);
        cmd.args(["package"])
            .arg(p.kit.join("helm_chart"))
            .arg("-d")
            .arg(&dest);
        run_cmd(cmd).success();
        let theirs: Vec<String> = tgz_entries(&dest.join("nvflare-client-0.1.0.tgz"))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(ours, theirs, "{which}: entries differ from helm package");

        let mut show = helm(which, &home);
        show.args(["show", "chart"]).arg(&archive);
        let chart: Value = serde_saphyr::from_str(&run_cmd(show).success().stdout).unwrap();
        assert_eq!(chart["version"], "1.4.0-rc.1+build.7");
        assert_eq!(chart["appVersion"], "2.9.0-custom");
        assert_eq!(chart["annotations"]["nvflare/participant"], "Hospital_A");

        let mut lint = helm(which, &home);
        lint.args(["lint"]).arg(&archive);
        run_cmd(lint).success();
        let rendered = manifests::template(which, &home, "hospital-a", &archive, &[]);
        let docs = manifests::documents(&rendered);
        manifests::check_names(&docs);
        assert_eq!(
            manifests::one(&docs, "Deployment")["metadata"]["labels"]["helm.sh/chart"],
            "nvflare-client-1.4.0-rc.1_build.7"
        );
    }
}

#[test]
fn archives_of_prepared_kits_carry_no_key_material() {
    let p = prepared("site-1");
    let data = package(&p.kit, &p.root.join("dist"), &[]);
    let entries = tgz_entries(Path::new(data["archive"].as_str().unwrap()));
    let key = std::fs::read(p.kit.join("startup/client.key")).unwrap();
    for (name, bytes) in &entries {
        assert!(name.starts_with("nvflare-client/"), "{name}");
        let rel = name.trim_start_matches("nvflare-client/");
        assert!(
            !rel.starts_with("startup") && !rel.starts_with("local"),
            "{name}"
        );
        for marker in ["PRIVATE KEY", "BEGIN CERTIFICATE"] {
            assert!(
                !String::from_utf8_lossy(bytes).contains(marker),
                "{name} holds {marker}"
            );
        }
        assert!(
            !bytes
                .windows(key.len().min(64))
                .any(|w| w == &key[..key.len().min(64)]),
            "{name} holds the private key"
        );
    }
}

#[test]
fn charts_holding_key_material_are_refused_and_nothing_is_written() {
    let p = prepared("site-1");
    let key = std::fs::read_to_string(p.kit.join("startup/client.key")).unwrap();
    let cert = std::fs::read_to_string(p.kit.join("startup/client.crt")).unwrap();
    let plants: [(&str, &str); 6] = [
        ("templates/client.key", "anything"),
        ("files/notes.txt", key.as_str()),
        ("files/ca-bundle", cert.as_str()),
        ("startup/readme.txt", "kit folder"),
        ("rootCA.pem", "ignored by .helmignore, still refused"),
        ("id_rsa", "ssh"),
    ];
    for (i, (rel, contents)) in plants.iter().enumerate() {
        let chart = p.root.join(format!("chart-{i}"));
        scrambled_copy(&p.kit.join("helm_chart"), &chart, "2020-01-01");
        write(&chart.join(rel), contents);
        let dest = p.root.join(format!("dest-{i}"));
        let before = snapshot(&p.root);
        let run = nvflare([
            "package".as_ref(),
            chart.as_os_str(),
            "-d".as_ref(),
            dest.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        assert_eq!(run.code, 4, "{rel}: {}", run.stdout);
        let error = run.json();
        assert_eq!(error["error_code"], "KEY_MATERIAL_IN_CHART", "{rel}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(rel.split('/').next().unwrap()),
            "{error}"
        );
        assert!(!run.stdout.contains("PRIVATE KEY") && !run.stderr.contains("PRIVATE KEY"));
        assert!(!dest.exists(), "{rel}: destination written");
        assert_eq!(snapshot(&p.root), before);
    }
}

#[test]
fn package_errors() {
    let p = prepared("site-1");
    let dest = p.root.join("dest");
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["--version", "v1.0.0"],
            "INVALID_ARGS",
            "not a strict semantic version",
        ),
        (
            &["--version", "1.0"],
            "INVALID_ARGS",
            "not a strict semantic version",
        ),
        (&[], "INVALID_ARGS", "No chart in"),
        (&[], "INVALID_CHART", "Chart.yaml"),
    ];
    let broken = p.root.join("broken-chart");
    write(&broken.join("Chart.yaml"), "name: [x\n");
    for (i, (flags, code, message)) in cases.iter().enumerate() {
        let source = match i {
            2 => p.root.join("ws"),
            3 => broken.clone(),
            _ => p.kit.clone(),
        };
        let mut args = vec![
            "package".into(),
            source.into_os_string(),
            "-d".into(),
            dest.clone().into_os_string(),
            "--format".into(),
            "json".into(),
        ];
        args.extend(flags.iter().map(|f| f.into()));
        let run = nvflare(args);
        assert_eq!(run.code, 4, "{flags:?}");
        let error = run.json();
        assert_eq!(error["error_code"], *code);
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{error}"
        );
        assert!(!dest.exists());
    }
}

#[test]
fn prepare_can_package_right_away() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let kit = project.server_kit();
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let out = root.join("server-k8s");
    let run = nvflare([
        "prepare".as_ref(),
        kit.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
        "--package".as_ref(),
        "--version".as_ref(),
        "2.0.0".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
    ])
    .success();
    let data = &run.json()["data"];
    let archive = out.join("nvflare-server-2.0.0.tgz");
    assert_eq!(data["package"], archive.display().to_string());
    assert_eq!(data["sha256"], sha256_of(&archive));
    // Readable by all, as `helm package` writes archives.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&archive).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
    // The same bytes as packaging the prepared kit afterwards.
    let again = package(&out, &root.join("again"), &["--version", "2.0.0"]);
    assert_eq!(again["sha256"], data["sha256"]);

    // A bad version is refused before anything is prepared.
    let out2 = root.join("server-k8s-2");
    let run = nvflare([
        "prepare".as_ref(),
        kit.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--output".as_ref(),
        out2.as_os_str(),
        "--package".as_ref(),
        "--version".as_ref(),
        "2.0".as_ref(),
    ]);
    assert_eq!(run.code, 4);
    assert!(!out2.exists());
}

/// `.helmignore` as Helm reads it: our archive holds exactly the entries of `helm package`
/// (Helm 3 and 4) for ignore files where Helm and gitignore disagree.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn helmignore_matches_helm_package() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let home = root.join("helm-home");
    let cases = [
        ("root anchor", "/secret.txt\n"),
        ("base name anywhere", "secret.txt\n"),
        // A negation ignores whatever it does not match (folders included).
        ("first match wins", "secret.txt\n!*.*\n"),
        ("matching negation goes on", "!*.*\nkeep.txt\n"),
        ("unmatched negation ignores", "!*.yaml\n"),
        ("folders only", "docs/\nfiles/*.md\n"),
        ("classes and ?", "[a-c].md\n?.txt\nfiles/[^k]*\n"),
        ("path rule is not recursive", "templates/*.txt\n"),
        ("defaults only", ""),
    ];
    for (name, rules) in cases {
        let chart = root.join(name.replace(' ', "-")).join("c");
        write(
            &chart.join("Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        );
        write(&chart.join("values.yaml"), "x: 1\n");
        write(
            &chart.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        );
        write(&chart.join("templates/.hidden.yaml"), "# hidden\n");
        write(&chart.join("templates/secret.txt"), "t\n");
        write(&chart.join("templates/sub/deep.txt"), "d\n");
        write(&chart.join("secret.txt"), "s\n");
        write(&chart.join("keep.txt"), "k\n");
        write(&chart.join("a.md"), "a\n");
        write(&chart.join("x.txt"), "x\n");
        write(&chart.join("docs/readme.md"), "r\n");
        write(&chart.join("docs.md"), "f\n");
        write(&chart.join("files/notes.md"), "n\n");
        write(&chart.join("files/keep.md"), "k\n");
        write(&chart.join(".helmignore"), rules);
        let ours = package(&chart, &root.join("ours").join(name.replace(' ', "-")), &[]);
        let ours: Vec<String> = tgz_entries(Path::new(ours["archive"].as_str().unwrap()))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for which in HELMS {
            let dest = root.join(which).join(name.replace(' ', "-"));
            let mut cmd = helm(which, &home);
            cmd.args(["package"]).arg(&chart).arg("-d").arg(&dest);
            run_cmd(cmd).success();
            let theirs: Vec<String> = tgz_entries(&dest.join("c-0.1.0.tgz"))
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(
                ours, theirs,
                "{which}, {name}: entries differ from helm package"
            );
        }
    }
    // What Helm refuses, we refuse.
    for (name, rules) in [
        ("double star", "**/x\n"),
        ("bad class", "[a-\n"),
        ("Chart.yaml ignored", "!keep.txt\n"),
    ] {
        let chart = root.join("refused").join(name.replace(' ', "-"));
        write(
            &chart.join("Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        );
        write(&chart.join("keep.txt"), "k\n");
        write(&chart.join(".helmignore"), rules);
        let run = nvflare([
            "package".as_ref(),
            chart.as_os_str(),
            "-d".as_ref(),
            root.join("x").as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        assert_eq!(run.code, 4, "{name}: {}", run.stdout);
        assert_eq!(run.json()["error_code"], "INVALID_CHART", "{name}");
        for which in HELMS {
            let mut cmd = helm(which, &home);
            cmd.args(["package"])
                .arg(&chart)
                .arg("-d")
                .arg(root.join("y"));
            assert_ne!(run_cmd(cmd).code, 0, "{which} packaged {name}");
        }
    }
}

/// Key material in every dress, made by openssl and ssh-keygen, under a neutral name:
/// refused by `package` (in a chart folder) and by `push` (in an archive).
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn key_material_in_every_encoding_is_refused() {
    use base64::Engine;
    let p = prepared("site-1");
    let keys = p.root.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let sh = |script: &str| {
        let status = Command::new("sh")
            .args(["-c", script])
            .current_dir(&keys)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    };
    sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem");
    sh("openssl req -x509 -key rsa.pem -subj /CN=x -days 1 -out cert.pem");
    sh("openssl rsa -in rsa.pem -traditional -outform DER -out pkcs1.der");
    sh("openssl pkcs8 -topk8 -nocrypt -in rsa.pem -outform DER -out pkcs8.der");
    sh("openssl pkcs8 -topk8 -in rsa.pem -outform DER -v2 aes256 -passout pass:x -out pkcs8-enc.der");
    sh("openssl ecparam -name prime256v1 -genkey -noout -outform DER -out sec1.der");
    sh("openssl pkcs12 -export -inkey rsa.pem -in cert.pem -passout pass:x -out bundle.p12");
    sh("ssh-keygen -q -t ed25519 -N '' -f openssh");
    let read = |name: &str| std::fs::read(keys.join(name)).unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let rsa_pem = String::from_utf8(read("rsa.pem")).unwrap();
    let plants: Vec<(&str, Vec<u8>)> = vec![
        ("DER PKCS#1", read("pkcs1.der")),
        ("DER PKCS#8", read("pkcs8.der")),
        ("DER encrypted PKCS#8", read("pkcs8-enc.der")),
        ("DER SEC1", read("sec1.der")),
        ("PKCS#12", read("bundle.p12")),
        ("OpenSSH", read("openssh")),
        ("PEM in lower case", rsa_pem.to_lowercase().into_bytes()),
        (
            "base64 of a PEM key",
            format!("data:\n  blob: {}\n", b64(rsa_pem.as_bytes())).into_bytes(),
        ),
        ("base64 of a DER key", b64(&read("pkcs8.der")).into_bytes()),
        (
            "JWK with a private member",
            br#"{"kty":"RSA","n":"AQAB","e":"AQAB","d":"c2VjcmV0"}"#.to_vec(),
        ),
        (
            "PuTTY",
            b"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n".to_vec(),
        ),
    ];
    for (i, (what, bytes)) in plants.iter().enumerate() {
        let chart = p.root.join(format!("keyed-{i}"));
        scrambled_copy(&p.kit.join("helm_chart"), &chart, "2020-01-01");
        std::fs::create_dir_all(chart.join("files")).unwrap();
        std::fs::write(chart.join("files/data"), bytes).unwrap();
        let run = nvflare([
            "package".as_ref(),
            chart.as_os_str(),
            "-d".as_ref(),
            p.root.join(format!("keyed-dest-{i}")).as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        assert_eq!(
            run.json()["error_code"],
            "KEY_MATERIAL_IN_CHART",
            "{what}: {}",
            run.stdout
        );

        // The same file inside an archive that push is asked to send.
        let archive = p.root.join(format!("keyed-{i}.tgz"));
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in [
            (
                "nvflare-client/Chart.yaml",
                b"apiVersion: v2\nname: nvflare-client\nversion: 0.1.0\n".to_vec(),
            ),
            ("nvflare-client/files/data", bytes.clone()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, data.as_slice()).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
        std::fs::write(&archive, gz.finish().unwrap()).unwrap();
        let run = nvflare([
            "push".as_ref(),
            archive.as_os_str(),
            "oci://127.0.0.1:9/fl".as_ref(),
            "--plain-http".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        assert_eq!(
            run.json()["error_code"],
            "KEY_MATERIAL_IN_CHART",
            "push, {what}: {}",
            run.stdout
        );
    }
}
