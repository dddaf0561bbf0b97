//! Who is asking: logins against `[[users]]` (argon2 hashes), sessions,
//! CSRF tokens, login rate limiting, and the trusted reverse-proxy header.
//!
//! Sessions and login attempts live in the store (`store::sessions`), so
//! that any node behind a load balancer serves any request, and a restart
//! keeps officers logged in. The store holds the SHA-256 of each session's
//! token, never the token. A session check is one lookup by that hash; its
//! last use is written back at most every [`TOUCH_EVERY`]. What stays per
//! process: the argon2 turns (at most one check per core), the time of the
//! last pruning, and the tokens of the proxied sessions this process made.
//! The session cookie is HttpOnly and SameSite=Strict (Secure when
//! `base_url` is https). Every POST carries a CSRF token: before login the
//! double-submit cookie `govwatch_csrf`, after login the session's own token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

use crate::config::{Config, UserRole};
use crate::store::Store;
use crate::store::sessions::WebSession;

pub const SESSION_COOKIE: &str = "govwatch_session";
pub const CSRF_COOKIE: &str = "govwatch_csrf";
/// Failed logins allowed per address and per user name within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// A session's last use is written to the store at most this often (a
/// session check is otherwise a read only): a session ends between
/// `session_hours` less this and `session_hours` after its last use.
pub const TOUCH_EVERY: Duration = Duration::from_secs(5);
/// Ended sessions and old attempts are deleted at most this often per
/// process, not on every request.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The user a request is made by (put in the request's extensions).
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: UserRole,
    /// The token this user's forms must carry.
    pub csrf: String,
}

pub struct Auth {
    /// The session this process made for each user the trusted proxy vouches
    /// for: a client behind the proxy that keeps no cookie (a script calling
    /// `/api/`) would otherwise open a session on every request, kept for
    /// `session_hours`. Only the token's hash is stored, so a node can hand
    /// out again only the tokens it made: one proxied session per user and
    /// node. At most one entry per configured user.
    proxied: Mutex<HashMap<String, String>>,
    /// When this process last deleted ended sessions, and old attempts.
    sessions_pruned: Mutex<Option<Instant>>,
    attempts_pruned: Mutex<Option<Instant>>,
    /// Password checks running at once at most (argon2 takes 19 MiB and a
    /// core's worth of time each); more wait their turn.
    checks: Arc<tokio::sync::Semaphore>,
    check_limit: usize,
    /// Password checks running now, and the most ever at once (`/metrics`).
    running: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicU64,
}

impl Default for Auth {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Auth::with_check_limit(cores)
    }
}

/// One login attempt, counted in the store against its address and name
/// until it succeeds.
#[derive(Debug)]
pub struct Attempt {
    keys: [String; 2],
    at_ms: i64,
    id: String,
}

/// Password checks done and how many ran at once at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckStats {
    pub total: u64,
    pub peak: usize,
    pub limit: usize,
}

/// Why a login failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong name or password (never says which).
    Wrong,
    /// Too many failures: wait.
    Throttled,
    /// The store did not answer (the message is for the log).
    Store(String),
}

/// Now, in unix milliseconds (the store's clock for sessions and attempts).
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What the store keys a session by: the SHA-256 of its token, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn role_name(role: UserRole) -> &'static str {
    match role {
        UserRole::Officer => "officer",
        UserRole::Admin => "admin",
    }
}

fn role_of(name: &str) -> Option<UserRole> {
    match name {
        "officer" => Some(UserRole::Officer),
        "admin" => Some(UserRole::Admin),
        _ => None,
    }
}

