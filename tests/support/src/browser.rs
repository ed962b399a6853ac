//! A real headless browser: Debian's chromium, installed by
//! `.ci/install-chromium` on first use (like moto is by
//! `.ci/install-python-tools`). [`Chromium::screenshot`] loads a page, saves
//! a PNG and returns the messages the page wrote to its console (chromium's
//! `--enable-logging=stderr` prints each as an `INFO:CONSOLE` line: errors,
//! uncaught exceptions, refused content, failed loads).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::moto::repo_root;

/// How long one page load and screenshot may take on a loaded 2-core machine.
const SHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// An installed chromium.
#[derive(Debug, Clone)]
pub struct Chromium {
    path: PathBuf,
}

/// One page as the browser saw it.
#[derive(Debug)]
pub struct Shot {
    /// The page's console messages, as chromium logged them.
    pub console: Vec<String>,
    /// chromium's whole stderr, for failure messages.
    pub log: String,
}

impl Chromium {
    /// The browser, installed if need be; `Err` says why it cannot be had
    /// here (no apt-get, not root, no package), for a test to skip with.
    pub fn find() -> Result<Self, String> {
        let installer = repo_root().join(".ci/install-chromium");
        let out = std::process::Command::new(&installer)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", installer.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let path = stdout.lines().last().map(str::trim).unwrap_or_default();
        if !out.status.success() || path.is_empty() {
            return Err(format!(
                "chromium cannot be installed here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            path: PathBuf::from(path),
        })
    }

    /// Loads `url` in a fresh headless profile at `width`×`height`, saves a
    /// screenshot to `png`, and returns what the page logged.
    pub async fn screenshot(&self, url: &str, png: &Path, width: u32, height: u32) -> Shot {
        if let Some(dir) = png.parent() {
            std::fs::create_dir_all(dir).expect("create the screenshot's directory");
        }
        let _ = std::fs::remove_file(png);
        let profile = tempfile::tempdir().expect("a temporary browser profile");
        let mut cmd = Command::new(&self.path);
        cmd.args([
            "--headless",
            // Root in a container: chromium's sandbox needs user namespaces.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let child = cmd.spawn().expect("start chromium");
        let out = tokio::time::timeout(SHOT_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("chromium did not finish {url} within {SHOT_TIMEOUT:?}"))
            .expect("wait for chromium");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success() && png.exists(),
            "chromium failed on {url} ({}):\n{log}",
            out.status
        );
        let console = log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect();
        Shot { console, log }
    }
}

/// `target/test-output/NAME`: where tests leave files for a person to look at.
pub fn output_path(name: &str) -> PathBuf {
    repo_root().join("target/test-output").join(name)
}
