//! A throwaway `nats-server` for tests, examples and benchmarks: a free loopback port, a
//! fresh store directory, stopped (and the directory removed) on drop.

use std::fmt;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long [`NatsServer`] waits for the server to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Configures a [`NatsServer`]; from [`NatsServer::builder`].
#[derive(Debug, Clone, Default)]
pub struct NatsServerBuilder {
    jetstream: bool,
    max_payload: Option<usize>,
    credentials: Option<(String, String)>,
}

impl NatsServerBuilder {
    /// Enables JetStream, stored in the server's fresh directory.
    pub fn jetstream(mut self) -> Self {
        self.jetstream = true;
        self
    }

    /// Sets the server's `max_payload` in bytes (default: the server's, 1 MiB).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// Requires this user and password.
    pub fn user_and_password(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Starts the server and waits until it accepts connections.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::NotFound`] with an explanation if no `nats-server` binary is found
    /// (`$NATS_SERVER`, then `PATH`, then `/usr/sbin` and `/usr/bin`); any other I/O error
    /// starting it; [`io::ErrorKind::TimedOut`] if it does not accept connections within
    /// 10 s.
    pub fn start(self) -> io::Result<NatsServer> {
        let binary = find_binary().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "nats-server is not installed: `apt-get install -y nats-server` \
                 (or set NATS_SERVER to its path)",
            )
        })?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "taskweave-nats-{}-{port}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut config = format!("listen: \"127.0.0.1:{port}\"\n");
        if self.jetstream {
            config += &format!("jetstream {{ store_dir: {:?} }}\n", dir.join("js"));
        }
        if let Some(bytes) = self.max_payload {
            config += &format!("max_payload: {bytes}\n");
        }
        if let Some((user, password)) = &self.credentials {
            config += &format!("authorization {{ user: {user:?}, password: {password:?} }}\n");
        }
        std::fs::write(dir.join("nats.conf"), config)?;
        let mut server = NatsServer {
            binary,
            dir,
            port,
            child: None,
        };
        server.restart()?;
        Ok(server)
    }
}

/// A `nats-server` child process on a free loopback port, killed on drop.
pub struct NatsServer {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsServer")
            .field("url", &self.url())
            .field("running", &self.child.is_some())
            .finish()
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

impl NatsServer {
    /// Configures a server.
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::default()
    }

    /// Whether a `nats-server` binary can be found.
    pub fn is_installed() -> bool {
        find_binary().is_some()
    }

    /// The URL to connect to: `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's directory (config and JetStream store).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the server (SIGKILL: no goodbye to clients) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again (after [`kill`](Self::kill)) on the same port with the same
    /// store, and waits until it accepts connections.
    ///
    /// # Errors
    ///
    /// As [`NatsServerBuilder::start`].
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "nats-server did not listen on port {} within 10 s",
                        self.port
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
