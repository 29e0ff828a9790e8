//! Every error `prepare` reports: its code, exit 4, a message and a hint, in text and in
//! JSON, and nothing written: no output, no temporary folder, the kit untouched, and a
//! previous output left exactly as it was.

use crate::support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use support::{nvflare, snapshot, write};

struct Case {
    name: &'static str,
    code: &'static str,
    message: &'static str,
}

type World = support::Workspace;

fn world() -> World {
    support::Workspace::new()
}

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// Runs prepare with `args` (+ `--format json`) and checks the error and that nothing was
/// written anywhere under the test root.
fn expect_error(w: &World, case: &Case, args: Vec<OsString>) {
    let before = snapshot(&w.root);
    let mut json_args = args.clone();
    json_args.extend(["--format".into(), "json".into()]);
    let run = nvflare(std::iter::once(OsString::from("prepare")).chain(json_args));
    assert_eq!(
        run.code, 4,
        "{}: exit code\n{}\n{}",
        case.name, run.stdout, run.stderr
    );
    let envelope = run.json();
    assert_eq!(envelope["status"], "error", "{}", case.name);
    // NVFlare's CLI envelope (nvflare/tool/cli_output.py): exactly these keys.
    assert_eq!(envelope["schema_version"], "1", "{}", case.name);
    assert_eq!(envelope["exit_code"], 4, "{}", case.name);
    let keys: Vec<&str> = envelope
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "schema_version",
            "status",
            "exit_code",
            "error_code",
            "message",
            "hint"
        ],
        "{}",
        case.name
    );
    assert_eq!(
        envelope["error_code"], case.code,
        "{}: {}",
        case.name, envelope
    );
    let message = envelope["message"].as_str().unwrap();
    assert!(
        message.contains(case.message),
        "{}: message {message:?} lacks {:?}",
        case.name,
        case.message
    );
    assert!(
        !envelope["hint"].as_str().unwrap().is_empty(),
        "{}: no hint",
        case.name
    );
    assert!(
        !message.contains("BEGIN") && !run.stderr.contains("PRIVATE KEY"),
        "{}: key material in output",
        case.name
    );
    assert_eq!(
        snapshot(&w.root),
        before,
        "{}: something was written",
        case.name
    );

    let run = nvflare(std::iter::once(OsString::from("prepare")).chain(args));
    assert_eq!(run.code, 4, "{}", case.name);
    assert!(
        run.stdout.is_empty(),
        "{}: text errors go to stderr",
        case.name
    );
    assert!(
        run.stderr.contains(&format!("error[{}]", case.code)) && run.stderr.contains("hint: "),
        "{}: {}",
        case.name,
        run.stderr
    );
    assert_eq!(
        snapshot(&w.root),
        before,
        "{}: something was written",
        case.name
    );
}

fn prepare_args(kit: &Path, config: &Path, output: &Path) -> Vec<OsString> {
    os(&[&kit, &"--config", &config, &"--output", &output])
}

#[test]
fn argument_errors() {
    let w = world();
    let kit = w.project.client_kit("site-1");
    let out = w.root.join("out");
    let file = write(&w.root.join("a-file"), "x");
    let cases: Vec<(Case, Vec<OsString>)> = vec![
        (
            Case {
                name: "kit twice",
                code: "INVALID_ARGS",
                message: "only once",
            },
            os(&[&kit, &"--kit", &kit, &"--config", &w.config]),
        ),
        (
            Case {
                name: "no kit",
                code: "INVALID_ARGS",
                message: "Missing startup kit",
            },
            os(&[&"--config", &w.config]),
        ),
        (
            Case {
                name: "output is the kit",
                code: "INVALID_ARGS",
                message: "must not be the same as --kit or contain it",
            },
            prepare_args(&kit, &w.config, &kit),
        ),
        (
            Case {
                name: "output contains the kit",
                code: "INVALID_ARGS",
                message: "must not be the same as --kit or contain it",
            },
            prepare_args(&kit, &w.config, &w.root),
        ),
        (
            Case {
                name: "output is a file",
                code: "INVALID_ARGS",
                message: "exists and is not a directory",
            },
            prepare_args(&kit, &w.config, &file),
        ),
        (
            Case {
                name: "unknown flag",
                code: "INVALID_ARGS",
                message: "unexpected argument",
            },
            os(&[&kit, &"--bogus"]),
        ),
        (
            Case {
                name: "config missing",
                code: "CONFIG_NOT_FOUND",
                message: "Config file not found",
            },
            prepare_args(&kit, &w.root.join("nope.yaml"), &out),
        ),
        (
            Case {
                name: "default config missing",
                code: "CONFIG_NOT_FOUND",
                message: "config.yaml",
            },
            os(&[&kit]),
        ),
    ];
    for (case, args) in cases {
        expect_error(&w, &case, args);
    }
}

