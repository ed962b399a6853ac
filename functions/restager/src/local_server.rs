//! How `restager serve` tells the other commands where it is: while it holds
//! the embedded ledger (one process at a time), it leaves `serve.json` with
//! its address in the data directory, so `restager status` can say which
//! `--server` to use instead of failing on the file's lock. Removed when
//! serve stops; a file left by a killed serve is only read after the ledger
//! could not be opened, and says "was listening".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file in the data directory.
pub const FILE: &str = "serve.json";

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    url: String,
    pid: u32,
}

/// The URL other commands reach a server listening on `addr` at: a
/// wildcard address is reached on loopback.
pub fn url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        other => other,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// The marker of a running serve; removes its file when dropped.
#[derive(Debug)]
pub struct Advertised {
    path: PathBuf,
}

impl Drop for Advertised {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Leaves `url` in `data_dir`; `None` (with a warning) when it cannot.
pub fn advertise(data_dir: &Path, url: &str) -> Option<Advertised> {
    let path = data_dir.join(FILE);
    let marker = Marker {
        url: url.to_string(),
        pid: std::process::id(),
    };
    let text = serde_json::to_string(&marker).ok()?;
    match std::fs::write(&path, text) {
        Ok(()) => Some(Advertised { path }),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot write serve's address for the other commands");
            None
        }
    }
}

/// The address a serve left in `data_dir`, if any.
pub fn advertised(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(FILE)).ok()?;
    let marker: Marker = serde_json::from_str(&text).ok()?;
    Some(marker.url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_reached_on_loopback() {
        assert_eq!(
            url_for("0.0.0.0:8080".parse().expect("addr")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(url_for("[::]:9".parse().expect("addr")), "http://[::1]:9");
        assert_eq!(
            url_for("10.0.0.5:80".parse().expect("addr")),
            "http://10.0.0.5:80"
        );
    }

    #[test]
    fn the_marker_is_read_back_and_removed_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = advertise(dir.path(), "http://127.0.0.1:1").expect("written");
        assert_eq!(
            advertised(dir.path()).as_deref(),
            Some("http://127.0.0.1:1")
        );
        drop(marker);
        assert_eq!(advertised(dir.path()), None);
    }
}
