//! Issue 20, items 1 and 2: `verify-chart oci://...` means what `helm pull --verify`
//! means. A real docker-registry on 127.0.0.1 is made to hold hostile answers (manifests
//! written to it directly, as whoever runs a registry can), and each verdict of
//! verify-chart is compared with Helm 3's and Helm 4's `pull --verify` on the same answer.

use crate::support;

use std::path::PathBuf;

use serde_json::{json, Value};

use support::gpg::{Gpg, Key};
use support::kits::Project;
use support::manifests::helm;
use support::registry::Registry;
use support::{nvflare_cmd, run_cmd, write, Run, K8S_CONFIG};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const LEGACY_CHART: &str = "application/tar+gzip";
const PROV: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    key: Key,
    registry: Registry,
    home: PathBuf,
    /// Where Hospital_A's chart was pushed (`fl/<its release>/nvflare-client`).
    hospital_a: String,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", support::sha256_bytes(bytes))
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.registry.host)
    }

    fn get(&self, path: &str, accept: &str) -> Vec<u8> {
        let mut response = ureq::get(&self.url(path))
            .header("Accept", accept)
            .call()
            .unwrap();
        response.body_mut().read_to_vec().unwrap()
    }

    fn put_blob(&self, repo: &str, bytes: &[u8]) -> Value {
        let start = ureq::post(&self.url(&format!("/v2/{repo}/blobs/uploads/")))
            .send_empty()
            .unwrap();
        let location = start.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with('/') {
            self.url(&location)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        ureq::put(&format!("{location}{sep}digest={}", sha256(bytes)))
            .header("Content-Type", "application/octet-stream")
            .send(bytes)
            .unwrap();
        json!({"digest": sha256(bytes), "size": bytes.len()})
    }

    fn put_manifest(&self, repo: &str, tag: &str, media_type: &str, manifest: &Value) -> Value {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let mut response = ureq::put(&self.url(&format!("/v2/{repo}/manifests/{tag}")))
            .config()
            .http_status_as_error(false)
            .build()
            .header("Content-Type", media_type)
            .send(&bytes[..])
            .unwrap();
        let status = response.status();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 201, "the registry refused {repo}:{tag}: {body}");
        json!({"mediaType": media_type, "digest": sha256(&bytes), "size": bytes.len()})
    }

    /// A chart manifest in `repo`: Helm's config for `config`, then the given layers.
    fn chart_manifest(
        &self,
        repo: &str,
        tag: &str,
        config: &[u8],
        layers: &[(&str, &[u8])],
    ) -> Value {
        let mut config_ref = self.put_blob(repo, config);
        config_ref["mediaType"] = "application/vnd.cncf.helm.config.v1+json".into();
        let layers: Vec<Value> = layers
            .iter()
            .map(|(media_type, bytes)| {
                let mut layer = self.put_blob(repo, bytes);
                layer["mediaType"] = (*media_type).into();
                layer
            })
            .collect();
        let manifest = json!({"schemaVersion": 2, "mediaType": MANIFEST, "config": config_ref, "layers": layers});
        self.put_manifest(repo, tag, MANIFEST, &manifest)
    }

    /// (Helm 3 accepts, Helm 4 accepts, verify-chart's run).
    fn verdicts(&self, repo: &str, version: &str) -> (bool, bool, Run) {
        self.verdicts_at(&self.registry.host, repo, version)
    }

    fn verdicts_at(&self, host: &str, repo: &str, version: &str) -> (bool, bool, Run) {
        let reference = format!("oci://{host}/{repo}");
        let helm_ok = |which: &str| {
            let dest = self
                .root
                .join(format!("pulled-{which}-{}", repo.replace('/', "_")));
            std::fs::create_dir_all(&dest).unwrap();
            let mut cmd = helm(which, &self.home);
            cmd.args([
                "pull",
                &reference,
                "--version",
                version,
                "--plain-http",
                "--verify",
                "--keyring",
            ])
            .arg(&self.key.pubring)
            .arg("-d")
            .arg(&dest);
            run_cmd(cmd).code == 0
        };
        let mut cmd = nvflare_cmd();
        cmd.args([
            "verify-chart",
            &reference,
            "--version",
            version,
            "--plain-http",
            "--keyring",
        ])
        .arg(&self.key.pubring)
        .args(["--format", "json"]);
        (helm_ok("helm3"), helm_ok("helm4"), run_cmd(cmd))
    }
}

fn refused(run: &Run, why: &str) {
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["error_code"],
        "VERIFICATION_FAILED",
        "{}",
        run.stdout
    );
    let message = run.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains(why), "{message}");
}

