//! The Helm plugin: `helm plugin install` with real Helm 3.17 and Helm 4.1, then
//! `helm nvflare ...` through Helm; and the install hook's build and failure paths.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::kits::Project;
use support::manifests::{helm, HELMS};
use support::{bin, repo, run_cmd, write, K8S_CONFIG};

/// A plugin folder as a release archive unpacks: plugin.yaml, the hook, a bundled binary.
fn plugin_dir(root: &Path) -> PathBuf {
    let dir = root.join("helm-nvflare");
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(repo().join("plugin.yaml"), dir.join("plugin.yaml")).unwrap();
    std::fs::copy(
        repo().join("scripts/install-plugin.sh"),
        dir.join("scripts/install-plugin.sh"),
    )
    .unwrap();
    std::fs::copy(bin(), dir.join("bin/helm-nvflare")).unwrap();
    for file in ["completion.yaml", "plugin.complete"] {
        std::fs::copy(repo().join(file), dir.join(file)).unwrap();
    }
    dir
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn installs_and_runs_with_helm3_and_helm4() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let plugin = plugin_dir(root);
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let kit = project.client_kit("site-1");
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let home = root.join("helm-home");
    for which in HELMS {
        let mut install = helm(which, &home);
        install.args(["plugin", "install"]).arg(&plugin);
        let run = run_cmd(install);
        assert_eq!(
            run.code, 0,
            "{which} plugin install:\n{}\n{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stdout.contains("Installed plugin: nvflare"),
            "{}",
            run.stdout
        );

        let mut list = helm(which, &home);
        list.args(["plugin", "list"]);
        let run = run_cmd(list).success();
        assert!(
            run.stdout.contains("nvflare") && run.stdout.contains("0.1.0"),
            "{which}: {}",
            run.stdout
        );

        let mut version = helm(which, &home);
        version.args(["nvflare", "version", "--format", "json"]);
        let run = run_cmd(version).success();
        assert_eq!(run.json()["data"]["version"], env!("CARGO_PKG_VERSION"));

        let mut help = helm(which, &home);
        help.args(["nvflare", "--help"]);
        let run = run_cmd(help).success();
        assert!(
            run.stdout.contains("prepare") && run.stdout.contains("completion"),
            "{}",
            run.stdout
        );

        let mut completion = helm(which, &home);
        completion.args(["nvflare", "completion", "bash"]);
        let run = run_cmd(completion).success();
        assert!(run.stdout.contains("complete"), "{}", run.stdout);

        // Completion through Helm: sub-commands from completion.yaml, the rest from
        // plugin.complete (the binary's __complete).
        for (words, expected) in [
            (&["nvflare", "pre"][..], "prepare"),
            (&["nvflare", "prepare", "--fo"][..], "--format"),
            (
                &["nvflare", "stage", "kit", "--method", ""][..],
                "configmap",
            ),
        ] {
            let mut complete = helm(which, &home);
            complete.arg("__complete").args(words);
            let run = run_cmd(complete).success();
            assert!(
                run.stdout.lines().any(|l| l == expected),
                "{which} __complete {words:?}:\n{}",
                run.stdout
            );
        }

        let out = root.join(format!("out-{which}"));
        let mut prepare = helm(which, &home);
        prepare
            .args(["nvflare", "prepare"])
            .arg(&kit)
            .arg("--config")
            .arg(&config)
            .arg("--output")
            .arg(&out)
            .args(["--format", "json"]);
        let run = run_cmd(prepare).success();
        let data = &run.json()["data"];
        assert_eq!(data["release"], "site-1");
        assert!(out.join("helm_chart/Chart.yaml").is_file());

        // Helm takes -n and --kube-context itself and passes them as HELM_NAMESPACE and
        // HELM_KUBECONTEXT: they must reach every kubectl call.
        let mut stage = helm(which, &home);
        stage
            .args(["nvflare", "stage"])
            .arg(&out)
            .args(["-n", "nvflare", "--kube-context", "fl-cluster", "--dry-run"])
            .env("KUBECONFIG", root.join("no-kubeconfig"));
        let run = run_cmd(stage).success();
        assert!(
            run.stdout
                .contains("kubectl --context=fl-cluster --request-timeout=30s --namespace=nvflare get namespace nvflare"),
            "{which}: {}",
            run.stdout
        );
        let mut wrong_ns = helm(which, &home);
        wrong_ns
            .args(["nvflare", "stage"])
            .arg(&out)
            .args(["-n", "other", "--dry-run", "--format", "json"])
            .env("KUBECONFIG", root.join("no-kubeconfig"));
        let run = run_cmd(wrong_ns);
        assert!(
            run.stdout.contains("NAMESPACE_MISMATCH"),
            "{which}: {}",
            run.stdout
        );

        // A user error keeps its exit code through Helm.
        let mut bad = helm(which, &home);
        bad.args(["nvflare", "prepare"])
            .arg(root.join("missing"))
            .args(["--format", "json"]);
        let run = run_cmd(bad);
        assert_ne!(run.code, 0);
        assert!(
            run.stdout.contains("\"error_code\":\"CONFIG_NOT_FOUND\""),
            "{which}: {}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

fn run_hook(plugin: &Path, path: &str, extra_env: &[(&str, &Path)]) -> support::Run {
    let mut cmd = Command::new("sh");
    cmd.arg(plugin.join("scripts/install-plugin.sh"))
        .env("HELM_PLUGIN_DIR", plugin)
        .env("PATH", path);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    run_cmd(cmd)
}

#[test]
fn install_hook_builds_with_cargo_or_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let plugin = plugin_dir(tmp.path());
    std::fs::remove_file(plugin.join("bin/helm-nvflare")).unwrap();
    // A source tree: what `helm plugin install <git checkout>` links to.
    write(&plugin.join("Cargo.toml"), "[package]\n");

    // No bundled binary and no cargo: a clear message and a failed install.
    let run = run_hook(&plugin, "/usr/bin:/bin", &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no bundled binary")
            && run.stderr.contains("rustup.rs")
            && run
                .stderr
                .contains(&format!("helm plugin install {}", plugin.display())),
        "{}",
        run.stderr
    );
    assert!(!plugin.join("bin/helm-nvflare").exists());
    assert!(
        plugin.is_dir(),
        "the hook removed a plugin folder that is no link"
    );

    // Installed from a folder, Helm links to it: the failed hook removes the link (and
    // only the link), so Helm lists no broken plugin.
    let link = tmp.path().join("plugins/helm-nvflare");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&plugin, &link).unwrap();
    let run = run_hook(&link, "/usr/bin:/bin", &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("removed again"), "{}", run.stderr);
    assert!(link.symlink_metadata().is_err(), "the link is still there");
    assert!(
        plugin.join("plugin.yaml").is_file(),
        "the source folder was touched"
    );

    // With cargo: `cargo build --release --locked` into the target dir, then the binary is
    // copied into bin/. A stand-in cargo records its arguments and "builds" the binary.
    let stub_dir = tmp.path().join("stub-bin");
    let log = tmp.path().join("cargo.log");
    let stub = write(
        &stub_dir.join("cargo"),
        &format!(
            "#!/bin/sh\necho \"$@\" > {log}\nwhile [ $# -gt 0 ]; do [ \"$1\" = --target-dir ] && t=\"$2\"; shift; done\nmkdir -p \"$t/release\" && cp {bin} \"$t/release/helm-nvflare\"\n",
            log = log.display(),
            bin = bin().display()
        ),
    );
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let target = tmp.path().join("target");
    let run = run_hook(
        &plugin,
        &format!("{}:/usr/bin:/bin", stub_dir.display()),
        &[("CARGO_TARGET_DIR", &target)],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let args = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        args.trim(),
        format!(
            "build --release --locked --quiet --manifest-path {}/Cargo.toml --target-dir {}",
            plugin.display(),
            target.display()
        )
    );
    assert!(plugin.join("bin/helm-nvflare").is_file());
    assert!(run.stdout.contains("version: "), "{}", run.stdout);

    // A source tree (Cargo.toml) with cargo is rebuilt on every install or update, so an
    // update after a pull runs the new code.
    let run = run_hook(
        &plugin,
        &format!("{}:/usr/bin:/bin", stub_dir.display()),
        &[("CARGO_TARGET_DIR", &target)],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("building with cargo"), "{}", run.stdout);
    std::fs::remove_file(plugin.join("Cargo.toml")).unwrap();

    // Now bundled, and no source tree (a release archive): the next install uses it and
    // never builds, cargo or not.
    std::fs::remove_file(&log).unwrap();
    let run = run_hook(
        &plugin,
        &format!("{}:/usr/bin:/bin", stub_dir.display()),
        &[],
    );
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("using the bundled binary"));
    assert!(!log.exists());

    // A bundled binary that does not run here (another platform's): a clear failure, no build.
    write(&plugin.join("bin/helm-nvflare"), "not a program");
    let run = run_hook(
        &plugin,
        &format!("{}:/usr/bin:/bin", stub_dir.display()),
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("does not run on this machine"),
        "{}",
        run.stderr
    );
    assert!(!log.exists());
}

/// Issue 20, item 10: Helm runs the install hook with `sh -c`, so an unquoted
/// `${HELM_PLUGIN_DIR}` splits at a space and runs the path's first word. With a plugin
/// home under `.../a b/`, an executable `.../a` must never run, and the install works.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn issue_20_10_the_install_hook_quotes_the_plugin_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let plugin = plugin_dir(&root.join("src"));
    let marker = root.join("first-word-ran");
    let decoy = write(
        &root.join("a"),
        &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    );
    std::fs::set_permissions(&decoy, std::fs::Permissions::from_mode(0o755)).unwrap();
    for which in HELMS {
        let home = root.join(format!("a b/{which}"));
        let mut install = helm(which, &home);
        install.args(["plugin", "install"]).arg(&plugin);
        let run = run_cmd(install);
        assert!(
            !marker.exists(),
            "{which} ran {} from the plugin path's first word",
            decoy.display()
        );
        assert_eq!(run.code, 0, "{which}:\n{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("using the bundled binary"),
            "{which}: the hook did not run: {}",
            run.stdout
        );
    }
}
