//! Several govwatch nodes on one store (migration 9): who is running, and
//! who holds what.
//!
//! A **node** is one `govwatch run` process; it registers at start under a
//! new id (`host:pid:random`), beats every few seconds, and says when it
//! stops. A **lease** is a named piece of work held by one node until it
//! expires: `source:ID` (that source's polls), `leader` (rule evaluation,
//! alert rounds, the link check), `import:SOURCE:FILE`. A live node renews
//! its leases with its heartbeat, so a source stays with the node that
//! first polled it; a killed node's leases expire and the others take them.
//!
//! Claiming is one statement (`INSERT … ON CONFLICT DO UPDATE … WHERE the
//! holder is me or the lease has expired … RETURNING`): on PostgreSQL the
//! conflicting row is locked while the condition is checked, so of two
//! nodes claiming at once exactly one gets it. Times are unix milliseconds
//! taken by the caller (the core stays clock-free; the daemon reads it).

use anyhow::Result;
use serde::Serialize;

use super::Store;
use super::db::{Value, params, row};

/// A node as `status` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub listen: Option<String>,
    pub started_at: String,
    pub heartbeat_ms: i64,
    pub index_rev: i64,
    pub stopped_at: Option<String>,
    /// Leases it holds now (unexpired).
    pub leases: i64,
}

/// A lease as `status` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeaseRow {
    pub name: String,
    pub node: String,
    pub expires_ms: i64,
}

/// What a node says about itself when it starts.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub listen: Option<String>,
    pub started_at: String,
}

/// An id for this process: `PREFIX:HOST:PID:RANDOM`, new at every start
/// (the random part tells a restarted process from one whose pid was reused).
pub fn process_id(prefix: &str) -> String {
    let mut r = [0u8; 3];
    let _ = getrandom::fill(&mut r);
    format!("{prefix}:{}:{}:{:02x}{:02x}{:02x}", host_name(), std::process::id(), r[0], r[1], r[2])
}

/// This machine's name (`/proc/sys/kernel/hostname`, else `HOSTNAME`, else `localhost`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

impl Store {
    /// Registers a starting node.
    pub fn register_node(&self, n: &NodeInfo, now_ms: i64) -> Result<()> {
        self.write_unlocked(|db| {
            db.execute(
                "INSERT INTO nodes (id, host, pid, listen, started_at, heartbeat_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, stopped_at = NULL",
                params![n.id, n.host, n.pid, n.listen, n.started_at, now_ms],
            )?;
            Ok(())
        })
    }

    /// The address the node's console listens on, once it is bound.
    pub fn node_listen(&self, node: &str, listen: &str) -> Result<()> {
        self.control(|db| db.execute("UPDATE nodes SET listen = ?2 WHERE id = ?1", params![node, listen]))?;
        Ok(())
    }

    /// A node's heartbeat: it is alive, its index holds `index_rev`, and
    /// every lease it holds runs until `now_ms + lease_ms`. Returns how many
    /// leases it renewed.
    pub fn heartbeat(&self, node: &str, now_ms: i64, lease_ms: i64, index_rev: i64) -> Result<u64> {
        self.write_unlocked(|db| {
            db.execute(
                "UPDATE nodes SET heartbeat_ms = ?2, index_rev = ?3 WHERE id = ?1",
                params![node, now_ms, index_rev],
            )?;
            db.execute(
                "UPDATE leases SET expires_ms = ?2 WHERE node = ?1 AND expires_ms >= ?3",
                params![node, now_ms + lease_ms, now_ms],
            )
        })
    }

    /// A clean stop: the node's leases go at once, for others to take.
    pub fn node_stopped(&self, node: &str, at: &str) -> Result<()> {
        self.write_unlocked(|db| {
            db.execute("DELETE FROM leases WHERE node = ?1", params![node])?;
            db.execute("UPDATE nodes SET stopped_at = ?2 WHERE id = ?1", params![node, at])?;
            Ok(())
        })
    }

