//! What a store *is*, whatever its URL's spelling.
//!
//! The approval gate rests on one fact: a branch's staging store is not a target's own store (a
//! reviewer's upgrade or merge writes staging freely; only a sync, with approvals, writes a
//! target). Comparing URL strings does not establish it: `sqlite://DIR//prod.db`,
//! `sqlite:DIR/prod.db`, a `./` or `..` segment, a symlink or a hard link all name production's
//! file, and `LOCALHOST:5432`, `127.0.0.1` and a Unix socket all reach one database server. A
//! [`StoreIdentity`] is taken from the thing itself: the canonical path and the file's device and
//! inode for SQLite and file stores; the normalised host (every address it resolves to), port
//! and database for servers. Two URLs name one store when their identities overlap.
//!
//! [`Confinement`] is the operator's allow-list (`store_roots`, `store_hosts`): with either set,
//! a store a lead registers must lie under a root or on a listed host, so store URLs cannot be
//! used to probe the network or the file system.

use std::collections::BTreeSet;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use super::StoreUrl;
use crate::db::{self, redact, Backend};
use crate::error::{Error, Result};

/// What a store is (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreIdentity {
    /// A SQLite file or a file store's directory: its canonical path, and its device and inode
    /// when it exists (a hard link has another path but the same inode).
    Local { path: PathBuf, inode: Option<(u64, u64)> },
    /// A database server: every normalised name and address of its host, its port, the database.
    Server { hosts: BTreeSet<String>, port: u16, database: String },
    /// An in-memory SQLite database: never the same as anything else.
    Memory,
}

impl StoreIdentity {
    /// The identity of a store URL. Resolves host names and follows symlinks, so it may block
    /// briefly: async callers use [`StoreIdentity::of_url`].
    pub fn of(url: &str) -> Result<StoreIdentity> {
        match StoreUrl::parse(url)? {
            StoreUrl::Files { dir } => Ok(local(&dir)),
            StoreUrl::Sql { engine: Backend::Sqlite, connect, .. } => {
                let path = db::sqlite_path(&connect);
                let path = path.as_ref();
                if path.is_empty() || path == ":memory:" || connect.contains("mode=memory") {
                    Ok(StoreIdentity::Memory)
                } else {
                    Ok(local(Path::new(path)))
                }
            }
            StoreUrl::Sql { engine: Backend::Postgres, connect, .. } => {
                let o = sqlx::postgres::PgConnectOptions::from_str(&connect).map_err(|e| unparsable(url, e))?;
                let database = o.get_database().unwrap_or(o.get_username()).to_string();
                Ok(server(o.get_host(), o.get_port(), database))
            }
            StoreUrl::Sql { engine: Backend::Mysql, connect, .. } => {
                let connect = connect.replacen("mariadb://", "mysql://", 1);
                let o = sqlx::mysql::MySqlConnectOptions::from_str(&connect).map_err(|e| unparsable(url, e))?;
                let host = o.get_socket().map(|s| s.to_string_lossy().into_owned());
                let database = o.get_database().unwrap_or_default().to_string();
                Ok(server(host.as_deref().unwrap_or(o.get_host()), o.get_port(), database))
            }
        }
    }

    /// [`StoreIdentity::of`] off the async workers (it may resolve a host name or stat a file).
    pub async fn of_url(url: &str) -> Result<StoreIdentity> {
        let url = url.to_string();
        tokio::task::spawn_blocking(move || StoreIdentity::of(&url)).await.map_err(Error::internal)?
    }

    /// Whether two identities are one store.
    pub fn same(&self, other: &StoreIdentity) -> bool {
        match (self, other) {
            (StoreIdentity::Local { path: a, inode: ia }, StoreIdentity::Local { path: b, inode: ib }) => {
                a == b || (ia.is_some() && ia == ib)
            }
            (
                StoreIdentity::Server { hosts: ha, port: pa, database: da },
                StoreIdentity::Server { hosts: hb, port: pb, database: db },
            ) => pa == pb && da == db && !ha.is_disjoint(hb),
            _ => false,
        }
    }
}

