//! A tiny HTTP file server on 127.0.0.1 for installers that fetch by URL (Helm 3 installs
//! plugin archives only by URL). `.tgz` files go out as `application/gzip`, the type Helm 3
//! needs to see before it treats a URL as an archive. Serves until the test process ends.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// Serves the files directly in `dir`; returns `http://127.0.0.1:<port>`.
pub fn serve(dir: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir: PathBuf = dir.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let mut parts = request.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            // Only plain file names: nothing outside `dir` is served.
            let name = parts
                .next()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            let file = dir.join(&name);
            let found = !name.is_empty() && !name.contains('/') && file.is_file();
            let response = if found {
                let body = std::fs::read(&file).unwrap();
                let kind = if name.ends_with(".tgz") {
                    "application/gzip"
                } else {
                    "text/plain"
                };
                let mut head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                if method != "HEAD" {
                    head.extend(body);
                }
                head
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&response);
        }
    });
    base
}
