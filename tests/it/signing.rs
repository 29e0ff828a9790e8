//! Signed charts: `package --sign` (and `prepare --package --sign`, and a federation's
//! `package --sign`) write Helm provenance that real `helm verify` accepts on Helm 3 and 4;
//! `verify-chart` finds what Helm finds (tampering, another key, an expired key); pushed
//! signed charts pull with `helm pull --verify`. Keys are made by real GnuPG.

use crate::support;

use std::path::{Path, PathBuf};

use support::gpg::{Gpg, Key};
use support::manifests::{helm, HELMS};
use support::registry::Registry;
use support::{nvflare_cmd, run_cmd, run_with_stdin, write, Run, Workspace};

const PASSPHRASE: &str = "correct horse battery staple";

fn nvflare(args: &[&str], extra: &[&Path]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(args).args(extra).args(["--format", "json"]);
    run_cmd(cmd)
}

fn helm_verify(which: &str, home: &Path, archive: &Path, keyring: &Path) -> Run {
    let mut cmd = helm(which, home);
    cmd.arg("verify").arg(archive).arg("--keyring").arg(keyring);
    run_cmd(cmd)
}

fn verify_chart(source: &str, keyring: &Path, extra: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.args(["verify-chart", source, "--keyring"])
        .arg(keyring)
        .args(extra)
        .args(["--format", "json"]);
    run_cmd(cmd)
}

struct Signed {
    ws: Workspace,
    gpg: Gpg,
    admin: Key,
    passphrase_file: PathBuf,
}

fn signed_setup() -> Signed {
    let ws = Workspace::new();
    let gpg = Gpg::new(&ws.root);
    let admin = gpg.key("Project Admin", Some(PASSPHRASE), None, "0");
    let passphrase_file = write(&ws.root.join("passphrase.txt"), &format!("{PASSPHRASE}\n"));
    Signed {
        ws,
        gpg,
        admin,
        passphrase_file,
    }
}