#[test]
fn runtime_config_errors() {
    let w = world();
    let kit = w.project.server_kit();
    let out = w.root.join("out");
    let k8s = |parent: &str| {
        format!("runtime: k8s\nparent:\n  docker_image: nvflare/nvflare:2.9.0\n{parent}")
    };
    let cases: Vec<(Case, String)> = vec![
        (Case { name: "malformed yaml", code: "INVALID_CONFIG", message: "Failed to parse config file" }, "runtime: [k8s\n".into()),
        (Case { name: "empty yaml", code: "INVALID_CONFIG", message: "must be a YAML mapping" }, "".into()),
        (Case { name: "comment-only yaml", code: "INVALID_CONFIG", message: "must be a YAML mapping" }, "# nothing\n".into()),
        (Case { name: "list yaml", code: "INVALID_CONFIG", message: "must be a YAML mapping" }, "- runtime\n".into()),
        (Case { name: "no runtime", code: "INVALID_CONFIG", message: "runtime: docker or runtime: k8s" }, "parent: {}\n".into()),
        (Case { name: "bad runtime", code: "INVALID_CONFIG", message: "runtime: docker or runtime: k8s" }, "runtime: slurm\n".into()),
        (Case { name: "unknown key", code: "INVALID_CONFIG", message: "Unknown keys in k8s config: ['extra']" }, format!("{}extra: 1\n", k8s(""))),
        (Case { name: "unknown parent key", code: "INVALID_CONFIG", message: "Unknown keys in parent: ['network']" }, k8s("  network: x\n")),
        (Case { name: "parent missing", code: "INVALID_CONFIG", message: "parent must be a YAML mapping" }, "runtime: k8s\n".into()),
        (Case { name: "job_launcher null", code: "INVALID_CONFIG", message: "job_launcher must be a YAML mapping" }, format!("{}job_launcher:\n", k8s(""))),
        (Case { name: "no image", code: "INVALID_CONFIG", message: "parent.docker_image must be a non-empty string" }, "runtime: k8s\nparent:\n  parent_port: 8102\n".into()),
        (Case { name: "boolean port", code: "INVALID_CONFIG", message: "parent.parent_port must be an integer" }, k8s("  parent_port: true\n")),
        (Case { name: "string port", code: "INVALID_CONFIG", message: "parent.parent_port must be an integer" }, k8s("  parent_port: \"8102\"\n")),
        (Case { name: "port out of range", code: "INVALID_CONFIG", message: "TCP port" }, k8s("  parent_port: 70000\n")),
        (Case { name: "port clash", code: "INVALID_CONFIG", message: "also the server's FL or admin port" }, k8s("  parent_port: 8003\n")),
        (Case { name: "boolean timeout", code: "INVALID_CONFIG", message: "job_launcher.pending_timeout must be an integer" }, format!("{}job_launcher:\n  pending_timeout: false\n", k8s(""))),
        (Case { name: "resources not a map", code: "INVALID_CONFIG", message: "parent.resources must be a mapping" }, k8s("  resources: 2\n")),
        (Case { name: "bad namespace", code: "INVALID_CONFIG", message: "valid Kubernetes namespace" }, format!("{}namespace: NVFlare\n", k8s(""))),
        (Case { name: "namespace with newline", code: "INVALID_CONFIG", message: "namespace contains a control character" }, format!("{}namespace: \"nvflare\\n\"\n", k8s(""))),
        (Case { name: "service name with trailing newline", code: "INVALID_CONFIG", message: "server_service_name contains a control character" }, format!("{}server_service_name: \"site-1\\n\"\n", k8s(""))),
        (Case { name: "service name starting with digit", code: "INVALID_CONFIG", message: "DNS-1035" }, format!("{}server_service_name: 1server\n", k8s(""))),
        (Case { name: "service name too long", code: "INVALID_CONFIG", message: "DNS-1035" }, format!("{}server_service_name: {}\n", k8s(""), "s".repeat(64))),
        (Case { name: "pull secret not a list", code: "INVALID_CONFIG", message: "must be a list of Kubernetes object names" }, k8s("  image_pull_secrets: regcred\n")),
        (Case { name: "bad pull secret", code: "INVALID_CONFIG", message: "must contain valid Kubernetes object names" }, k8s("  image_pull_secrets: [Reg_Cred]\n")),
        (Case { name: "bad job pull secret", code: "INVALID_CONFIG", message: "job launcher image pull references" }, format!("{}job_launcher:\n  image_pull_secrets: [\"a b\"]\n", k8s(""))),
        (Case { name: "bad pvc", code: "INVALID_CONFIG", message: "workspace_pvc" }, k8s("  workspace_pvc: My_PVC\n")),
        (Case { name: "relative mount", code: "INVALID_CONFIG", message: "absolute container path" }, k8s("  workspace_mount_path: workspace\n")),
        (Case { name: "bad image", code: "INVALID_CONFIG", message: "not a valid image reference" }, "runtime: k8s\nparent:\n  docker_image: \"nvflare:2.9 ; rm -rf /\"\n".into()),
        (Case { name: "docker reserved kwargs", code: "INVALID_CONFIG", message: "reserved keys: ['command', 'volumes']" }, "runtime: docker\nparent:\n  docker_image: nvflare\njob_launcher:\n  default_job_container_kwargs:\n    volumes: []\n    command: x\n    shm_size: 1g\n".into()),
        (Case { name: "docker unknown key", code: "INVALID_CONFIG", message: "Unknown keys in docker config: ['namespace']" }, "runtime: docker\nnamespace: x\nparent:\n  docker_image: nvflare\n".into()),
        (Case { name: "docker empty network", code: "INVALID_CONFIG", message: "parent.network must be a non-empty string" }, "runtime: docker\nparent:\n  docker_image: nvflare\n  network: \"\"\n".into()),
        (Case { name: "docker env not a map", code: "INVALID_CONFIG", message: "job_launcher.default_job_env must be a mapping" }, "runtime: docker\nparent:\n  docker_image: nvflare\njob_launcher:\n  default_job_env: [A]\n".into()),
        (Case { name: "docker kwargs reserved by 2.9", code: "INVALID_CONFIG", message: "reserved keys: ['image']" }, "runtime: docker\nparent:\n  docker_image: nvflare:2.9.0\njob_launcher:\n  default_job_container_kwargs:\n    image: other\n".into()),
        (Case { name: "bad internal security", code: "INVALID_CONFIG", message: "parent.internal_connection_security must be 'clear' or 'mtls'" }, k8s("  internal_connection_security: tls\n")),
        (Case { name: "internal security on 2.8", code: "INVALID_CONFIG", message: "needs NVFlare 2.9" }, format!("nvflare_version: \"2.8\"\n{}", k8s("  internal_connection_security: clear\n"))),
        (Case { name: "unknown nvflare version", code: "INVALID_CONFIG", message: "nvflare_version must be 2.8 or 2.9" }, format!("nvflare_version: 2.7\n{}", k8s(""))),
    ];
    for (i, (case, yaml)) in cases.into_iter().enumerate() {
        let config = write(&w.root.join(format!("config-{i}.yaml")), &yaml);
        expect_error(&w, &case, prepare_args(&kit, &config, &out));
    }
}

