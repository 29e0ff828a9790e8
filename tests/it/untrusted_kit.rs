//! A startup kit is untrusted input: it never chooses what the tool deletes, overwrites or
//! copies off this machine. Each test is a reproduction from issue 9 (problems 1 to 4).

use crate::support;

use std::path::Path;

use serde_json::{json, Value};
use support::manifests::{values_as_helm_reads_them, HELMS};
use support::stand_in_kubectl::StubCluster;
use support::{nvflare, nvflare_cmd, prepare_json, run_cmd, snapshot, write, Run};

type World = support::Workspace;

fn world() -> World {
    support::Workspace::new()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn prepare(w: &World, kit: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "prepare",
        p(kit),
        "--config",
        p(&w.config),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    nvflare(args)
}

fn error_code(run: &Run) -> String {
    assert_eq!(run.code, 4, "exit code\n{}\n{}", run.stdout, run.stderr);
    run.json()["error_code"].as_str().unwrap().to_string()
}

/// Runs `unstage` against a stand-in cluster; returns the run and the kubectl calls made.
fn unstage(w: &World, kit: &Path) -> (Run, Vec<Vec<String>>) {
    let stub = StubCluster::new(&w.root.join("cluster"));
    stub.reset();
    let mut cmd = nvflare_cmd();
    cmd.args(["unstage", p(kit), "--format", "json"])
        .env("PATH", stub.path())
        .env("STUB_LOG_DIR", &stub.log)
        .env_remove("KUBECTL")
        .env_remove("HELM_NAMESPACE");
    let run = run_cmd(cmd);
    let calls = stub.calls().into_iter().map(|(args, _)| args).collect();
    (run, calls)
}

const HOSTILE_RECORD: &str = r#"{"method":"configmap","namespace":"nvflare","config_map":"important-config","secret":"db-credentials"}"#;

#[test]
fn issue_9_1_a_kit_cannot_choose_what_unstage_deletes() {
    let w = world();
    let kit = w.project.client_kit("site-1");
    write(&kit.join(".helm-nvflare-stage.json"), HOSTILE_RECORD);
    write(&kit.join(".helm-nvflare-output.json"), "{}");
    let out = w.root.join("out");
    prepare(&w, &kit, &["--output", p(&out)]).success();
    assert!(
        !out.join(".helm-nvflare-stage.json").exists(),
        "prepare copied tool state from the kit"
    );
    let (run, calls) = unstage(&w, &out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["data"]["unstaged"], json!(false));
    assert!(calls.is_empty(), "kubectl was called: {calls:?}");

    // A record that did not come from `stage` on this folder (copied in, or with a value
    // that kubectl would read as a flag) is refused, and nothing is deleted.
    for record in [
        HOSTILE_RECORD.to_string(),
        format!(
            r#"{{"method":"pvc","namespace":"nvflare","pvc":"--kubeconfig=out/local/kc.yaml","folder":"{}","folder_id":"0:0"}}"#,
            p(&out)
        ),
        format!(
            r#"{{"method":"configmap","namespace":"nvflare","config_map":"important-config","secret":"db-credentials","folder":"{}","folder_id":"1:2"}}"#,
            p(&out)
        ),
    ] {
        write(&out.join(".helm-nvflare-stage.json"), &record);
        let (run, calls) = unstage(&w, &out);
        assert_eq!(error_code(&run), "INVALID_STAGE_RECORD", "{record}");
        assert!(
            calls.is_empty(),
            "kubectl was called for {record}: {calls:?}"
        );
        // prepare will not silently replace it either.
        let again = prepare(&w, &kit, &["--output", p(&out)]);
        assert_eq!(error_code(&again), "INVALID_STAGE_RECORD");
    }
}

#[test]
fn issue_9_2_outputs_never_overlap_the_kit() {
    let w = world();
    let client = w.project.client_kit("site-1");
    let server = w.project.server_kit();
    for (kit, inside) in [
        (&client, "startup"),
        (&client, "local"),
        (&client, "local/new"),
        (&server, "transfer"),
    ] {
        let before = snapshot(&w.root);
        let run = prepare(&w, kit, &["--output", p(&kit.join(inside))]);
        assert_eq!(error_code(&run), "INVALID_ARGS", "--output <kit>/{inside}");
        assert_eq!(
            snapshot(&w.root),
            before,
            "--output <kit>/{inside} wrote something"
        );
    }

    // An earlier --output inside the kit is never copied into a later output.
    let earlier = client.join("out");
    prepare(&w, &client, &["--output", p(&earlier)]).success();
    prepare(&w, &client, &[]).success();
    let default = client.join("prepared/k8s");
    assert!(default.join("startup/client.key").is_file());
    assert!(
        !default.join("out").exists(),
        "an earlier output (with keys) was copied into the new one"
    );
    // Preparing again over either output works: they are the tool's own.
    prepare(&w, &client, &["--output", p(&earlier)]).success();
    prepare(&w, &client, &[]).success();

    // A folder that is not an output of the tool is never replaced.
    let mine = w.root.join("my-documents");
    write(&mine.join("thesis.txt"), "years of work");
    let run = prepare(&w, &client, &["--output", p(&mine)]);
    assert_eq!(error_code(&run), "INVALID_ARGS");
    assert!(mine.join("thesis.txt").is_file());
}

#[test]
fn issue_9_3_symlinks_are_refused_everywhere() {
    let w = world();
    let kit = w.project.client_kit("site-1");
    std::os::unix::fs::symlink("/etc/passwd", kit.join("local/passwd.txt")).unwrap();
    let before = snapshot(&w.root);
    let run = prepare(&w, &kit, &["--output", p(&w.root.join("out"))]);
    assert_eq!(error_code(&run), "INVALID_KIT");
    let message = run.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("local/passwd.txt (symlink to /etc/passwd)"),
        "{message}"
    );
    assert_eq!(snapshot(&w.root), before);
    std::fs::remove_file(kit.join("local/passwd.txt")).unwrap();

    // A link planted in a prepared output is refused by stage (both methods) and package.
    let out = w.root.join("out");
    prepare_json(&kit, &w.config, &out, &[]);
    std::os::unix::fs::symlink("/etc/passwd", out.join("local/passwd.txt")).unwrap();
    for method in ["pvc", "configmap"] {
        let stub = StubCluster::new(&w.root.join(format!("cluster-{method}")));
        let mut cmd = nvflare_cmd();
        cmd.args(["stage", p(&out), "--method", method, "--format", "json"])
            .env("PATH", stub.path())
            .env("STUB_LOG_DIR", &stub.log)
            .env("HELM_NAMESPACE", "nvflare")
            .env_remove("KUBECTL");
        let run = run_cmd(cmd);
        assert_eq!(error_code(&run), "INVALID_KIT", "stage --method {method}");
        assert!(
            stub.calls().is_empty(),
            "stage --method {method} called kubectl"
        );
    }
    std::fs::remove_file(out.join("local/passwd.txt")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", out.join("helm_chart/files.txt")).unwrap();
    let dest = w.root.join("dist");
    let run = nvflare([
        "package",
        p(&out),
        "--destination",
        p(&dest),
        "--format",
        "json",
    ]);
    assert_eq!(error_code(&run), "INVALID_CHART");
    assert!(!dest.exists());
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn issue_9_4_yaml_line_breaks_cannot_escape_the_values_file() {
    let w = world();
    let home = w.root.join("helm-home");
    let hostile_kit = |i: usize, name: &str| {
        let kit = w.project.client_kit(&format!("c{i}"));
        let fed = kit.join("startup/fed_client.json");
        let mut config: Value = support::read_json(&fed);
        config["client"]["fqsn"] = json!(name);
        std::fs::write(&fed, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        kit
    };
    // Control characters (line feeds, DEL, C1 such as NEL) are no part of a name: refused.
    for (i, name) in [
        "site-1\u{85}evil: true",
        "site-1\u{7f}\u{9b}x",
        "site-1\nevil: true\n#",
    ]
    .iter()
    .enumerate()
    {
        let kit = hostile_kit(100 + i, name);
        let run = prepare(&w, &kit, &["--output", p(&w.root.join("refused"))]);
        assert_eq!(error_code(&run), "INVALID_KIT", "{name:?}");
        assert!(!w.root.join("refused").exists());
    }
    // Line and paragraph separators are printable: written escaped, read back exactly.
    for (i, name) in [
        "site-1\u{2028}evil: true\u{2028}#",
        "site-1\u{2029}evil: true\u{2029}- x",
    ]
    .iter()
    .enumerate()
    {
        let kit = hostile_kit(i, name);
        let out = w.root.join(format!("out-{i}"));
        prepare_json(&kit, &w.config, &out, &[]);
        let chart = out.join("helm_chart");
        for which in HELMS {
            let values = values_as_helm_reads_them(which, &home, &chart, &w.root);
            assert_eq!(values["name"], json!(name), "{which}: {name:?}");
            assert_eq!(values["siteName"], json!(name), "{which}: {name:?}");
            assert!(
                values.get("evil").is_none(),
                "{which}: {name:?} added a key"
            );
            let text = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
            assert!(
                !text.contains(['\u{2028}', '\u{2029}']),
                "raw separator in values.yaml"
            );
        }
    }
}

/// Runs `cmd`, killing it after `secs`: (the run, whether it finished in time).
fn run_within(mut cmd: std::process::Command, secs: u64) -> (Run, bool) {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut in_time = true;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            in_time = false;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        in_time,
    )
}

/// Issue 20, item 8: a `pod_template` path is read like the rest of the kit (no link, no
/// FIFO or device, capped) whatever its name; a kit's `prepared` entry that is a link or
/// a file is refused for the default output; `push <folder>` never follows a linked
/// folder out of the folder.
#[test]
fn issue_20_8_kit_links_and_special_files_everywhere() {
    let w = world();
    let with_template = |name: &str| {
        let kit = w.project.client_kit(name);
        write(
            &kit.join("local/study_runtime.yaml"),
            "format_version: 2\nstudies:\n  s:\n    pod_template: .helm-nvflare-pod.yaml\n",
        );
        kit
    };

    // A link out of the kit, under a name the walk skips.
    let kit = with_template("site-1");
    std::os::unix::fs::symlink("/etc/passwd", kit.join("local/.helm-nvflare-pod.yaml")).unwrap();
    let run = prepare(&w, &kit, &[]);
    assert_eq!(error_code(&run), "INVALID_KIT");
    assert!(run.stdout.contains("symbolic link"), "{}", run.stdout);

    // /dev/zero through a link, and a FIFO: refused at once, never read or waited on.
    let kit = with_template("site-2");
    std::os::unix::fs::symlink("/dev/zero", kit.join("local/.helm-nvflare-pod.yaml")).unwrap();
    let mut cmd = nvflare_cmd();
    cmd.args([
        "prepare",
        p(&kit),
        "--config",
        p(&w.config),
        "--format",
        "json",
    ]);
    let (run, in_time) = run_within(cmd, 20);
    assert!(in_time, "prepare read /dev/zero");
    assert_eq!(error_code(&run), "INVALID_KIT");
    let kit = with_template("site-3");
    let fifo = kit.join("local/.helm-nvflare-pod.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut cmd = nvflare_cmd();
    cmd.args([
        "prepare",
        p(&kit),
        "--config",
        p(&w.config),
        "--format",
        "json",
    ]);
    let (run, in_time) = run_within(cmd, 20);
    assert!(in_time, "prepare blocked on a FIFO");
    assert_eq!(error_code(&run), "INVALID_KIT");
    assert!(run.stdout.contains("not a regular file"), "{}", run.stdout);

    // The kit's `prepared` entry: a link to a folder elsewhere, or a file.
    let elsewhere = w.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let kit = w.project.client_kit("site-4");
    std::os::unix::fs::symlink(&elsewhere, kit.join("prepared")).unwrap();
    let run = prepare(&w, &kit, &[]);
    assert_eq!(error_code(&run), "INVALID_KIT");
    assert!(run.stdout.contains("link or a file"), "{}", run.stdout);
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
    let kit = w.project.client_kit("site-5");
    write(&kit.join("prepared"), "a file");
    let run = prepare(&w, &kit, &[]);
    assert_eq!(error_code(&run), "INVALID_KIT");

    // push <folder>: the list names an archive below a linked folder.
    let out = w.root.join("out/site-6");
    let data = prepare_json(
        &w.project.client_kit("site-6"),
        &w.config,
        &out,
        &["--package"],
    );
    let outside = w.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(
        data["package"].as_str().unwrap(),
        outside.join("nvflare-client-0.1.0.tgz"),
    )
    .unwrap();
    let dist = w.root.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::os::unix::fs::symlink(&outside, dist.join("site-6")).unwrap();
    write(
        &dist.join(".helm-nvflare-packages.json"),
        r#"{"archives": ["site-6/nvflare-client-0.1.0.tgz"]}"#,
    );
    let run = nvflare([
        "push",
        p(&dist),
        "oci://127.0.0.1:1/fl",
        "--plain-http",
        "--format",
        "json",
    ]);
    assert_eq!(
        run.json()["error_code"],
        "INVALID_ARCHIVE",
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("through a link"), "{}", run.stdout);
}

/// Issue 20, item 9: a kit's job pod template becomes the pod of every job at the site, so
/// `prepare` refuses what it grants beyond the launcher (privileged containers, host
/// namespaces, hostPath, another ServiceAccount, Secrets the study does not declare)
/// unless the operator passes --allow-job-pod-grants, and `verify` reports the same.
#[test]
fn issue_20_9_a_kits_job_pod_template_is_untrusted() {
    let w = world();
    let hostile = "format_version: 2\nstudies:\n  s:\n    secret_env:\n      TOKEN: {source: study-token, key: token}\n    pod_template:\n      spec:\n        hostNetwork: true\n        serviceAccountName: cluster-admin-sa\n        volumes:\n          - {name: root, hostPath: {path: /}}\n        containers:\n          - name: job\n            securityContext: {privileged: true}\n            env:\n              - name: A\n                valueFrom: {secretKeyRef: {name: study-token, key: token}}\n              - name: B\n                valueFrom: {secretKeyRef: {name: db-credentials, key: password}}\n";
    let kit = w.project.client_kit("site-1");
    write(&kit.join("local/study_runtime.yaml"), hostile);
    let out = w.root.join("out/site-1");
    let run = prepare(&w, &kit, &["--output", p(&out)]);
    assert_eq!(error_code(&run), "INVALID_KIT");
    let message = run.json()["message"].as_str().unwrap().to_string();
    for grant in [
        "the host's network namespace",
        "ServiceAccount \"cluster-admin-sa\"",
        "hostPath volume \"/\"",
        "privileged container \"job\"",
        "Secret \"db-credentials\"",
    ] {
        assert!(message.contains(grant), "{grant}: {message}");
    }
    assert!(
        !message.contains("Secret \"study-token\""),
        "a Secret the study declares is no grant: {message}"
    );
    assert!(run.stdout.contains("--allow-job-pod-grants"));
    assert!(!out.exists());

    // Allowed by the operator: prepared, each grant a warning, and verify reports them.
    let run = prepare(&w, &kit, &["--output", p(&out), "--allow-job-pod-grants"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let warnings = run.json()["data"]["warnings"].to_string();
    assert!(warnings.contains("privileged container"), "{warnings}");
    let run = nvflare(["verify", p(&out), "--offline", "--format", "json"]);
    let check = support::named_check(&run.json()["data"], "job-pod-grants").clone();
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["message"].as_str().unwrap().contains("hostPath"),
        "{check}"
    );

    // A template that only places the pod grants nothing.
    let kit = w.project.client_kit("site-2");
    write(
        &kit.join("local/study_runtime.yaml"),
        "format_version: 2\nstudies:\n  s:\n    pod_template: {spec: {nodeSelector: {gpu: a100}}}\n",
    );
    let out = w.root.join("out/site-2");
    let run = prepare(&w, &kit, &["--output", p(&out)]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let run = nvflare(["verify", p(&out), "--offline", "--format", "json"]);
    assert_eq!(
        support::named_check(&run.json()["data"], "job-pod-grants")["status"],
        "pass"
    );
}
