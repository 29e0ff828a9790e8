//! `prepare` for the Docker runtime, and the start script it writes, run for real with a
//! stand-in `docker` first on PATH.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::kits::Project;
use support::{nvflare, read_json, run_cmd, write};

/// A `docker` that records each call's arguments (NUL-separated, one call per line) and
/// answers like a daemon with no networks.
const STUB_DOCKER: &str = r#"#!/usr/bin/env bash
{ printf '%s\0' "$@"; printf '\n'; } >> "$DOCKER_LOG"
exit 0
"#;

/// The docker calls, as a daemon sees them: NVFlare 2.9's script first asks for the
/// current context and then names the socket (`--host unix://...`) on every call.
fn calls(log: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .split_terminator("\0\n")
        .map(|line| line.split('\0').map(str::to_string).collect::<Vec<_>>())
        .filter(|call| call[..] != ["context", "show"])
        .map(|call| match call.first().map(String::as_str) {
            Some("--host") => call[2..].to_vec(),
            _ => call,
        })
        .collect()
}

fn prepare_docker(kit: &Path, config: &Value, root: &Path, name: &str) -> (PathBuf, Value) {
    // JSON is YAML: hostile strings need no YAML quoting this way.
    let config_path = write(
        &root.join(format!("{name}-docker.yaml")),
        &config.to_string(),
    );
    let out = root.join("out").join(name);
    let run = nvflare([
        "prepare".as_ref(),
        kit.as_os_str(),
        "--config".as_ref(),
        config_path.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ])
    .success();
    (out, run.json()["data"].clone())
}

