//! Real-server test harness: launches `nats-server` processes for integration tests.
//!
//! Std only (plus `serde_json`). Every server gets its own temp dir, random client and
//! monitoring ports (`-1`), and a unique `server_name`, so tests may run in parallel.
//!
//! Binary lookup: `$NATS_SERVER` → `<crate>/.tools/*/bin/nats-server` (highest version)
//! → `PATH` → `/usr/sbin/nats-server`. A missing binary is a panic, never a silent skip:
//! run `bash scripts/install-nats-server.sh`.
#![allow(dead_code)]

pub mod cli;
pub mod events;
pub mod fake;
pub mod jwt;
pub mod proxy;
pub mod tls;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// How long to wait for a freshly launched server to write its ports file.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop()` waits after SIGTERM before falling back to SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect/read/write timeouts of the monitoring HTTP client.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `NatsCluster` waits for the full route mesh.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

const INSTALL_HINT: &str =
    "run `bash scripts/install-nats-server.sh` (or set NATS_SERVER=/path/to/nats-server)";

// ---------------------------------------------------------------------------
// Binary lookup and version gating
// ---------------------------------------------------------------------------

/// Path of the `nats-server` binary used by the tests (looked up once).
///
/// Order: `$NATS_SERVER` → `<CARGO_MANIFEST_DIR>/.tools/*/bin/nats-server` (highest
/// version dir) → every dir of `PATH` → `/usr/sbin/nats-server`. Panics if none exists.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(find_server_binary).clone()
}

fn find_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if is_executable_file(&p) {
            return p;
        }
        panic!(
            "NATS_SERVER={} does not name an executable nats-server binary; {INSTALL_HINT}",
            p.display()
        );
    }

    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools");
    let mut candidates: Vec<(Vec<u32>, String, PathBuf)> = Vec::new();
    if let Ok(entries) = fs::read_dir(&tools) {
        for entry in entries.flatten() {
            let bin = entry.path().join("bin").join("nats-server");
            if is_executable_file(&bin) {
                let name = entry.file_name().to_string_lossy().into_owned();
                candidates.push((version_key(&name), name, bin));
            }
        }
    }
    candidates.sort();
    if let Some((_, _, bin)) = candidates.pop() {
        return bin;
    }

    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let bin = dir.join("nats-server");
            if is_executable_file(&bin) {
                return bin;
            }
        }
    }

    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if is_executable_file(&sbin) {
        return sbin;
    }

    panic!(
        "nats-server not found (looked at $NATS_SERVER, {}/*/bin/nats-server, PATH, \
         /usr/sbin/nats-server); {INSTALL_HINT}",
        tools.display()
    );
}

fn is_executable_file(p: &Path) -> bool {
    match fs::metadata(p) {
        Ok(m) if m.is_file() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                m.permissions().mode() & 0o111 != 0
            }
            #[cfg(not(unix))]
            {
                true
            }
        }
        _ => false,
    }
}

