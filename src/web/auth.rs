//! Who is asking: logins against `[[users]]` (argon2 hashes), sessions,
//! CSRF tokens, login rate limiting, and the trusted reverse-proxy header.
//!
//! Sessions live in memory: a restart asks officers to log in again, which
//! is cheaper than keeping bearer tokens on disk next to citizens' data. The
//! session cookie is HttpOnly and SameSite=Strict (Secure when `base_url` is
//! https). Every POST carries a CSRF token: before login the double-submit
//! cookie `govwatch_csrf`, after login the session's own token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

use crate::config::{Config, UserRole};

pub const SESSION_COOKIE: &str = "govwatch_session";
pub const CSRF_COOKIE: &str = "govwatch_csrf";
/// Failed logins allowed per address and per user name within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The user a request is made by (put in the request's extensions).
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: UserRole,
    /// The token this user's forms must carry.
    pub csrf: String,
}

#[derive(Debug, Clone)]
struct Session {
    user: String,
    role: UserRole,
    csrf: String,
    last_seen: Instant,
}

pub struct Auth {
    sessions: Mutex<Sessions>,
    /// Attempts per `ip:` and `user:` key within [`FAILURE_WINDOW`]: each is
    /// counted when it starts (before its password is checked) and taken
    /// back only when it succeeds, so that guesses sent at once cannot all
    /// pass the limit before any of them has failed.
    failures: Mutex<Failures>,
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

/// Recent attempts by `ip:` and `user:` key.
#[derive(Default)]
struct Failures {
    by_key: HashMap<String, Vec<Instant>>,
    /// When keys with no recent attempt were last dropped (at most every
    /// [`PRUNE_EVERY`], not on every attempt: a spray of names from many
    /// addresses must neither grow the table for good nor make each attempt
    /// walk all of it).
    pruned: Option<Instant>,
}

/// One login attempt, counted against its address and name until it succeeds.
#[derive(Debug)]
pub struct Attempt {
    keys: [String; 2],
    at: Instant,
}

/// Password checks done and how many ran at once at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckStats {
    pub total: u64,
    pub peak: usize,
    pub limit: usize,
}

/// Live sessions, plus the one session per user that the trusted proxy's
/// requests share: a client behind the proxy that keeps no cookie (a script
/// calling `/api/`) would otherwise open a session on every request, kept
/// for `session_hours`.
#[derive(Default)]
struct Sessions {
    by_token: HashMap<String, Session>,
    proxied: HashMap<String, String>,
    /// When idle sessions were last dropped (at most every [`PRUNE_EVERY`],
    /// not on every request).
    pruned: Option<Instant>,
}

const PRUNE_EVERY: Duration = Duration::from_secs(60);

impl Sessions {
    fn prune(&mut self, now: Instant, idle: Duration) {
        if self.pruned.is_some_and(|t| now.duration_since(t) < PRUNE_EVERY) {
            return;
        }
        self.pruned = Some(now);
        self.by_token.retain(|_, s| now.duration_since(s.last_seen) < idle);
        let live = &self.by_token;
        self.proxied.retain(|_, token| live.contains_key(token));
    }

    fn insert(&mut self, name: &str, role: UserRole) -> String {
        let token = random_token();
        let s = Session { user: name.to_string(), role, csrf: random_token(), last_seen: Instant::now() };
        self.by_token.insert(token.clone(), s);
        token
    }
}

/// Why a login failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong name or password (never says which).
    Wrong,
    /// Too many failures: wait.
    Throttled,
}