/// Signed site-1 (1.0.0 and 0.1.0) and Hospital_A (0.1.0) charts, pushed.
fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let gpg = Gpg::new(&root);
    let key = gpg.key("Chart Publisher", None, None, "0");
    let registry = Registry::plain(&root.join("registry"));
    let mut hospital_a = None;
    for (participant, version) in [
        ("site-1", "1.0.0"),
        ("site-1", "0.1.0"),
        ("Hospital_A", "0.1.0"),
    ] {
        let out = root.join(format!("prepared/{participant}-{version}"));
        let mut cmd = nvflare_cmd();
        cmd.arg("prepare")
            .arg(project.client_kit(participant))
            .arg("--config")
            .arg(&config)
            .arg("--output")
            .arg(&out)
            .args([
                "--package",
                "--version",
                version,
                "--sign",
                "--key",
                "Chart Publisher",
                "--keyring",
            ])
            .arg(&key.secring)
            .args(["--format", "json"]);
        let run = run_cmd(cmd).success();
        let archive = run.json()["data"]["package"].as_str().unwrap().to_string();
        let mut cmd = nvflare_cmd();
        cmd.args([
            "push",
            &archive,
            &registry.oci("fl"),
            "--plain-http",
            "--format",
            "json",
        ]);
        let run = run_cmd(cmd).success();
        let reference = run.json()["data"]["charts"][0]["reference"]
            .as_str()
            .unwrap()
            .to_string();
        let repo = reference
            .split_once('/')
            .unwrap()
            .1
            .rsplit_once(':')
            .unwrap()
            .0;
        if participant == "Hospital_A" {
            hospital_a = Some(repo.to_string());
        }
    }
    World {
        hospital_a: hospital_a.unwrap(),
        home: root.join("helm-home"),
        root,
        key,
        registry,
        _tmp: tmp,
    }
}

