//! The console's sessions and login attempts (`web_sessions`,
//! `login_attempts`, migration 9), kept in the store so that any node
//! behind a load balancer serves any request: a session opened on one node
//! is valid on the others, a logout on one ends it everywhere, and failed
//! logins counted on one lock the name out on all.
//!
//! A session is stored under the SHA-256 of its token (hex), never the
//! token itself: whoever reads the store (a backup, a replica) cannot use
//! the cookies it holds. Times are unix milliseconds, taken from the
//! caller (`web::auth`), so nodes' clocks are assumed to agree to a few
//! seconds (NTP); the windows are minutes and hours.

use anyhow::Result;

use super::Store;
use super::db::{Dialect, params};

/// The advisory lock (with `db::pg::LOCK_NAMESPACE`) under which a login
/// attempt is checked against the limit and counted on PostgreSQL, so that
/// guesses sent at once to several nodes cannot all pass the limit. Not
/// the write lock: a login must not queue behind an import.
const LOCK_LOGINS: i32 = 0x6c6f_6769; // "logi"

/// A session as stored (its token's hash is the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub user: String,
    /// `officer` | `admin`, as the configuration names it.
    pub role: String,
    /// The token this session's forms must carry.
    pub csrf: String,
    /// One of the trusted proxy's sessions (one per user and node).
    pub proxied: bool,
    /// When it was last used (updated at most every few seconds).
    pub seen_ms: i64,
}

impl Store {
    /// The session stored under `token_hash`, live or not: one lookup by
    /// the primary key.
    pub fn web_session(&self, token_hash: &str) -> Result<Option<WebSession>> {
        self.read(|db| {
            db.query_opt(
                "SELECT user_name, role, csrf, proxied, seen_ms FROM web_sessions WHERE token_hash = ?1",
                params![token_hash],
                |r| {
                    Ok(WebSession {
                        user: r.get(0)?,
                        role: r.get(1)?,
                        csrf: r.get(2)?,
                        proxied: r.get(3)?,
                        seen_ms: r.get(4)?,
                    })
                },
            )
        })
    }

    /// Stores a new session under `token_hash`, opened (and seen) at `s.seen_ms`.
    pub fn open_web_session(&self, token_hash: &str, s: &WebSession) -> Result<()> {
        self.read(|db| {
            db.execute(
                "INSERT INTO web_sessions (token_hash, user_name, role, csrf, proxied, created_ms, seen_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![token_hash, s.user, s.role, s.csrf, s.proxied, s.seen_ms],
            )
        })?;
        Ok(())
    }

    /// Marks the session used at `now_ms` (never moves it back).
    pub fn touch_web_session(&self, token_hash: &str, now_ms: i64) -> Result<()> {
        self.read(|db| {
            db.execute(
                "UPDATE web_sessions SET seen_ms = ?2 WHERE token_hash = ?1 AND seen_ms < ?2",
                params![token_hash, now_ms],
            )
        })?;
        Ok(())
    }

    /// Ends the session (a logout): whether there was one.
    pub fn end_web_session(&self, token_hash: &str) -> Result<bool> {
        Ok(self.read(|db| db.execute("DELETE FROM web_sessions WHERE token_hash = ?1", params![token_hash]))? > 0)
    }

    /// Drops the sessions not used since `seen_before_ms`: how many. Walks
    /// the table: the caller does it at most once a minute.
    pub fn prune_web_sessions(&self, seen_before_ms: i64) -> Result<u64> {
        self.read(|db| db.execute("DELETE FROM web_sessions WHERE seen_ms < ?1", params![seen_before_ms]))
    }

    /// Sessions held (live or not yet pruned).
    pub fn web_session_count(&self) -> Result<u64> {
        self.read(|db| db.query_value("SELECT COUNT(*) FROM web_sessions", params![]))
    }

    /// Counts a login attempt `id` at `now_ms` against each of `keys`
    /// (`ip:…`, `user:…`), unless one of them already has `max` attempts
    /// after `since_ms`: whether it was counted. The check and the count are
    /// one transaction, one at a time across nodes.
    pub fn count_login_attempt(&self, keys: &[&str], id: &str, now_ms: i64, since_ms: i64, max: u64) -> Result<bool> {
        self.write_unlocked(|db| {
            if db.dialect() == Dialect::Postgres {
                db.execute(
                    "SELECT pg_advisory_xact_lock(?1, ?2)",
                    params![super::db::pg::LOCK_NAMESPACE, LOCK_LOGINS],
                )?;
            }
            for key in keys {
                let n: u64 = db.query_value(
                    "SELECT COUNT(*) FROM login_attempts WHERE key = ?1 AND at_ms > ?2",
                    params![key, since_ms],
                )?;
                if n >= max {
                    return Ok(false);
                }
            }
            for key in keys {
                db.execute(
                    "INSERT INTO login_attempts (key, at_ms, id) VALUES (?1, ?2, ?3)",
                    params![key, now_ms, id],
                )?;
            }
            Ok(true)
        })
    }

