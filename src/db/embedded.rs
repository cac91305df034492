//! A private Postgres cluster started from the machine's own binaries, for
//! when no `DATABASE_URL` is given.
//!
//! The cluster lives in `<data-dir>/pg`, listens on 127.0.0.1 only, on a free
//! port, with a generated password. initdb and postgres refuse to run as root:
//! when we are root they run as the `postgres` user (created if missing), and
//! the data directory is handed to that user. Durable settings (fsync and
//! synchronous commit on) unless the caller asks for a throwaway cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Whether the cluster may lose acknowledged writes on a machine crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync and synchronous_commit on: the product's setting.
    Durable,
    /// fsync off: for test clusters only.
    Throwaway,
}

pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<String>,
    url: String,
    /// Whether this process started the server (and so stops it on drop).
    started_here: bool,
}

const DB_USER: &str = "liveroom";
const DB_NAME: &str = "liveroom";

impl EmbeddedPostgres {
    /// Start (or reuse, if it already runs) the cluster under `root_dir/pg`.
    pub fn start(root_dir: &Path, durability: Durability) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        std::fs::create_dir_all(root_dir).with_context(|| format!("cannot create data dir {}", root_dir.display()))?;
        let root_dir = root_dir.canonicalize().context("cannot resolve data dir")?;
        let data_dir = root_dir.join("pg");
        let run_as = if unsafe { libc::geteuid() } == 0 { Some(ensure_postgres_user()?) } else { None };
        if let Some(user) = &run_as {
            check_reachable_by(&root_dir, user)?;
        }
        let password_file = root_dir.join("pg.password");
        if !data_dir.join("PG_VERSION").exists() {
            init_cluster(&bin_dir, &root_dir, &data_dir, &password_file, run_as.as_deref())?;
        }
        let password = std::fs::read_to_string(&password_file).context("cannot read the cluster password")?;
        let port_file = root_dir.join("pg.port");

        let mut this = EmbeddedPostgres { data_dir, bin_dir, run_as, url: String::new(), started_here: false };
        if this.is_running() {
            let port: u16 = std::fs::read_to_string(&port_file)
                .context("the cluster runs but its port file is missing")?
                .trim()
                .parse()
                .context("bad port file")?;
            this.url = url_for(port, password.trim());
            return Ok(this);
        }
        let port = free_port()?;
        this.write_settings(durability)?;
        let log = this.data_dir.join("server.log");
        let status = this
            .pg_command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&this.data_dir)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(format!("-p {port}"))
            .stdout(Stdio::null())
            .status()
            .context("cannot run pg_ctl start")?;
        if !status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("embedded postgres did not start ({status}); server log:\n{}", last_lines(&tail, 20));
        }
        std::fs::write(&port_file, port.to_string()).context("cannot write port file")?;
        this.url = url_for(port, password.trim());
        this.started_here = true;
        Ok(this)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn is_running(&self) -> bool {
        self.pg_command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Stop the server if this process started it.
    pub fn stop(&mut self) {
        if !self.started_here {
            return;
        }
        self.started_here = false;
        let _ = self
            .pg_command("pg_ctl")
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn write_settings(&self, durability: Durability) -> anyhow::Result<()> {
        let fsync = match durability {
            Durability::Durable => "on",
            Durability::Throwaway => "off",
        };
        let conf = format!(
            "# written by liveroom at every start\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n\
             fsync = {fsync}\n\
             synchronous_commit = {fsync}\n\
             full_page_writes = {fsync}\n\
             max_connections = 200\n\
             shared_buffers = 256MB\n\
             wal_buffers = 16MB\n\
             max_wal_size = 2GB\n"
        );
        let path = self.data_dir.join("liveroom.conf");
        std::fs::write(&path, conf).context("cannot write liveroom.conf")?;
        chown_to(&path, self.run_as.as_deref())?;
        Ok(())
    }

    fn pg_command(&self, program: &str) -> Command {
        pg_command(&self.bin_dir, program, self.run_as.as_deref())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn init_cluster(
    bin_dir: &Path,
    root_dir: &Path,
    data_dir: &Path,
    password_file: &Path,
    run_as: Option<&str>,
) -> anyhow::Result<()> {
    let password = uuid::Uuid::new_v4().simple().to_string();
    std::fs::write(password_file, &password).context("cannot write password file")?;
    chown_to(root_dir, run_as)?;
    chown_to(password_file, run_as)?;
    set_mode(password_file, 0o600)?;
    let out = pg_command(bin_dir, "initdb", run_as)
        .arg("-D")
        .arg(data_dir)
        .args(["-U", DB_USER, "-E", "UTF8", "--locale=C.UTF-8", "--auth=scram-sha-256", "--no-sync"])
        .arg(format!("--pwfile={}", password_file.display()))
        .output()
        .context("cannot run initdb")?;
    if !out.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let conf = data_dir.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).context("cannot read postgresql.conf")?;
    text.push_str("\ninclude_if_exists = 'liveroom.conf'\n");
    std::fs::write(&conf, text).context("cannot write postgresql.conf")?;
    // initdb created the `postgres` maintenance database; ours is created on
    // first connect by `db::connect`.
    Ok(())
}

fn url_for(port: u16, password: &str) -> String {
    format!("postgres://{DB_USER}:{password}@127.0.0.1:{port}/{DB_NAME}")
}

fn pg_command(bin_dir: &Path, program: &str, run_as: Option<&str>) -> Command {
    let exe = bin_dir.join(program);
    match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(exe);
            c
        }
        None => Command::new(exe),
    }
}

