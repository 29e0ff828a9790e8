//! Startup kits shaped exactly like `nvflare provision` output: the committed non-secret
//! files from `tests/fixtures/provisioned-kit`, plus a root CA, certificates and keys made
//! here with rcgen.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::repo;

pub struct Project {
    pub prod: PathBuf,
    pub name: String,
    pub server: String,
    pub fl_port: u16,
    pub admin_port: u16,
    pub org: String,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    pub ca_pem: String,
}

impl Project {
    /// A project `example_project` under `<root>/prod_00`, server `server` on 8002/8003.
    pub fn new(root: &Path, server: &str) -> Project {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "example_project");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        Project {
            prod: root.join("prod_00"),
            name: "example_project".into(),
            server: server.into(),
            fl_port: 8002,
            admin_port: 8003,
            org: "nvidia".into(),
            ca_params,
            ca_key,
            ca_pem,
        }
    }

    pub fn with_ports(mut self, fl_port: u16, admin_port: u16) -> Project {
        self.fl_port = fl_port;
        self.admin_port = admin_port;
        self
    }

    pub fn server_kit(&self) -> PathBuf {
        let name = self.server.clone();
        self.kit("server", &name, Some("server"))
    }

    pub fn client_kit(&self, name: &str) -> PathBuf {
        self.kit("client", name, Some("client"))
    }

    pub fn admin_kit(&self, name: &str) -> PathBuf {
        self.kit("admin", name, Some("client"))
    }

    /// Copies the fixture for `role`, fills in the placeholders, and issues `<base>.crt/.key`.
    fn kit(&self, role: &str, name: &str, cert_base: Option<&str>) -> PathBuf {
        let dir = self.prod.join(name);
        copy_filled(
            &repo().join("tests/fixtures/provisioned-kit").join(role),
            &dir,
            &|text: &str| {
                text.replace("@PROJECT@", &self.name)
                    .replace("@SERVER@", &self.server)
                    .replace("@FL_PORT@", &self.fl_port.to_string())
                    .replace("@ADMIN_PORT@", &self.admin_port.to_string())
                    .replace("@NAME@", name)
                    .replace("@ORG@", &self.org)
            },
        );
        std::fs::create_dir_all(dir.join("transfer")).unwrap();
        if let Some(base) = cert_base {
            let (cert, key) = self.issue(name, Some(&self.org));
            self.install_identity(&dir, base, &cert, &key);
        }
        dir
    }

    /// A leaf certificate valid from `not_before` to `not_after`, naming `dns` in its SAN.
    pub fn issue_custom(
        &self,
        common_name: &str,
        dns: &[&str],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> (String, String) {
        let mut params =
            CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, self.org.as_str());
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate().unwrap();
        let cert = params
            .signed_by(&key, &Issuer::from_params(&self.ca_params, &self.ca_key))
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A CA signed by the project CA, valid for `days` more days: (params, key, PEM), for
    /// an intermediate or NVFlare's per-job CA (`startup/job_ca.crt`).
    pub fn sub_ca(&self, common_name: &str, days: i64) -> (CertificateParams, KeyPair, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(days);
        let key = KeyPair::generate().unwrap();
        let pem = params
            .signed_by(&key, &Issuer::from_params(&self.ca_params, &self.ca_key))
            .unwrap()
            .pem();
        (params, key, pem)
    }

    /// A leaf signed by `issuer` (the project CA when None), with the given extended key
    /// usages (none: unlimited): (certificate PEM, key PEM).
    pub fn issue_by(
        &self,
        common_name: &str,
        issuer: Option<(&CertificateParams, &KeyPair)>,
        usages: Vec<rcgen::ExtendedKeyUsagePurpose>,
    ) -> (String, String) {
        let mut params = CertificateParams::new(vec![common_name.to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, self.org.as_str());
        params.extended_key_usages = usages;
        let key = KeyPair::generate().unwrap();
        let (ca_params, ca_key) = issuer.unwrap_or((&self.ca_params, &self.ca_key));
        let cert = params
            .signed_by(&key, &Issuer::from_params(ca_params, ca_key))
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A leaf certificate signed by the project CA: (certificate PEM, key PEM).
    pub fn issue(&self, common_name: &str, org: Option<&str>) -> (String, String) {
        let san: Vec<String> =
            if common_name.len() <= 253 && !common_name.contains('_') && !common_name.contains('@')
            {
                vec![common_name.to_string()]
            } else {
                Vec::new()
            };
        let mut params = CertificateParams::new(san).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        if let Some(org) = org {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    pub fn install_identity(&self, kit: &Path, base: &str, cert: &str, key: &str) {
        use std::os::unix::fs::PermissionsExt;
        let startup = kit.join("startup");
        std::fs::write(startup.join("rootCA.pem"), &self.ca_pem).unwrap();
        std::fs::write(startup.join(format!("{base}.crt")), cert).unwrap();
        let key_path = startup.join(format!("{base}.key"));
        std::fs::write(&key_path, key).unwrap();
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn copy_filled(src: &Path, dst: &Path, fill: &dyn Fn(&str) -> String) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_filled(&entry.path(), &to, fill);
        } else {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(&to, fill(&text)).unwrap();
            std::fs::set_permissions(&to, entry.metadata().unwrap().permissions()).unwrap();
        }
    }
}