#[test]
fn kit_errors() {
    let w = world();
    let out = w.root.join("out");
    let fresh = |name: &str| w.project.client_kit(name);
    let mut cases: Vec<(Case, PathBuf)> = vec![(
        Case {
            name: "no kit dir",
            code: "INVALID_KIT",
            message: "does not exist",
        },
        w.root.join("missing-kit"),
    )];
    let k = fresh("no-startup");
    std::fs::remove_dir_all(k.join("startup")).unwrap();
    cases.push((
        Case {
            name: "no startup",
            code: "INVALID_KIT",
            message: "Missing startup directory",
        },
        k,
    ));
    let k = fresh("no-local");
    std::fs::remove_dir_all(k.join("local")).unwrap();
    cases.push((
        Case {
            name: "no local",
            code: "INVALID_KIT",
            message: "Missing local directory",
        },
        k,
    ));
    let k = fresh("no-role");
    std::fs::remove_file(k.join("startup/fed_client.json")).unwrap();
    cases.push((
        Case {
            name: "no role file",
            code: "INVALID_KIT",
            message: "found: none",
        },
        k,
    ));
    let k = fresh("two-roles");
    std::fs::write(k.join("startup/fed_server.json"), "{}").unwrap();
    cases.push((
        Case {
            name: "two role files",
            code: "INVALID_KIT",
            message: "found: server, client",
        },
        k,
    ));
    let k = fresh("no-resources");
    std::fs::remove_file(k.join("local/resources.json.default")).unwrap();
    cases.push((
        Case {
            name: "no resources",
            code: "INVALID_KIT",
            message: "Missing resources.json.default",
        },
        k,
    ));
    let k = fresh("bad-json");
    std::fs::write(k.join("startup/fed_client.json"), "{\"client\": ").unwrap();
    cases.push((
        Case {
            name: "malformed json",
            code: "INVALID_KIT",
            message: "Failed to parse fed_client.json",
        },
        k,
    ));
    let k = fresh("empty-json");
    std::fs::write(k.join("local/resources.json.default"), "").unwrap();
    cases.push((
        Case {
            name: "empty json",
            code: "INVALID_KIT",
            message: "Failed to parse resources.json.default",
        },
        k,
    ));
    let k = fresh("array-json");
    std::fs::write(k.join("local/resources.json.default"), "[]").unwrap();
    cases.push((
        Case {
            name: "json not an object",
            code: "INVALID_KIT",
            message: "must contain a JSON object",
        },
        k,
    ));
    let k = fresh("components-not-list");
    std::fs::write(
        k.join("local/resources.json.default"),
        "{\"components\": {}}",
    )
    .unwrap();
    cases.push((
        Case {
            name: "components not a list",
            code: "INVALID_KIT",
            message: "components must be a list",
        },
        k,
    ));
    let k = fresh("bad-comm");
    std::fs::write(
        k.join("local/comm_config.json"),
        "{\"internal\": {\"resources\": []}}",
    )
    .unwrap();
    cases.push((
        Case {
            name: "comm resources not a map",
            code: "INVALID_KIT",
            message: "internal.resources must be a mapping",
        },
        k,
    ));
    let k = fresh("no-key");
    std::fs::remove_file(k.join("startup/client.key")).unwrap();
    cases.push((
        Case {
            name: "no key",
            code: "INVALID_KIT",
            message: "Missing identity material",
        },
        k,
    ));
    let k = fresh("no-ca");
    std::fs::remove_file(k.join("startup/rootCA.pem")).unwrap();
    cases.push((
        Case {
            name: "no root ca",
            code: "INVALID_KIT",
            message: "rootCA.pem",
        },
        k,
    ));
    let k = fresh("garbage-cert");
    std::fs::write(k.join("startup/client.crt"), "not a certificate").unwrap();
    cases.push((
        Case {
            name: "garbage cert",
            code: "INVALID_KIT",
            message: "Failed to parse client.crt",
        },
        k,
    ));
    let k = fresh("no-org");
    let (cert, key) = w.project.issue("no-org", None);
    w.project.install_identity(&k, "client", &cert, &key);
    cases.push((
        Case {
            name: "cert without organization",
            code: "INVALID_KIT",
            message: "Missing organization in client.crt",
        },
        k,
    ));
    // NVFlare 2.9 reads local/study_runtime.yaml when a job starts: checked now.
    for (name, text, message) in [
        ("study runtime version", "format_version: 1\nstudies: {}\n", "format_version must be 2"),
        ("study runtime pvc", "format_version: 2\nstudies:\n  s:\n    datasets:\n      d: {source: Data_PVC, mode: ro}\n", "not a valid PersistentVolumeClaim name"),
        ("study runtime image", "format_version: 2\nstudies:\n  s:\n    container: {image: \"a b\"}\n", "not a valid image reference"),
        ("study runtime mount path", "format_version: 2\nstudies:\n  s:\n    secret_mounts:\n      m: {source: s, mount_path: etc}\n", "absolute path"),
    ] {
        let k = fresh(&name.replace(' ', "-"));
        write(&k.join("local/study_runtime.yaml"), text);
        cases.push((Case { name: "study runtime", code: "INVALID_KIT", message }, k));
    }
    let k = fresh("both-study-files");
    write(
        &k.join("local/study_runtime.yaml"),
        "format_version: 2\nstudies: {}\n",
    );
    write(&k.join("local/study_data.yaml"), "{}\n");
    cases.push((
        Case {
            name: "study_data.yaml beside study_runtime.yaml",
            code: "INVALID_KIT",
            message: "both local/study_runtime.yaml and the legacy local/study_data.yaml",
        },
        k,
    ));
    let admin = w.project.admin_kit("admin@nvidia.com");
    cases.push((
        Case {
            name: "admin kit",
            code: "UNSUPPORTED_KIT",
            message: "Admin startup kits are not supported",
        },
        admin,
    ));

    for (case, kit) in cases {
        expect_error(&w, &case, prepare_args(&kit, &w.config, &out));
    }
}

