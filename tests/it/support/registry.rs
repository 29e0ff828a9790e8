//! A real OCI registry for tests: Debian's `docker-registry` on 127.0.0.1, plain HTTP or
//! TLS with a CA made here and htpasswd authentication. Stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

pub const USER: &str = "fl-admin";
pub const PASSWORD: &str = "s3cret-Pa55word";

pub struct Registry {
    child: Child,
    pub host: String,
    /// The CA that signed the registry's certificate (TLS registries only).
    pub ca_file: Option<PathBuf>,
    pub dir: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "test registry CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf
        .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
        .unwrap();
    // A client certificate from the same CA, for registries that require one.
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "helm-nvflare-test-client");
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client
        .signed_by(&client_key, &Issuer::from_params(&ca, &ca_key))
        .unwrap();
    std::fs::write(dir.join("client.crt"), client_cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("registry.crt"),
        dir.join("registry.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, leaf_cert.pem()).unwrap();
    std::fs::write(&paths.2, leaf_key.serialize_pem()).unwrap();
    paths
}

impl Registry {
    pub fn plain(dir: &Path) -> Registry {
        Self::start(dir, false, false, None)
    }

    pub fn tls_with_auth(dir: &Path) -> Registry {
        Self::start(dir, true, false, None)
    }

    /// TLS that also requires a client certificate signed by the test CA (`dir/client.crt`).
    pub fn mutual_tls(dir: &Path) -> Registry {
        Self::start(dir, true, true, None)
    }

    /// TLS with login, handing out upload URLs on `advertise(its own host:port)`
    /// (docker-registry's `http.host`, meant for a registry behind a proxy).
    pub fn tls_with_auth_advertising(dir: &Path, advertise: impl Fn(&str) -> String) -> Registry {
        let port = free_port();
        Self::start_on(
            dir,
            port,
            true,
            false,
            Some(advertise(&format!("127.0.0.1:{port}"))),
        )
    }

    fn start(dir: &Path, secure: bool, client_certs: bool, advertised: Option<String>) -> Registry {
        Self::start_on(dir, free_port(), secure, client_certs, advertised)
    }

    fn start_on(
        dir: &Path,
        port: u16,
        secure: bool,
        client_certs: bool,
        advertised: Option<String>,
    ) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.join("data").display()
        );
        if let Some(url) = advertised {
            config.push_str(&format!("  host: {url}\n"));
        }
        let mut ca_file = None;
        if secure {
            let (ca, cert, key) = tls_files(dir);
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            if client_certs {
                config.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
            }
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASSWORD])
                .output()
                .expect("htpasswd (apache2-utils) runs");
            assert!(out.status.success());
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                htpasswd.display()
            ));
            ca_file = Some(ca);
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry is installed (scripts/install-test-deps.sh)");
        let registry = Registry {
            child,
            host,
            ca_file,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&registry.host).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {}",
                std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `helm registry login` to this (TLS) registry with the test user, the password on
    /// stdin; `helm` is the Command to run (its homes and environment set by the caller).
    pub fn helm_login(&self, mut helm: Command) -> super::Run {
        let ca = self.ca_file.as_ref().expect("a TLS registry");
        helm.args([
            "registry",
            "login",
            &self.host,
            "--username",
            USER,
            "--password-stdin",
            "--ca-file",
        ])
        .arg(ca);
        super::run_with_stdin(helm, PASSWORD)
    }

    pub fn oci(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host)
    }
}
