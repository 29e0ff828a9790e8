//! Ctrl-C at any moment of `prepare`, `package`, `sign` and `push` leaves no temporary file
//! behind: the command ends with 130 (or had finished, 0), and every file it wrote is whole.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use support::gpg::Gpg;
use support::kits::Project;
use support::{nvflare_cmd, write, K8S_CONFIG};

/// Files under `dir` that are a write's leftovers: tempfile's `.tmpXXXXXX`, prepare's
/// `.<output>.prepare-*` folders.
/// The chart archives under `dir` (a federation's package puts one folder per participant).
fn archives_in(dir: &Path) -> Vec<PathBuf> {
    support::snapshot(dir)
        .into_keys()
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .map(|p| dir.join(p))
        .collect()
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    support::snapshot(dir)
        .into_keys()
        .filter(|p| {
            p.components().any(|c| {
                let name = c.as_os_str().to_string_lossy();
                name.starts_with(".tmp") || name.contains(".prepare-")
            })
        })
        .collect()
}

/// Starts `cmd` as a terminal's foreground job, sends SIGINT to its group after `after`,
/// and returns its exit code: 130, 0 (done before the signal), or -1 (killed by the
/// signal before the handler was installed, so before anything was written).
fn interrupt_after(mut cmd: Command, after: Duration) -> i32 {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(after);
    let _ = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the command did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const DELAYS_MS: [u64; 6] = [2, 10, 25, 50, 100, 200];

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs gpg: run scripts/test.sh"
)]
fn ctrl_c_leaves_no_temporary_file_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    for i in 0..120 {
        project.client_kit(&format!("site-{i}"));
    }
    let prod = root.join("ws/example_project/prod_00");
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let prepared = root.join("prepared");
    support::nvflare([
        "prepare".as_ref(),
        prod.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--output".as_ref(),
        prepared.as_os_str(),
    ])
    .success();
    let gpg = Gpg::new(root);
    let key = gpg.key("Site Admin", None, None, "0");

    for (n, delay) in DELAYS_MS.iter().enumerate() {
        let after = Duration::from_millis(*delay);
        // prepare of a federation: a temporary folder beside the output, renamed at the end.
        let out = root.join(format!("prepare-{n}"));
        let mut cmd = nvflare_cmd();
        cmd.arg("prepare")
            .arg(&prod)
            .arg("--config")
            .arg(&config)
            .arg("--output")
            .arg(&out);
        let code = interrupt_after(cmd, after);
        assert!(
            [0, 130, -1].contains(&code),
            "prepare after {delay} ms: exit {code}"
        );
        assert!(
            leftovers(root).is_empty(),
            "prepare after {delay} ms left {:?}",
            leftovers(root)
        );

        // package of every chart: one archive after another, each through a temporary file.
        let dest = root.join(format!("package-{n}"));
        let mut cmd = nvflare_cmd();
        cmd.arg("package").arg(&prepared).arg("-d").arg(&dest);
        let code = interrupt_after(cmd, after);
        assert!(
            [0, 130, -1].contains(&code),
            "package after {delay} ms: exit {code}"
        );
        assert!(
            leftovers(&dest).is_empty(),
            "package after {delay} ms left {:?}",
            leftovers(&dest)
        );
        for archive in archives_in(&dest) {
            support::tgz_entries(&archive); // each archive there is whole
        }
    }

    // sign: a .prov per archive, each through a temporary file.
    let dest = root.join("to-sign");
    support::nvflare([
        "package".as_ref(),
        prepared.as_os_str(),
        "-d".as_ref(),
        dest.as_os_str(),
    ])
    .success();
    let archives = archives_in(&dest);
    assert!(archives.len() > 100);
    for delay in DELAYS_MS {
        for archive in &archives {
            let _ = std::fs::remove_file(archive.with_extension("tgz.prov"));
        }
        let mut cmd = nvflare_cmd();
        cmd.arg("sign")
            .args(&archives)
            .args(["--key", "Site Admin", "--keyring"])
            .arg(&key.secring);
        let code = interrupt_after(cmd, Duration::from_millis(delay));
        assert!(
            [0, 130, -1].contains(&code),
            "sign after {delay} ms: exit {code}"
        );
        assert!(
            leftovers(&dest).is_empty(),
            "sign after {delay} ms left {:?}",
            leftovers(&dest)
        );
    }

    // push to a registry that accepts and never answers: Ctrl-C ends it at once.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = nvflare_cmd();
    cmd.arg("push")
        .arg(&archives[0])
        .arg(format!("oci://{}/fl", silent.local_addr().unwrap()))
        .arg("--plain-http");
    let started = Instant::now();
    let code = interrupt_after(cmd, Duration::from_millis(300));
    assert_eq!(code, 130, "push");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "push kept waiting after Ctrl-C"
    );
    assert!(leftovers(&dest).is_empty());
}