fn run_start_script(out: &Path, root: &Path, extra_env: &[(&str, &str)]) -> Vec<Vec<String>> {
    // NVFlare 2.9's script insists on a real Unix socket for a local daemon.
    let socket = root.join("docker.sock");
    if !socket.exists() {
        std::mem::forget(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    }
    let stub_dir = root.join("stub-bin");
    let stub = write(&stub_dir.join("docker"), STUB_DOCKER);
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = root.join(format!(
        "docker-{}.log",
        out.file_name().unwrap().to_string_lossy()
    ));
    let cwd = root.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = Command::new(out.join("startup/start_docker.sh"));
    cmd.current_dir(&cwd)
        .env(
            "PATH",
            format!("{}:{}", stub_dir.display(), std::env::var("PATH").unwrap()),
        )
        .env("DOCKER_LOG", &log)
        .env("NVFL_DOCKER_SOCK", &socket)
        .env_remove("DOCKER_HOST")
        .env_remove("NVFL_P_IMAGE");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let run = run_cmd(cmd);
    assert_eq!(
        run.code, 0,
        "start_docker.sh failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    calls(&log)
}

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn server_kit_for_docker_follows_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let kit = project.server_kit();
    let config = json!({"runtime": "docker", "nvflare_version": 2.8,
                        "parent": {"docker_image": "localhost:5000/nvflare:2.9.0"}});
    let (out, data) = prepare_docker(&kit, &config, root, "server");
    assert_eq!(
        data,
        json!({
            "runtime": "docker",
            "role": "server",
            "name": "fl.example.com",
            "nvflare_version": "2.8",
            "nvflare_version_from": "config",
            "output": out.display().to_string(),
            "start_command": format!("cd {} && ./startup/start_docker.sh", out.display()),
            "start_script": out.join("startup/start_docker.sh").display().to_string(),
            "resources": out.join("local/resources.json.default").display().to_string(),
        })
    );
    let mut startup: Vec<String> = std::fs::read_dir(out.join("startup"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    startup.sort();
    assert_eq!(
        startup,
        [
            "fed_server.json",
            "rootCA.pem",
            "server.crt",
            "server.key",
            "start_docker.sh"
        ]
    );
    let mode = std::fs::metadata(out.join("startup/start_docker.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "start_docker.sh is not executable");

    let resources = read_json(&out.join("local/resources.json.default"));
    let components = resources["components"].as_array().unwrap();
    let launcher = components.last().unwrap();
    assert_eq!(launcher["id"], "docker_launcher");
    assert_eq!(
        launcher["path"],
        "nvflare.app_opt.job_launcher.docker_launcher.ServerDockerJobLauncher"
    );
    assert_eq!(
        launcher["args"],
        json!({"network": "nvflare-network", "default_python_path": "/usr/local/bin/python3", "default_job_container_kwargs": {}, "default_job_env": {}})
    );
    let keys: Vec<&String> = launcher["args"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "network",
            "default_python_path",
            "default_job_container_kwargs",
            "default_job_env"
        ]
    );
    assert_eq!(
        resources["snapshot_persistor"]["args"]["storage"]["args"]["root_dir"],
        "/var/tmp/nvflare/workspace/snapshot-storage"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("local/comm_config.json")).unwrap(),
        "{\n    \"allow_adhoc_conns\": false,\n    \"backbone_conn_gen\": 2,\n    \"internal\": {\n        \"scheme\": \"tcp\",\n        \"resources\": {\n            \"connection_security\": \"clear\",\n            \"host\": \"0.0.0.0\"\n        }\n    }\n}\n"
    );
    assert!(out.join("local/study_data.yaml").is_file());
    assert!(!out.join("helm_chart").exists());

    let calls = run_start_script(&out, root, &[]);
    let host_ws = std::fs::canonicalize(&out).unwrap().display().to_string();
    let uid_gid = {
        let id = |flag: &str| {
            String::from_utf8(Command::new("id").arg(flag).output().unwrap().stdout)
                .unwrap()
                .trim()
                .to_string()
        };
        format!("{}:{}", id("-u"), id("-g"))
    };
    assert_eq!(calls[0], strs(&["info"]));
    assert_eq!(
        calls[1],
        strs(&[
            "network",
            "ls",
            "--filter",
            "name=nvflare-network",
            "--format",
            "{{.Name}}"
        ])
    );
    assert_eq!(calls[2], strs(&["network", "create", "nvflare-network"]));
    let mut expected = strs(&[
        "run",
        "--name",
        "fl.example.com",
        "--user",
        &uid_gid,
        "--network",
        "nvflare-network",
        "--network-alias",
        "server",
        "-p",
        "8002:8002",
        "-p",
        "8003:8003",
    ]);
    expected.extend(strs(&[
        "-v",
        &format!("{host_ws}:/var/tmp/nvflare/workspace"),
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-e",
        &format!("NVFL_DOCKER_WORKSPACE={host_ws}"),
        "--rm",
        "localhost:5000/nvflare:2.9.0",
        "/usr/local/bin/python3",
        "-u",
        "-m",
        "nvflare.private.fed.app.server.server_train",
        "-m",
        "/var/tmp/nvflare/workspace",
        "-s",
        "fed_server.json",
        "--set",
        "secure_train=true",
        "config_folder=config",
        "org=nvidia",
    ]));
    assert_eq!(calls[3], expected);
    assert_eq!(calls.len(), 4);

    // NVFL_P_IMAGE still overrides the image, as in the seed.
    let calls = run_start_script(&out, root, &[("NVFL_P_IMAGE", "other:1")]);
    assert!(calls.last().unwrap().contains(&"other:1".to_string()));
}

/// Image, network and site name full of shell syntax reach docker as single literal
/// arguments, and nothing in them runs.
#[test]
fn hostile_values_reach_docker_as_literal_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let marker = root.join("PWNED");
    let m = marker.display();
    let site = format!("evil$(touch {m}1)`touch {m}2`'\"; touch {m}3; echo \" -n");
    // An image must be a valid reference (a hostile one is refused, see below); the
    // script still quotes it, and NVFL_P_IMAGE overrides it at run time.
    let image = "registry.example.com:5000/nvflare:2.9.0".to_string();
    let network = format!("net$(touch {m}6) `touch {m}7` ${{IFS}}x");
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let kit = project.client_kit("site-1");
    // The site name comes from fed_client.json, as nvflare provision writes it.
    let fed_client = kit.join("startup/fed_client.json");
    let mut fc = read_json(&fed_client);
    fc["client"]["fqsn"] = json!(site);
    std::fs::write(&fed_client, fc.to_string()).unwrap();
    let config = json!({
        "runtime": "docker",
        "parent": {"docker_image": image, "network": network},
        "job_launcher": {"default_job_env": {"A": "$(touch x)"}, "default_job_container_kwargs": {"shm_size": "1g"}},
    });
    let (out, data) = prepare_docker(&kit, &config, root, "client");
    assert_eq!(data["name"], site);
    let launcher = read_json(&out.join("local/resources.json.default"))["components"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        launcher["path"],
        "nvflare.app_opt.job_launcher.docker_launcher.ClientDockerJobLauncher"
    );
    assert_eq!(launcher["args"]["network"], network);
    assert_eq!(
        launcher["args"]["default_job_env"],
        json!({"A": "$(touch x)"})
    );
    assert_eq!(
        launcher["args"]["default_job_container_kwargs"],
        json!({"shm_size": "1g"})
    );

    let calls = run_start_script(&out, root, &[]);
    for i in [1, 2, 3, 6, 7] {
        assert!(
            !Path::new(&format!("{m}{i}")).exists(),
            "a configured value was executed (marker {i})"
        );
    }
    assert_eq!(calls[1][3], format!("name={network}"));
    assert_eq!(calls[2], strs(&["network", "create", &network]));
    let run = calls.last().unwrap();
    assert_eq!(run[0..3], strs(&["run", "--name", &site]));
    let network_at = run.iter().position(|a| a == "--network").unwrap() + 1;
    assert_eq!(run[network_at], network);
    let image_at = run.iter().position(|a| a == "--rm").unwrap() + 1;
    assert_eq!(run[image_at], image);
    assert_eq!(
        run[image_at + 1..],
        strs(&[
            "/usr/local/bin/python3",
            "-u",
            "-m",
            "nvflare.private.fed.app.client.client_train",
            "-m",
            "/var/tmp/nvflare/workspace",
            "-s",
            "fed_client.json",
            "--set",
            "secure_train=true",
            &format!("uid={site}"),
            "org=nvidia",
            "config_folder=config"
        ])
    );

    // An image reference full of shell syntax never reaches the script.
    let hostile_image = format!("nvflare:2.9\"; touch {m}4; echo \"$(touch {m}5)");
    let config_path = root.join("hostile-image.yaml");
    let config = json!({"runtime": "docker", "parent": {"docker_image": hostile_image}});
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let mut cmd = support::nvflare_cmd();
    cmd.args(["prepare"])
        .arg(&kit)
        .arg("--config")
        .arg(&config_path)
        .args(["--output"])
        .arg(root.join("refused"))
        .args(["--format", "json"]);
    let run = support::run_cmd(cmd);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.json()["error_code"], "INVALID_CONFIG");
    assert!(!root.join("refused").exists());
}

/// An image tagged 2.9.x gets NVFlare 2.9.0's layout: internal mTLS, study_runtime.yaml,
/// and 2.9's start script (socket found and mounted with --mount, its group added).
#[test]
fn a_2_9_image_gets_nvflare_2_9_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let kit = project.server_kit();
    let config =
        json!({"runtime": "docker", "parent": {"docker_image": "localhost:5000/nvflare:2.9.0"}});
    let (out, data) = prepare_docker(&kit, &config, root, "server");
    assert_eq!(data["nvflare_version"], "2.9");
    assert_eq!(data["nvflare_version_from"], "image_tag");
    let comm = read_json(&out.join("local/comm_config.json"));
    assert_eq!(
        comm["internal"]["resources"],
        json!({"connection_security": "mtls", "host": "0.0.0.0"})
    );
    assert!(!out.join("local/study_data.yaml").exists());
    assert!(
        std::fs::read_to_string(out.join("local/study_runtime.yaml"))
            .unwrap()
            .contains("format_version: 2\nstudies: {}")
    );

    let calls = run_start_script(&out, root, &[]);
    let socket = root.join("docker.sock").display().to_string();
    assert_eq!(calls[0], strs(&["info"]));
    assert_eq!(calls[2], strs(&["network", "create", "nvflare-network"]));
    let run = calls.last().unwrap();
    let gid = std::fs::metadata(root.join("docker.sock")).unwrap();
    let gid = std::os::unix::fs::MetadataExt::gid(&gid).to_string();
    let group_at = run.iter().position(|a| a == "--group-add").unwrap();
    assert_eq!(run[group_at + 1], gid);
    let mount_at = run.iter().position(|a| a == "--mount").unwrap();
    assert_eq!(
        run[mount_at + 1],
        format!("type=bind,src={socket},dst=/var/run/docker.sock")
    );
    assert!(run.ends_with(&strs(&["config_folder=config", "org=nvidia"])));

    // The 2.8 layout refuses the 2.9-only key instead of ignoring it.
    let config_path = write(
        &root.join("v28.yaml"),
        &json!({"runtime": "docker", "nvflare_version": "2.8",
                "parent": {"docker_image": "nvflare:2.8.3", "internal_connection_security": "mtls"}})
        .to_string(),
    );
    let run = nvflare([
        "prepare".as_ref(),
        kit.as_os_str(),
        "--config".as_ref(),
        config_path.as_os_str(),
        "--output".as_ref(),
        root.join("refused").as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(run.json()["message"]
        .as_str()
        .unwrap()
        .contains("needs NVFlare 2.9"));
    assert!(!root.join("refused").exists());
}