fn sign_flags<'a>(key: &'a Key, passphrase_file: &'a Path) -> Vec<&'a str> {
    vec![
        "--sign",
        "--key",
        "Project Admin",
        "--keyring",
        key.secring.to_str().unwrap(),
        "--passphrase-file",
        passphrase_file.to_str().unwrap(),
    ]
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn signed_packages_pass_helm_verify_and_tampering_fails() {
    let s = signed_setup();
    let root = &s.ws.root;
    let home = root.join("helm-home");
    let prod = s.ws.project.server_kit().parent().unwrap().to_path_buf();
    s.ws.project.client_kit("site-1");
    s.ws.project.client_kit("Hospital_A");

    // A federation, prepared and packaged in one go, signed.
    let out = root.join("prepared");
    let mut args = vec!["prepare", prod.to_str().unwrap(), "--config"];
    args.extend([
        s.ws.config.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    args.extend(["--package", "--version", "1.2.0"]);
    args.extend(sign_flags(&s.admin, &s.passphrase_file));
    nvflare(&args, &[]).success();
    let archives: Vec<PathBuf> = ["fl.example.com", "site-1"]
        .iter()
        .map(|p| {
            let dir = out.join(p);
            let chart = if *p == "site-1" {
                "nvflare-client"
            } else {
                "nvflare-server"
            };
            dir.join(format!("{chart}-1.2.0.tgz"))
        })
        .collect();
    for archive in &archives {
        for which in HELMS {
            let run = helm_verify(which, &home, archive, &s.admin.pubring);
            assert_eq!(
                run.code,
                0,
                "{which} verify {}: {}",
                archive.display(),
                run.stderr
            );
            assert!(
                run.stdout.contains("Signed by: Project Admin"),
                "{}",
                run.stdout
            );
        }
        let run = verify_chart(archive.to_str().unwrap(), &s.admin.pubring, &[]).success();
        let data = &run.json()["data"];
        assert_eq!(data["signed_by"][0], s.admin.uid.as_str());
        assert_eq!(
            data["sha256"].as_str().unwrap(),
            support::sha256_file(archive),
            "verify-chart reports the archive's sha256"
        );
    }

    // The metadata block is byte for byte what `helm package --sign` writes for the chart.
    let chart_dir = out.join("site-1/helm_chart");
    let helm_out = root.join("helm-signed");
    let mut cmd = helm("helm4", &home);
    cmd.args(["package", "--sign", "--key", "Project Admin", "--keyring"])
        .arg(&s.admin.secring)
        .arg("--passphrase-file")
        .arg(&s.passphrase_file)
        .args(["--version", "1.2.0", "-d"])
        .arg(&helm_out)
        .arg(&chart_dir);
    run_cmd(cmd).success();
    let metadata = |prov: &Path| {
        let text = std::fs::read_to_string(prov).unwrap();
        text[..text.find("\n...\n").unwrap()].to_string()
    };
    assert_eq!(
        metadata(&helm_out.join("nvflare-client-1.2.0.tgz.prov")),
        metadata(&out.join("site-1/nvflare-client-1.2.0.tgz.prov"))
    );

    // One byte changed in the archive: Helm and verify-chart both refuse it.
    let tampered_dir = root.join("tampered");
    std::fs::create_dir_all(&tampered_dir).unwrap();
    let tampered = tampered_dir.join("nvflare-client-1.2.0.tgz");
    let mut bytes = std::fs::read(&archives[1]).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x01;
    std::fs::write(&tampered, &bytes).unwrap();
    std::fs::copy(
        out.join("site-1/nvflare-client-1.2.0.tgz.prov"),
        tampered_dir.join("nvflare-client-1.2.0.tgz.prov"),
    )
    .unwrap();
    for which in HELMS {
        let run = helm_verify(which, &home, &tampered, &s.admin.pubring);
        assert_ne!(run.code, 0, "{which} accepted a tampered archive");
    }
    let run = verify_chart(tampered.to_str().unwrap(), &s.admin.pubring, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["error_code"], "VERIFICATION_FAILED");
    let message = run.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("was changed after it was signed"),
        "{message}"
    );

    // The signed text itself changed (another sha256 written in): the signature breaks.
    let forged_dir = root.join("forged");
    std::fs::create_dir_all(&forged_dir).unwrap();
    std::fs::write(forged_dir.join("nvflare-client-1.2.0.tgz"), &bytes).unwrap();
    let prov = std::fs::read_to_string(out.join("site-1/nvflare-client-1.2.0.tgz.prov")).unwrap();
    let good_sum = support::sha256_file(&archives[1]);
    let forged = prov.replace(&good_sum, &support::sha256_bytes(&bytes));
    std::fs::write(forged_dir.join("nvflare-client-1.2.0.tgz.prov"), forged).unwrap();
    let run = verify_chart(
        forged_dir
            .join("nvflare-client-1.2.0.tgz")
            .to_str()
            .unwrap(),
        &s.admin.pubring,
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("signature is not good"),
        "{}",
        run.stdout
    );

    // Signed by someone else: a keyring with only the admin's key refuses it, in Helm too.
    let mallory = s.gpg.key("Mallory", None, None, "0");
    let other_dir = root.join("other-signer");
    let mut cmd = nvflare_cmd();
    cmd.args(["package"])
        .arg(out.join("site-1"))
        .args(["--version", "1.2.0", "-d"])
        .arg(&other_dir)
        .args(["--sign", "--key", "Mallory", "--keyring"])
        .arg(&mallory.secring);
    run_cmd(cmd).success();
    let other = other_dir.join("nvflare-client-1.2.0.tgz");
    assert_eq!(
        std::fs::read(&other).unwrap(),
        std::fs::read(&archives[1]).unwrap(),
        "the same chart and version package to the same bytes, signed or not"
    );
    let run = verify_chart(other.to_str().unwrap(), &s.admin.pubring, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("signature is not good"),
        "{}",
        run.stdout
    );
    for which in HELMS {
        assert_ne!(
            helm_verify(which, &home, &other, &s.admin.pubring).code,
            0,
            "{which}"
        );
    }

    // No .prov at all.
    std::fs::remove_file(other_dir.join("nvflare-client-1.2.0.tgz.prov")).unwrap();
    let run = verify_chart(other.to_str().unwrap(), &s.admin.pubring, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("has no provenance"), "{}", run.stdout);

    // The federation's own `package --sign`: a .prov beside every archive it lists.
    let dist = root.join("dist");
    let mut args = vec![
        "package",
        out.to_str().unwrap(),
        "-d",
        dist.to_str().unwrap(),
    ];
    args.extend(["--version", "1.3.0"]);
    args.extend(sign_flags(&s.admin, &s.passphrase_file));
    let run = nvflare(&args, &[]).success();
    let charts = run.json()["data"]["charts"].as_array().unwrap().clone();
    assert_eq!(charts.len(), 3);
    for chart in charts {
        let archive = PathBuf::from(chart["archive"].as_str().unwrap());
        assert_eq!(
            chart["provenance"].as_str().unwrap(),
            format!("{}.prov", archive.display())
        );
        verify_chart(archive.to_str().unwrap(), &s.admin.pubring, &[]).success();
    }
}

/// A key that expired (made with gpg's faked clock in 2020, valid one day) signs a
/// `.prov` while it was valid: verify-chart refuses it now, as Helm 4 does (Helm 3's
/// OpenPGP code does not look at expiry); and `package --sign` will not sign with it.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn expired_keys_are_refused() {
    let s = signed_setup();
    let root = &s.ws.root;
    let home = root.join("helm-home");
    let old = s.gpg.key("Old Admin", None, Some("20200101T000000"), "1d");
    let out = root.join("prepared/site-1");
    let kit = s.ws.project.client_kit("site-1");
    let args = [
        "prepare",
        kit.to_str().unwrap(),
        "--config",
        s.ws.config.to_str().unwrap(),
    ];
    let run = nvflare(
        &args,
        &[Path::new("--output"), &out, Path::new("--package")],
    )
    .success();
    let archive = PathBuf::from(run.json()["data"]["package"].as_str().unwrap());

    // Signing with it now: refused, nothing written.
    let dist = root.join("dist");
    let mut cmd = nvflare_cmd();
    cmd.arg("package")
        .arg(&out)
        .arg("-d")
        .arg(&dist)
        .args(["--sign", "--key", "Old Admin", "--keyring"])
        .arg(&old.secring)
        .args(["--format", "json"]);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.json()["error_code"], "INVALID_KEYRING");
    assert!(
        run.stdout.contains("expired on 2020-01-02"),
        "{}",
        run.stdout
    );
    assert!(!dist.exists(), "a refused signing wrote {}", dist.display());

    // A .prov gpg made while the key was valid (same text Helm signs).
    let good_prov = {
        let admin_signed = root.join("admin-signed");
        let mut cmd = nvflare_cmd();
        cmd.arg("package").arg(&out).arg("-d").arg(&admin_signed);
        cmd.args(sign_flags(&s.admin, &s.passphrase_file));
        run_cmd(cmd).success();
        std::fs::read_to_string(admin_signed.join("nvflare-client-0.1.0.tgz.prov")).unwrap()
    };
    let signed_text: String = good_prov
        .split("\n\n")
        .nth(1)
        .unwrap()
        .split("\n-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap()
        .lines()
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let body = write(&root.join("body.txt"), &signed_text);
    let prov = s.gpg.run(&[
        "--faked-system-time",
        "20200101T120000",
        "--digest-algo",
        "SHA512",
        "--local-user",
        "Old Admin",
        "--clearsign",
        "-o",
        "-",
        body.to_str().unwrap(),
    ]);
    std::fs::write(format!("{}.prov", archive.display()), prov).unwrap();
    let run = verify_chart(archive.to_str().unwrap(), &old.pubring, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("expired on 2020-01-02"),
        "{}",
        run.stdout
    );
    let run = helm_verify("helm4", &home, &archive, &old.pubring);
    assert_ne!(run.code, 0, "Helm 4 accepted an expired key");
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
}

/// Bad keyring, unknown key, wrong or missing passphrase: exit 4, a clear message, the
/// passphrase nowhere in the output, and nothing written (no archive, no .prov, no output).
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn signing_mistakes_write_nothing() {
    let s = signed_setup();
    let root = &s.ws.root;
    let kit = s.ws.project.client_kit("site-1");
    let wrong = write(&root.join("wrong.txt"), "not the passphrase\n");
    let not_keys = write(&root.join("not-keys.gpg"), "hello");
    let second = s.gpg.key("Project Admin Deputy", None, None, "0");
    let both = root.join("both.gpg");
    let mut ring = std::fs::read(&s.admin.secring).unwrap();
    ring.extend(std::fs::read(&second.secring).unwrap());
    std::fs::write(&both, ring).unwrap();
    let secring = s.admin.secring.to_str().unwrap();
    let pubring = s.admin.pubring.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--key",
                "Project Admin",
                "--keyring",
                secring,
                "--passphrase-file",
                wrong.to_str().unwrap(),
            ],
            "passphrase does not unlock",
        ),
        (
            vec!["--key", "Project Admin", "--keyring", secring],
            "--passphrase-file",
        ),
        (
            vec!["--key", "Nobody", "--keyring", secring],
            "no secret key with a user ID containing",
        ),
        (
            vec!["--key", "Project Admin", "--keyring", pubring],
            "public keys only",
        ),
        (
            vec![
                "--key",
                "Project Admin",
                "--keyring",
                not_keys.to_str().unwrap(),
            ],
            "holds no OpenPGP keys",
        ),
        (
            vec!["--key", "Admin", "--keyring", both.to_str().unwrap()],
            "more than one key",
        ),
    ];
    for (flags, expect) in cases {
        let out = root.join("out");
        let mut cmd = nvflare_cmd();
        cmd.arg("prepare")
            .arg(&kit)
            .arg("--config")
            .arg(&s.ws.config)
            .arg("--output")
            .arg(&out)
            .args(["--package", "--sign"])
            .args(&flags)
            .args(["--format", "json"]);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 4, "{flags:?}: {}", run.stdout);
        assert_eq!(run.json()["error_code"], "INVALID_KEYRING", "{flags:?}");
        assert!(run.stdout.contains(expect), "{flags:?}: {}", run.stdout);
        assert!(!out.exists(), "{flags:?}: wrote {}", out.display());
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(PASSPHRASE) && !text.contains("not the passphrase"));
        }
    }
    // An exact user ID wins over a partial match; a fingerprint names a key too; the
    // passphrase can come from stdin.
    let out = root.join("ok");
    let mut cmd = nvflare_cmd();
    cmd.arg("prepare")
        .arg(&kit)
        .arg("--config")
        .arg(&s.ws.config)
        .arg("--output")
        .arg(&out)
        .args(["--package", "--sign", "--key", &s.admin.uid, "--keyring"])
        .arg(&both)
        .args(["--passphrase-file", "-", "--format", "json"]);
    let run = run_with_stdin(cmd, &format!("{PASSPHRASE}\n")).success();
    assert!(run.json()["data"]["provenance"]
        .as_str()
        .unwrap()
        .ends_with(".tgz.prov"));
    assert!(!run.stdout.contains(PASSPHRASE));

    // --sign without --package, and --key without --sign: usage errors.
    let run = nvflare(
        &[
            "prepare",
            kit.to_str().unwrap(),
            "--sign",
            "--key",
            "x",
            "--keyring",
            secring,
        ],
        &[],
    );
    assert_eq!(run.code, 4);
    assert!(run.stdout.contains("needs --package"), "{}", run.stdout);
}

