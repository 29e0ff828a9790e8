//! `mirror` (issue 23, item 2) between real registries: Debian's docker-registry as the
//! source (plain HTTP) and as the site's mirror (TLS and htpasswd). The test builds a
//! two-platform OCI index, a Docker v2 job image and a helper image sharing a base layer;
//! the digests are compared with what `skopeo copy --all` makes of the same index. Hostile
//! source answers come from a server that answers what each case needs.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::support;
use support::kits::Project;
use support::oci;
use support::registry::{Registry, PASSWORD, USER};
use support::{
    nvflare, nvflare_cmd, prepare_json, run_cmd, run_with_stdin, tool, write, Run, K8S_CONFIG,
};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `mirror <args> --to <to>` with the mirror's CA and login.
fn mirror_to(mirror: &Registry, to: &str, args: &[&str]) -> Run {
    let mut cmd = nvflare_cmd();
    cmd.arg("mirror")
        .args(args)
        .args(["--to", to, "--ca-file"])
        .arg(mirror.ca_file.as_ref().unwrap());
    cmd.args(["--username", USER, "--password-stdin", "--format", "json"]);
    run_with_stdin(cmd, PASSWORD)
}

fn rows(run: &Run) -> Vec<Value> {
    run.json()["data"]["images"].as_array().unwrap().clone()
}

fn at_mirror(mirror: &Registry, repo: &str, reference: &str) -> (u16, String, Vec<u8>) {
    oci::get_manifest(
        &mirror.host,
        repo,
        reference,
        Some((mirror.ca_file.as_ref().unwrap(), USER, PASSWORD)),
    )
}

/// A site: a plain source registry with a two-platform index (the parent), a Docker v2
/// job image and a helper image, sharing a base layer; and a prepared client kit pulling
/// them.
struct Site {
    source: Registry,
    h: String,
    index: Vec<u8>,
    children: Vec<Vec<u8>>,
    job: Vec<u8>,
    helper: Vec<u8>,
    out: std::path::PathBuf,
    stage: String,
}