/// The operator's allow-list for stores that leads give (`store_roots`, `store_hosts`). Empty,
/// it allows every store; with either list set, a store must match one of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Confinement {
    pub roots: Vec<PathBuf>,
    /// `host` or `host:port`.
    pub hosts: Vec<String>,
}

impl Confinement {
    pub fn is_open(&self) -> bool {
        self.roots.is_empty() && self.hosts.is_empty()
    }

    /// The identity of a store a lead gives, once it is checked against the lists — off the async
    /// workers, as taking it may resolve host names and follow symlinks. The caller compares the
    /// same identity with the targets' stores, so it is taken once.
    pub async fn admit(&self, url: &str) -> Result<StoreIdentity> {
        let (lists, url) = (self.clone(), url.to_string());
        tokio::task::spawn_blocking(move || {
            let identity = StoreIdentity::of(&url)?;
            lists.check(&url, &identity)?;
            Ok(identity)
        })
        .await
        .map_err(Error::internal)?
    }

    /// Checks a store (its URL and identity) against the lists. The error names the setting,
    /// never what is (or is not) at the place the URL names.
    pub fn check(&self, url: &str, identity: &StoreIdentity) -> Result<()> {
        if self.is_open() {
            return Ok(());
        }
        let allowed = match identity {
            StoreIdentity::Local { path, .. } => self.roots.iter().any(|root| path.starts_with(local_path(root))),
            StoreIdentity::Server { hosts, port, .. } => self.hosts.iter().any(|entry| {
                let (host, entry_port) = split_host_port(entry);
                entry_port.is_none_or(|p| p == *port) && !hosts.is_disjoint(&host_names(host))
            }),
            StoreIdentity::Memory => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::Unprocessable(format!(
                "{} is outside the stores this server may use (store_roots, store_hosts)",
                redact(url)
            )))
        }
    }
}

fn unparsable(url: &str, e: sqlx::Error) -> Error {
    Error::BadRequest(format!("{} is not a database URL Chartgate can read: {e}", redact(url)))
}

fn local(path: &Path) -> StoreIdentity {
    let path = local_path(path);
    let inode = std::fs::metadata(&path).ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    });
    StoreIdentity::Local { path, inode }
}

/// A path with symlinks followed as far as it exists, `.` and `..` resolved lexically after
/// that (a store being created does not exist yet), and made absolute.
fn local_path(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(path)
    };
    let mut existing = absolute.clone();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                push_lexically(&mut out, Path::new(part));
            }
            return out;
        }
        match (existing.file_name().map(|f| f.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            // Nothing of it exists (not even `/`?): resolve it lexically.
            _ => {
                let mut out = PathBuf::from("/");
                push_lexically(&mut out, &absolute);
                return out;
            }
        }
    }
}