/// Is it time to prune (and if so, the time is taken)?
fn due(last: &Mutex<Option<Instant>>) -> bool {
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < PRUNE_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

impl Auth {
    /// At most `limit` password checks at once (at least one).
    pub fn with_check_limit(limit: usize) -> Auth {
        let limit = limit.max(1);
        Auth {
            proxied: Mutex::default(),
            sessions_pruned: Mutex::default(),
            attempts_pruned: Mutex::default(),
            checks: Arc::new(tokio::sync::Semaphore::new(limit)),
            check_limit: limit,
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// The session's user, if the token names a live session (not idle for
    /// `idle`); its last use is written back when it is older than
    /// [`TOUCH_EVERY`]. Blocking: the store is read.
    pub fn session(&self, store: &Store, token: &str, idle: Duration) -> anyhow::Result<Option<User>> {
        let now = now_ms();
        self.prune_sessions(store, now, idle);
        let hash = token_hash(token);
        Ok(self.live(store, &hash, now, idle)?.map(|(user, _)| user))
    }

    /// The live session under `hash` and whether it is proxied; touched
    /// when its last use is old.
    fn live(&self, store: &Store, hash: &str, now: i64, idle: Duration) -> anyhow::Result<Option<(User, bool)>> {
        let Some(s) = store.web_session(hash)? else { return Ok(None) };
        let Some(role) = role_of(&s.role) else { return Ok(None) };
        if now.saturating_sub(s.seen_ms) >= ms(idle) {
            return Ok(None);
        }
        if now.saturating_sub(s.seen_ms) >= ms(TOUCH_EVERY) {
            store.touch_web_session(hash, now)?;
        }
        Ok(Some((User { name: s.user, role, csrf: s.csrf }, s.proxied)))
    }

    fn prune_sessions(&self, store: &Store, now: i64, idle: Duration) {
        if due(&self.sessions_pruned)
            && let Err(e) = store.prune_web_sessions(now.saturating_sub(ms(idle)))
        {
            tracing::warn!(error = %format!("{e:#}"), "failed to delete ended console sessions");
        }
    }

    /// Counts an attempt from `ip` for `name` before its password is looked
    /// at: refused when either already has [`MAX_FAILURES`] in the window.
    /// The check and the count are one step in the store, one at a time
    /// across nodes. Blocking: the store is written.
    pub fn attempt(&self, store: &Store, ip: IpAddr, name: &str) -> Result<Attempt, LoginError> {
        let keys = [format!("ip:{ip}"), format!("user:{name}")];
        let now = now_ms();
        let since = now.saturating_sub(ms(FAILURE_WINDOW));
        if due(&self.attempts_pruned)
            && let Err(e) = store.prune_login_attempts(since)
        {
            tracing::warn!(error = %format!("{e:#}"), "failed to delete old login attempts");
        }
        let id = random_token();
        let key_refs = [keys[0].as_str(), keys[1].as_str()];
        match store.count_login_attempt(&key_refs, &id, now, since, MAX_FAILURES as u64) {
            Ok(true) => Ok(Attempt { keys, at_ms: now, id }),
            Ok(false) => Err(LoginError::Throttled),
            Err(e) => Err(LoginError::Store(format!("{e:#}"))),
        }
    }

    /// A turn to check a password: waits while [`Auth::check_limit`] checks run.
    pub async fn check_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.checks.clone().acquire_owned().await.ok()
    }

    /// Checks the password of a counted attempt (holding a [`Auth::check_slot`]):
    /// a session's token, or the attempt stays counted as a failure.
    /// Blocking: argon2, and the store.
    pub fn check(
        &self,
        store: &Store,
        cfg: &Config,
        attempt: Attempt,
        name: &str,
        password: &str,
    ) -> Result<String, LoginError> {
        let user = cfg.users.iter().find(|u| u.name == name && !u.password_hash.is_empty());
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::Relaxed);
        // Verify against a real hash even for an unknown name, so the time
        // taken does not tell which names exist.
        let ok = match user {
            Some(u) => verify(password, &u.password_hash),
            None => {
                let _ = verify(password, dummy_hash());
                false
            }
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        let Some(u) = user.filter(|_| ok) else {
            return Err(LoginError::Wrong);
        };
        let store_err = |e: anyhow::Error| LoginError::Store(format!("{e:#}"));
        let keys = [attempt.keys[0].as_str(), attempt.keys[1].as_str()];
        store.take_back_login_attempt(&keys, attempt.at_ms, &attempt.id).map_err(store_err)?;
        self.open(store, &u.name, u.role).map_err(store_err)
    }

    /// Counts the attempt, waits for a turn, checks the password and opens a
    /// session: its token. Blocks the calling thread while it waits: not for
    /// async code (the console does the same steps, waiting on the event loop).
    pub fn login(
        &self,
        store: &Store,
        cfg: &Config,
        ip: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<String, LoginError> {
        let attempt = self.attempt(store, ip, name)?;
        let _slot = futures::executor::block_on(self.check_slot());
        self.check(store, cfg, attempt, name, password)
    }

    /// How many checks may run at once.
    pub fn check_limit(&self) -> usize {
        self.check_limit
    }

    pub fn check_stats(&self) -> CheckStats {
        CheckStats {
            total: self.total.load(Ordering::Relaxed),
            peak: self.peak.load(Ordering::SeqCst),
            limit: self.check_limit,
        }
    }

    /// A new session for a user whose password was checked: its token.
    pub fn open(&self, store: &Store, name: &str, role: UserRole) -> anyhow::Result<String> {
        self.insert(store, name, role, false).map(|(token, _)| token)
    }

    fn insert(&self, store: &Store, name: &str, role: UserRole, proxied: bool) -> anyhow::Result<(String, User)> {
        let token = random_token();
        let s = WebSession {
            user: name.to_string(),
            role: role_name(role).to_string(),
            csrf: random_token(),
            proxied,
            seen_ms: now_ms(),
        };
        store.open_web_session(&token_hash(&token), &s)?;
        Ok((token, User { name: s.user, role, csrf: s.csrf }))
    }

    /// The session of a user the trusted proxy vouches for: the one this
    /// process made for this user's proxied requests while it is live (and
    /// has the role the configuration gives now), else a new one.
    pub fn open_proxied(&self, store: &Store, name: &str, role: UserRole, idle: Duration) -> anyhow::Result<String> {
        self.proxied_session(store, name, role, idle).map(|(token, _)| token)
    }

    /// [`Auth::open_proxied`]'s token and its user.
    pub fn proxied_session(
        &self,
        store: &Store,
        name: &str,
        role: UserRole,
        idle: Duration,
    ) -> anyhow::Result<(String, User)> {
        let now = now_ms();
        self.prune_sessions(store, now, idle);
        let cached = self.proxied.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned();
        if let Some(token) = cached
            && let Some((user, true)) = self.live(store, &token_hash(&token), now, idle)?
            && user.role == role
            && user.name == name
        {
            return Ok((token, user));
        }
        let (token, user) = self.insert(store, name, role, true)?;
        self.proxied.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), token.clone());
        Ok((token, user))
    }

    /// Ends the session, on every node. Blocking: the store is written.
    pub fn logout(&self, store: &Store, token: &str) -> anyhow::Result<()> {
        self.proxied.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, t| t != token);
        store.end_web_session(&token_hash(token))?;
        Ok(())
    }
}
/// The argon2id PHC string of `password` (what `govwatch user add` prints).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for the salt: {e}"))?;
    let salt = argon2::password_hash::SaltString::encode_b64(&salt)
        .map_err(|e| anyhow::anyhow!("cannot encode the salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string())
}

pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("no such user").unwrap_or_default())
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    // The OS's randomness failing is not survivable for a login server.
    getrandom::fill(&mut b).expect("the operating system's random number generator failed");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && !a.is_empty() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Is the peer a proxy whose user header is believed?