fn site(root: &Path) -> Site {
    let source = Registry::plain(&root.join("source"));
    let h = source.host.clone();
    let base = oci::layer("etc/os-release", 30_000, b'o');
    let (index, children) = oci::two_platform_index(&h, "nvidia/nvflare", "2.9.0", &base);
    let job = oci::image(
        &h,
        "fl/job",
        Some("1.0"),
        "amd64",
        &[base.clone(), oci::layer("app/train.py", 5_000, b'j')],
        false,
    );
    let helper = oci::image(
        &h,
        "library/busybox",
        Some("1.36"),
        "amd64",
        &[oci::layer("bin/busybox", 10_000, b'x')],
        false,
    );
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(
        &root.join("k8s.yaml"),
        &K8S_CONFIG.replace(
            "localhost:5000/nvflare:2.9.0",
            &format!("{h}/nvidia/nvflare:2.9.0"),
        ),
    );
    let kit = project.client_kit("site-1");
    write(
        &kit.join("local/study_runtime.yaml"),
        &format!("format_version: 2\nstudies:\n  cancer:\n    container: {{image: \"{h}/fl/job:1.0\"}}\n"),
    );
    let out = root.join("prepared/site-1");
    prepare_json(&kit, &config, &out, &[]);
    let stage = format!("{h}/library/busybox:1.36");
    Site {
        source,
        h,
        index,
        children,
        job,
        helper,
        out,
        stage,
    }
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs docker-registry and skopeo: run scripts/test.sh"
)]
fn issue_23_mirror_copies_every_image_by_digest_and_rewrite_points_the_kit_at_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mirror = Registry::tls_with_auth(&root.join("mirror"));
    let Site {
        source: _source,
        h,
        index,
        children,
        job,
        helper,
        out,
        stage,
    } = site(root);
    let to = mirror.oci("mirror");
    let args = [
        p(&out),
        "--stage-image",
        stage.as_str(),
        "--source-plain-http",
    ];

    let run = mirror_to(&mirror, &to, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let images = rows(&run);
    assert_eq!(images.len(), 3, "{images:?}");
    let row = |name: &str| {
        images
            .iter()
            .find(|i| i["source"] == format!("{h}/{name}"))
            .unwrap_or_else(|| panic!("{name}: {images:?}"))
            .clone()
    };
    for (name, bytes) in [
        ("nvidia/nvflare:2.9.0", &index),
        ("fl/job:1.0", &job),
        ("library/busybox:1.36", &helper),
    ] {
        let r = row(name);
        assert_eq!(r["status"], "copied", "{r}");
        assert_eq!(r["digest"], oci::sha256(bytes), "{r}");
        assert_eq!(
            r["destination"],
            format!("{}/mirror/{name}", mirror.host),
            "{r}"
        );
        let (repo, tag) = name.split_once(':').unwrap();
        let (status, digest, body) = at_mirror(&mirror, &format!("mirror/{repo}"), tag);
        assert_eq!(
            (status, digest.as_str(), &body),
            (200, oci::sha256(bytes).as_str(), bytes),
            "{name} at the mirror"
        );
    }
    for child in &children {
        let (status, _, body) = at_mirror(&mirror, "mirror/nvidia/nvflare", &oci::sha256(child));
        assert_eq!((status, &body), (200, child), "every platform of the index");
    }
    // The base layer crossed once: fl/job sent it, nvidia/nvflare mounted it.
    assert_eq!(
        row("nvidia/nvflare:2.9.0")["blobs_mounted"],
        1,
        "{images:?}"
    );

    // skopeo copy --all of the same index: the same index digest, the same manifests.
    let skopeo = run_cmd({
        let mut cmd = std::process::Command::new("skopeo");
        cmd.args([
            "copy",
            "--all",
            "--insecure-policy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!("docker://{h}/nvidia/nvflare:2.9.0"))
        .arg(format!("docker://{h}/parity/nvidia/nvflare:2.9.0"));
        cmd
    });
    assert_eq!(skopeo.code, 0, "{}", skopeo.stderr);
    let (_, skopeo_digest, skopeo_index) =
        oci::get_manifest(&h, "parity/nvidia/nvflare", "2.9.0", None);
    assert_eq!(
        skopeo_digest,
        row("nvidia/nvflare:2.9.0")["digest"].as_str().unwrap()
    );
    assert_eq!(
        skopeo_index,
        at_mirror(&mirror, "mirror/nvidia/nvflare", "2.9.0").2
    );
    for child in &children {
        let d = oci::sha256(child);
        assert_eq!(
            oci::get_manifest(&h, "parity/nvidia/nvflare", &d, None).2,
            at_mirror(&mirror, "mirror/nvidia/nvflare", &d).2
        );
    }

    // Again: nothing new, every image present, nothing sent.
    let run = mirror_to(&mirror, &to, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for r in rows(&run) {
        assert_eq!(
            (r["status"].as_str(), r["bytes_sent"].as_u64()),
            (Some("present"), Some(0)),
            "{r}"
        );
    }

    // --platform: only that platform, under an index of its own.
    let run = mirror_to(
        &mirror,
        &mirror.oci("arm"),
        &[
            &format!("{h}/nvidia/nvflare:2.9.0"),
            "--platform",
            "linux/arm64",
            "--source-plain-http",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let (_, _, arm_index) = at_mirror(&mirror, "arm/nvidia/nvflare", "2.9.0");
    let arm_index: Value = serde_json::from_slice(&arm_index).unwrap();
    let entries = arm_index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["platform"]["architecture"], "arm64");
    assert_eq!(
        at_mirror(&mirror, "arm/nvidia/nvflare", &oci::sha256(&children[0])).0,
        404,
        "amd64 was not copied"
    );

    // --rewrite: the kit pulls from the mirror, pinned by digest, and still verifies.
    let run = mirror_to(&mirror, &to, &[&args[..], &["--rewrite"]].concat());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let rewritten = run.json()["data"]["rewritten"][0].clone();
    assert_eq!(rewritten["staging"], "not staged", "{rewritten}");
    assert_eq!(rewritten["job_images"], 1, "{rewritten}");
    let pinned_parent = format!(
        "{}/mirror/nvidia/nvflare:2.9.0@{}",
        mirror.host,
        oci::sha256(&index)
    );
    assert_eq!(rewritten["image"], pinned_parent.as_str());
    let study = std::fs::read_to_string(out.join("local/study_runtime.yaml")).unwrap();
    assert!(
        study.contains(&format!(
            "{}/mirror/fl/job:1.0@{}",
            mirror.host,
            oci::sha256(&job)
        )),
        "{study}"
    );
    nvflare(["verify", p(&out), "--offline", "--format", "json"]).success();
    let rendered = run_cmd({
        let mut cmd = std::process::Command::new(tool("helm4"));
        cmd.args(["template", "site-1"]).arg(out.join("helm_chart"));
        cmd
    });
    assert_eq!(rendered.code, 0, "{}", rendered.stderr);
    assert!(
        rendered
            .stdout
            .contains(&format!("image: \"{pinned_parent}\""))
            || rendered.stdout.contains(&format!("image: {pinned_parent}")),
        "{}",
        rendered.stdout
    );
    let listed = nvflare([
        "images",
        p(&out),
        "--stage-image",
        &stage,
        "--format",
        "json",
    ])
    .success();
    assert!(listed.json()["data"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["image"] == pinned_parent.as_str()));
}

/// What the hostile source answers for one path.
enum Answer {
    Manifest(&'static str, Vec<u8>),
    Blob(Vec<u8>),
    /// A blob without end.
    Endless,
    Redirect(String),
}

/// A server on 127.0.0.1: `handle(its host, method, path, whether a login came, stream)`
/// answers each request; every request is recorded as `METHOD PATH auth|no-auth`.
fn serve(
    handle: impl Fn(&str, &str, &str, bool, &mut std::net::TcpStream) + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let own = host.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut stream = stream;
            let mut request = String::new();
            if reader.read_line(&mut request).unwrap_or(0) == 0 {
                continue;
            }
            let mut auth = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                auth |= line.to_ascii_lowercase().starts_with("authorization:");
            }
            let mut parts = request.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            log.lock().unwrap().push(format!(
                "{method} {path} {}",
                if auth { "auth" } else { "no-auth" }
            ));
            handle(&own, method, path, auth, &mut stream);
        }
    });
    (host, seen)
}

/// A source registry that asks for a login (Basic) and then answers `answers`.
fn hostile_source(answers: Vec<(String, Answer)>) -> (String, Arc<Mutex<Vec<String>>>) {
    serve(move |_, method, path, auth, stream| {
        if !auth {
            let _ = stream.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"source\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        let found = answers.iter().find(|(p, _)| p == path).map(|(_, a)| a);
        let _ = match found {
            Some(Answer::Manifest(media_type, body)) => stream
                .write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes())
                .and_then(|_| if method == "GET" { stream.write_all(body) } else { Ok(()) }),
            Some(Answer::Blob(body)) => stream
                .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes())
                .and_then(|_| stream.write_all(body)),
            Some(Answer::Endless) => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let chunk = vec![0u8; 64 * 1024];
                while stream.write_all(&chunk).is_ok() {}
                Ok(())
            }
            Some(Answer::Redirect(to)) => stream.write_all(format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()),
            None => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        };
    })
}