/// Pushed with its `.prov`, a signed chart comes back with `helm pull --verify` on both
/// Helms, and verify-chart checks it straight from the registry; an unsigned one is
/// reported as unverifiable.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn signed_push_verifies_from_the_registry() {
    let s = signed_setup();
    let root = &s.ws.root;
    let home = root.join("helm-home");
    let out = root.join("prepared/site-1");
    let kit = s.ws.project.client_kit("site-1");
    let mut args = vec![
        "prepare",
        kit.to_str().unwrap(),
        "--config",
        s.ws.config.to_str().unwrap(),
    ];
    args.extend([
        "--output",
        out.to_str().unwrap(),
        "--package",
        "--version",
        "2.0.0",
    ]);
    args.extend(sign_flags(&s.admin, &s.passphrase_file));
    let run = nvflare(&args, &[]).success();
    let archive = PathBuf::from(run.json()["data"]["package"].as_str().unwrap());

    let registry = Registry::plain(&root.join("registry"));
    let remote = registry.oci("fl");
    let run = nvflare(
        &["push", archive.to_str().unwrap(), &remote, "--plain-http"],
        &[],
    )
    .success();
    assert_eq!(run.json()["data"]["charts"][0]["provenance"], true);
    let reference = format!("oci://{}/fl/site-1/nvflare-client", registry.host);
    for which in HELMS {
        let dest = root.join(format!("pulled-{which}"));
        std::fs::create_dir_all(&dest).unwrap();
        let mut cmd = helm(which, &home);
        cmd.args([
            "pull",
            &reference,
            "--version",
            "2.0.0",
            "--plain-http",
            "--verify",
            "--keyring",
        ])
        .arg(&s.admin.pubring)
        .arg("-d")
        .arg(&dest);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 0, "{which}: {}", run.stderr);
        assert_eq!(
            std::fs::read(dest.join("nvflare-client-2.0.0.tgz")).unwrap(),
            std::fs::read(&archive).unwrap()
        );
    }
    let run = verify_chart(
        &reference,
        &s.admin.pubring,
        &["--version", "2.0.0", "--plain-http"],
    )
    .success();
    let data = &run.json()["data"];
    assert_eq!(data["signed_by"][0], s.admin.uid.as_str());
    assert_eq!(data["file"], "nvflare-client-2.0.0.tgz");
    let tagged = format!("{reference}:2.0.0");
    verify_chart(&tagged, &s.admin.pubring, &["--plain-http"]).success();

    // Another participant's chart, pushed unsigned: nothing to verify.
    let server_out = root.join("prepared/server");
    let server_kit = s.ws.project.server_kit();
    let args = [
        "prepare",
        server_kit.to_str().unwrap(),
        "--config",
        s.ws.config.to_str().unwrap(),
        "--output",
        server_out.to_str().unwrap(),
        "--package",
    ];
    let run = nvflare(&args, &[]).success();
    let unsigned = run.json()["data"]["package"].as_str().unwrap().to_string();
    let run = nvflare(&["push", &unsigned, &remote, "--plain-http"], &[]).success();
    let pushed = run.json()["data"]["charts"][0]["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let run = verify_chart(
        &format!("oci://{pushed}"),
        &s.admin.pubring,
        &["--plain-http"],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("has no provenance"), "{}", run.stdout);
    // A chart that is not there.
    let run = verify_chart(
        &format!("{reference}:9.9.9"),
        &s.admin.pubring,
        &["--plain-http"],
    );
    assert_eq!(run.code, 4, "{}", run.stdout);
}