    /// Drops every lease and email claim of the nodes named (nodes known to
    /// be gone: on SQLite, every node but this one, since the data folder's
    /// lock proves no other runs; elsewhere, nodes of this host whose process
    /// has ended), so a restart after kill -9 does not wait for them to expire.
    pub fn release_leases_of(&self, nodes: &[String]) -> Result<u64> {
        self.write_unlocked(|db| {
            let mut n = 0;
            for node in nodes {
                n += db.execute("DELETE FROM leases WHERE node = ?1", params![node])?;
                n += db.execute(
                    "UPDATE outbox SET claimed_by = NULL, claim_expires_ms = NULL WHERE claimed_by = ?1",
                    params![node],
                )?;
            }
            Ok(n)
        })
    }

    /// Takes the lease `name` for `node` until `now_ms + lease_ms`, if no
    /// other node holds it unexpired; renews it if `node` holds it. True
    /// when `node` holds it now.
    pub fn claim(&self, name: &str, node: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
        self.claim_after(name, node, now_ms, lease_ms, 0)
    }

    /// As [`Store::claim`], but a lease another node let go of (or lost)
    /// is taken only once it has been free for `grace_ms`: a node that
    /// already holds its share leaves a freed source to the others first.
    pub fn claim_after(&self, name: &str, node: &str, now_ms: i64, lease_ms: i64, grace_ms: i64) -> Result<bool> {
        Ok(!self.claim_each(&[name.to_string()], node, now_ms, lease_ms, grace_ms)?.is_empty())
    }

    /// Claims every lease named, as [`Store::claim_after`] each, sent
    /// together (one round trip on PostgreSQL for a dead node's thousands of
    /// sources). Returns the names `node` holds now.
    pub fn claim_each(
        &self,
        names: &[String],
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        grace_ms: i64,
    ) -> Result<Vec<String>> {
        let acquired_at = chrono::DateTime::from_timestamp_millis(now_ms)
            .map(|t| t.with_timezone(&crate::normalize::time::china()).to_rfc3339())
            .unwrap_or_default();
        let rows: Vec<Vec<Value>> = names
            .iter()
            .map(|name| row![name, node, now_ms + lease_ms, acquired_at, now_ms, now_ms - grace_ms.max(0)])
            .collect();
        self.write_unlocked(|db| {
            let holders: Vec<Vec<String>> = db.query_each(
                "INSERT INTO leases (name, node, expires_ms, acquired_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (name) DO UPDATE SET node = excluded.node, expires_ms = excluded.expires_ms, \
                 acquired_at = CASE WHEN leases.node = excluded.node THEN leases.acquired_at \
                                    ELSE excluded.acquired_at END \
                 WHERE (leases.node = excluded.node AND leases.expires_ms >= ?5) OR leases.expires_ms < ?6 \
                 RETURNING node",
                &rows,
                |_, r| r.get(0),
            )?;
            Ok(names
                .iter()
                .zip(holders)
                .filter(|(_, h)| h.first().map(String::as_str) == Some(node))
                .map(|(n, _)| n.clone())
                .collect())
        })
    }

    /// Lets go of `n` of the node's leases whose name starts with `prefix`
    /// (it holds more than its share): they expire now and stay marked as
    /// its, so that it does not take them over as a dead node's. Returns
    /// the names let go.
    pub fn let_go(&self, node: &str, prefix: &str, n: usize, now_ms: i64) -> Result<Vec<String>> {
        self.write_unlocked(|db| {
            let names: Vec<String> = db.query_map(
                "SELECT name FROM leases WHERE node = ?1 AND expires_ms >= ?2 AND substr(name, 1, ?4) = ?3 \
                 ORDER BY name DESC LIMIT ?5",
                params![node, now_ms, prefix, prefix.chars().count(), n],
                |r| r.get(0),
            )?;
            for name in &names {
                db.execute(
                    "UPDATE leases SET expires_ms = ?3 WHERE name = ?1 AND node = ?2",
                    params![name, node, now_ms - 1],
                )?;
            }
            Ok(names)
        })
    }

    /// Unexpired leases of `node` whose name starts with `prefix`, counted.
    pub fn leases_held(&self, node: &str, prefix: &str, now_ms: i64) -> Result<usize> {
        self.control(|db| {
            db.query_value(
                "SELECT COUNT(*) FROM leases WHERE node = ?1 AND expires_ms >= ?2 AND substr(name, 1, ?4) = ?3",
                params![node, now_ms, prefix, prefix.chars().count()],
            )
        })
    }