impl Auth {
    /// The session's user, if the token names a live session (its idle time
    /// is reset).
    pub fn session(&self, token: &str, idle: Duration) -> Option<User> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.prune(now, idle);
        let s = sessions.by_token.get_mut(token).filter(|s| now.duration_since(s.last_seen) < idle)?;
        s.last_seen = now;
        Some(User { name: s.user.clone(), role: s.role, csrf: s.csrf.clone() })
    }

    /// At most `limit` password checks at once (at least one).
    pub fn with_check_limit(limit: usize) -> Auth {
        let limit = limit.max(1);
        Auth {
            sessions: Mutex::default(),
            failures: Mutex::default(),
            checks: Arc::new(tokio::sync::Semaphore::new(limit)),
            check_limit: limit,
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// Counts an attempt from `ip` for `name` before its password is looked
    /// at: refused when either already has [`MAX_FAILURES`] in the window.
    /// The check and the count are one step under one lock.
    pub fn attempt(&self, ip: IpAddr, name: &str) -> Result<Attempt, LoginError> {
        let keys = [format!("ip:{ip}"), format!("user:{name}")];
        let now = Instant::now();
        let recent = |t: &Instant| now.duration_since(*t) < FAILURE_WINDOW;
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.pruned.is_none_or(|t| now.duration_since(t) >= PRUNE_EVERY) {
            f.pruned = Some(now);
            f.by_key.retain(|_, list| {
                list.retain(recent);
                !list.is_empty()
            });
        }
        for k in &keys {
            if let Some(list) = f.by_key.get_mut(k) {
                list.retain(recent);
            }
        }
        if keys.iter().any(|k| f.by_key.get(k).map_or(0, Vec::len) >= MAX_FAILURES) {
            return Err(LoginError::Throttled);
        }
        for k in &keys {
            f.by_key.entry(k.clone()).or_default().push(now);
        }
        Ok(Attempt { keys, at: now })
    }

    /// A turn to check a password: waits while [`Auth::check_limit`] checks run.
    pub async fn check_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.checks.clone().acquire_owned().await.ok()
    }

    /// Checks the password of a counted attempt (holding a [`Auth::check_slot`]):
    /// a session's token, or the attempt stays counted as a failure.
    pub fn check(&self, cfg: &Config, attempt: Attempt, name: &str, password: &str) -> Result<String, LoginError> {
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
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for k in &attempt.keys {
            if let Some(list) = f.by_key.get_mut(k)
                && let Some(i) = list.iter().position(|t| *t == attempt.at)
            {
                list.swap_remove(i);
            }
        }
        drop(f);
        Ok(self.open(&u.name, u.role))
    }

    /// Counts the attempt, waits for a turn, checks the password and opens a
    /// session: its token. Blocks the calling thread while it waits: not for
    /// async code (the console does the same steps, waiting on the event loop).
    pub fn login(&self, cfg: &Config, ip: IpAddr, name: &str, password: &str) -> Result<String, LoginError> {
        let attempt = self.attempt(ip, name)?;
        let _slot = futures::executor::block_on(self.check_slot());
        self.check(cfg, attempt, name, password)
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
    pub fn open(&self, name: &str, role: UserRole) -> String {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(name, role)
    }

    /// The session of a user the trusted proxy vouches for: the one this
    /// user's proxied requests share while it is live (and has the role the
    /// configuration gives now), else a new one.
    pub fn open_proxied(&self, name: &str, role: UserRole, idle: Duration) -> String {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let live = sessions.proxied.get(name).filter(|t| {
            sessions.by_token.get(*t).is_some_and(|s| s.role == role && now.duration_since(s.last_seen) < idle)
        });
        if let Some(token) = live {
            return token.clone();
        }
        let token = sessions.insert(name, role);
        sessions.proxied.insert(name.to_string(), token.clone());
        token
    }

    pub fn logout(&self, token: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.by_token.remove(token);
        sessions.proxied.retain(|_, t| t != token);
    }

    /// How many sessions are held (live or not yet pruned).
    #[cfg(test)]
    fn session_count(&self) -> usize {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).by_token.len()
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

    fn cfg_with(name: &str, password: &str) -> Config {
        let mut cfg = Config::default();
        cfg.users.push(UserConfig {
            name: name.into(),
            password_hash: hash_password(password).unwrap(),
            role: UserRole::Officer,
        });
        cfg
    }

    #[test]
    fn a_right_password_opens_a_session_and_a_wrong_one_does_not() {
        let cfg = cfg_with("zhiban", "对的密码");
        let auth = Auth::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(auth.login(&cfg, ip, "zhiban", "wrong"), Err(LoginError::Wrong));
        assert_eq!(auth.login(&cfg, ip, "nobody", "对的密码"), Err(LoginError::Wrong));
        let token = auth.login(&cfg, ip, "zhiban", "对的密码").unwrap();
        let user = auth.session(&token, Duration::from_secs(60)).unwrap();
        assert_eq!(user.name, "zhiban");
        assert_eq!(user.csrf.len(), 64);
        assert!(auth.session("forged", Duration::from_secs(60)).is_none());
        auth.logout(&token);
        assert!(auth.session(&token, Duration::from_secs(60)).is_none());
    }

    #[test]
    fn proxied_requests_share_one_session_per_user_until_it_ends() {
        let auth = Auth::default();
        let idle = Duration::from_secs(60);
        let a = auth.open_proxied("zhiban", UserRole::Officer, idle);
        for _ in 0..1000 {
            assert_eq!(auth.open_proxied("zhiban", UserRole::Officer, idle), a);
        }
        assert_eq!(auth.session_count(), 1);
        let b = auth.open_proxied("guanli", UserRole::Admin, idle);
        assert_ne!(a, b);
        assert_eq!(auth.session(&b, idle).unwrap().role, UserRole::Admin);
        // A role changed in the configuration gets a session of its own.
        let c = auth.open_proxied("zhiban", UserRole::Admin, idle);
        assert_ne!(a, c);
        assert_eq!(auth.session(&c, idle).unwrap().role, UserRole::Admin);
        // After a logout the next proxied request opens a new session.
        auth.logout(&c);
        assert!(auth.session(&c, idle).is_none());
        let d = auth.open_proxied("zhiban", UserRole::Admin, idle);
        assert_ne!(c, d);
        // Logins by password always open their own.
        assert_ne!(auth.open("zhiban", UserRole::Admin), d);
    }

    #[test]
    fn an_idle_session_ends_even_between_prunings() {
        let auth = Auth::default();
        let token = auth.open("zhiban", UserRole::Officer);
        assert!(auth.session(&token, Duration::from_secs(60)).is_some());
        std::thread::sleep(Duration::from_millis(20));
        // The pruning just ran (within PRUNE_EVERY): the idle check is per session.
        assert!(auth.session(&token, Duration::from_millis(10)).is_none());
        let p = auth.open_proxied("zhiban", UserRole::Officer, Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
        assert_ne!(auth.open_proxied("zhiban", UserRole::Officer, Duration::from_millis(10)), p);
    }

    #[test]
    fn five_failures_lock_the_name_out_even_with_the_right_password() {
        let cfg = cfg_with("zhiban", "pw");
        let auth = Auth::default();
        for i in 0..MAX_FAILURES {
            let ip: IpAddr = format!("10.0.0.{i}").parse().unwrap();
            assert_eq!(auth.login(&cfg, ip, "zhiban", "guess"), Err(LoginError::Wrong));
        }
        let ip: IpAddr = "10.0.1.1".parse().unwrap();
        assert_eq!(auth.login(&cfg, ip, "zhiban", "pw"), Err(LoginError::Throttled));
    }

    #[test]
    fn guesses_sent_at_once_are_counted_before_any_is_checked() {
        let cfg = cfg_with("zhiban", "pw");
        let auth = Auth::with_check_limit(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let results: Vec<_> = std::thread::scope(|s| {
            let guesses: Vec<_> = (0..50).map(|_| s.spawn(|| auth.login(&cfg, ip, "zhiban", "guess"))).collect();
            guesses.into_iter().map(|g| g.join().unwrap()).collect()
        });
        let wrong = results.iter().filter(|r| **r == Err(LoginError::Wrong)).count();
        assert_eq!(wrong, MAX_FAILURES, "only the first {MAX_FAILURES} are checked: {results:?}");
        assert_eq!(results.len() - wrong, results.iter().filter(|r| **r == Err(LoginError::Throttled)).count());
        assert_eq!(auth.check_stats().total, MAX_FAILURES as u64);
        let elsewhere: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(auth.login(&cfg, elsewhere, "zhiban", "pw"), Err(LoginError::Throttled));
    }

    #[test]
    fn password_checks_run_at_most_the_limit_at_once() {
        let cfg = cfg_with("zhiban", "pw");
        let auth = Auth::with_check_limit(2);
        std::thread::scope(|s| {
            for i in 0..24 {
                let (auth, cfg) = (&auth, &cfg);
                s.spawn(move || {
                    let ip: IpAddr = format!("10.1.0.{i}").parse().unwrap();
                    assert_eq!(auth.login(cfg, ip, &format!("name{i}"), "guess"), Err(LoginError::Wrong));
                });
            }
        });
        let stats = auth.check_stats();
        assert_eq!(stats.total, 24);
        assert!(stats.peak >= 1 && stats.peak <= 2, "{stats:?}");
        // A success takes its attempt back: four failures and a success leave room.
        let ip: IpAddr = "10.2.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            assert_eq!(auth.login(&cfg, ip, "zhiban", "guess"), Err(LoginError::Wrong));
        }
        assert!(auth.login(&cfg, ip, "zhiban", "pw").is_ok());
        assert!(auth.login(&cfg, ip, "zhiban", "pw").is_ok());
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
