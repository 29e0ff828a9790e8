//! What a parent's own log says about its federation (NVFlare 2.8 and 2.9 log the same):
//! a client logs `Successfully registered client:<name> for project <p>.` once the server
//! accepted it; a server logs `Client: New client <name>@<ip> joined.` for each. The log is
//! untrusted: only names are counted, and an error line is escaped and cut.

use crate::terminal::escape;

/// A client parent's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Registered,
    /// Not registered; the last connection or registration error it logged, if any.
    NotYet(Option<String>),
}

pub fn client(log: &str, name: &str) -> Registration {
    let registered = format!("Successfully registered client:{name} ");
    let exact_end = format!("Successfully registered client:{name}");
    if log
        .lines()
        .any(|l| l.contains(&registered) || l.trim_end().ends_with(&exact_end))
    {
        return Registration::Registered;
    }
    let error = log.lines().rev().find(|l| {
        let lower = l.to_ascii_lowercase();
        ["error", "fail", "refused", "unavailable", "exception"]
            .iter()
            .any(|w| lower.contains(w))
            && [
                "connect",
                "regist",
                "ssl",
                "certificate",
                "grpc",
                "server",
                "handshake",
            ]
            .iter()
            .any(|w| lower.contains(w))
    });
    Registration::NotYet(error.map(cut))
}

/// The clients a server parent logged as joined, by name, sorted.
pub fn joined(log: &str) -> Vec<String> {
    let mut names: Vec<String> = log
        .lines()
        .filter_map(|l| l.split_once("Client: New client ")?.1.split('@').next())
        .filter(|n| !n.is_empty() && n.len() <= 128)
        .map(escape)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A line for a table: escaped, and cut to 160 characters.
pub fn cut(line: &str) -> String {
    let line = escape(line.trim());
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_registration_and_joins() {
        let client_log = "2026 - INFO - Trying to register\n2026 - INFO - Successfully registered client:site-1 for project p. Token:abc\n";
        assert_eq!(client(client_log, "site-1"), Registration::Registered);
        assert_eq!(client(client_log, "site-10"), Registration::NotYet(None));
        let failing =
            "x - ERROR - Failed to connect to server fl.example.com:8002: SSL handshake\n";
        assert!(
            matches!(client(failing, "site-1"), Registration::NotYet(Some(e)) if e.contains("SSL"))
        );
        let server_log = "Client: New client site-1@10.0.0.1 joined. Sent token.\nClient: New client site-2@10.0.0.2 joined.\nClient: New client site-1@10.0.0.1 joined.\n";
        assert_eq!(joined(server_log), ["site-1", "site-2"]);
    }
}