fn push_lexically(out: &mut PathBuf, path: &Path) {
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

fn server(host: &str, port: u16, database: String) -> StoreIdentity {
    StoreIdentity::Server { hosts: host_names(host), port, database }
}

/// Every name a host goes by: lowercase, without a trailing dot or IPv6 brackets; `localhost`
/// for a loopback address or a Unix socket directory; and every address the name resolves to.
fn host_names(host: &str) -> BTreeSet<String> {
    const LOOPBACK: &str = "localhost";
    let host = host.trim().trim_end_matches('.').trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let normal = |ip: IpAddr| {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if ip.is_loopback() {
            LOOPBACK.to_string()
        } else {
            ip.to_string()
        }
    };
    if host.is_empty() || host.starts_with('/') || host == LOOPBACK {
        return BTreeSet::from([LOOPBACK.to_string()]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return BTreeSet::from([normal(ip)]);
    }
    let mut names = BTreeSet::from([host.clone()]);
    if let Ok(addresses) = (host.as_str(), 0).to_socket_addrs() {
        names.extend(addresses.map(|a| normal(a.ip())));
    }
    names
}

fn split_host_port(entry: &str) -> (&str, Option<u16>) {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix('[') {
        // [v6]:port
        return match rest.split_once(']') {
            Some((host, port)) => (host, port.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (rest, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        StoreIdentity::of(a).unwrap().same(&StoreIdentity::of(b).unwrap())
    }

    #[test]
    fn every_spelling_of_a_sqlite_file_is_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("prod.db"), b"").unwrap();
        std::os::unix::fs::symlink(dir.path().join("prod.db"), dir.path().join("link.db")).unwrap();
        std::fs::hard_link(dir.path().join("prod.db"), dir.path().join("hard.db")).unwrap();
        let prod = format!("sqlite://{d}/prod.db");
        for spelling in [
            format!("sqlite://{d}//prod.db"),
            format!("sqlite:{d}/prod.db"),
            format!("sqlite://{d}/./prod.db"),
            format!("sqlite://{d}/sub/../prod.db"),
            format!("sqlite://{d}/link.db"),
            format!("sqlite://{d}/hard.db"),
            format!("sqlite://{d}/prod.db?mode=rw"),
            format!("sqlite://{d}/prod%2Edb"),
            format!("sqlite://{d}/prod.db?mapping=grapher"),
        ] {
            assert!(same(&prod, &spelling), "{spelling}");
        }
        assert!(!same(&prod, &format!("sqlite://{d}/other.db")));
        assert!(!same("sqlite::memory:", "sqlite::memory:"));
        assert!(same(&format!("file://{d}/sub"), &format!("file://{d}/./sub/")));
        assert!(!same(&format!("file://{d}/sub"), &prod), "a directory is not a file in it");
    }

    #[test]
    fn every_spelling_of_a_server_is_that_server() {
        let pg = "postgres://postgres@127.0.0.1:5432/prod";
        for spelling in [
            "postgres://postgres@localhost:5432/prod",
            "postgresql://other:pw@LOCALHOST./prod",
            "postgres://postgres@[::1]:5432/prod",
            "postgres://postgres@127.0.0.2/prod?sslmode=disable",
            "postgres:///prod?host=/var/run/postgresql",
        ] {
            assert!(same(pg, spelling), "{spelling}");
        }
        assert!(!same(pg, "postgres://postgres@127.0.0.1:5433/prod"), "another port");
        assert!(!same(pg, "postgres://postgres@127.0.0.1:5432/staging"), "another database");
        assert!(same("mysql://root@127.0.0.1:3306/prod", "mariadb://root@localhost/prod"));
        assert!(!same("mysql://root@127.0.0.1:3306/prod", "mysql://root@127.0.0.1:3306/prod2"));
    }

    #[test]
    fn confinement_lets_in_only_what_the_operator_listed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let check = |c: &Confinement, url: &str| c.check(url, &StoreIdentity::of(url).unwrap());
        let c = Confinement {
            roots: vec![dir.path().join("stores")],
            hosts: vec!["db.internal:5432".into(), "localhost".into()],
        };
        assert!(check(&c, &format!("sqlite://{d}/stores/b.db")).is_ok());
        assert!(check(&c, &format!("file://{d}/stores/charts")).is_ok());
        let outside = check(&c, &format!("sqlite://{d}/stores/../prod.db")).unwrap_err().to_string();
        assert!(outside.contains("store_roots"), "{outside}");
        assert!(check(&c, "mysql://root@127.0.0.1:3306/x").is_ok(), "localhost on any port");
        assert!(check(&c, "postgres://u@db.internal:5432/x").is_ok());
        assert!(check(&c, "postgres://u@db.internal:22/x").is_err(), "another port of a listed host");
        assert!(check(&c, "postgres://u@10.1.2.3:5432/x").is_err());
        assert!(check(&Confinement::default(), "postgres://u@10.1.2.3:5432/x").is_ok(), "no lists: open");
    }
}
