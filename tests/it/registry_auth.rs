//! Registry authentication as real registries ask for it: Bearer challenges with quoted,
//! comma-holding parameters and realms with a query of their own; credentials from
//! `--password-stdin`, Docker credential helpers (`credHelpers`, `credsStore`) and identity
//! tokens. Against a stand-in token registry on 127.0.0.1.

use crate::support;

use std::path::{Path, PathBuf};

use support::kits::Project;
use support::token_registry::{TokenRegistry, IDENTITY_TOKEN, PASSWORD, USER};
use support::{nvflare_cmd, prepare_json, run_cmd, run_with_stdin, write, Run, K8S_CONFIG};

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    archive: PathBuf,
    registry: TokenRegistry,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let data = prepare_json(
        &project.client_kit("site-1"),
        &config,
        &root.join("out"),
        &["--package"],
    );
    World {
        archive: PathBuf::from(data["package"].as_str().unwrap()),
        _tmp: tmp,
        root,
        registry: TokenRegistry::start(),
    }
}

/// `push` with no Helm login and a Docker config in `docker_dir`.
fn push(w: &World, docker_dir: &Path, extra: &[&str], stdin: Option<&str>) -> Run {
    let cmd = push_cmd(w, docker_dir, extra);
    match stdin {
        Some(input) => run_with_stdin(cmd, input),
        None => run_cmd(cmd),
    }
}

fn push_cmd(w: &World, docker_dir: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = nvflare_cmd();
    cmd.arg("push")
        .arg(&w.archive)
        .arg(format!("oci://{}/fl", w.registry.host))
        .args(["--plain-http", "--format", "json"])
        .args(extra)
        .env("HELM_REGISTRY_CONFIG", w.root.join("no-helm-login.json"))
        .env("DOCKER_CONFIG", docker_dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                w.root.join("helpers").display(),
                std::env::var("PATH").unwrap()
            ),
        );
    cmd
}

fn token_requests(w: &World) -> Vec<String> {
    w.registry
        .requests()
        .into_iter()
        .filter(|r| r.contains("/token"))
        .collect()
}