fn docker_manifest(config: &[u8], layers: &[(String, u64)]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": oci::DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": oci::sha256(config), "size": config.len()},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d, "size": s})).collect::<Vec<_>>()
    }))
    .unwrap()
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs docker-registry: run scripts/test.sh"
)]
fn issue_23_hostile_source_answers_are_refused_and_nothing_is_tagged() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mirror = Registry::tls_with_auth(&root.join("mirror"));
    // Another host, where a redirect sends the blob download: it records what it got.
    let (other, other_seen) = hostile_source(Vec::new());
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = oci::layer("x", 1000, b'l');
    let digest = oci::sha256(&layer);
    let size = layer.len() as u64;
    let mut cases: Vec<(&str, Vec<(String, Answer)>, &str)> = Vec::new();
    let with = |repo: &str, manifest: Vec<u8>, layer_answer: Answer| {
        vec![
            (
                format!("/v2/{repo}/manifests/1"),
                Answer::Manifest(oci::DOCKER_MANIFEST, manifest),
            ),
            (
                format!("/v2/{repo}/blobs/{}", oci::sha256(&config)),
                Answer::Blob(config.clone()),
            ),
            (format!("/v2/{repo}/blobs/{digest}"), layer_answer),
        ]
    };
    let one = docker_manifest(&config, &[(digest.clone(), size)]);
    let mut wrong = layer.clone();
    wrong[10] ^= 0xff;
    cases.push((
        "wrong-digest",
        with("wrong-digest", one.clone(), Answer::Blob(wrong)),
        "has digest",
    ));
    cases.push((
        "endless",
        with("endless", one.clone(), Answer::Endless),
        "longer than",
    ));
    let many: Vec<(String, u64)> = (0..10_000)
        .map(|i| (oci::sha256(format!("{i}").as_bytes()), 1))
        .collect();
    cases.push((
        "many-layers",
        with(
            "many-layers",
            docker_manifest(&config, &many),
            Answer::Blob(layer.clone()),
        ),
        "naming 10000 layers",
    ));
    cases.push((
        "redirect",
        with(
            "redirect",
            one.clone(),
            Answer::Redirect(format!("http://{other}/elsewhere/{digest}")),
        ),
        "login is not sent to another host",
    ));
    for (repo, answers, why) in cases {
        let (host, seen) = hostile_source(answers);
        // The source's login, stored as Docker stores it.
        let docker = root.join(format!("docker-{repo}"));
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode("reader:source-secret");
        write(
            &docker.join("config.json"),
            &format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"{auth}\"}}}}}}"),
        );
        let mut cmd = nvflare_cmd();
        cmd.env("DOCKER_CONFIG", &docker);
        cmd.args([
            "mirror",
            &format!("{host}/{repo}:1"),
            "--to",
            &mirror.oci("m"),
            "--source-plain-http",
            "--ca-file",
        ])
        .arg(mirror.ca_file.as_ref().unwrap());
        cmd.args(["--username", USER, "--password-stdin", "--format", "json"]);
        let run = run_with_stdin(cmd, PASSWORD);
        assert_eq!(run.code, 1, "{repo}: {}\n{}", run.stdout, run.stderr);
        let row = rows(&run)[0].clone();
        assert_eq!(row["status"], "failed", "{repo}: {row}");
        assert!(
            row["error"]["message"].as_str().unwrap().contains(why),
            "{repo}: {row}"
        );
        assert_eq!(
            at_mirror(&mirror, &format!("m/{repo}"), "1").0,
            404,
            "{repo}: something was tagged at the mirror"
        );
        let seen = seen.lock().unwrap().clone();
        if repo == "many-layers" {
            assert!(
                !seen.iter().any(|r| r.contains("/blobs/")),
                "{repo}: blobs were read: {seen:?}"
            );
        }
    }
    // The redirect's other host got the request, never a login.
    let other_seen = other_seen.lock().unwrap().clone();
    assert!(
        other_seen.iter().any(|r| r.contains("/elsewhere/")),
        "{other_seen:?}"
    );
    assert!(
        other_seen.iter().all(|r| r.ends_with("no-auth")),
        "{other_seen:?}"
    );
    let mut buf = String::new();
    let _ = std::io::empty().read_to_string(&mut buf);
}

