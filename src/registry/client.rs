//! A small OCI distribution client: TLS options as Helm's, and Basic or Bearer-token
//! authentication negotiated from the registry's `WWW-Authenticate` challenge.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use ureq::http::Response;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use super::credentials::Credentials;
use crate::error::{Code, Error, Result};

/// Largest body read from a registry (a token, an error message): anything more is not
/// what a registry sends, and is not buffered.
const MAX_BODY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    pub plain_http: bool,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure_skip_tls_verify: bool,
}

pub struct Client {
    agent: Agent,
    /// The whole command's time budget ends here; each request gets what is left.
    deadline: Instant,
    budget: Duration,
    base: String,
    host: String,
    credentials: Option<Credentials>,
    authorization: RefCell<Option<String>>,
}

/// `(scheme, lower-case host:port)` of an http(s) URL, the port made explicit; None for
/// anything else (a URL with user info included: it is never given credentials).
fn origin(url: &str) -> Option<(&'static str, String)> {
    let (scheme, rest, port) = if let Some(rest) = url.strip_prefix("https://") {
        ("https", rest, "443")
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http", rest, "80")
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    Some((
        scheme,
        if has_port {
            authority
        } else {
            format!("{authority}:{port}")
        },
    ))
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::invalid_args(
            format!("Cannot read {what} {}: {e}", path.display()),
            "Check the path given to the TLS flags.",
        )
    })
}