    /// The nodes that beat within `within_ms` and have not stopped.
    pub fn live_nodes(&self, now_ms: i64, within_ms: i64) -> Result<Vec<String>> {
        self.control(|db| {
            db.query_map(
                "SELECT id FROM nodes WHERE stopped_at IS NULL AND heartbeat_ms >= ?1 ORDER BY id",
                params![now_ms - within_ms],
                |r| r.get(0),
            )
        })
    }

    /// Gives a lease back (the work is done, or the node stops doing it).
    pub fn release(&self, name: &str, node: &str) -> Result<()> {
        self.control(|db| db.execute("DELETE FROM leases WHERE name = ?1 AND node = ?2", params![name, node]))?;
        Ok(())
    }

    /// Leases whose name starts with `prefix` that have expired (their node
    /// died or stopped beating): the work to take over.
    pub fn expired_leases(&self, prefix: &str, now_ms: i64) -> Result<Vec<LeaseRow>> {
        self.control(|db| {
            db.query_map(
                "SELECT name, node, expires_ms FROM leases WHERE expires_ms < ?2 AND substr(name, 1, ?3) = ?1 \
                 ORDER BY name",
                params![prefix, now_ms, prefix.chars().count()],
                |r| Ok(LeaseRow { name: r.get(0)?, node: r.get(1)?, expires_ms: r.get(2)? }),
            )
        })
    }

    /// Every lease, for `status`.
    pub fn leases(&self) -> Result<Vec<LeaseRow>> {
        self.control(|db| {
            db.query_map("SELECT name, node, expires_ms FROM leases ORDER BY name", params![], |r| {
                Ok(LeaseRow { name: r.get(0)?, node: r.get(1)?, expires_ms: r.get(2)? })
            })
        })
    }

    /// The nodes, most recent heartbeat first, with their unexpired leases counted.
    pub fn nodes(&self, now_ms: i64) -> Result<Vec<NodeRow>> {
        self.control(|db| {
            db.query_map(
                "SELECT n.id, n.host, n.pid, n.listen, n.started_at, n.heartbeat_ms, n.index_rev, n.stopped_at, \
                 (SELECT COUNT(*) FROM leases l WHERE l.node = n.id AND l.expires_ms >= ?1) \
                 FROM nodes n ORDER BY n.heartbeat_ms DESC, n.id",
                params![now_ms],
                |r| {
                    Ok(NodeRow {
                        id: r.get(0)?,
                        host: r.get(1)?,
                        pid: r.get(2)?,
                        listen: r.get(3)?,
                        started_at: r.get(4)?,
                        heartbeat_ms: r.get(5)?,
                        index_rev: r.get(6)?,
                        stopped_at: r.get(7)?,
                        leases: r.get(8)?,
                    })
                },
            )
        })
    }

    /// Forgets nodes that stopped (or stopped beating) before `before_ms`
    /// and hold nothing: `status` lists recent ones only.
    pub fn prune_nodes(&self, before_ms: i64) -> Result<u64> {
        self.control(|db| {
            db.execute(
                "DELETE FROM nodes WHERE heartbeat_ms < ?1 AND id NOT IN (SELECT node FROM leases)",
                params![before_ms],
            )
        })
    }