/// Rewrites the tar `from` into `to`, passing each (path, bytes) through `change`.
fn retar(from: &Path, to: &Path, change: impl Fn(&str, Vec<u8>) -> Vec<(String, Vec<u8>)>) {
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        for (name, data) in change(&path, bytes) {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, data.as_slice()).unwrap();
        }
    }
    b.finish().unwrap();
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs docker-registry: run scripts/test.sh"
)]
fn issue_23_a_bundle_carries_a_site_to_a_registry_the_source_cannot_reach() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let Site {
        source,
        h,
        index,
        children,
        job,
        helper,
        out,
        stage,
    } = site(root);
    let bundle = root.join("site.tar");
    let run = nvflare([
        "bundle",
        p(&out),
        "-o",
        p(&bundle),
        "--stage-image",
        &stage,
        "--plain-http",
        "--format",
        "json",
    ])
    .success();
    let data = run.json()["data"].clone();
    let digests: Vec<(String, String)> = data["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_string(),
                i["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, bytes) in [
        ("nvidia/nvflare:2.9.0", &index),
        ("fl/job:1.0", &job),
        ("library/busybox:1.36", &helper),
    ] {
        assert!(
            digests.contains(&(format!("{h}/{name}"), oci::sha256(bytes))),
            "{digests:?}"
        );
    }
    assert_eq!(
        data["charts"],
        serde_json::json!(["charts/0/nvflare-client-0.1.0.tgz"])
    );

    // The site's registry, with no way to the source.
    drop(source);
    let site_registry = Registry::tls_with_auth(&root.join("site-registry"));
    let push = |bundle: &Path, path: &str| {
        let mut cmd = nvflare_cmd();
        cmd.args([
            "bundle",
            "push",
            p(bundle),
            "--to",
            &site_registry.oci(path),
            "--ca-file",
        ])
        .arg(site_registry.ca_file.as_ref().unwrap());
        cmd.args(["--username", USER, "--password-stdin", "--format", "json"]);
        run_with_stdin(cmd, PASSWORD)
    };
    let run = push(&bundle, "fl");
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for r in rows(&run) {
        assert_eq!(r["status"], "copied", "{r}");
    }
    let (status, digest, body) = at_mirror(&site_registry, "fl/nvidia/nvflare", "2.9.0");
    assert_eq!((status, digest, &body), (200, oci::sha256(&index), &index));
    for child in &children {
        assert_eq!(
            at_mirror(&site_registry, "fl/nvidia/nvflare", &oci::sha256(child)).0,
            200
        );
    }
    assert_eq!(
        at_mirror(&site_registry, "fl/fl/job", "1.0").1,
        oci::sha256(&job)
    );
    let charts = run.json()["data"]["charts"].clone();
    assert!(
        charts[0]["reference"]
            .as_str()
            .unwrap()
            .contains("/fl/site-1/nvflare-client"),
        "{charts}"
    );
    // Again: everything present.
    let run = push(&bundle, "fl");
    assert!(
        rows(&run).iter().all(|r| r["status"] == "present"),
        "{}",
        run.stdout
    );

    // A bundle changed on the way: one layer's bytes flipped. Refused, nothing tagged.
    let biggest = {
        let mut archive = tar::Archive::new(std::fs::File::open(&bundle).unwrap());
        let mut best = (String::new(), 0u64);
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mut magic = [0u8; 2];
            let layer = e.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
            if path.starts_with("images/blobs/") && layer && e.size() > best.1 {
                best = (path, e.size());
            }
        }
        best.0
    };
    let changed = root.join("changed.tar");
    retar(&bundle, &changed, |path, mut bytes| {
        if path == biggest {
            bytes[100] ^= 0xff;
        }
        vec![(path.to_string(), bytes)]
    });
    let run = push(&changed, "changed");
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        rows(&run).iter().any(|r| r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("has digest"))),
        "{}",
        run.stdout
    );
    let failed: Vec<String> = rows(&run)
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| r["source"].as_str().unwrap().to_string())
        .collect();
    for source in failed {
        let (repo, tag) = source.split_once('/').unwrap().1.split_once(':').unwrap();
        assert_eq!(
            at_mirror(&site_registry, &format!("changed/{repo}"), tag).0,
            404,
            "{source} was tagged"
        );
    }
    // A bundle with a path no bundle has: refused before anything is pushed.
    let escaping = root.join("escaping.tar");
    retar(&bundle, &escaping, |path, bytes| {
        let mut out = vec![(path.to_string(), bytes)];
        if path == "bundle.json" {
            out.push(("../outside".into(), b"x".to_vec()));
        }
        out
    });
    let run = push(&escaping, "escaping");
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["error_code"],
        "INVALID_ARCHIVE",
        "{}",
        run.stdout
    );
    assert!(!root.join("outside").exists());
    assert_eq!(
        at_mirror(&site_registry, "escaping/nvidia/nvflare", "2.9.0").0,
        404
    );
}