/// Numeric components of a dir name like `nats-server-2.15.1` → `[2, 15, 1]`.
fn version_key(name: &str) -> Vec<u32> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Version of [`server_binary`], parsed from `nats-server --version`
/// (`nats-server: v2.9.10`). Run once and cached.
pub fn server_version() -> (u32, u32, u32) {
    static VERSION: OnceLock<(u32, u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let bin = server_binary();
        let out = Command::new(&bin)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{} --version`: {e}", bin.display()));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        parse_version(&text).unwrap_or_else(|| {
            panic!(
                "cannot parse the output of `{} --version`: {text:?}",
                bin.display()
            )
        })
    })
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    // `nats-server: v2.9.10`: the first `v` directly followed by a digit.
    let start = text
        .char_indices()
        .zip(text.chars().skip(1))
        .find(|((_, c), next)| *c == 'v' && next.is_ascii_digit())
        .map(|((i, _), _)| i)?;
    let rest = &text[start + 1..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split('.').map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().and_then(|p| p.ok()).unwrap_or(0);
    Some((major, minor, patch))
}

/// `true` if the server is at least `min`. Otherwise prints
/// `SKIPPED <test>: needs nats-server >= x.y.z for <feature>, found a.b.c` to stderr
/// and returns `false`; the caller should `return` early.
pub fn require_server(min: (u32, u32, u32), test: &str, feature: &str) -> bool {
    let found = server_version();
    if found >= min {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: needs nats-server >= {}.{}.{} for {feature}, found {}.{}.{}",
        min.0, min.1, min.2, found.0, found.1, found.2
    );
    false
}

// ---------------------------------------------------------------------------
// Temp dirs and small helpers
// ---------------------------------------------------------------------------

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), n, nanos)
}

/// A unique, freshly created directory under `std::env::temp_dir()`.
fn fresh_temp_dir() -> PathBuf {
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let dir = base.join(format!("nats-actix-test-{}", unique_suffix()));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create temp dir {}: {e}", dir.display()),
        }
    }
    panic!("cannot create a unique temp dir under {}", base.display());
}

/// Quote a string for the nats-server config format.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A currently free TCP port on 127.0.0.1 (bind to port 0, read it, release it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

fn port_of_url(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

fn read_to_string_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// NatsServer
// ---------------------------------------------------------------------------

/// One `nats-server` process with its own temp dir. Killed and cleaned up on drop.
pub struct NatsServer {
    dir: PathBuf,
    conf: PathBuf,
    name: String,
    extra: String,
    child: Option<Child>,
    pid: u32,
    client_port: u16,
    monitor_port: u16,
}

impl NatsServer {
    /// A server with the default config.
    pub fn start() -> NatsServer {
        Self::with_config("")
    }

    /// A server whose config is the default config followed by `extra`.
    pub fn with_config(extra: &str) -> NatsServer {
        Self::try_with_config(extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A server with JetStream enabled (`store_dir` inside the temp dir).
    pub fn with_jetstream() -> NatsServer {
        Self::with_jetstream_and_config("")
    }

    /// JetStream plus additional config text.
    pub fn with_jetstream_and_config(extra: &str) -> NatsServer {
        // The store dir path is only known once the temp dir exists, so build it here.
        let mut s = Self::new_unlaunched(extra);
        let js = format!(
            "jetstream {{ store_dir: {} }}\n",
            quote(&s.dir.join("js").to_string_lossy())
        );
        s.extra = format!("{js}{}", s.extra);
        if let Err(e) = s.launch(None) {
            panic!("{e}");
        }
        s
    }

    /// Like [`with_config`](Self::with_config) but returns the failure (with the server
    /// log) instead of panicking, e.g. to test that a config is rejected.
    pub fn try_with_config(extra: &str) -> Result<NatsServer, String> {
        let mut s = Self::new_unlaunched(extra);
        s.launch(None)?;
        Ok(s)
    }

    fn new_unlaunched(extra: &str) -> NatsServer {
        let dir = fresh_temp_dir();
        NatsServer {
            conf: dir.join("server.conf"),
            dir,
            name: format!("nats_actix_{}", unique_suffix()),
            extra: extra.to_string(),
            child: None,
            pid: 0,
            client_port: 0,
            monitor_port: 0,
        }
    }

    fn render_conf(&self, port: Option<u16>) -> String {
        let listen = match port {
            Some(p) => format!("127.0.0.1:{p}"),
            None => "127.0.0.1:-1".to_string(),
        };
        // Every line here is accepted by both 2.9.10 and 2.15.1 (checked with `-t`).
        // lame_duck_duration minimum is 30 s on 2.9.10.
        format!(
            "listen: {}\nhttp: \"127.0.0.1:-1\"\nports_file_dir: {}\nserver_name: {}\n\
             lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n\n{}\n",
            quote(&listen),
            quote(&self.dir.to_string_lossy()),
            quote(&self.name),
            // `{{DIR}}` in the extra config is this server's own temp dir
            // (a cluster's nodes each get their own JetStream store).
            self.extra.replace("{{DIR}}", &self.dir.to_string_lossy())
        )
    }

    /// Write the conf, spawn the server and wait for its ports file.
    fn launch(&mut self, port: Option<u16>) -> Result<(), String> {
        fs::write(&self.conf, self.render_conf(port))
            .map_err(|e| format!("cannot write {}: {e}", self.conf.display()))?;
        let open = |name: &str| -> Result<File, String> {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(name))
                .map_err(|e| format!("cannot open {name}: {e}"))
        };
        let bin = server_binary();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&self.conf)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .stdin(Stdio::null())
            .stdout(open("stdout.log")?)
            .stderr(open("stderr.log")?)
            .spawn()
            .map_err(|e| format!("cannot spawn {}: {e}; {INSTALL_HINT}", bin.display()))?;
        self.pid = child.id();
        self.child = Some(child);

        let ports_file = self.dir.join(format!("nats-server_{}.ports", self.pid));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some((c, m)) = Self::read_ports_file(&ports_file) {
                if let Some(p) = port
                    && c != p
                {
                    return Err(self.failure(&format!(
                        "restarted server listens on port {c}, expected {p}"
                    )));
                }
                self.client_port = c;
                self.monitor_port = m;
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(self.failure(&format!("nats-server exited early ({status})")));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(self.failure(&format!(
                    "no ports file {} after {START_TIMEOUT:?}",
                    ports_file.display()
                )));
            }
            thread::sleep(POLL);
        }
    }

    fn read_ports_file(p: &Path) -> Option<(u16, u16)> {
        let text = fs::read_to_string(p).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        let first = |key: &str| -> Option<u16> { port_of_url(v.get(key)?.get(0)?.as_str()?) };
        Some((first("nats")?, first("monitoring")?))
    }

    fn failure(&self, what: &str) -> String {
        format!(
            "{what}\nbinary: {}\nconf {}:\n{}\n--- server.log ---\n{}\n--- stderr ---\n{}",
            server_binary().display(),
            self.conf.display(),
            read_to_string_lossy(&self.conf),
            read_to_string_lossy(&self.dir.join("server.log")),
            read_to_string_lossy(&self.dir.join("stderr.log")),
        )
    }

    /// Client port (stays the same across [`restart`](Self::restart)).
    pub fn client_port(&self) -> u16 {
        self.client_port
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn client_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    /// HTTP monitoring port (may change on restart).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// Pid of the current (or last) server process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's temp dir (conf, logs, ports file, JetStream store).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Contents of the server log (`<dir>/server.log`).
    pub fn log_contents(&self) -> String {
        read_to_string_lossy(&self.dir.join("server.log"))
    }

    /// Graceful stop: SIGTERM, wait up to 10 s, then SIGKILL. No-op if not running.
    pub fn stop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.pid.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + STOP_TIMEOUT;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    eprintln!(
                        "nats-server pid {} ignored SIGTERM for {STOP_TIMEOUT:?}; sending SIGKILL",
                        self.pid
                    );
                    let _ = child.kill();
                    break;
                }
                thread::sleep(POLL);
            }
        }
        let _ = child.wait();
        self.child = None;
    }

    /// Crash: SIGKILL and reap. No-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same client port (stopping it first if needed).
    pub fn restart(&mut self) {
        self.stop();
        let port = self.client_port;
        if let Err(e) = self.launch(Some(port)) {
            panic!("{e}");
        }
    }

    /// Put the server into lame duck mode (`nats-server --signal ldm=<pid>`).
    pub fn lame_duck(&self) {
        let bin = server_binary();
        let out = Command::new(&bin)
            .arg("--signal")
            .arg(format!("ldm={}", self.pid))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} --signal: {e}", bin.display()));
        assert!(
            out.status.success(),
            "`nats-server --signal ldm={}` failed: {}{}",
            self.pid,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether the server process is still alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// `GET /connz?subs=detail`.
    pub fn connz(&self) -> Value {
        self.http_get_json("/connz?subs=detail")
    }

    /// `GET /varz`.
    pub fn varz(&self) -> Value {
        self.http_get_json("/varz")
    }

    /// `GET /routez`.
    pub fn routez(&self) -> Value {
        self.http_get_json("/routez")
    }

    /// GET a monitoring endpoint and parse its JSON body. Panics on any failure.
    pub fn http_get_json(&self, path: &str) -> Value {
        try_http_get_json(self.monitor_port, path)
            .unwrap_or_else(|e| panic!("GET http://127.0.0.1:{}{path}: {e}", self.monitor_port))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if thread::panicking() && self.child.is_some() {
            let log = self.log_contents();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- last lines of nats-server log ({}) ---",
                self.dir.display()
            );
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Plain HTTP/1.0 GET against the monitoring port, 5 s timeouts.
fn try_http_get_json(port: u16, path: &str) -> Result<Value, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {:?}", String::from_utf8_lossy(&resp)))?;
    let head = String::from_utf8_lossy(&resp[..split]);
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("unexpected status {status:?}"));
    }
    serde_json::from_slice(&resp[split + 4..]).map_err(|e| format!("bad JSON: {e}"))
}

// ---------------------------------------------------------------------------
// NatsCluster
// ---------------------------------------------------------------------------

/// `n` servers routed to each other (full mesh of explicit routes).
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Start `n` nodes and wait until every node sees routes to all the others.
    pub fn start(n: usize) -> NatsCluster {
        Self::with_config(n, "")
    }

    /// Like [`start`](Self::start), appending `extra` to every node's config.
    pub fn with_config(n: usize, extra: &str) -> NatsCluster {
        assert!(n >= 1, "a cluster needs at least one node");
        // Free ports are picked by bind-and-release, so another process may grab one
        // before the server binds it: retry the whole cluster a few times.
        let mut last_err = String::new();
        for _ in 0..3 {
            match Self::try_start(n, extra) {
                Ok(c) => return c,
                Err(e) => last_err = e,
            }
        }
        panic!("cannot start a {n}-node cluster: {last_err}");
    }

    fn try_start(n: usize, extra: &str) -> Result<NatsCluster, String> {
        let name = format!("c_{}", unique_suffix());
        let ports: Vec<u16> = {
            // Hold all listeners at once so the ports are distinct.
            let ls: Vec<TcpListener> = (0..n)
                .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
                .collect();
            ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
        };
        let mut nodes = Vec::with_capacity(n);
        for (i, p) in ports.iter().enumerate() {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, q)| quote(&format!("nats-route://127.0.0.1:{q}")))
                .collect();
            let conf = format!(
                "cluster {{\n  name: {}\n  listen: \"127.0.0.1:{p}\"\n  routes: [\n    {}\n  ]\n}}\n{extra}",
                quote(&name),
                routes.join("\n    ")
            );
            nodes.push(NatsServer::try_with_config(&conf)?);
        }
        let cluster = NatsCluster { nodes };
        cluster.try_wait_for_routes(CLUSTER_TIMEOUT)?;
        Ok(cluster)
    }

    /// Client URLs of all nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|s| s.client_url()).collect()
    }

    /// Wait (up to 10 s) until every node reports routes to all other nodes.
    /// All nodes must be running.
    pub fn wait_for_routes(&self) {
        if let Err(e) = self.try_wait_for_routes(CLUSTER_TIMEOUT) {
            panic!("{e}");
        }
    }

    fn try_wait_for_routes(&self, timeout: Duration) -> Result<(), String> {
        let want = self.nodes.len().saturating_sub(1);
        let deadline = Instant::now() + timeout;
        loop {
            let mut last = String::new();
            let mut ok = true;
            for node in &self.nodes {
                match try_http_get_json(node.monitor_port, "/routez") {
                    Ok(v) => {
                        // 2.10+ may pool several routes per peer, so count distinct peers too.
                        let num = v["num_routes"].as_u64().unwrap_or(0) as usize;
                        let mut peers: Vec<&str> = v["routes"]
                            .as_array()
                            .map(|a| a.iter().filter_map(|r| r["remote_id"].as_str()).collect())
                            .unwrap_or_default();
                        peers.sort_unstable();
                        peers.dedup();
                        if num < want || peers.len() < want {
                            ok = false;
                            last = format!(
                                "node {} has num_routes={num}, {} distinct peers, want {want}",
                                node.name,
                                peers.len()
                            );
                        }
                    }
                    Err(e) => {
                        ok = false;
                        last = format!("routez of {} failed: {e}", node.name);
                    }
                }
            }
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| n.failure(&format!("node {}", n.name)))
                    .collect();
                return Err(format!(
                    "cluster did not form within {timeout:?}: {last}\n{}",
                    logs.join("\n")
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Path of an example binary (`cargo test` builds the examples first, next
/// to the test binaries); built with `cargo build --example` when missing.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary is in <target>/<profile>/deps")
        .to_path_buf();
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .expect("run cargo build --example");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    bin
}