/// The manifest, config, chart and .prov of a pushed chart.
fn pushed(w: &World, repo: &str, tag: &str) -> (Value, Vec<u8>, Vec<u8>, Vec<u8>) {
    let manifest: Value =
        serde_json::from_slice(&w.get(&format!("/v2/{repo}/manifests/{tag}"), MANIFEST)).unwrap();
    let blob = |d: &Value| w.get(&format!("/v2/{repo}/blobs/{}", d.as_str().unwrap()), "*/*");
    let config = blob(&manifest["config"]["digest"]);
    let chart = blob(&manifest["layers"][0]["digest"]);
    let prov = blob(&manifest["layers"][1]["digest"]);
    (manifest, config, chart, prov)
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn issue_20_1_verify_chart_binds_the_reference() {
    let w = world();
    // The honest answers verify everywhere, and verify-chart names the participant.
    for (repo, version) in [
        ("fl/site-1/nvflare-client", "1.0.0"),
        (w.hospital_a.as_str(), "0.1.0"),
    ] {
        let (helm3, helm4, run) = w.verdicts(repo, version);
        assert!(helm3 && helm4, "{repo}: Helm refused the honest answer");
        let run = run.success();
        let release = repo.split('/').nth(1).unwrap();
        assert_eq!(run.json()["data"]["release"], release, "{}", run.stdout);
    }

    // 2.0.0 answered with the 1.0.0 chart its publisher once signed.
    let (manifest, ..) = pushed(&w, "fl/site-1/nvflare-client", "1.0.0");
    w.put_manifest("fl/site-1/nvflare-client", "2.0.0", MANIFEST, &manifest);
    let (helm3, helm4, run) = w.verdicts("fl/site-1/nvflare-client", "2.0.0");
    assert!(
        !helm3 && !helm4,
        "Helm accepted the older chart: the case is not what it claims"
    );
    refused(&run, "names no file \"nvflare-client-2.0.0.tgz\"");

    // site-1's path answered with Hospital_A's chart: same name, same version, so Helm
    // cannot tell; verify-chart can, from the release the chart was signed for.
    let (_, config, chart, prov) = pushed(&w, &w.hospital_a, "0.1.0");
    w.chart_manifest(
        "evil/site-1/nvflare-client",
        "0.1.0",
        &config,
        &[(CHART, &chart), (PROV, &prov)],
    );
    let (helm3, helm4, run) = w.verdicts("evil/site-1/nvflare-client", "0.1.0");
    assert!(
        helm3 && helm4,
        "Helm refused it: the case is not what it claims"
    );
    let release = w.hospital_a.split('/').nth(1).unwrap();
    refused(
        &run,
        &format!("signed for participant release \"{release}\", not for \"site-1\""),
    );
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn issue_20_2_one_manifest_one_meaning() {
    let w = world();
    let (_, config, signed_chart, prov) = pushed(&w, "fl/site-1/nvflare-client", "0.1.0");
    // An unsigned chart of the same name and version (Hospital_A's content).
    let (_, _, other_chart, _) = pushed(&w, &w.hospital_a, "0.1.0");

    // A second chart layer of the legacy type: the signed chart, beside an unsigned one.
    let repo = "legacy/site-1/nvflare-client";
    w.chart_manifest(
        repo,
        "0.1.0",
        &config,
        &[
            (CHART, &other_chart),
            (LEGACY_CHART, &signed_chart),
            (PROV, &prov),
        ],
    );
    // Helm 3 takes either chart layer, from one pull to the next: only Helm 4's is stable.
    let (_, helm4, run) = w.verdicts(repo, "0.1.0");
    assert!(!helm4, "Helm 4 accepted it");
    refused(&run, "legacy media type");

    // Two chart layers of the current type.
    let repo = "two/site-1/nvflare-client";
    w.chart_manifest(
        repo,
        "0.1.0",
        &config,
        &[(CHART, &signed_chart), (CHART, &other_chart), (PROV, &prov)],
    );
    // Helm 4 takes the first chart layer, the signed one; verify-chart refuses the ambiguity.
    let (_, helm4, run) = w.verdicts(repo, "0.1.0");
    assert!(helm4, "Helm 4 refused it: the case is not what it claims");
    refused(&run, "2 chart layers");

    // An index whose one manifest is the unsigned chart, carrying the signed chart's
    // config and layers beside it: Helm 4 follows the index.
    let repo = "index/site-1/nvflare-client";
    let blob = |bytes: &[u8], media_type: &str| json!({"mediaType": media_type, "digest": sha256(bytes), "size": bytes.len()});
    let config_ref = blob(&config, "application/vnd.cncf.helm.config.v1+json");
    let unsigned = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "config": config_ref,
        "layers": [blob(&other_chart, CHART)],
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [blob(&unsigned, MANIFEST)],
        "config": config_ref,
        "layers": [blob(&signed_chart, CHART), blob(&prov, PROV)],
    }))
    .unwrap();
    let at = |what: &str| format!("/v2/{repo}/{what}");
    let host = static_registry(vec![
        (at("manifests/0.1.0"), INDEX, index.clone()),
        (
            at(&format!("manifests/{}", sha256(&index))),
            INDEX,
            index.clone(),
        ),
        (
            at(&format!("manifests/{}", sha256(&unsigned))),
            MANIFEST,
            unsigned.clone(),
        ),
        (
            at(&format!("blobs/{}", sha256(&config))),
            "application/octet-stream",
            config.clone(),
        ),
        (
            at(&format!("blobs/{}", sha256(&other_chart))),
            "application/octet-stream",
            other_chart.clone(),
        ),
        (
            at(&format!("blobs/{}", sha256(&signed_chart))),
            "application/octet-stream",
            signed_chart.clone(),
        ),
        (
            at(&format!("blobs/{}", sha256(&prov))),
            "application/octet-stream",
            prov.clone(),
        ),
    ]);
    let (helm3, helm4, run) = w.verdicts_at(&host, repo, "0.1.0");
    assert!(!helm3 && !helm4, "Helm accepted the index");
    refused(&run, "not an OCI image manifest");

    // A changed chart layer (the manifest rewritten to match it) is a changed chart:
    // authenticated before it is unpacked, so VERIFICATION_FAILED, not INVALID_ARCHIVE.
    let repo = "changed/site-1/nvflare-client";
    w.chart_manifest(
        repo,
        "0.1.0",
        &config,
        &[(CHART, b"not a gzip stream"), (PROV, &prov)],
    );
    let (helm3, helm4, run) = w.verdicts(repo, "0.1.0");
    assert!(!helm3 && !helm4);
    refused(&run, "was changed after it was signed");
}

/// A registry that serves fixed answers (HEAD and GET by path), for the one answer a real
/// docker-registry refuses to store: since distribution 2.8 it rejects a manifest that is
/// both an index and an image manifest (CVE-2021-41190), but a registry of another make,
/// or a proxy in between, can still serve one.
fn static_registry(answers: Vec<(String, &'static str, Vec<u8>)>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut stream = stream;
            loop {
                let mut request = String::new();
                if reader.read_line(&mut request).unwrap_or(0) == 0 {
                    break;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let mut parts = request.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let path = path.split('?').next().unwrap_or("");
                let found = answers.iter().find(|(p, _, _)| p == path);
                let head = match (path, found) {
                    ("/v2/", _) => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                    (_, Some((_, media_type, body))) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {media_type}\r\nDocker-Content-Digest: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        sha256(body),
                        body.len()
                    ),
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string(),
                };
                let _ = stream.write_all(head.as_bytes());
                if let (Some((_, _, body)), "GET") = (found, method) {
                    let _ = stream.write_all(body);
                }
                break;
            }
        }
    });
    host
}