/// A server that answers every request with `answer(its host, path)`, a whole HTTP
/// response.
fn scripted(
    answer: impl Fn(&str, &str) -> String + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    serve(move |own, _, path, _, stream| {
        let _ = stream.write_all(answer(own, path).as_bytes());
    })
}

/// A registry that sends a manifest request on to another host (Helm's and Docker's
/// clients follow redirects), where a login is asked for: that host's challenge is not
/// answered, so our login for the registry never reaches it or its token endpoint.
#[test]
fn issue_23_a_followed_redirect_never_gets_the_registrys_login() {
    // The other host's challenge names its own token endpoint.
    let (other, other_seen) = scripted(|own, _| {
        format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{own}/token\",service=\"evil\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    });
    let other_host = other.clone();
    let (registry, _) = scripted(move |_, path| {
        if path == "/v2/" {
            return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into();
        }
        format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{other_host}/v2/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    });
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let image = format!("{registry}/nvidia/nvflare:2.9.0");
    let config = write(
        &root.join("k8s.yaml"),
        &K8S_CONFIG.replace("localhost:5000/nvflare:2.9.0", &image),
    );
    let out = root.join("prepared/site-1");
    prepare_json(&project.client_kit("site-1"), &config, &out, &[]);
    let docker = root.join("docker");
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("reader:registry-secret");
    write(
        &docker.join("config.json"),
        &format!("{{\"auths\": {{\"{registry}\": {{\"auth\": \"{auth}\"}}}}}}"),
    );
    let mut cmd = nvflare_cmd();
    cmd.env("DOCKER_CONFIG", &docker);
    cmd.args([
        "images",
        p(&out),
        "--resolve",
        "--plain-http",
        "--format",
        "json",
    ]);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let row = run.json()["data"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == image.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["error"]["error_code"], "REGISTRY_AUTH_FAILED", "{row}");
    assert!(
        row["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not sent to another host"),
        "{row}"
    );
    let seen = other_seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the redirect was not followed");
    assert!(
        seen.iter()
            .all(|r| r.ends_with("no-auth") && !r.contains("/token")),
        "{seen:?}"
    );
}
