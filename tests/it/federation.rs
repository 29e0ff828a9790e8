//! A whole provisioned federation at once: prepare, package and push a `prod_NN/` folder.
//! Every kit is checked before anything is written; each kit's output is byte-identical to
//! preparing it alone.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::kits::Project;
use support::registry::Registry;
use support::{nvflare, snapshot, write, K8S_CONFIG};

fn args(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<std::ffi::OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

struct Fed {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    project: Project,
    config: PathBuf,
}

fn federation(clients: &[&str]) -> Fed {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    project.server_kit();
    for c in clients {
        project.client_kit(c);
    }
    project.admin_kit("admin@nvidia.com");
    let config = write(&root.join("k8s.yaml"), K8S_CONFIG);
    Fed {
        _tmp: tmp,
        root,
        project,
        config,
    }
}

#[test]
fn prepares_every_kit_like_preparing_it_alone() {
    let fed = federation(&["site-1", "Hospital_A", "123site"]);
    let out = fed.root.join("prepared");
    let run = nvflare(args(&[
        &"prepare",
        &fed.project.prod,
        &"--config",
        &fed.config,
        &"--output",
        &out,
        &"--format",
        &"json",
    ]))
    .success();
    let data = run.json()["data"].clone();
    assert_eq!(data["output"], out.display().to_string());
    assert_eq!(
        data["skipped"],
        json!([{"participant": "admin@nvidia.com", "reason": "admin kit"}])
    );
    let participants: Vec<(String, String, String)> = data["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["participant"].as_str().unwrap().into(),
                p["role"].as_str().unwrap().into(),
                p["release"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        participants,
        [
            (
                "123site".into(),
                "client".into(),
                "site-123site-5f10c088".into()
            ),
            (
                "Hospital_A".into(),
                "client".into(),
                "hospital-a-3822580f".into()
            ),
            (
                "fl.example.com".into(),
                "server".into(),
                "fl-example-com-e265d5eb".into()
            ),
            ("site-1".into(), "client".into(), "site-1".into()),
        ]
    );
    for (name, _, _) in &participants {
        let alone = fed.root.join("alone").join(name);
        nvflare(args(&[
            &"prepare",
            &fed.project.prod.join(name),
            &"--config",
            &fed.config,
            &"--output",
            &alone,
        ]))
        .success();
        assert_eq!(
            snapshot(&out.join(name)),
            snapshot(&alone),
            "{name} differs from preparing it alone"
        );
    }
    assert!(!out.join("admin@nvidia.com").exists());

    // The text summary is one table.
    let run = nvflare(args(&[
        &"prepare",
        &fed.project.prod,
        &"--config",
        &fed.config,
        &"--output",
        &out,
    ]))
    .success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("PARTICIPANT") && lines[0].contains("RELEASE"),
        "{}",
        run.stdout
    );
    assert!(lines.iter().any(|l| l.starts_with("fl.example.com")
        && l.contains("server")
        && l.contains("fl-example-com-e265d5eb")));
    assert!(run.stdout.contains("skipped: admin@nvidia.com (admin kit)"));
    // One warning line for the three clients, not three.
    assert_eq!(
        run.stderr.matches("PassthroughResourceManager").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn one_invalid_kit_among_a_hundred_is_reported_and_nothing_is_written() {
    let names: Vec<String> = (1..=99).map(|i| format!("site-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let fed = federation(&refs);
    std::fs::write(
        fed.project
            .prod
            .join("site-42/local/resources.json.default"),
        "{ not json",
    )
    .unwrap();
    std::fs::remove_file(fed.project.prod.join("site-77/startup/client.key")).unwrap();
    let out = fed.root.join("prepared");
    let before = snapshot(&fed.root);
    let run = nvflare(args(&[
        &"prepare",
        &fed.project.prod,
        &"--config",
        &fed.config,
        &"--output",
        &out,
        &"--format",
        &"json",
    ]));
    assert_eq!(run.code, 4);
    let error = run.json();
    assert_eq!(error["error_code"], "INVALID_FEDERATION");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("2 of 100 kits"),
        "{error}"
    );
    let details = error["data"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 2);
    assert_eq!(details[0]["kit"], "site-42");
    assert_eq!(details[0]["code"], "INVALID_KIT");
    assert!(details[0]["message"]
        .as_str()
        .unwrap()
        .contains("resources.json.default"));
    assert_eq!(details[1]["kit"], "site-77");
    assert!(details[1]["message"]
        .as_str()
        .unwrap()
        .contains("Missing identity material"));
    assert_eq!(snapshot(&fed.root), before, "something was written");

    let run = nvflare(args(&[
        &"prepare",
        &fed.project.prod,
        &"--config",
        &fed.config,
        &"--output",
        &out,
    ]));
    assert_eq!(run.code, 4);
    assert!(
        run.stderr.contains("error[INVALID_FEDERATION]")
            && run.stderr.contains("  site-42: INVALID_KIT:"),
        "{}",
        run.stderr
    );
}

fn json_of(run: support::Run) -> Value {
    run.success().json()["data"].clone()
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn packages_and_pushes_a_whole_federation() {
    let fed = federation(&["site-1", "site-2"]);
    let prepared = fed.root.join("prepared");
    let run = nvflare(args(&[
        &"prepare",
        &fed.project.prod,
        &"--config",
        &fed.config,
        &"--output",
        &prepared,
        &"--package",
        &"--version",
        &"1.1.0",
        &"--format",
        &"json",
    ]));
    let data = json_of(run);
    for p in data["participants"].as_array().unwrap() {
        let archive = Path::new(p["package"].as_str().unwrap());
        assert!(archive.is_file(), "{}", archive.display());
        assert!(archive.starts_with(prepared.join(p["participant"].as_str().unwrap())));
    }

    let dist = fed.root.join("dist");
    let charts = json_of(nvflare(args(&[
        &"package",
        &prepared,
        &"-d",
        &dist,
        &"--version",
        &"1.1.0",
        &"--format",
        &"json",
    ])))["charts"]
        .clone();
    assert_eq!(charts.as_array().unwrap().len(), 3);
    for chart in charts.as_array().unwrap() {
        let name = chart["participant"].as_str().unwrap();
        let archive = PathBuf::from(chart["archive"].as_str().unwrap());
        assert_eq!(archive.parent().unwrap(), dist.join(name));
        // The same bytes as packaging that participant alone, and as prepare --package.
        let alone = json_of(nvflare(args(&[
            &"package",
            &prepared.join(name),
            &"-d",
            &fed.root.join("alone").join(name),
            &"--version",
            &"1.1.0",
            &"--format",
            &"json",
        ])));
        assert_eq!(alone["sha256"], chart["sha256"]);
        assert_eq!(
            std::fs::read(&archive).unwrap(),
            std::fs::read(prepared.join(name).join(archive.file_name().unwrap())).unwrap()
        );
    }

    // A key planted in one chart stops the whole federation from being packaged.
    let bad_dist = fed.root.join("bad-dist");
    write(&prepared.join("site-2/helm_chart/files/client.key"), "x");
    let run = nvflare(args(&[
        &"package",
        &prepared,
        &"-d",
        &bad_dist,
        &"--format",
        &"json",
    ]));
    assert_eq!(run.code, 4);
    assert_eq!(
        run.json()["data"]["details"][0]["code"],
        "KEY_MATERIAL_IN_CHART"
    );
    assert!(!bad_dist.exists());

    // An archive lying in dist/ that this package run did not write is not pushed.
    let stray = dist.join("site-1/nvflare-client-0.9.0.tgz");
    std::fs::copy(dist.join("site-1/nvflare-client-1.1.0.tgz"), &stray).unwrap();
    let registry = Registry::plain(&fed.root.join("registry"));
    let pushed = json_of(nvflare(args(&[
        &"push",
        &dist,
        &registry.oci("fl"),
        &"--plain-http",
        &"--format",
        &"json",
    ])))["charts"]
        .clone();
    let references: Vec<&str> = pushed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reference"].as_str().unwrap())
        .collect();
    let host = &registry.host;
    assert_eq!(
        references,
        [
            format!("{host}/fl/fl-example-com-e265d5eb/nvflare-server:1.1.0"),
            format!("{host}/fl/site-1/nvflare-client:1.1.0"),
            format!("{host}/fl/site-2/nvflare-client:1.1.0"),
        ]
    );

    // A folder without the list written by package is refused, not scanned.
    let loose = fed.root.join("loose");
    std::fs::create_dir_all(&loose).unwrap();
    std::fs::copy(&stray, loose.join("nvflare-client-0.9.0.tgz")).unwrap();
    let run = nvflare(args(&[
        &"push",
        &loose,
        &registry.oci("fl"),
        &"--plain-http",
        &"--format",
        &"json",
    ]));
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.json()["error_code"], "INVALID_ARCHIVE");
}
