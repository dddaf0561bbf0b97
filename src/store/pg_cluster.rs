//! A throwaway real PostgreSQL cluster for tests and benchmarks: the store's
//! PostgreSQL backend is tested against the server it will meet in production
//! (Debian's `postgresql`), not a mock.
//!
//! [`PgCluster::start`] makes a private folder under the temp directory, runs
//! `initdb` there (UTF8, locale C, the superuser `govwatch` with a random
//! password; `trust` on the unix socket, `scram-sha-256` on TCP) and starts
//! `postgres` on a unix socket in that folder and on 127.0.0.1 at a free port.
//! Databases are made with the cluster's own `createdb` over the socket; tests
//! connect with the URLs of [`PgCluster::database`] and [`PgCluster::socket_url`].
//!
//! **Who runs the server.** `initdb` and `postgres` refuse to run as root, and
//! CI runs as root: then everything of the cluster (folder, `initdb`, server,
//! watcher) belongs to the `postgres` system user that Debian's package makes,
//! or to `nobody` where there is none. Anyone else runs it as themselves.
//!
//! **Nothing is left behind.** Before `initdb`, a watcher shell is started in
//! its own process group with a pipe from this process on its stdin:
//! `cat >/dev/null; pg_ctl stop -m immediate; rm -rf FOLDER`. The write end of
//! the pipe is held here and never written; the kernel closes it when this
//! process ends, however it ends (return, panic, SIGKILL), and the watcher then
//! stops the server and removes the folder. [`PgCluster::stop`] (and dropping
//! a cluster from [`PgCluster::start`]) closes it early and waits for the
//! watcher. The pipe is close-on-exec, so no other child process holds it.
//!
//! std only; Linux (`/proc`), as the rest of govwatch's tests.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The cluster's superuser (made by `initdb -U`).
pub const SUPERUSER: &str = "govwatch";
/// Set to 1 (as `.ci/test` does), a cluster that cannot start fails the test
/// instead of "NOT RUN".
pub const REQUIRE_ENV: &str = "GOVWATCH_REQUIRE_POSTGRES";
/// How long the server may take to accept connections once started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Free ports are found by binding port 0; another process can take one
/// before the server binds it: that many tries.
const PORT_TRIES: usize = 5;
/// The binaries the cluster uses, all from one PostgreSQL installation.
const BINARIES: &[&str] = &["initdb", "postgres", "pg_ctl", "pg_isready", "createdb", "psql"];

/// The server's settings: small and quick, since nothing here must survive a
/// crash; enough connections for several daemons with their pools.
const SERVER_SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "wal_level=minimal",
    "max_wal_senders=0",
    "shared_buffers=16MB",
    "max_connections=200",
    "unix_socket_permissions=0777",
    "logging_collector=off",
];

/// The watcher: `$1` the folder, `$2` the binaries. Its stdin is the pipe whose
/// write end the cluster's owner holds; EOF means the owner is gone or asked
/// for the end. Hangups and Ctrl-C of the terminal must not stop it before it
/// has cleaned up. The loop outlasts an `initdb` still writing into the folder
/// when its owner was killed.
const WATCHER: &str = r#"trap '' HUP INT
cat >/dev/null
i=0
while [ -e "$1" ] && [ "$i" -lt 30 ]; do
    if [ -f "$1/data/postmaster.pid" ]; then
        "$2/pg_ctl" -D "$1/data" stop -m immediate -w -t 30 >/dev/null 2>&1
    fi
    rm -rf "$1" 2>/dev/null
    if [ -e "$1" ]; then sleep 1; fi
    i=$((i + 1))
done
"#;

/// A throwaway PostgreSQL cluster in a temp folder: initdb (UTF8, locale C, a
/// superuser `govwatch` with a password; trust on the unix socket,
/// scram-sha-256 on TCP), the server on a unix socket in its folder and on
/// 127.0.0.1 at a free port. It stops and its folder is removed when the
/// process that started it exits — even by SIGKILL or a panic — or when it is
/// stopped or dropped.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    owner: Owner,
    password: String,
    port: u16,
    next_db: AtomicU64,
    server: Mutex<Option<Child>>,
    watcher: Mutex<Option<Watcher>>,
}

/// The watcher shell and the write end of its stdin.
struct Watcher {
    child: Child,
    pipe: ChildStdin,
}