    /// Takes back a counted attempt (it succeeded), found by its keys and time.
    pub fn take_back_login_attempt(&self, keys: &[&str], at_ms: i64, id: &str) -> Result<()> {
        self.write_unlocked(|db| {
            for key in keys {
                db.execute(
                    "DELETE FROM login_attempts WHERE key = ?1 AND at_ms = ?2 AND id = ?3",
                    params![key, at_ms, id],
                )?;
            }
            Ok(())
        })
    }

    /// Drops the attempts made at or before `before_ms`: how many. Walks the
    /// table: the caller does it at most once a minute.
    pub fn prune_login_attempts(&self, before_ms: i64) -> Result<u64> {
        self.read(|db| db.execute("DELETE FROM login_attempts WHERE at_ms <= ?1", params![before_ms]))
    }

    /// Attempts held for `key` after `since_ms`.
    pub fn login_attempts(&self, key: &str, since_ms: i64) -> Result<u64> {
        self.read(|db| {
            db.query_value("SELECT COUNT(*) FROM login_attempts WHERE key = ?1 AND at_ms > ?2", params![key, since_ms])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    fn session(user: &str, seen_ms: i64) -> WebSession {
        WebSession { user: user.into(), role: "officer".into(), csrf: "c".repeat(64), proxied: false, seen_ms }
    }

    #[test]
    fn sessions_are_found_by_hash_touched_forward_ended_and_pruned() {
        each_backend("sessions", |store| {
            store.open_web_session("h1", &session("zhiban", 1_000)).unwrap();
            store.open_web_session("h2", &WebSession { proxied: true, ..session("guanli", 5_000) }).unwrap();
            assert_eq!(store.web_session("h1").unwrap(), Some(session("zhiban", 1_000)));
            assert!(store.web_session("h2").unwrap().unwrap().proxied);
            assert_eq!(store.web_session("nope").unwrap(), None);
            store.touch_web_session("h1", 3_000).unwrap();
            store.touch_web_session("h1", 2_000).unwrap();
            assert_eq!(store.web_session("h1").unwrap().unwrap().seen_ms, 3_000);
            assert_eq!(store.web_session_count().unwrap(), 2);
            assert_eq!(store.prune_web_sessions(4_000).unwrap(), 1);
            assert_eq!(store.web_session("h1").unwrap(), None);
            assert!(store.end_web_session("h2").unwrap());
            assert!(!store.end_web_session("h2").unwrap());
            assert_eq!(store.web_session_count().unwrap(), 0);
        });
    }

    #[test]
    fn attempts_are_refused_at_the_limit_taken_back_and_pruned() {
        each_backend("sessions", |store| {
            let keys = ["ip:10.0.0.1", "user:zhiban"];
            for i in 0..5 {
                assert!(store.count_login_attempt(&keys, &format!("a{i}"), 1_000 + i, 0, 5).unwrap());
            }
            // The name is full: refused, and not counted against the new address either.
            assert!(!store.count_login_attempt(&["ip:10.0.0.2", "user:zhiban"], "b", 2_000, 0, 5).unwrap());
            assert_eq!(store.login_attempts("ip:10.0.0.2", 0).unwrap(), 0);
            // Outside the window they do not count.
            assert!(store.count_login_attempt(&["ip:10.0.0.2", "user:zhiban"], "c", 2_000, 1_004, 5).unwrap());
            store.take_back_login_attempt(&keys, 1_004, "a4").unwrap();
            assert_eq!(store.login_attempts("user:zhiban", 0).unwrap(), 5);
            assert_eq!(store.login_attempts("ip:10.0.0.1", 0).unwrap(), 4);
            assert_eq!(store.prune_login_attempts(1_002).unwrap(), 6);
            assert_eq!(store.login_attempts("user:zhiban", 0).unwrap(), 2);
        });
    }
}