fn tls_config(settings: &TlsSettings) -> Result<TlsConfig> {
    let mut builder = TlsConfig::builder().disable_verification(settings.insecure_skip_tls_verify);
    if let Some(ca) = &settings.ca_file {
        let pem = read(ca, "CA file")?;
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(Error::invalid_args(
                format!("No certificate in CA file {}.", ca.display()),
                "Give a PEM file with the registry's CA certificate.",
            ));
        }
        builder = builder.root_certs(RootCerts::new_with_certs(&certs));
    }
    match (&settings.cert_file, &settings.key_file) {
        (Some(cert), Some(key)) => {
            let chain: Vec<Certificate<'static>> =
                ureq::tls::parse_pem(&read(cert, "certificate file")?)
                    .filter_map(|item| match item {
                        Ok(PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
            // The key's bytes never reach a message: only its path does.
            let key_pem = read(key, "key file")?;
            check_client_identity(&chain, &key_pem, key)?;
            let key = PrivateKey::from_pem(&key_pem).map_err(|_| {
                Error::invalid_args(
                    format!("{} holds no usable PEM private key.", key.display()),
                    "Give the client certificate's private key in PEM.",
                )
            })?;
            builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        (None, None) => {}
        _ => {
            return Err(Error::invalid_args(
                "--cert-file and --key-file go together.",
                "Give both or neither.",
            ))
        }
    }
    Ok(builder.build())
}

/// The client key must be one rustls can sign with and must match the certificate: ureq
/// panics on either problem when it first connects, so both are checked here.
fn check_client_identity(
    chain: &[Certificate<'static>],
    key_pem: &[u8],
    key_path: &std::path::Path,
) -> Result<()> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let unusable = |why: &str| {
        Error::invalid_args(
            format!(
                "{} is not usable as the client key: {why}.",
                key_path.display()
            ),
            "Give the PEM private key (RSA, ECDSA or Ed25519) of the --cert-file certificate.",
        )
    };
    if chain.is_empty() {
        return Err(Error::invalid_args(
            "--cert-file holds no PEM certificate.",
            "Give the client certificate in PEM.",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| unusable("no PEM private key"))?;
    let provider = rustls::crypto::ring::default_provider();
    let certs: Vec<CertificateDer<'static>> = chain
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    rustls::sign::CertifiedKey::from_der(certs, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => unusable("it does not belong to the certificate"),
        _ => unusable("unsupported or malformed key"),
    })?;
    Ok(())
}

impl Client {
    /// A client whose requests all finish within `budget`, each connect within 10 s and
    /// each read within 30 s: a registry that accepts and never answers cannot hang us.
    pub fn new(
        host: &str,
        tls: &TlsSettings,
        credentials: Option<Credentials>,
        budget: Duration,
    ) -> Result<Client> {
        let config = Agent::config_builder()
            .tls_config(tls_config(tls)?)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .user_agent(concat!("helm-nvflare/", env!("CARGO_PKG_VERSION")))
            // A redirect from an https registry never goes to plain http.
            .https_only(!tls.plain_http)
            .build();
        let scheme = if tls.plain_http { "http" } else { "https" };
        Ok(Client {
            agent: config.new_agent(),
            deadline: Instant::now() + budget,
            budget,
            base: format!("{scheme}://{host}"),
            host: host.to_string(),
            credentials,
            authorization: RefCell::new(None),
        })
    }

    /// A path on this registry.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A URL the registry handed back (an upload `Location`): a path is on this registry;
    /// an absolute URL is kept, but never from https down to http, and [`Self::send`]
    /// gives it our credentials only when it is on this registry's scheme, host and port.
    pub fn resolve(&self, location: &str) -> Result<String> {
        if location.starts_with('/') && !location.starts_with("//") {
            return Ok(self.url(location));
        }
        let Some((scheme, _)) = origin(location) else {
            return Err(self.protocol_error(&format!(
                "a URL that is neither a path nor http(s): {:?}",
                crate::terminal::escape(&location.chars().take(200).collect::<String>())
            )));
        };
        if scheme == "http" && self.base.starts_with("https://") {
            return Err(self.protocol_error(
                "a URL that goes from https down to plain http; it is not followed",
            ));
        }
        Ok(location.to_string())
    }

    /// Whether `url` is on this registry: the same scheme, host and port.
    fn is_own(&self, url: &str) -> bool {
        origin(url).is_some() && origin(url) == origin(&self.base)
    }

    /// Sends a request, authenticating once when the registry challenges.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        scope: &str,
    ) -> Result<Response<Body>> {
        self.send_with(method, url, content_type, body, scope, true)
    }

    /// A GET or HEAD that follows no redirect: a 3xx comes back, for the caller to follow
    /// with [`Self::resolve`] (and, off this registry, without our credentials).
    pub(crate) fn send_unfollowed(
        &self,
        method: &str,
        url: &str,
        accept: Option<&str>,
        scope: &str,
    ) -> Result<Response<Body>> {
        self.send_with(method, url, accept, None, scope, false)
    }

    /// A PUT whose body of `length` bytes streams from `reader` (a blob, never buffered
    /// whole). It cannot be sent twice, so it is not retried on a challenge: the upload's
    /// POST has authenticated already.
    pub(crate) fn put_reader(
        &self,
        url: &str,
        content_type: &str,
        reader: &mut dyn std::io::Read,
        length: u64,
    ) -> Result<Response<Body>> {
        let auth = self
            .authorization
            .borrow()
            .clone()
            .filter(|_| self.is_own(url));
        let left = Some(self.remaining()?);
        let mut req = self
            .agent
            .put(url)
            .config()
            .timeout_global(left)
            .max_redirects(0)
            .build();
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        let response = req
            .header("Content-Type", content_type)
            .header("Content-Length", &length.to_string())
            .send(ureq::SendBody::from_reader(reader))
            .map_err(|e| self.transport_error(e))?;
        if response.status() == 401 {
            return Err(self.auth_refused());
        }
        Ok(response)
    }

    fn send_with(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        scope: &str,
        follow: bool,
    ) -> Result<Response<Body>> {
        let response = self.send_once(method, url, content_type, body, follow)?;
        if response.status() != 401 {
            return Ok(response);
        }
        // Another host's challenge is never answered with this registry's login: not the
        // one we asked, and not the one a followed redirect ended at.
        let answered = ureq::ResponseExt::get_uri(&response).to_string();
        let url = if self.is_own(url) && !self.is_own(&answered) {
            answered.as_str()
        } else {
            url
        };
        if !self.is_own(url) {
            let other = origin(url)
                .map(|(s, h)| format!("{s}://{h}"))
                .unwrap_or_default();
            return Err(Error::new(
                Code::RegistryAuthFailed,
                format!(
                    "Registry {} sent us on to {} to {method} there, which asks for a login; {}'s login is not sent to another host.",
                    self.host,
                    crate::terminal::escape(&other),
                    self.host
                ),
                "If that host is the same registry under another name (its `http.host` setting), use that name in the oci:// reference.",
            ));
        }
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        self.authenticate(&challenge, scope)?;
        let response = self.send_once(method, url, content_type, body, follow)?;
        if response.status() == 401 {
            return Err(self.auth_refused());
        }
        Ok(response)
    }

    /// What is left of the command's budget, or REGISTRY_TIMEOUT when nothing is.
    fn remaining(&self) -> Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timeout_error());
        }
        Ok(left)
    }

    fn timeout_error(&self) -> Error {
        Error::new(
            Code::RegistryTimeout,
            format!(
                "Registry {} did not answer in time (--timeout {}s).",
                self.host,
                self.budget.as_secs()
            ),
            "Check that the registry (and any proxy in between) is up; raise --timeout for a slow link.",
        )
    }

    /// A response body of at most `limit` bytes; a longer one is refused, not buffered.
    pub(crate) fn body_bytes(&self, response: &mut Response<Body>, limit: u64) -> Result<Vec<u8>> {
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    self.protocol_error(&format!("a body larger than {limit} bytes"))
                }
                other => self.transport_error(other),
            })
    }

    /// A response body as text, read up to [`MAX_BODY_BYTES`].
    pub(crate) fn body_text(response: &mut Response<Body>) -> String {
        response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .unwrap_or_default()
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        follow: bool,
    ) -> Result<Response<Body>> {
        // Credentials go only to the registry they belong to.
        let auth = self
            .authorization
            .borrow()
            .clone()
            .filter(|_| self.is_own(url));
        let left = Some(self.remaining()?);
        let result = match method {
            "HEAD" | "GET" => {
                let req = if method == "HEAD" {
                    self.agent.head(url)
                } else {
                    self.agent.get(url)
                };
                let redirects = if follow { 10 } else { 0 };
                let mut req = req
                    .config()
                    .timeout_global(left)
                    .max_redirects(redirects)
                    .build();
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                // A GET has no body: its media type is the one asked for.
                if let Some(accept) = content_type {
                    req = req.header("Accept", accept);
                }
                req.call()
            }
            _ => {
                let req = if method == "POST" {
                    self.agent.post(url)
                } else {
                    self.agent.put(url)
                };
                let mut req = req.config().timeout_global(left).build();
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                if let Some(ct) = content_type {
                    req = req.header("Content-Type", ct);
                }
                match body {
                    Some(bytes) => req.send(bytes),
                    None => req.send_empty(),
                }
            }
        };
        result.map_err(|e| self.transport_error(e))
    }

    fn basic(&self) -> Option<String> {
        let c = self
            .credentials
            .as_ref()
            .filter(|c| !c.username.is_empty())?;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.username, c.password));
        Some(format!("Basic {token}"))
    }

    fn authenticate(&self, header: &str, scope: &str) -> Result<()> {
        let challenge = super::challenge::parse(header);
        if let Some(challenge) = challenge.filter(|c| c.scheme == "bearer") {
            let realm = challenge
                .params
                .get("realm")
                .ok_or_else(|| self.protocol_error("a Bearer challenge without realm"))?;
            // The realm is where this registry checks its logins (Docker Hub's is another
            // host), so it gets them, but never over plain http from an https registry.
            let realm = self.resolve(realm)?;
            let token = self.fetch_token(&realm, challenge.params.get("service"), scope)?;
            *self.authorization.borrow_mut() = Some(format!("Bearer {token}"));
            return Ok(());
        }
        match self.basic() {
            Some(basic) => {
                *self.authorization.borrow_mut() = Some(basic);
                Ok(())
            }
            None => Err(Error::new(
                Code::RegistryAuthFailed,
                format!("Registry {} needs credentials.", self.host),
                format!(
                    "Run `helm registry login {}`, or pass --username and --password-stdin.",
                    self.host
                ),
            )),
        }
    }

    /// A bearer token from the challenge's realm: an identity token is exchanged with an
    /// OAuth2 POST, as Docker does; otherwise a GET, with Basic credentials when we have
    /// them (anonymous otherwise).
    fn fetch_token(&self, realm: &str, service: Option<&String>, scope: &str) -> Result<String> {
        use super::challenge::{percent_encode, url_with_query};
        let left = Some(self.remaining()?);
        let identity = self
            .credentials
            .as_ref()
            .and_then(|c| c.identity_token.as_deref());
        let result = match identity {
            Some(refresh) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("client_id", "helm-nvflare"),
                    ("refresh_token", refresh),
                    ("scope", scope),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                let body: Vec<String> = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                    .collect();
                self.agent
                    .post(realm)
                    .config()
                    .timeout_global(left)
                    .build()
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .send(body.join("&").as_bytes())
            }
            None => {
                let mut query = vec![("scope", scope)];
                if let Some(service) = service {
                    query.insert(0, ("service", service.as_str()));
                }
                let mut req = self
                    .agent
                    .get(&url_with_query(realm, &query))
                    .config()
                    .timeout_global(left)
                    .build();
                if let Some(b) = self.basic() {
                    req = req.header("Authorization", b);
                }
                req.call()
            }
        };
        let mut response = result.map_err(|e| self.transport_error(e))?;
        if !response.status().is_success() {
            return Err(self.auth_refused());
        }
        let text = Self::body_text(&mut response);
        let body: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| self.protocol_error("a token response that is not JSON"))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| self.auth_refused())
    }

    fn auth_refused(&self) -> Error {
        let who = self
            .credentials
            .as_ref()
            .filter(|c| !c.username.is_empty())
            .map(|c| format!(" as {}", crate::terminal::escape(&c.username)))
            .unwrap_or_default();
        Error::new(
            Code::RegistryAuthFailed,
            format!("Registry {} refused the login{who}.", self.host),
            format!("Check the username and password (`helm registry login {}`), and that the account may push here.", self.host),
        )
    }

    pub(crate) fn protocol_error(&self, what: &str) -> Error {
        Error::new(
            Code::RegistryError,
            format!("Registry {} answered with {what}.", self.host),
            "Check that the address is an OCI registry (Docker Distribution v2 API).",
        )
    }

    fn transport_error(&self, err: ureq::Error) -> Error {
        if matches!(err, ureq::Error::Timeout(_)) {
            return self.timeout_error();
        }
        let text = crate::terminal::escape(&err.to_string());
        let tls = matches!(
            err,
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_)
        ) || text.to_ascii_lowercase().contains("certificate")
            || text.contains("tls")
            || text.contains("InvalidContentType");
        if tls {
            return Error::new(
                Code::RegistryTls,
                format!("TLS with registry {} failed: {text}", self.host),
                "Pass the registry's CA with --ca-file, use --plain-http for a plain HTTP registry, or (testing only) --insecure-skip-tls-verify.",
            );
        }
        Error::new(
            Code::RegistryUnreachable,
            format!("Cannot reach registry {}: {text}", self.host),
            "Check the host and port, that the registry runs, and proxies or firewalls in between.",
        )
    }
}