#[test]
fn bearer_challenge_with_quoted_service_and_realm_query() {
    let w = world();
    let run = push(
        &w,
        &w.root.join("no-docker"),
        &["--username", USER, "--password-stdin"],
        Some(PASSWORD),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let tokens = token_requests(&w);
    assert!(!tokens.is_empty());
    for request in &tokens {
        // The realm's own query is kept, the service keeps its space, the scope is encoded.
        assert!(
            request.starts_with("GET /token?account=fl&service=Docker%20registry&scope=repository%3Afl%2Fsite-1%2Fnvflare-client%3Apull%2Cpush Basic"),
            "{request}"
        );
    }
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
}

#[test]
fn credential_helpers_and_identity_tokens() {
    let w = world();
    // The helper answers with JSON files the test writes (serde_json does the quoting).
    let helpers = w.root.join("helpers");
    write(
        &helpers.join("basic.json"),
        &serde_json::json!({"ServerURL": w.registry.host, "Username": USER, "Secret": PASSWORD})
            .to_string(),
    );
    write(
        &helpers.join("identity.json"),
        &serde_json::json!({"ServerURL": w.registry.host, "Username": "<token>", "Secret": IDENTITY_TOKEN}).to_string(),
    );
    let helper = write(
        &helpers.join("docker-credential-stub"),
        &format!(
            "#!/usr/bin/env bash\n[ \"$1\" = get ] || exit 1\nread -r host\ndir=$(dirname \"$0\")\necho \"$host\" >> \"$dir/asked\"\n[ \"$host\" = \"{}\" ] || {{ echo 'credentials not found' >&2; exit 1; }}\nif [ -n \"${{STUB_IDENTITY:-}}\" ]; then cat \"$dir/identity.json\"; else cat \"$dir/basic.json\"; fi\n",
            w.registry.host
        ),
    );
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    // credHelpers names the helper for this registry only.
    let docker = w.root.join("docker-helpers");
    write(
        &docker.join("config.json"),
        &format!(r#"{{"credHelpers":{{"{}":"stub"}}}}"#, w.registry.host),
    );
    let run = push(&w, &docker, &[], None);
    assert_eq!(run.code, 0, "credHelpers: {}\n{}", run.stdout, run.stderr);
    let asked = std::fs::read_to_string(w.root.join("helpers/asked")).unwrap();
    assert_eq!(asked.lines().next(), Some(w.registry.host.as_str()));
    assert!(token_requests(&w).iter().all(|r| r.contains(" Basic")));

    // credsStore answering with an identity token: exchanged by an OAuth2 POST.
    let docker = w.root.join("docker-store");
    write(
        &docker.join("config.json"),
        r#"{"credsStore":"stub","auths":{}}"#,
    );
    let before = token_requests(&w).len();
    let run = run_cmd(push_with_identity_helper(&w, &docker));
    assert_eq!(run.code, 0, "credsStore: {}\n{}", run.stdout, run.stderr);
    let posts: Vec<String> = token_requests(&w).into_iter().skip(before).collect();
    assert!(!posts.is_empty());
    for post in &posts {
        assert!(post.starts_with("POST /token?account=fl"), "{post}");
        assert!(
            post.contains("grant_type=refresh_token") && post.contains("service=Docker%20registry"),
            "{post}"
        );
    }
    assert!(!run.stdout.contains(IDENTITY_TOKEN) && !run.stderr.contains(IDENTITY_TOKEN));

    // An identitytoken stored in auths, without a helper.
    let docker = w.root.join("docker-identity");
    write(
        &docker.join("config.json"),
        &format!(
            r#"{{"auths":{{"{}":{{"auth":"","identitytoken":"{IDENTITY_TOKEN}"}}}}}}"#,
            w.registry.host
        ),
    );
    let run = push(&w, &docker, &[], None);
    assert_eq!(run.code, 0, "identitytoken: {}\n{}", run.stdout, run.stderr);

    // No credentials at all: the registry refuses, and the error says how to log in.
    let run = push(&w, &w.root.join("nothing"), &[], None);
    assert_eq!(run.code, 4);
    assert_eq!(run.json()["error_code"], "REGISTRY_AUTH_FAILED");
}

/// `push` whose credential helper answers with an identity token.
fn push_with_identity_helper(w: &World, docker: &Path) -> std::process::Command {
    let mut cmd = push_cmd(w, docker, &[]);
    cmd.env("STUB_IDENTITY", "1");
    cmd
}

/// A listener that records each request's head and answers 401 with a Basic challenge,
/// the answer that would tempt a client into sending a login.
fn capture() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            seen.lock().unwrap().push(head);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (host, log)
}

fn push_with_login(w: &World, registry: &support::registry::Registry) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.arg("push")
        .arg(&w.archive)
        .arg(registry.oci("fl"))
        .arg("--ca-file")
        .arg(registry.ca_file.as_ref().unwrap())
        .args([
            "--username",
            support::registry::USER,
            "--password-stdin",
            "--format",
            "json",
        ])
        .env("HELM_REGISTRY_CONFIG", w.root.join("no-helm-login.json"))
        .env("DOCKER_CONFIG", w.root.join("no-docker"));
    run_with_stdin(cmd, support::registry::PASSWORD)
}

/// Issue 20, item 5: a registry (real docker-registry with `http.host` set) that hands out
/// upload URLs on another host, or on plain http, never gets our login sent there.
#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn issue_20_5_credentials_stay_with_their_registry() {
    let w = world();

    // https down to http, to a listener that records what it gets: refused, nothing sent.
    let (capture_host, seen) = capture();
    let registry = support::registry::Registry::tls_with_auth_advertising(
        &w.root.join("registry-http"),
        |_| format!("http://{capture_host}"),
    );
    let run = push_with_login(&w, &registry);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["error_code"], "REGISTRY_ERROR", "{}", run.stdout);
    assert!(run.stdout.contains("plain http"), "{}", run.stdout);
    assert!(
        seen.lock().unwrap().is_empty(),
        "a request went to the plain-http URL: {:?}",
        seen.lock().unwrap()
    );
    drop(registry);

    // Another host name for the same registry: the upload goes there without the login,
    // so the registry refuses it, and the error says why.
    let registry = support::registry::Registry::tls_with_auth_advertising(
        &w.root.join("registry-alias"),
        |own| format!("https://{}", own.replace("127.0.0.1", "localhost")),
    );
    let run = push_with_login(&w, &registry);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["error_code"],
        "REGISTRY_AUTH_FAILED",
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("localhost") && run.stdout.contains("not sent"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains(support::registry::PASSWORD)
            && !run.stderr.contains(support::registry::PASSWORD)
    );
}
