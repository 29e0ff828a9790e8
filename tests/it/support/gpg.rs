//! OpenPGP keys made by real GnuPG (Debian's `gnupg`) in a temporary GNUPGHOME, exported
//! as the legacy keyring files Helm reads.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Gpg {
    pub home: PathBuf,
}

/// One key's exported keyrings.
pub struct Key {
    /// `gpg --export-secret-keys` of this key.
    pub secring: PathBuf,
    /// `gpg --export` of this key.
    pub pubring: PathBuf,
    pub uid: String,
}

impl Gpg {
    pub fn new(dir: &Path) -> Gpg {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        Gpg { home }
    }

    /// Runs gpg in batch mode; returns stdout, panics with stderr on failure.
    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        let output = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args(["--batch", "--pinentry-mode", "loopback"])
            .args(args)
            .output()
            .expect("gpg (gnupg) runs");
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Runs gpg with `input` on stdin (for `--command-fd 0`); returns stdout.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Vec<u8> {
        use std::io::Write;
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--command-fd",
                "0",
            ])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("gpg (gnupg) runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// A key from gpg's batch parameters (`Key-Type:` ... without the name, e-mail,
    /// protection and `%commit`), unprotected, made at `faked_time` when given.
    pub fn key_from(&self, name: &str, params: &str, faked_time: Option<&str>) -> Key {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let file = self.home.join(format!("{email}.params"));
        std::fs::write(
            &file,
            format!("{params}\nName-Real: {name}\nName-Email: {email}\n%no-protection\n%commit\n"),
        )
        .unwrap();
        let mut args = Vec::new();
        if let Some(t) = faked_time {
            args.extend(["--faked-system-time", t]);
        }
        args.extend(["--gen-key", file.to_str().unwrap()]);
        self.run(&args);
        self.export(name, &email)
    }

    /// Exports the key of `email` again (after it was changed).
    pub fn export(&self, name: &str, email: &str) -> Key {
        let secring = self.home.join(format!("{email}.secring.gpg"));
        std::fs::write(&secring, self.run(&["--export-secret-keys", email])).unwrap();
        let pubring = self.home.join(format!("{email}.pubring.gpg"));
        std::fs::write(&pubring, self.run(&["--export", email])).unwrap();
        Key {
            secring,
            pubring,
            uid: format!("{name} <{email}>"),
        }
    }

    /// The fingerprints of the key of `email`: the primary's first, then its subkeys'.
    pub fn fingerprints(&self, email: &str) -> Vec<String> {
        let out = self.run(&["--with-colons", "--fingerprint", "--list-keys", email]);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap().to_string())
            .collect()
    }

    /// An RSA 2048 signing key (what Helm 3's OpenPGP code can check). `passphrase: None`
    /// leaves it unprotected; `faked_time` (gpg's `--faked-system-time`, e.g.
    /// `20200101T000000`) with `expire` ("1d") makes a key that has long expired.
    pub fn key(
        &self,
        name: &str,
        passphrase: Option<&str>,
        faked_time: Option<&str>,
        expire: &str,
    ) -> Key {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let protection = match passphrase {
            Some(p) => format!("Passphrase: {p}\n"),
            None => "%no-protection\n".to_string(),
        };
        let params = self.home.join(format!("{email}.params"));
        std::fs::write(
            &params,
            format!(
                "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nName-Real: {name}\nName-Email: {email}\n{protection}Expire-Date: {expire}\n%commit\n"
            ),
        )
        .unwrap();
        let mut args = Vec::new();
        if let Some(t) = faked_time {
            args.extend(["--faked-system-time", t]);
        }
        args.extend(["--gen-key", params.to_str().unwrap()]);
        self.run(&args);
        let uid = format!("{name} <{email}>");
        let mut export = vec!["--export-secret-keys"];
        if let Some(p) = passphrase {
            export.splice(0..0, ["--passphrase", p]);
        }
        export.push(&email);
        let secring = self.home.join(format!("{email}.secring.gpg"));
        std::fs::write(&secring, self.run(&export)).unwrap();
        let pubring = self.home.join(format!("{email}.pubring.gpg"));
        std::fs::write(&pubring, self.run(&["--export", &email])).unwrap();
        Key {
            secring,
            pubring,
            uid,
        }
    }
}
