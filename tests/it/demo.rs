//! The README's first command on a fresh clone: `scripts/demo.sh` installs the plugin into
//! empty Helm homes (the hook builds it), prepares the example, and prints next commands
//! that work when pasted. Every printed command is run here, as printed.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::{repo, run_cmd, tool};

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn demo_on_a_fresh_clone_prints_commands_that_work() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let clone = root.join("clone");
    let status = Command::new("git")
        .args(["clone", "-q"])
        .arg(repo())
        .arg(&clone)
        .status()
        .unwrap();
    assert!(status.success(), "git clone");
    // `helm` on PATH is a real Helm 3; the Helm homes start empty.
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(tool("helm3"), bin.join("helm")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let env = |cmd: &mut Command| {
        cmd.env("PATH", &path)
            .env("HELM_CONFIG_HOME", root.join("helm/config"))
            .env("HELM_DATA_HOME", root.join("helm/data"))
            .env("HELM_CACHE_HOME", root.join("helm/cache"))
            .env_remove("HELM_PLUGINS")
            // The release build is shared with this checkout's, so a second run is quick.
            .env("CARGO_TARGET_DIR", repo().join("target/demo"));
    };
    let mut demo = Command::new("bash");
    demo.arg(clone.join("scripts/demo.sh"));
    env(&mut demo);
    let run = run_cmd(demo);
    assert_eq!(run.code, 0, "demo.sh:\n{}\n{}", run.stdout, run.stderr);
    let next: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Done. Next steps"))
        .skip(1)
        .map(str::trim)
        .filter(|l| l.starts_with("helm "))
        .collect();
    assert_eq!(next.len(), 5, "{}", run.stdout);
    for line in next {
        let mut pasted = Command::new("bash");
        pasted.args(["-c", line]).current_dir(root);
        env(&mut pasted);
        let run = run_cmd(pasted);
        assert_eq!(run.code, 0, "{line}\n{}\n{}", run.stdout, run.stderr);
    }
    assert!(Path::new(&clone.join("target/example/dist/nvflare-client-0.1.0.tgz")).is_file());
}
