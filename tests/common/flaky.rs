//! The fault-injecting proxy (`tests/support/flaky_proxy.py`) in front of the test S3 server:
//! each handle runs one proxy process with fixed fault rules and stops it when dropped. It runs
//! on the Python of the moto venv (which `scripts/test.sh` installs), else on `python3`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct FlakyProxy {
    child: Child,
    pub port: u16,
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    let venv_python = crate::s3::server_binary().with_file_name("python3");
    if venv_python.exists() {
        venv_python
    } else {
        PathBuf::from("python3")
    }
}

impl FlakyProxy {
    /// Starts a proxy to `target` (`http://127.0.0.1:PORT`) with the fault rules `args`
    /// (`--fail-every 3`, `--fail-all --status 500`, `--delay 2 --delay-match '^GET '`, …).
    pub fn start(target: &str, args: &[&str]) -> FlakyProxy {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/flaky_proxy.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--target", target])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start flaky_proxy.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("proxy output");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("flaky_proxy.py did not start: {line:?}"));
        FlakyProxy { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The proxy's counts so far: `requests`, `faults`, `delays`.
    pub fn stats(&self) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to proxy");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "GET /__flaky/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .expect("request");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("response");
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("proxy stats {resp:?}: {e}"))
    }

    /// The environment of a parcours process that reaches moto through this proxy.
    pub fn env(&self, moto_env: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        moto_env
            .iter()
            .map(|(k, v)| {
                if *k == "AWS_ENDPOINT_URL" {
                    (*k, self.endpoint())
                } else {
                    (*k, v.clone())
                }
            })
            .collect()
    }
}
