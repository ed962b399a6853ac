//! Runs the real `restager` binary as a process, the way an operator would.
//!
//! The child starts from an empty environment (plus `PATH`) so the developer's
//! own `CF_*`, `RESTAGER_*`, `SLACK_*` or `AWS_*` variables never leak into a
//! test; each test passes exactly the settings it means.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Long enough for a debug build on a busy 2-core machine; tests finish far sooner.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub fn restager() -> Restager {
    Restager {
        args: Vec::new(),
        env: Vec::new(),
    }
}

#[derive(Clone)]
pub struct Restager {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts exit code 0 and returns self for chaining.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "restager failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts exit code `code` and that stderr mentions each of `says`.
    pub fn fails(&self, code: i32, says: &[&str]) {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        for part in says {
            assert!(
                self.stderr.contains(part),
                "stderr does not mention {part}:\n{}",
                self.stderr
            );
        }
    }
}

impl Restager {
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_restager"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // The AWS SDK must never wait for an EC2 metadata service here.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs to completion and collects the output.
    pub async fn run(&self) -> Finished {
        let child = self.command().spawn().expect("spawn the restager binary");
        let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| {
                panic!("restager {:?} did not finish in {RUN_TIMEOUT:?}", self.args)
            })
            .expect("wait for restager");
        Finished {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts `serve` (the args must include it) and waits until it listens.
    /// Give it `RESTAGER_LISTEN=127.0.0.1:0`: the address it printed is used.
    pub async fn serve(&self) -> Serving {
        let mut child = self.command().spawn().expect("spawn restager serve");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = oneshot::channel();
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        tokio::spawn(collect(out, Arc::clone(&stdout), Some(ready_tx)));
        tokio::spawn(collect(err, Arc::clone(&stderr), None));
        let url = match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
            Ok(Ok(url)) => url,
            _ => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                panic!(
                    "restager serve did not report its address\nstdout:\n{}\nstderr:\n{}",
                    text(&stdout),
                    text(&stderr)
                );
            }
        };
        Serving {
            child,
            url,
            stdout,
            stderr,
        }
    }
}

/// A running `restager serve`.
pub struct Serving {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Serving {
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the child is still running")
    }

    /// SIGKILL: no chance to clean up, as after a crash or an OOM kill.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill restager serve");
    }

    /// SIGTERM, then waits for a graceful exit and returns the output.
    pub async fn terminate(mut self) -> Finished {
        let pid = self.pid().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {pid} failed");
        let exit = tokio::time::timeout(RUN_TIMEOUT, self.child.wait())
            .await
            .expect("serve stops after SIGTERM")
            .expect("wait for serve");
        // Give the collectors a moment to read what was flushed at exit.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Finished {
            code: exit.code(),
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        }
    }

    /// [`terminate`](Self::terminate), asserting a clean exit.
    pub async fn stop(self) -> Finished {
        let stopped = self.terminate().await;
        assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
        stopped
    }

    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }
}

/// Polls `done` until it holds; past `within`, fails saying `why()`.
pub async fn eventually(
    within: Duration,
    mut done: impl FnMut() -> bool,
    why: impl Fn() -> String,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{}", why());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn text(buf: &Mutex<String>) -> String {
    buf.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Copies a child's stream into `buf`; reports the first `listening on URL` line.
async fn collect(
    stream: impl AsyncRead + Unpin,
    buf: Arc<Mutex<String>>,
    mut ready: Option<oneshot::Sender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.split_once("listening on ").map(|(_, rest)| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        }) && let Some(tx) = ready.take()
        {
            let _ = tx.send(url);
        }
        if let Ok(mut b) = buf.lock() {
            b.push_str(&line);
            b.push('\n');
        }
    }
}