/// The directory holding initdb and pg_ctl: `LIVEROOM_PG_BIN`, PATH, or the
/// newest /usr/lib/postgresql/*/bin.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("LIVEROOM_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let v: u32 = e.file_name().to_str()?.parse().ok()?;
                Some((v, e.path().join("bin")))
            })
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev().map(|(_, p)| p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.exists() {
                // resolve symlinks so pg_ctl finds its sibling postgres binary
                let real = initdb.canonicalize().unwrap_or(initdb);
                if let Some(parent) = real.parent() {
                    candidates.push(parent.to_path_buf());
                }
            }
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists() && d.join("postgres").exists())
        .context(
            "no Postgres server binaries found (initdb, pg_ctl, postgres): install postgresql \
             (Debian: apt-get install postgresql) or set DATABASE_URL or LIVEROOM_PG_BIN",
        )
}

fn ensure_postgres_user() -> anyhow::Result<String> {
    let user = std::env::var("LIVEROOM_PG_USER").unwrap_or_else(|_| "postgres".to_string());
    let exists = Command::new("id").arg("-u").arg(&user).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    if !exists.success() {
        let status = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin"])
            .arg(&user)
            .status()
            .context("cannot run useradd")?;
        if !status.success() {
            bail!("cannot create the unprivileged user {user} that runs the embedded postgres");
        }
    }
    Ok(user)
}

/// As root, the cluster runs as another user, who must be able to reach the
/// data directory: every ancestor needs the execute bit for others.
fn check_reachable_by(dir: &Path, user: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for ancestor in dir.ancestors().skip(1) {
        let mode = std::fs::metadata(ancestor)?.permissions().mode();
        if mode & 0o001 == 0 {
            bail!(
                "the embedded postgres runs as user {user}, who cannot enter {} (mode {:o}); \
                 pass --data-dir under a directory others can traverse, e.g. /var/tmp/liveroom",
                ancestor.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}

fn chown_to(path: &Path, user: Option<&str>) -> anyhow::Result<()> {
    if let Some(user) = user {
        let status = Command::new("chown").arg("-R").arg(format!("{user}:")).arg(path).status()?;
        if !status.success() {
            bail!("cannot chown {} to {user}", path.display());
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Wait until `url` accepts connections (the server may still be starting).
pub async fn wait_ready(url: &str, timeout: Duration) -> anyhow::Result<()> {
    use sqlx::Connection;
    let deadline = Instant::now() + timeout;
    loop {
        match sqlx::PgConnection::connect(url).await {
            Ok(conn) => {
                let _ = conn.close().await;
                return Ok(());
            }
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "postgres not ready yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("postgres did not accept connections in time"),
        }
    }
}
