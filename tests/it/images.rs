//! `images` (issue 23, item 1): every image a site pulls, with what uses it, and with
//! `--resolve` each digest from its registry (a real docker-registry on 127.0.0.1).

use crate::support;

use std::path::Path;

use support::kits::Project;
use support::registry::Registry;
use support::{nvflare, prepare_json, write, K8S_CONFIG};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn images_lists_what_a_site_pulls_and_resolves_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let registry = Registry::plain(&root.join("registry"));
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    // An image in the registry: any manifest is one (a pushed chart here).
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    let first = prepare_json(
        &project.client_kit("site-9"),
        &config,
        &root.join("first"),
        &["--package"],
    );
    let pushed = nvflare([
        "push",
        first["package"].as_str().unwrap(),
        &registry.oci("fl"),
        "--plain-http",
        "--format",
        "json",
    ])
    .success();
    let digest = pushed.json()["data"]["charts"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let image = format!("{}/fl/site-9/nvflare-client:0.1.0", registry.host);

    let config = write(
        &root.join("site.k8s.yaml"),
        &K8S_CONFIG.replace("localhost:5000/nvflare:2.9.0", &image),
    );
    let kit = project.client_kit("site-1");
    write(
        &kit.join("local/study_runtime.yaml"),
        &format!("format_version: 2\nstudies:\n  cancer:\n    container: {{image: \"{image}\"}}\n  heart:\n    container: {{image: \"{}/fl/missing:1.0\"}}\n", registry.host),
    );
    let out = root.join("prepared/site-1");
    prepare_json(&kit, &config, &out, &[]);
    let stage = format!("{}/fl/site-9/nvflare-client@{digest}", registry.host);

    let run = nvflare([
        "images",
        p(&out),
        "--stage-image",
        &stage,
        "--format",
        "json",
    ])
    .success();
    let images = run.json()["data"]["images"].as_array().unwrap().clone();
    let used: Vec<(String, Vec<String>)> = images
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_string(),
                i["used_by"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert!(
        used.contains(&(
            image.clone(),
            vec![
                "the parent of site-1".into(),
                "the jobs of study cancer at site-1".into()
            ]
        )),
        "{used:?}"
    );
    assert!(
        used.contains(&(stage.clone(), vec!["the stage helper".into()])),
        "{used:?}"
    );
    assert_eq!(images.len(), 3, "{used:?}");

    let run = nvflare([
        "images",
        p(&out),
        "--stage-image",
        &stage,
        "--resolve",
        "--plain-http",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let images = run.json()["data"]["images"].as_array().unwrap().clone();
    let by_image = |name: &str| images.iter().find(|i| i["image"] == name).unwrap().clone();
    assert_eq!(by_image(&image)["digest"], digest.as_str());
    assert_eq!(
        by_image(&stage)["digest"],
        digest.as_str(),
        "a pinned image keeps its pin"
    );
    let missing = by_image(&format!("{}/fl/missing:1.0", registry.host));
    assert!(missing["digest"].is_null());
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has no fl/missing:1.0"),
        "{missing}"
    );
}

/// Issue 23, item 3: `prepare --image-mirror HOST/PATH` points the parent and each study's
/// job image at the mirror (tag kept), and `images` then lists only the mirror's images.
#[test]
fn prepare_with_an_image_mirror_points_every_image_at_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let config = write(
        &root.join("k8s.yaml"),
        &K8S_CONFIG.replace(
            "localhost:5000/nvflare:2.9.0",
            "nvcr.io/nvidia/nvflare:2.9.0",
        ),
    );
    let kit = project.client_kit("site-1");
    write(
        &kit.join("local/study_runtime.yaml"),
        "format_version: 2\nstudies:\n  cancer:\n    container: {image: \"nvcr.io/nvidia/nvflare-job:2.9.0\"}\n  heart:\n    container: {image: busybox:1.36}\n",
    );
    let mirror = "registry.hospital.local:5000/fl-mirror";
    let out = root.join("prepared/site-1");
    let data = prepare_json(&kit, &config, &out, &["--image-mirror", mirror]);
    assert_eq!(data["image_mirror"], mirror);
    let values: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(out.join("helm_chart/values.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        values["image"]["repository"],
        format!("{mirror}/nvidia/nvflare")
    );
    assert_eq!(values["image"]["tag"], "2.9.0");
    let study: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(out.join("local/study_runtime.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        study["studies"]["cancer"]["container"]["image"],
        format!("{mirror}/nvidia/nvflare-job:2.9.0")
    );
    assert_eq!(
        study["studies"]["heart"]["container"]["image"],
        format!("{mirror}/library/busybox:1.36")
    );
    // What images says the site pulls: the mirror only (and the stage helper, as given).
    let stage = format!("{mirror}/library/busybox:1.36");
    let run = nvflare([
        "images",
        p(&out),
        "--stage-image",
        &stage,
        "--format",
        "json",
    ])
    .success();
    let images: Vec<String> = run.json()["data"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap().to_string())
        .collect();
    assert!(images.iter().all(|i| i.starts_with(mirror)), "{images:?}");
    assert_eq!(images.len(), 3, "{images:?}");

    // A mirror that is not HOST[:PORT]/PATH: refused before anything is written.
    for bad in [
        "oci://registry.hospital.local/fl",
        "fl-mirror",
        "Registry.Local/UPPER",
    ] {
        let out = root.join("bad");
        let run = support::prepare_run(&kit, &config, &out, &["--image-mirror", bad]);
        assert_eq!(run.code, 4, "{bad}: {}", run.stdout);
        assert!(!out.exists(), "{bad}");
    }
}
