//! The benchmark's server side: a test CA and server certificate made with `openssl`, and a CNCF
//! distribution registry (`docker-registry`) serving TLS on 127.0.0.1.

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use crate::shell;

/// How long the registry may take to accept connections: 100 polls of 100 ms.
const READY_POLLS: u32 = 100;

/// A CA and a server certificate for 127.0.0.1, in a directory.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Generates a fresh P-256 CA and a server certificate it signs, valid two days.
    pub fn generate(dir: &Path) -> Result<Self, String> {
        fs::create_dir_all(dir.join("certs.d"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let key_args = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ];
        let mut ca = Command::new("openssl");
        ca.current_dir(dir)
            .args(["req", "-x509"])
            .args(key_args)
            .args([
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                "/CN=imgpull-bench-ca",
            ])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        quiet(&mut ca)?;
        let mut server = Command::new("openssl");
        server
            .current_dir(dir)
            .args(["req", "-x509"])
            .args(key_args)
            .args([
                "-keyout",
                "server.key",
                "-out",
                "server.crt",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .args(["-CA", "ca.crt", "-CAkey", "ca.key"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "keyUsage=critical,digitalSignature"])
            .args(["-addext", "extendedKeyUsage=serverAuth"]);
        quiet(&mut server)?;
        fs::copy(dir.join("ca.crt"), dir.join("certs.d/ca.crt"))
            .map_err(|e| format!("cannot copy the CA: {e}"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The CA certificate (PEM), for `--ca-file`, `--cacert` and oci-client.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A directory holding only `ca.crt`, for skopeo's `--src-cert-dir`/`--dest-cert-dir`.
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.join("certs.d")
    }
}

/// Runs `command`, keeping its output unless it fails.
fn quiet(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A `docker-registry` process serving `storage` over TLS on a free loopback port; stopped (by
/// its PID) when dropped.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    /// Starts the registry on `storage` (created if missing, kept afterwards: the images pushed to
    /// it survive for the next run) with the certificates of `pki`, and waits until it accepts
    /// connections. `work` receives its config and log.
    pub fn start(storage: &Path, pki: &Pki, work: &Path) -> Result<Self, String> {
        if !shell::on_path("docker-registry") {
            return Err("`docker-registry` is not installed (run `cargo xtask setup`)".into());
        }
        fs::create_dir_all(storage)
            .map_err(|e| format!("cannot create {}: {e}", storage.display()))?;
        let port = free_port()?;
        let config = format!(
            "version: 0.1\n\
             log: {{level: error, accesslog: {{disabled: true}}}}\n\
             storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: imgpull-bench\n  tls: {{certificate: {cert}, key: {key}}}\n",
            storage = storage.display(),
            cert = pki.dir.join("server.crt").display(),
            key = pki.dir.join("server.key").display(),
        );
        let config_path = work.join("registry.yml");
        fs::write(&config_path, config)
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let log_path = work.join("registry.log");
        let log = fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot reopen {}: {e}", log_path.display()))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start docker-registry: {e}"))?;
        let mut registry = Self { child, port };
        registry.wait_ready(&log_path)?;
        Ok(registry)
    }

    fn wait_ready(&mut self, log_path: &Path) -> Result<(), String> {
        for _ in 0..READY_POLLS {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = fs::read_to_string(log_path).unwrap_or_default();
                return Err(format!("docker-registry exited ({status}): {}", log.trim()));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            sleep(Duration::from_millis(100));
        }
        Err(format!(
            "docker-registry did not listen on 127.0.0.1:{} within 10 s",
            self.port
        ))
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's process id, to read its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // `Child::kill` signals exactly this PID; then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the kernel just gave us on 127.0.0.1 (free unless another process takes it meanwhile).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot bind 127.0.0.1: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot read the bound port: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The end-to-end tools are there, unless `cargo xtask test --unit` (macOS, Windows) skips them.
    fn tools_available() -> bool {
        if std::env::var_os("IMGPULL_SKIP_E2E").is_some() {
            return false;
        }
        let missing: Vec<&str> = ["openssl", "docker-registry", "curl"]
            .into_iter()
            .filter(|tool| !shell::on_path(tool))
            .collect();
        if !missing.is_empty() {
            crate::test::skipped(
                "xtask bench fixture tests",
                &format!("not on PATH: {}", missing.join(", ")),
            );
        }
        missing.is_empty()
    }

    #[test]
    fn the_registry_serves_tls_that_the_generated_ca_verifies() {
        if !tools_available() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("xtask-fixture-{}", std::process::id()));
        let pki = Pki::generate(&dir.join("pki")).unwrap();
        assert!(pki.cert_dir().join("ca.crt").is_file());
        let registry = Registry::start(&dir.join("storage"), &pki, &dir).unwrap();
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "--cacert"])
            .arg(pki.ca_file())
            .arg(format!("https://{}/v2/", registry.host()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "{}");
        let pid = registry.pid();
        drop(registry);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the registry outlived its fixture"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
