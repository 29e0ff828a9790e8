//! A stand-in OCI registry behind Bearer-token authentication, as Docker Hub, GHCR or
//! Harbor run it: every `/v2/` call without the token gets a 401 whose challenge names a
//! realm (with a query of its own), a service with a space and a scope; the realm hands
//! out the token for Basic credentials (GET) or an identity token (OAuth2 POST). It keeps
//! every request line, for the test to check what was sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine;

pub const USER: &str = "robot$fl";
pub const PASSWORD: &str = "p@ss, with: \"odd\" chars";
pub const IDENTITY_TOKEN: &str = "refresh-XYZ";
const TOKEN: &str = "tok-123";

pub struct TokenRegistry {
    pub host: String,
    /// `METHOD target [authorization scheme] [body]` per request.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl TokenRegistry {
    pub fn start() -> TokenRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (log2, host2) = (Arc::clone(&log), host.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, host) = (Arc::clone(&log2), host2.clone());
                std::thread::spawn(move || serve(stream, &host, &log));
            }
        });
        TokenRegistry { host, log }
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, host: &str, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut auth = String::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "authorization" => auth = value.trim().to_string(),
            "content-length" => length = value.trim().parse().unwrap(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    let scheme = auth.split(' ').next().unwrap_or("").to_string();
    let shown_body = if target.starts_with("/token") {
        body.clone()
    } else {
        String::new()
    };
    log.lock().unwrap().push(
        format!("{method} {target} {scheme} {shown_body}")
            .trim_end()
            .to_string(),
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let (status, headers, reply): (&str, Vec<String>, String) = if target.starts_with("/token") {
        let granted = match method.as_str() {
            "GET" => auth == basic,
            _ => {
                body.contains("grant_type=refresh_token")
                    && body.contains(&format!("refresh_token={IDENTITY_TOKEN}"))
            }
        };
        if granted {
            (
                "200 OK",
                vec![],
                format!(r#"{{"token":"{TOKEN}","access_token":"{TOKEN}"}}"#),
            )
        } else {
            ("401 Unauthorized", vec![], "{}".into())
        }
    } else if auth != format!("Bearer {TOKEN}") {
        let repo = target
            .trim_start_matches("/v2/")
            .split("/blobs/")
            .next()
            .unwrap()
            .split("/manifests/")
            .next()
            .unwrap();
        (
            "401 Unauthorized",
            vec![format!(
                r#"WWW-Authenticate: Bearer realm="http://{host}/token?account=fl",service="Docker registry",scope="repository:{repo}:pull,push""#
            )],
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.into(),
        )
    } else if method == "HEAD" {
        ("404 Not Found", vec![], String::new())
    } else if method == "POST" {
        let location = format!("{}upload-1?state=x", target);
        (
            "202 Accepted",
            vec![format!("Location: {location}")],
            String::new(),
        )
    } else {
        ("201 Created", vec![], String::new())
    };
    let mut stream = stream;
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.len()
    );
    for h in headers {
        response.push_str(&h);
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    response.push_str(&reply);
    let _ = stream.write_all(response.as_bytes());
}