pub fn trusted_proxy(cfg: &Config, ip: IpAddr) -> bool {
    cfg.web.trusted_proxies.iter().filter_map(|p| p.parse::<IpAddr>().ok()).any(|p| p == ip)
}

/// Reads one cookie from a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// A `Set-Cookie` value for our cookies.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;
    use crate::store::db::params;
    use crate::store::testing::each_backend;

    fn cfg_with(name: &str, password: &str) -> Config {
        let mut cfg = Config::default();
        cfg.users.push(UserConfig {
            name: name.into(),
            password_hash: hash_password(password).unwrap(),
            role: UserRole::Officer,
        });
        cfg
    }

    /// Moves a session's last use `by` into the past, as if time had passed.
    fn age(store: &Store, token: &str, by: Duration) {
        let hash = token_hash(token);
        store
            .read(|db| {
                db.execute(
                    "UPDATE web_sessions SET seen_ms = seen_ms - ?2 WHERE token_hash = ?1",
                    params![hash, ms(by)],
                )
            })
            .unwrap();
    }

    fn seen_ms(store: &Store, token: &str) -> i64 {
        store.web_session(&token_hash(token)).unwrap().unwrap().seen_ms
    }

    #[test]
    fn a_right_password_opens_a_session_and_a_wrong_one_does_not() {
        let cfg = cfg_with("zhiban", "对的密码");
        each_backend("auth", |store| {
            let auth = Auth::default();
            let ip: IpAddr = "127.0.0.1".parse().unwrap();
            assert_eq!(auth.login(store, &cfg, ip, "zhiban", "wrong"), Err(LoginError::Wrong));
            assert_eq!(auth.login(store, &cfg, ip, "nobody", "对的密码"), Err(LoginError::Wrong));
            let token = auth.login(store, &cfg, ip, "zhiban", "对的密码").unwrap();
            let user = auth.session(store, &token, Duration::from_secs(60)).unwrap().unwrap();
            assert_eq!(user.name, "zhiban");
            assert_eq!(user.csrf.len(), 64);
            assert!(auth.session(store, "forged", Duration::from_secs(60)).unwrap().is_none());
            auth.logout(store, &token).unwrap();
            assert!(auth.session(store, &token, Duration::from_secs(60)).unwrap().is_none());
        });
    }

    #[test]
    fn the_store_holds_the_tokens_hash_never_the_token() {
        each_backend("auth", |store| {
            let token = Auth::default().open(store, "zhiban", UserRole::Officer).unwrap();
            assert_eq!(token_hash(&token).len(), 64);
            assert_ne!(token_hash(&token), token);
            assert!(store.web_session(&token).unwrap().is_none());
            assert!(store.web_session(&token_hash(&token)).unwrap().is_some());
            let holding: u64 = store
                .read(|db| {
                    db.query_value(
                        "SELECT COUNT(*) FROM web_sessions WHERE token_hash = ?1 OR user_name = ?1 OR csrf = ?1",
                        params![token],
                    )
                })
                .unwrap();
            assert_eq!(holding, 0);
        });
    }

    #[test]
    fn proxied_requests_share_one_session_per_user_until_it_ends() {
        each_backend("auth", |store| {
            let auth = Auth::default();
            let idle = Duration::from_secs(60);
            let a = auth.open_proxied(store, "zhiban", UserRole::Officer, idle).unwrap();
            for _ in 0..1000 {
                assert_eq!(auth.open_proxied(store, "zhiban", UserRole::Officer, idle).unwrap(), a);
            }
            assert_eq!(store.web_session_count().unwrap(), 1);
            let b = auth.open_proxied(store, "guanli", UserRole::Admin, idle).unwrap();
            assert_ne!(a, b);
            assert_eq!(auth.session(store, &b, idle).unwrap().unwrap().role, UserRole::Admin);
            // A role changed in the configuration gets a session of its own.
            let c = auth.open_proxied(store, "zhiban", UserRole::Admin, idle).unwrap();
            assert_ne!(a, c);
            assert_eq!(auth.session(store, &c, idle).unwrap().unwrap().role, UserRole::Admin);
            // After a logout the next proxied request opens a new session,
            // also when the logout was on another node.
            auth.logout(store, &c).unwrap();
            assert!(auth.session(store, &c, idle).unwrap().is_none());
            let d = auth.open_proxied(store, "zhiban", UserRole::Admin, idle).unwrap();
            assert_ne!(c, d);
            Auth::default().logout(store, &d).unwrap();
            assert_ne!(auth.open_proxied(store, "zhiban", UserRole::Admin, idle).unwrap(), d);
            // Logins by password always open their own.
            let e = auth.open(store, "zhiban", UserRole::Admin).unwrap();
            assert_ne!(auth.open_proxied(store, "zhiban", UserRole::Admin, idle).unwrap(), e);
        });
    }

    #[test]
    fn an_idle_session_ends_even_between_prunings() {
        each_backend("auth", |store| {
            let auth = Auth::default();
            let token = auth.open(store, "zhiban", UserRole::Officer).unwrap();
            assert!(auth.session(store, &token, Duration::from_secs(60)).unwrap().is_some());
            std::thread::sleep(Duration::from_millis(20));
            // The pruning just ran (within PRUNE_EVERY): the idle check is per session.
            assert!(auth.session(store, &token, Duration::from_millis(10)).unwrap().is_none());
            let p = auth.open_proxied(store, "zhiban", UserRole::Officer, Duration::from_secs(60)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            assert_ne!(auth.open_proxied(store, "zhiban", UserRole::Officer, Duration::from_millis(10)).unwrap(), p);
        });
    }

    #[test]
    fn ended_sessions_are_deleted_at_most_once_a_minute_per_process() {
        each_backend("auth", |store| {
            let auth = Auth::default();
            let idle = Duration::from_secs(3600);
            let live = auth.open(store, "zhiban", UserRole::Officer).unwrap();
            let old = auth.open(store, "zhiban", UserRole::Officer).unwrap();
            age(store, &old, Duration::from_secs(7200));
            // The first check prunes: the old session's row is gone.
            assert!(auth.session(store, &live, idle).unwrap().is_some());
            assert_eq!(store.web_session_count().unwrap(), 1);
            // Within the minute the next checks do not walk the table again:
            // an ended session stays stored, though it is refused.
            let later = auth.open(store, "zhiban", UserRole::Officer).unwrap();
            age(store, &later, Duration::from_secs(7200));
            assert!(auth.session(store, &live, idle).unwrap().is_some());
            assert!(auth.session(store, &later, idle).unwrap().is_none());
            assert_eq!(store.web_session_count().unwrap(), 2);
        });
    }

    #[test]
    fn a_sessions_last_use_is_written_back_only_every_few_seconds() {
        each_backend("auth", |store| {
            let auth = Auth::default();
            let idle = Duration::from_secs(3600);
            let token = auth.open(store, "zhiban", UserRole::Officer).unwrap();
            let opened = seen_ms(store, &token);
            std::thread::sleep(Duration::from_millis(5));
            for _ in 0..20 {
                assert!(auth.session(store, &token, idle).unwrap().is_some());
            }
            assert_eq!(seen_ms(store, &token), opened, "a check within TOUCH_EVERY is a read only");
            age(store, &token, TOUCH_EVERY);
            let aged = seen_ms(store, &token);
            assert!(auth.session(store, &token, idle).unwrap().is_some());
            let touched = seen_ms(store, &token);
            assert!(touched >= aged + ms(TOUCH_EVERY), "{aged} → {touched}");
            // An active session stays: used within the idle time, again and again.
            for _ in 0..3 {
                age(store, &token, idle - Duration::from_secs(1));
                assert!(auth.session(store, &token, idle).unwrap().is_some());
            }
        });
    }

    #[test]
    fn two_nodes_on_one_store_share_sessions_logouts_and_failures() {
        let cfg = cfg_with("zhiban", "pw");
        each_backend("auth", |store| {
            let (a, b) = (Auth::default(), Auth::default());
            let idle = Duration::from_secs(60);
            let ip: IpAddr = "10.3.0.1".parse().unwrap();
            // Opened on one, valid on the other (and on a node started later).
            let token = a.login(store, &cfg, ip, "zhiban", "pw").unwrap();
            let on_b = b.session(store, &token, idle).unwrap().unwrap();
            assert_eq!(on_b.name, "zhiban");
            assert_eq!(on_b.csrf, a.session(store, &token, idle).unwrap().unwrap().csrf);
            assert!(Auth::default().session(store, &token, idle).unwrap().is_some());
            // Logout on one ends it on both.
            b.logout(store, &token).unwrap();
            assert!(a.session(store, &token, idle).unwrap().is_none());
            assert!(b.session(store, &token, idle).unwrap().is_none());
            // Failures counted on one lock the name on the other.
            for i in 0..MAX_FAILURES {
                let node = if i % 2 == 0 { &a } else { &b };
                let ip: IpAddr = format!("10.3.1.{i}").parse().unwrap();
                assert_eq!(node.login(store, &cfg, ip, "zhiban", "guess"), Err(LoginError::Wrong));
            }
            let elsewhere: IpAddr = "10.3.2.1".parse().unwrap();
            assert_eq!(b.login(store, &cfg, elsewhere, "zhiban", "pw"), Err(LoginError::Throttled));
            assert_eq!(a.login(store, &cfg, elsewhere, "zhiban", "pw"), Err(LoginError::Throttled));
        });
    }

    #[test]
    fn five_failures_lock_the_name_out_even_with_the_right_password() {
        let cfg = cfg_with("zhiban", "pw");
        each_backend("auth", |store| {
            let auth = Auth::default();
            for i in 0..MAX_FAILURES {
                let ip: IpAddr = format!("10.0.0.{i}").parse().unwrap();
                assert_eq!(auth.login(store, &cfg, ip, "zhiban", "guess"), Err(LoginError::Wrong));
            }
            let ip: IpAddr = "10.0.1.1".parse().unwrap();
            assert_eq!(auth.login(store, &cfg, ip, "zhiban", "pw"), Err(LoginError::Throttled));
        });
    }

    #[test]
    fn guesses_sent_at_once_are_counted_before_any_is_checked() {
        let cfg = cfg_with("zhiban", "pw");
        each_backend("auth", |store| {
            // Two nodes, each checking at most two at once.
            let nodes = [Auth::with_check_limit(2), Auth::with_check_limit(2)];
            let ip: IpAddr = "10.0.0.1".parse().unwrap();
            let results: Vec<_> = std::thread::scope(|s| {
                let guesses: Vec<_> = (0..50)
                    .map(|i| {
                        let (node, cfg) = (&nodes[i % 2], &cfg);
                        s.spawn(move || node.login(store, cfg, ip, "zhiban", "guess"))
                    })
                    .collect();
                guesses.into_iter().map(|g| g.join().unwrap()).collect()
            });
            let wrong = results.iter().filter(|r| **r == Err(LoginError::Wrong)).count();
            assert_eq!(wrong, MAX_FAILURES, "only the first {MAX_FAILURES} are checked: {results:?}");
            assert_eq!(results.len() - wrong, results.iter().filter(|r| **r == Err(LoginError::Throttled)).count());
            let checked: u64 = nodes.iter().map(|n| n.check_stats().total).sum();
            assert_eq!(checked, MAX_FAILURES as u64);
            let elsewhere: IpAddr = "10.0.0.2".parse().unwrap();
            assert_eq!(nodes[0].login(store, &cfg, elsewhere, "zhiban", "pw"), Err(LoginError::Throttled));
        });
    }

    #[test]
    fn password_checks_run_at_most_the_limit_at_once() {
        let cfg = cfg_with("zhiban", "pw");
        each_backend("auth", |store| {
            let auth = Auth::with_check_limit(2);
            std::thread::scope(|s| {
                for i in 0..24 {
                    let (auth, cfg) = (&auth, &cfg);
                    s.spawn(move || {
                        let ip: IpAddr = format!("10.1.0.{i}").parse().unwrap();
                        assert_eq!(auth.login(store, cfg, ip, &format!("name{i}"), "guess"), Err(LoginError::Wrong));
                    });
                }
            });
            let stats = auth.check_stats();
            assert_eq!(stats.total, 24);
            assert!(stats.peak >= 1 && stats.peak <= 2, "{stats:?}");
            // A success takes its attempt back: four failures and a success leave room.
            let ip: IpAddr = "10.2.0.1".parse().unwrap();
            for _ in 0..MAX_FAILURES - 1 {
                assert_eq!(auth.login(store, &cfg, ip, "zhiban", "guess"), Err(LoginError::Wrong));
            }
            assert!(auth.login(store, &cfg, ip, "zhiban", "pw").is_ok());
            assert!(auth.login(store, &cfg, ip, "zhiban", "pw").is_ok());
        });
    }

    #[test]
    fn tokens_compare_whole_and_cookies_parse() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("", ""));
        assert_eq!(cookie("a=1; govwatch_session=xyz; b=2", SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie("a=1", SESSION_COOKIE), None);
        assert!(set_cookie(SESSION_COOKIE, "t", true, None).contains("HttpOnly; SameSite=Strict; Secure"));
    }
}
