//! A real SMTP server for mail tests: `scripts/smtp_sink.py` (aiosmtpd), started and stopped
//! by the test, keeping every message it accepts in a file the test reads. Also used by the
//! command line's tests (`#[path]`-included there).
#![allow(dead_code)]

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub data: String,
}

impl Received {
    /// A header's value (unfolded), by name (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = found.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) {
                    found = Some(v.trim().to_string());
                }
            }
        }
        found
    }

    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    pub fn message_id(&self) -> String {
        self.header("Message-ID").expect("a Message-ID header")
    }
}

/// A port nothing listens on now (the sink may be started on it later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/smtp_sink.py"
    ))
}

impl Sink {
    /// A sink on `port`, not started (the SMTP server is down).
    pub fn down(port: u16) -> Sink {
        Sink {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        }
    }

    /// A sink started on a free port.
    pub fn start() -> Sink {
        let mut s = Sink::down(free_port());
        s.up();
        s
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("received.jsonl")
    }

    pub fn stall_file(&self) -> PathBuf {
        self.dir.path().join("stall")
    }

    /// Starts the server (again), keeping what it received before; returns once it listens.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "the sink is up already");
        let ok = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the mail tests need python3 with aiosmtpd (pip install aiosmtpd)"
        );
        let mut child = Command::new("python3")
            .arg(script())
            .args(["--port", &self.port.to_string()])
            .arg("--out")
            .arg(self.out())
            .arg("--stall-file")
            .arg(self.stall_file())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the sink's first line");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        self.child = Some(child);
    }

    /// Stops the server (connections are refused until `up`).
    pub fn down_now(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: a clean stop (its own pid only).
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    /// Holds every RCPT TO from now on (nothing new is accepted) until `release`.
    pub fn stall(&self) {
        std::fs::write(self.stall_file(), b"").expect("stall file");
    }

    pub fn release(&self) {
        let _ = std::fs::remove_file(self.stall_file());
    }

    /// Whether a delivery is being held by `stall`.
    pub fn holding(&self) -> bool {
        self.dir.path().join("stall.stalled").exists()
    }

    pub fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(self.out()).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a sink line");
                Received {
                    mail_from: v["mail_from"].as_str().unwrap_or("").to_string(),
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                    data: v["data"].as_str().unwrap_or("").to_string(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let end = Instant::now() + within;
        loop {
            if let Some(got) = self.at_least(n, end, within) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `wait_for` for tests without a runtime.
    pub fn wait_for_blocking(&self, n: usize, within: Duration) -> Vec<Received> {
        let end = Instant::now() + within;
        loop {
            if let Some(got) = self.at_least(n, end, within) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn at_least(&self, n: usize, end: Instant, within: Duration) -> Option<Vec<Received>> {
        let got = self.received();
        if got.len() >= n {
            return Some(got);
        }
        assert!(
            Instant::now() < end,
            "{} of {n} messages within {within:?}",
            got.len()
        );
        None
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.release();
        self.down_now();
    }
}