/// Who runs the cluster's processes.
#[derive(Clone, Debug)]
enum Owner {
    /// This process's own user (not root).
    Myself,
    /// Root runs the cluster as this unprivileged user.
    User { name: String, uid: u32, gid: u32 },
}

impl PgCluster {
    /// Starts a new cluster (about a second). Err says in plain words why
    /// PostgreSQL could not start here.
    pub fn start() -> Result<PgCluster, String> {
        PgCluster::start_with(&find_bindir()?)
    }

    /// Starts a new cluster with the binaries in `bin`.
    pub fn start_with(bin: &Path) -> Result<PgCluster, String> {
        let owner = owner()?;
        let dir = make_folder(&owner)?;
        let mut cluster = PgCluster {
            dir,
            bin: bin.to_path_buf(),
            owner,
            password: random_hex(16)?,
            port: 0,
            next_db: AtomicU64::new(1),
            server: Mutex::new(None),
            watcher: Mutex::new(None),
        };
        // From here on, the folder goes when this process does; on an error,
        // `cluster` is dropped, which stops the watcher and so removes it.
        let watcher = cluster.spawn_watcher()?;
        *cluster.watcher.lock().unwrap() = Some(watcher);
        cluster.initdb()?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// One cluster per process, started on first use; it lives until the
    /// process exits.
    pub fn shared() -> Result<&'static PgCluster, String> {
        static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start).as_ref().map_err(Clone::clone)
    }

    /// Creates a new empty database with a unique name starting with `prefix`
    /// (letters, digits and `_` kept, the rest `_`) and returns its URL over
    /// TCP with the password: `postgresql://govwatch:PASSWORD@127.0.0.1:PORT/NAME`.
    pub fn database(&self, prefix: &str) -> Result<String, String> {
        let name = format!("{}_{}", db_prefix(prefix), self.next_db.fetch_add(1, Ordering::Relaxed));
        let out = self
            .client("createdb")
            .args(["-h".as_ref(), self.socket_dir().as_os_str()])
            .args(["-p", &self.port.to_string(), "-U", SUPERUSER, "-w", "--", &name])
            .output()
            .map_err(|e| format!("createdb in {} does not run: {e}", self.bin.display()))?;
        check(&out, &format!("createdb {name}"))?;
        Ok(self.url(&name))
    }

    /// The TCP URL of the database `name`, with the password.
    pub fn url(&self, name: &str) -> String {
        format!("postgresql://{SUPERUSER}:{}@127.0.0.1:{}/{name}", self.password, self.port)
    }

    /// The same database's URL over the unix socket (trust, no password):
    /// `postgresql://govwatch@/NAME?host=/path/to/sockdir&port=PORT`, as both
    /// libpq and tokio-postgres's `Config::from_str` read it.
    pub fn socket_url(&self, name: &str) -> String {
        format!("postgresql://{SUPERUSER}@/{name}?host={}&port={}", url_path(&self.socket_dir()), self.port)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password (TCP only; the socket needs none).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The folder holding the unix socket `.s.PGSQL.PORT`.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("s")
    }

    /// The cluster's temp folder (data, socket, logs); gone after [`PgCluster::stop`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of the PostgreSQL binaries in use.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The server's (postmaster's) process id while it runs.
    pub fn server_pid(&self) -> Option<u32> {
        self.server.lock().unwrap().as_ref().map(Child::id)
    }

    /// Runs `sql` with `psql` over the socket in database `name` (`-X -A -t`,
    /// stop on the first error) and returns what it printed.
    pub fn psql(&self, name: &str, sql: &str) -> Result<String, String> {
        let out = self
            .client("psql")
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.socket_url(name), "-c", sql])
            .output()
            .map_err(|e| format!("psql in {} does not run: {e}", self.bin.display()))?;
        check(&out, &format!("psql -c {sql:?}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server and removes the folder, and returns when both are
    /// done. Idempotent; the URLs stop working.
    pub fn stop(&self) {
        let watcher = self.watcher.lock().unwrap().take();
        if let Some(Watcher { mut child, pipe }) = watcher {
            drop(pipe); // EOF: the watcher stops the server and removes the folder
            let _ = child.wait();
        }
        if let Some(mut server) = self.server.lock().unwrap().take() {
            // Stopped by the watcher; a server it could not stop goes here.
            if !matches!(server.try_wait(), Ok(Some(_))) {
                let _ = server.kill();
            }
            let _ = server.wait();
        }
    }

    /// A command for one of the cluster's binaries, run as its owner, with no
    /// `PG*` variables of the caller's environment.
    fn owned(&self, binary: &str) -> Command {
        let mut cmd = self.client(binary);
        cmd.current_dir(&self.dir).env("HOME", &self.dir);
        if let Owner::User { uid, gid, .. } = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// A client binary run as this process's user: no password but the
    /// one given (no `~/.pgpass`), UTF-8 to and from the server.
    fn client(&self, binary: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(binary));
        clean_env(&mut cmd);
        cmd.env("PGPASSFILE", self.dir.join("no-pgpass")).env("PGCLIENTENCODING", "UTF8").stdin(Stdio::null());
        cmd
    }

    fn spawn_watcher(&self) -> Result<Watcher, String> {
        let mut cmd = Command::new("/bin/sh");
        clean_env(&mut cmd);
        cmd.args(["-c", WATCHER, "govwatch-pg-watcher"])
            .arg(&self.dir)
            .arg(&self.bin)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Owner::User { uid, gid, .. } = self.owner {
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start the cluster's watcher /bin/sh: {e}"))?;
        let pipe = child.stdin.take().expect("piped stdin");
        Ok(Watcher { child, pipe })
    }

    fn initdb(&self) -> Result<(), String> {
        let pwfile = self.dir.join("pwfile");
        self.write_owned(&pwfile, &self.password)?;
        let log = self.owned_file("initdb.log")?;
        let status = self
            .owned("initdb")
            .args(["-D".as_ref(), self.dir.join("data").as_os_str()])
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256", "-N"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .status()
            .map_err(|e| format!("initdb in {} does not run: {e}", self.bin.display()))?;
        let _ = fs::remove_file(&pwfile);
        if !status.success() {
            return Err(format!(
                "initdb failed ({status}) as {}:\n{}",
                self.owner,
                tail(&self.dir.join("initdb.log"), 0)
            ));
        }
        Ok(())
    }

    /// Starts `postgres` on a free port and waits until it accepts
    /// connections; a port taken in between is retried with another.
    fn start_server(&mut self) -> Result<(), String> {
        let sock = self.socket_dir();
        fs::create_dir(&sock).map_err(|e| format!("cannot make {}: {e}", sock.display()))?;
        self.chown(&sock)?;
        let sock_file_len = sock.as_os_str().len() + "/.s.PGSQL.65535".len();
        if sock_file_len > 107 {
            return Err(format!(
                "the socket path in {} is {sock_file_len} bytes, over the 107 a unix socket allows: set TMPDIR to a shorter folder",
                sock.display()
            ));
        }
        let log_path = self.dir.join("server.log");
        let mut last = String::new();
        for _ in 0..PORT_TRIES {
            let port = free_port()?;
            let from = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
            let log = self.owned_file("server.log")?;
            let mut cmd = self.owned("postgres");
            cmd.args(["-D".as_ref(), self.dir.join("data").as_os_str()])
                .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
                .arg(&sock);
            for s in SERVER_SETTINGS {
                cmd.args(["-c", s]);
            }
            let child = cmd
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log)
                .process_group(0)
                .spawn()
                .map_err(|e| format!("postgres in {} does not run: {e}", self.bin.display()))?;
            *self.server.lock().unwrap() = Some(child);
            self.port = port;
            match self.wait_ready(&log_path, from) {
                Ok(()) => return Ok(()),
                Err((retry, why)) => {
                    if let Some(mut c) = self.server.lock().unwrap().take() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                    last = why;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// Ok once the server accepts connections on its socket; Err((retry, why)):
    /// retry when its port was taken.
    fn wait_ready(&self, log: &Path, from: u64) -> Result<(), (bool, String)> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exited = self.server.lock().unwrap().as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                let t = tail(log, from);
                let taken = t.contains("could not bind") || t.contains("Address already in use");
                return Err((taken, format!("postgres exited ({status}) as {}:\n{t}", self.owner)));
            }
            let ready = self
                .client("pg_isready")
                .args(["-h".as_ref(), self.socket_dir().as_os_str()])
                .args(["-p", &self.port.to_string(), "-U", SUPERUSER, "-d", "postgres", "-t", "5", "-q"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| (false, format!("pg_isready in {} does not run: {e}", self.bin.display())))?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err((
                    false,
                    format!(
                        "postgres did not accept connections within {} s:\n{}",
                        READY_TIMEOUT.as_secs(),
                        tail(log, from)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A file in the folder for appending, owned by the cluster's owner.
    fn owned_file(&self, name: &str) -> Result<File, String> {
        let path = self.dir.join(name);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        self.chown(&path)?;
        Ok(f)
    }

    fn write_owned(&self, path: &Path, text: &str) -> Result<(), String> {
        fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
        self.chown(path)
    }

    fn chown(&self, path: &Path) -> Result<(), String> {
        chown_to(&self.owner, path)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Myself => f.write_str("this user"),
            Owner::User { name, uid, .. } => write!(f, "user {name} (uid {uid})"),
        }
    }
}

/// For tests: a fresh database URL on the process's shared cluster, or None
/// after printing one loud line to stderr ("NOT RUN: PostgreSQL could not
/// start here: …"); when GOVWATCH_REQUIRE_POSTGRES=1 it panics instead.
pub fn test_database(prefix: &str) -> Option<String> {
    let cluster = test_cluster()?;
    Some(cluster.database(prefix).unwrap_or_else(|e| panic!("PostgreSQL runs but makes no database: {e}")))
}

/// For tests: the process's shared cluster, or None after the same "NOT RUN"
/// line as [`test_database`] (a panic when GOVWATCH_REQUIRE_POSTGRES=1).
pub fn test_cluster() -> Option<&'static PgCluster> {
    match PgCluster::shared() {
        Ok(c) => Some(c),
        Err(why) => {
            if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
                panic!("{REQUIRE_ENV}=1 but PostgreSQL could not start here: {why}");
            }
            eprintln!("NOT RUN: PostgreSQL could not start here: {why}");
            None
        }
    }
}

/// The folder of `initdb`, `postgres` and the rest: `pg_config --bindir`, else
/// the highest /usr/lib/postgresql/*/bin, else where `initdb` on PATH really is.
pub fn find_bindir() -> Result<PathBuf, String> {
    let complete = |d: &Path| BINARIES.iter().all(|b| d.join(b).is_file());
    if let Ok(out) = Command::new("pg_config").arg("--bindir").stderr(Stdio::null()).output()
        && out.status.success()
    {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if complete(&d) {
            return Ok(d);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, d)| complete(d))
        .collect();
    versions.sort();
    if let Some((_, d)) = versions.pop() {
        return Ok(d);
    }
    for p in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if let Ok(real) = fs::canonicalize(p.join("initdb"))
            && let Some(d) = real.parent()
            && complete(d)
        {
            return Ok(d.to_path_buf());
        }
    }
    Err(format!(
        "the PostgreSQL server programs ({}) are not installed: none in `pg_config --bindir`, \
         /usr/lib/postgresql/*/bin or PATH (apt-get install postgresql; .ci/test does)",
        BINARIES.join(", ")
    ))
}

/// Root runs the cluster as `postgres` (Debian's package makes that user), or
/// as `nobody` where there is none; anyone else as themselves.
fn owner() -> Result<Owner, String> {
    let uid = match fs::metadata("/proc/self") {
        Ok(m) => m.uid(),
        Err(_) => {
            let out = Command::new("id").arg("-u").output().map_err(|e| format!("cannot tell who runs this: {e}"))?;
            String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| "`id -u` printed no number".to_string())?
        }
    };
    if uid != 0 {
        return Ok(Owner::Myself);
    }
    for name in ["postgres", "nobody"] {
        let Ok(out) = Command::new("getent").args(["passwd", name]).output() else { continue };
        let line = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = line.trim().split(':').collect();
        if let (true, Some(Ok(uid)), Some(Ok(gid))) =
            (out.status.success(), fields.get(2).map(|s| s.parse()), fields.get(3).map(|s| s.parse()))
            && uid != 0
        {
            return Ok(Owner::User { name: name.to_string(), uid, gid });
        }
    }
    Err("running as root, and neither the user postgres nor nobody exists to run PostgreSQL as \
         (initdb refuses root)"
        .to_string())
}

/// The cluster's private folder (mode 700, its owner's), under the temp
/// directory — or under /tmp when another user runs the cluster and cannot
/// reach the temp directory.
fn make_folder(owner: &Owner) -> Result<PathBuf, String> {
    let mut base = std::env::temp_dir();
    if matches!(owner, Owner::User { .. }) && !others_can_enter(&base) {
        base = PathBuf::from("/tmp");
    }
    for _ in 0..10 {
        let dir = base.join(format!("govwatch-pg-{}-{}", std::process::id(), random_hex(4)?));
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
                if let Err(e) = chown_to(owner, &dir) {
                    let _ = fs::remove_dir(&dir);
                    return Err(e);
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot make a folder in {}: {e}", base.display())),
        }
    }
    Err(format!("cannot find a free folder name in {}", base.display()))
}

/// Whether every folder from `/` to `dir` lets others through (o+x).
fn others_can_enter(dir: &Path) -> bool {
    dir.ancestors().all(|d| fs::metadata(d).map(|m| m.mode() & 0o001 != 0).unwrap_or(false))
}

fn chown_to(owner: &Owner, path: &Path) -> Result<(), String> {
    if let Owner::User { name, uid, gid } = owner {
        std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
            .map_err(|e| format!("cannot give {} to {name}: {e}", path.display()))?;
    }
    Ok(())
}

/// Removes the caller's `PG*` variables (PGHOST, PGPORT, PGDATA, PGPASSWORD,
/// …), which would redirect the cluster's tools, and speaks C.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.as_bytes().starts_with(b"PG") {
            cmd.env_remove(k);
        }
    }
    cmd.env("LC_ALL", "C");
}