    /// Claims a queued email for sending by `node` until `until_ms`, unless
    /// another node's unexpired claim holds it. True when `node` may send it.
    pub fn claim_mail(&self, id: i64, node: &str, now_ms: i64, until_ms: i64) -> Result<bool> {
        let n = self.control(|db| {
            db.execute(
                "UPDATE outbox SET claimed_by = ?2, claim_expires_ms = ?4 WHERE id = ?1 AND state = 'queued' \
                 AND (claimed_by IS NULL OR claimed_by = ?2 OR claim_expires_ms < ?3)",
                params![id, node, now_ms, until_ms],
            )
        })?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            host: "h".into(),
            pid: 1,
            listen: None,
            started_at: "2026-12-06T09:00:00+08:00".into(),
        }
    }

    #[test]
    fn a_lease_is_held_by_one_node_until_it_expires() {
        crate::store::testing::each_backend("lease", |store| {
            store.register_node(&info("a"), 1_000).unwrap();
            store.register_node(&info("b"), 1_000).unwrap();
            assert!(store.claim("source:x", "a", 1_000, 3_000).unwrap());
            assert!(!store.claim("source:x", "b", 2_000, 3_000).unwrap(), "a holds it");
            assert!(store.claim("source:x", "a", 2_000, 3_000).unwrap(), "a renews its own");
            // a beats: its lease runs to 7,000.
            assert_eq!(store.heartbeat("a", 4_000, 3_000, 0).unwrap(), 1);
            assert!(!store.claim("source:x", "b", 6_999, 3_000).unwrap());
            assert!(store.expired_leases("source:", 6_999).unwrap().is_empty());
            // a stops beating: at 7,001 the lease has expired and b takes it.
            let gone = store.expired_leases("source:", 7_001).unwrap();
            assert_eq!(
                gone.iter().map(|l| (l.name.as_str(), l.node.as_str())).collect::<Vec<_>>(),
                [("source:x", "a")]
            );
            assert!(store.claim("source:x", "b", 7_001, 3_000).unwrap());
            assert!(!store.claim("source:x", "a", 7_002, 3_000).unwrap(), "a late a does not take it back");
            // A heartbeat does not revive an expired lease of the beating node.
            store.claim("leader", "a", 7_002, 1_000).unwrap();
            assert_eq!(store.heartbeat("a", 9_000, 3_000, 0).unwrap(), 0);
            let nodes = store.nodes(9_000).unwrap();
            assert_eq!(nodes.iter().map(|n| (n.id.as_str(), n.leases)).collect::<Vec<_>>(), [("a", 0), ("b", 1)]);
            store.node_stopped("b", "2026-12-06T09:01:00+08:00").unwrap();
            assert!(store.leases().unwrap().iter().all(|l| l.node != "b"), "a clean stop lets its leases go");
        });
    }

    #[test]
    fn a_lease_let_go_waits_for_the_others_first() {
        crate::store::testing::each_backend("letgo", |store| {
            for s in ["source:a", "source:b", "source:c"] {
                assert!(store.claim(s, "n1", 1_000, 10_000).unwrap());
            }
            assert_eq!(store.leases_held("n1", "source:", 2_000).unwrap(), 3);
            assert_eq!(store.let_go("n1", "source:", 1, 2_000).unwrap(), ["source:c"]);
            assert_eq!(store.leases_held("n1", "source:", 2_000).unwrap(), 2);
            // n1, at its share, leaves it for 5 s; n2, under its share, takes it now.
            assert!(!store.claim_after("source:c", "n1", 2_500, 10_000, 5_000).unwrap());
            assert!(store.claim_after("source:c", "n2", 2_600, 10_000, 0).unwrap());
            // Nobody took source:b's twin: after the grace, n1 may.
            assert_eq!(store.let_go("n1", "source:", 1, 3_000).unwrap(), ["source:b"]);
            assert!(store.claim_after("source:b", "n1", 8_001, 10_000, 5_000).unwrap());
            store.register_node(&info("n1"), 8_000).unwrap();
            store.register_node(&info("n2"), 1_000).unwrap();
            assert_eq!(store.live_nodes(8_500, 4_000).unwrap(), ["n1"]);
        });
    }

    #[test]
    fn an_email_is_claimed_by_one_node() {
        crate::store::testing::each_backend("mailclaim", |store| {
            use crate::store::outbox::{NewMail, Queued, RoundRecord};
            let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").unwrap();
            let mail = NewMail {
                message_id: "<r1.a@x>".into(),
                round: "r1".into(),
                kind: "digest",
                unit: "a".into(),
                sender: "gw@x.cn".into(),
                recipients: vec!["a@x.cn".into()],
                subject: "s".into(),
                message: b"m".to_vec(),
                marks: vec![],
            };
            let (_, generation) = store.mail_history().unwrap();
            let record = RoundRecord { round: "r1".into(), at, day: at.date_naive(), unroutable: 0 };
            let Queued::Done(ids) = store.queue_round(&record, &[mail], generation).unwrap() else { panic!() };
            assert!(store.claim_mail(ids[0], "a", 1_000, 5_000).unwrap());
            assert!(!store.claim_mail(ids[0], "b", 2_000, 6_000).unwrap(), "a is sending it");
            assert!(store.claim_mail(ids[0], "b", 5_001, 9_000).unwrap(), "a's claim ran out");
            store.mail_sent(ids[0], at).unwrap();
            assert!(!store.claim_mail(ids[0], "a", 9_500, 12_000).unwrap(), "sent: nobody claims it");
        });
    }
}