/// Failures after the copy has started: the temporary folder, any parent folders prepare
/// created, and the previous output are all as they were before.
#[test]
fn failures_while_writing_leave_nothing_behind() {
    let w = world();
    // A start script that is a folder cannot be removed: fails after every patch ran.
    let kit = w.project.client_kit("site-1");
    std::fs::remove_file(kit.join("startup/start.sh")).unwrap();
    std::fs::create_dir(kit.join("startup/start.sh")).unwrap();
    std::fs::write(kit.join("startup/start.sh/x"), "x").unwrap();
    let case = Case {
        name: "late failure, new parents",
        code: "DEPLOY_PREPARE_FAILED",
        message: "start.sh",
    };
    expect_error(
        &w,
        &case,
        prepare_args(&kit, &w.config, &w.root.join("new/deeper/out")),
    );
    assert!(!w.root.join("new").exists());

    // With a previous output in place, it stays byte-for-byte the same.
    let good = w.project.client_kit("site-2");
    let previous = w.root.join("previous");
    let mut args = vec![OsString::from("prepare")];
    args.extend(prepare_args(&good, &w.config, &previous));
    nvflare(args).success();
    let case = Case {
        name: "late failure, previous output",
        code: "DEPLOY_PREPARE_FAILED",
        message: "start.sh",
    };
    expect_error(&w, &case, prepare_args(&kit, &w.config, &previous));

    // A special file in the kit is refused by the checks, before anything is written.
    let fifo_kit = w.project.client_kit("site-3");
    let status = std::process::Command::new("mkfifo")
        .arg(fifo_kit.join("local/pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let case = Case {
        name: "special file in the kit",
        code: "INVALID_KIT",
        message: "local/pipe (not a regular file)",
    };
    expect_error(&w, &case, prepare_args(&fifo_kit, &w.config, &previous));
}