fn check(out: &Output, what: &str) -> Result<(), String> {
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The last lines of a log written since byte `from`.
fn tail(path: &Path, from: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_end(&mut text);
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let shown = lines[lines.len().saturating_sub(15)..].join("\n");
    if shown.is_empty() { format!("({} is empty)", path.display()) } else { shown }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A database name's beginning from a test's prefix: ASCII letters, digits and
/// `_`, starting with a letter, at most 40 bytes (PostgreSQL allows 63).
fn db_prefix(prefix: &str) -> String {
    let mut s: String =
        prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(40).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 'd');
    }
    s
}

/// A path percent-encoded for a URL's query (`/` kept).
fn url_path(p: &Path) -> String {
    let mut s = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::process::ChildStdout;

    use super::*;

    /// A test re-run as a child process (this test binary, `--exact`) runs
    /// the part named by this variable.
    const CHILD_ENV: &str = "GOVWATCH_PG_CLUSTER_CHILD";

    fn child_mode(test: &str) -> bool {
        std::env::var(CHILD_ENV).as_deref() == Ok(test)
    }

    /// This test binary running only `test`, in child mode; its stdin is a pipe
    /// from here (the child may wait for its EOF) and its stdout is read here.
    struct Rerun {
        child: Child,
        out: BufReader<ChildStdout>,
    }

    impl Rerun {
        fn start(test: &str, env: &[(&str, &std::ffi::OsStr)]) -> Rerun {
            let path = module_path!().split_once("::").expect("crate::module").1;
            let mut child = Command::new(std::env::current_exe().expect("the test binary"))
                .args(["--exact", &format!("{path}::{test}"), "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, test)
                .envs(env.iter().copied())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("re-running the test binary");
            let out = BufReader::new(child.stdout.take().unwrap());
            Rerun { child, out }
        }

        /// What follows `tag` on the first line the child printed with it
        /// (libtest may print "test NAME ... " before it on the same line).
        fn line(&mut self, tag: &str) -> Option<String> {
            let mut line = String::new();
            loop {
                line.clear();
                if self.out.read_line(&mut line).unwrap() == 0 {
                    return None;
                }
                if let Some(at) = line.find(tag) {
                    return Some(line[at + tag.len()..].trim_end().to_string());
                }
            }
        }
    }

    impl Drop for Rerun {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// `psql` as a client of `url`: (succeeded, stdout, stderr).
    fn psql_url(c: &PgCluster, url: &str, sql: &str) -> (bool, String, String) {
        let out = c
            .client("psql")
            .args(["-X", "-A", "-t", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    /// Whether anything answers on 127.0.0.1:`port` as PostgreSQL (`pg_isready`
    /// exits 0 accepting, 1 rejecting, 2 no response).
    fn answers(bin: &Path, port: u16) -> bool {
        let status = Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "3", "-q"])
            .status()
            .unwrap();
        status.code() != Some(2)
    }

    /// Whether process `pid` runs (a zombie waiting for a parent that does not
    /// reap it does not).
    fn running(pid: u32) -> bool {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
            Err(_) => false,
        }
    }

    /// The processes whose parent is `pid`.
    fn children_of(pid: u32) -> Vec<u32> {
        let mut found = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
            let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<u32>().ok());
            if ppid == Some(pid) {
                found.push(p);
            }
        }
        found
    }

    /// Cluster folders a process `pid` made and left.
    fn folders_of(pid: u32) -> Vec<PathBuf> {
        let prefix = format!("govwatch-pg-{pid}-");
        [std::env::temp_dir(), PathBuf::from("/tmp")]
            .iter()
            .flat_map(|d| fs::read_dir(d).into_iter().flatten().flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    }

    #[test]
    fn databases_are_distinct_and_answer_over_tcp_with_the_password_and_over_the_socket() {
        let Some(c) = test_cluster() else { return };
        let a = c.database("pg cluster/A").unwrap();
        let b = c.database("pg cluster/A").unwrap();
        assert_ne!(a, b);
        let head = format!("postgresql://govwatch:{}@127.0.0.1:{}/pg_cluster_a_", c.password(), c.port());
        assert!(a.starts_with(&head) && b.starts_with(&head), "{a}\n{b}");

        let (ok, out, err) =
            psql_url(c, &a, "create table t (x text); insert into t values ('政务公开'); select x from t");
        assert!(ok, "{err}");
        assert_eq!(out, "政务公开");
        let (ok, _, err) = psql_url(c, &b, "select x from t");
        assert!(!ok && err.contains(r#"relation "t" does not exist"#), "{err}");

        // The socket URL reaches the same database, over the socket.
        let name = a.rsplit('/').next().unwrap();
        let socket = c.socket_url(name);
        assert!(socket.starts_with("postgresql://govwatch@/pg_cluster_a_"), "{socket}");
        let (ok, out, err) = psql_url(c, &socket, "select x || ' ' || (inet_server_addr() is null) from t");
        assert!(ok, "{err}");
        assert_eq!(out, "政务公开 true");
        let (_, out, _) = psql_url(c, &a, "select inet_server_addr()");
        assert_eq!(out, "127.0.0.1");

        assert_eq!(c.psql(name, "show server_encoding").unwrap().trim(), "UTF8");
        assert_eq!(c.psql(name, "show lc_collate").unwrap().trim(), "C");
        assert_eq!(c.psql(name, "show max_connections").unwrap().trim(), "200");
        assert_eq!(c.psql(name, "select rolsuper from pg_roles where rolname = current_user").unwrap().trim(), "t");
        let err = c.psql(name, "select * from nowhere").unwrap_err();
        assert!(err.contains(r#"relation "nowhere" does not exist"#), "{err}");
    }

    #[test]
    fn tcp_refuses_a_wrong_or_missing_password() {
        let Some(c) = test_cluster() else { return };
        let url = c.database("password").unwrap();
        let (ok, out, err) = psql_url(c, &url, "select 1");
        assert!(ok && out == "1", "{err}");

        let wrong = url.replace(c.password(), "not-the-password");
        let (ok, _, err) = psql_url(c, &wrong, "select 1");
        assert!(!ok && err.contains(r#"password authentication failed for user "govwatch""#), "{err}");

        let none = url.replace(&format!(":{}@", c.password()), "@");
        let (ok, _, err) = psql_url(c, &none, "select 1");
        assert!(!ok && err.contains("no password supplied"), "{err}");
    }

    #[test]
    fn stop_stops_the_server_and_removes_the_folder() {
        if test_cluster().is_none() {
            return;
        }
        let c = PgCluster::start().unwrap();
        let (dir, port, pid) = (c.dir().to_path_buf(), c.port(), c.server_pid().unwrap());
        let url = c.database("stop").unwrap();
        assert!(psql_url(&c, &url, "select 1").0);
        assert!(dir.join("data/PG_VERSION").exists() && running(pid) && answers(c.bin_dir(), port));

        c.stop();
        assert!(!dir.exists(), "{} is left", dir.display());
        assert!(!running(pid), "the server (pid {pid}) still runs");
        assert!(!answers(c.bin_dir(), port), "something still answers on port {port}");
        assert!(c.database("after").is_err());
        c.stop(); // again: nothing to do
    }

    /// The important one: the process that started a cluster is SIGKILLed
    /// (nothing of it runs: no Drop, no exit handler). Its watcher must still
    /// stop the server with every process of it and remove the folder.
    #[test]
    fn a_killed_owner_leaves_no_server_and_no_folder() {
        const TEST: &str = "a_killed_owner_leaves_no_server_and_no_folder";
        if child_mode(TEST) {
            let c = PgCluster::start().unwrap();
            println!("CLUSTER {} {} {}", c.port(), c.server_pid().unwrap(), c.dir().display());
            std::io::stdout().flush().unwrap();
            // Until the parent kills this process (or, if it fails first, goes).
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            return;
        }
        let Some(shared) = test_cluster() else { return };
        let bin = shared.bin_dir();
        let mut owner = Rerun::start(TEST, &[]);
        let line = owner.line("CLUSTER ").expect("the child printed no CLUSTER line (its output is above)");
        let mut parts = line.splitn(3, ' ');
        let port: u16 = parts.next().unwrap().parse().unwrap();
        let pid: u32 = parts.next().unwrap().parse().unwrap();
        let dir = PathBuf::from(parts.next().unwrap());
        assert!(dir.join("data/PG_VERSION").exists() && running(pid) && answers(bin, port));
        let mut server = children_of(pid);
        assert!(!server.is_empty(), "the server has no worker processes");
        server.push(pid);

        let child_pid = owner.child.id();
        owner.child.kill().unwrap(); // SIGKILL
        let status = owner.child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));

        // Well under a minute: a postmaster whose folder is removed under it
        // notices by itself within a minute (it rechecks its lock file), so a
        // longer wait would pass without the watcher's `pg_ctl stop`.
        let deadline = Instant::now() + Duration::from_secs(30);
        let left = || {
            let mut left: Vec<String> =
                server.iter().filter(|p| running(**p)).map(|p| format!("server process {p}")).collect();
            left.extend(folders_of(child_pid).iter().map(|d| d.display().to_string()));
            left
        };
        while !left().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(left(), Vec::<String>::new(), "left behind by the killed owner");
        assert!(!answers(bin, port), "something still answers on port {port}");
    }

    /// An initdb that fails: the error shows its output, and the folder is
    /// gone when the process that tried exits.
    #[test]
    fn a_failing_initdb_is_reported_with_its_output_and_leaves_no_folder() {
        const TEST: &str = "a_failing_initdb_is_reported_with_its_output_and_leaves_no_folder";
        if child_mode(TEST) {
            let bin = PathBuf::from(std::env::var("FAKE_BIN").unwrap());
            match PgCluster::start_with(&bin) {
                Ok(_) => println!("STARTED"),
                Err(e) => println!("ERR {}", e.replace('\n', " | ")),
            }
            return;
        }
        // The fake initdb must be executable by the user the cluster runs as.
        let bin = PathBuf::from(format!("/tmp/govwatch-pgfake-{}-{}", std::process::id(), random_hex(4).unwrap()));
        fs::create_dir(&bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let initdb = bin.join("initdb");
        fs::write(&initdb, "#!/bin/sh\necho 'initdb: error: the disk is on fire' >&2\nexit 1\n").unwrap();
        fs::set_permissions(&initdb, fs::Permissions::from_mode(0o755)).unwrap();

        let mut owner = Rerun::start(TEST, &[("FAKE_BIN", bin.as_os_str())]);
        let child_pid = owner.child.id();
        let mut out = String::new();
        owner.out.read_to_string(&mut out).unwrap();
        assert!(owner.child.wait().unwrap().success(), "{out}");
        fs::remove_dir_all(&bin).unwrap();
        let err =
            out.lines().find_map(|l| Some(&l[l.find("ERR ")? + 4..])).unwrap_or_else(|| panic!("no ERR line:\n{out}"));
        assert!(err.starts_with("initdb failed (exit status: 1)"), "{err}");
        assert!(err.contains("initdb: error: the disk is on fire"), "{err}");
        assert_eq!(folders_of(child_pid), Vec::<PathBuf>::new());
    }

    #[test]
    fn names_and_socket_urls_are_safe() {
        assert_eq!(db_prefix("Store Items/1"), "store_items_1");
        assert_eq!(db_prefix("9lives"), "d9lives");
        assert_eq!(db_prefix(""), "d");
        assert_eq!(db_prefix(&"x".repeat(100)).len(), 40);
        assert_eq!(url_path(Path::new("/tmp/a b&c/s")), "/tmp/a%20b%26c/s");
    }
}
