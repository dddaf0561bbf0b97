//! One SQL surface over the two backends: SQLite (embedded, the default)
//! and PostgreSQL (a database server several govwatch nodes share).
//!
//! The store's modules write their SQL once, in the dialect both understand:
//! `?N` placeholders (rewritten to `$N` for PostgreSQL), `INSERT … ON
//! CONFLICT … DO UPDATE/NOTHING`, `RETURNING`, no SQLite-only functions.
//! Values cross as [`Value`]; rows are read with [`Row::get`] into any
//! [`FromCol`] type, whatever integer or text type the backend hands out.
//!
//! **Transactions.** [`Store::write`](super::Store::write) runs a closure in
//! one write transaction. On SQLite it begins IMMEDIATE (one writer at a
//! time). On PostgreSQL it first takes a transaction-level advisory lock, so
//! write transactions of every node run one at a time too: the store-wide
//! item revision is taken inside that lock, and a transaction holding
//! revision 41 has committed before any other can take 42 — revisions become
//! visible in order, and "index everything above N" never skips one.
//! [`Store::read`](super::Store::read) runs statements outside a write lock.
//!
//! **PostgreSQL from blocking code.** The store's API is synchronous (the
//! daemon calls it from its tasks as it did SQLite). The connections' socket
//! IO runs on a small tokio runtime the pool owns; a query is driven from the
//! calling thread with `futures::executor::block_on`, which, unlike tokio's
//! own `block_on`, may be called inside another runtime's task.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Anything that can be bound to a statement.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_to_value!(i64, i32, i16, u32, u16, u8);

impl ToValue for u64 {
    fn to_value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToValue for usize {
    fn to_value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(*self as i64)
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// The values of a statement as an owned row, for `execute_each`: `row![a, b]`.
macro_rules! row {
    ($($x:expr),* $(,)?) => {
        vec![$($crate::store::db::ToValue::to_value(&$x)),*]
    };
}
pub(crate) use row;

/// The values of a statement: `params![a, b, c]`.
macro_rules! params {
    () => { &[] as &[$crate::store::db::Value] };
    ($($x:expr),+ $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$x)),+] as &[$crate::store::db::Value]
    };
}
pub(crate) use params;

/// One column of a row as the backend gave it.
#[derive(Debug, Clone, Copy)]
pub enum Col<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A Rust type a column can be read into.
pub trait FromCol: Sized {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String>;
}

fn wrong(c: Col<'_>, want: &str) -> String {
    let got = match c {
        Col::Null => "NULL".to_string(),
        Col::Int(v) => format!("the integer {v}"),
        Col::Real(v) => format!("the number {v}"),
        Col::Text(s) => format!("the text {:?}", s.chars().take(40).collect::<String>()),
        Col::Blob(b) => format!("{} bytes", b.len()),
    };
    format!("expected {want}, found {got}")
}

impl FromCol for i64 {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Int(v) => Ok(v),
            _ => Err(wrong(c, "an integer")),
        }
    }
}
macro_rules! int_from_col {
    ($($t:ty),*) => {$(
        impl FromCol for $t {
            fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
                let v = i64::from_col(c)?;
                <$t>::try_from(v).map_err(|_| format!("the integer {v} is out of range"))
            }
        }
    )*};
}
int_from_col!(i32, u32, u64, usize, u16, u8);

impl FromCol for bool {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        Ok(i64::from_col(c)? != 0)
    }
}
impl FromCol for f64 {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Real(v) => Ok(v),
            Col::Int(v) => Ok(v as f64),
            _ => Err(wrong(c, "a number")),
        }
    }
}
impl FromCol for String {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Text(s) => Ok(s.to_owned()),
            _ => Err(wrong(c, "text")),
        }
    }
}
impl FromCol for Vec<u8> {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Blob(b) => Ok(b.to_vec()),
            Col::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => Err(wrong(c, "bytes")),
        }
    }
}
impl<T: FromCol> FromCol for Option<T> {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Null => Ok(None),
            c => T::from_col(c).map(Some),
        }
    }
}

/// A row of a result.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Pg(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// How many columns the row has.
    pub fn len(&self) -> usize {
        match self {
            Row::Sqlite(r) => r.as_ref().column_count(),
            Row::Pg(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Column `i` written as text, whatever its type (`None` for NULL).
    pub fn text(&self, i: usize) -> Result<Option<String>> {
        let c = match self {
            Row::Sqlite(r) => match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => Col::Null,
                rusqlite::types::ValueRef::Integer(v) => Col::Int(v),
                rusqlite::types::ValueRef::Real(v) => Col::Real(v),
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                    return Ok(Some(String::from_utf8_lossy(t).into_owned()));
                }
            },
            Row::Pg(r) => pg::col(r, i)?,
        };
        Ok(match c {
            Col::Null => None,
            Col::Int(v) => Some(v.to_string()),
            Col::Real(v) => Some(v.to_string()),
            Col::Text(s) => Some(s.to_string()),
            Col::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        })
    }

    /// Column `i` (from 0) as a `T`.
    pub fn get<T: FromCol>(&self, i: usize) -> Result<T> {
        let got = match self {
            Row::Sqlite(r) => {
                use rusqlite::types::ValueRef;
                let v = r.get_ref(i)?;
                let c = match v {
                    ValueRef::Null => Col::Null,
                    ValueRef::Integer(v) => Col::Int(v),
                    ValueRef::Real(v) => Col::Real(v),
                    ValueRef::Text(t) => Col::Text(std::str::from_utf8(t).map_err(|e| {
                        anyhow!("column {} ({}) is not UTF-8: {e}", i, r.as_ref().column_name(i).unwrap_or("?"))
                    })?),
                    ValueRef::Blob(b) => Col::Blob(b),
                };
                T::from_col(c).map_err(|e| (e, r.as_ref().column_name(i).unwrap_or("?").to_string()))
            }
            Row::Pg(r) => {
                let c = pg::col(r, i)?;
                T::from_col(c).map_err(|e| (e, r.columns().get(i).map(|c| c.name().to_string()).unwrap_or_default()))
            }
        };
        got.map_err(|(e, name)| anyhow!("column {i} ({name}): {e}"))
    }
}

/// Which database a [`Db`] talks to; for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection, or a transaction on one, of either backend.
pub enum Db<'a> {
    Sqlite(&'a rusqlite::Connection),
    Pg(&'a mut pg::Conn),
}

impl Db<'_> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Pg(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        match self {
            Db::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).with_context(|| sql_context(sql))?;
                let n = stmt.execute(rusqlite::params_from_iter(params.iter())).with_context(|| sql_context(sql))?;
                Ok(n as u64)
            }
            Db::Pg(c) => c.execute(sql, params),
        }
    }

    /// Runs statements without values, one after another (schema changes).
    pub fn execute_batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(c) => c.batch(sql),
        }
    }

    /// Every row of a query, each read by `f`.
    pub fn query_map<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Db::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).with_context(|| sql_context(sql))?;
                let mut rows =
                    stmt.query(rusqlite::params_from_iter(params.iter())).with_context(|| sql_context(sql))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r))?);
                }
                Ok(out)
            }
            Db::Pg(c) => {
                let rows = c.query(sql, params)?;
                rows.iter().map(|r| f(&Row::Pg(r))).collect()
            }
        }
    }

    /// One statement run once for each set of values (pipelined on
    /// PostgreSQL: about one round trip for all), each answer's rows read by `f`.
    pub fn query_each<T>(
        &mut self,
        sql: &str,
        rows: &[Vec<Value>],
        mut f: impl FnMut(usize, &Row<'_>) -> Result<T>,
    ) -> Result<Vec<Vec<T>>> {
        match self {
            Db::Sqlite(_) => {
                let mut out = Vec::with_capacity(rows.len());
                for (i, params) in rows.iter().enumerate() {
                    out.push(self.query_map(sql, params, |r| f(i, r))?);
                }
                Ok(out)
            }
            Db::Pg(c) => {
                let answers = c.query_each(sql, rows)?;
                answers.iter().enumerate().map(|(i, rows)| rows.iter().map(|r| f(i, &Row::Pg(r))).collect()).collect()
            }
        }
    }

    /// One statement run once for each set of values, pipelined on PostgreSQL.
    pub fn execute_each(&mut self, sql: &str, rows: &[Vec<Value>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Db::Sqlite(_) => {
                for params in rows {
                    self.execute(sql, params)?;
                }
                Ok(())
            }
            Db::Pg(c) => c.query_each(sql, rows).map(|_| ()),
        }
    }

    /// The first row of a query, if any.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Db::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).with_context(|| sql_context(sql))?;
                let mut rows =
                    stmt.query(rusqlite::params_from_iter(params.iter())).with_context(|| sql_context(sql))?;
                match rows.next()? {
                    Some(r) => Ok(Some(f(&Row::Sqlite(r))?)),
                    None => Ok(None),
                }
            }
            Db::Pg(c) => {
                let rows = c.query(sql, params)?;
                rows.first().map(|r| f(&Row::Pg(r))).transpose()
            }
        }
    }

    /// The first row of a query, which must have one.
    pub fn query_row<T>(&mut self, sql: &str, params: &[Value], f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.query_opt(sql, params, f)?.ok_or_else(|| anyhow!("no row: {}", sql_context(sql)))
    }

    /// The first column of the first row.
    pub fn query_value<T: FromCol>(&mut self, sql: &str, params: &[Value]) -> Result<T> {
        self.query_row(sql, params, |r| r.get(0))
    }
}

fn sql_context(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = one_line.chars().take(120).collect();
    format!("SQL: {short}")
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// `?N` and `?` placeholders as PostgreSQL writes them (`$N`), outside quotes.
pub fn to_postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1usize;
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The PostgreSQL side: a small pool of tokio-postgres clients, their
/// statements prepared once per connection.
pub mod pg {
    use super::*;
    use std::error::Error as StdError;
    use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

    /// Advisory-lock keys (one namespace: the first key).
    pub const LOCK_NAMESPACE: i32 = 0x676f_7677; // "govw"
    /// Every write transaction: one at a time across nodes (see the module docs).
    pub const LOCK_WRITE: i32 = 1;
    /// Schema migrations.
    pub const LOCK_MIGRATE: i32 = 2;

    /// Statements prepared on one connection, at most this many (then forgotten and prepared again).
    const STATEMENT_CACHE: usize = 512;

    /// One connection and what was prepared on it.
    pub struct Conn {
        client: tokio_postgres::Client,
        statements: HashMap<String, tokio_postgres::Statement>,
        /// Inside BEGIN … COMMIT.
        pub in_tx: bool,
    }

    impl Conn {
        fn statement(&mut self, sql: &str) -> Result<tokio_postgres::Statement> {
            if let Some(s) = self.statements.get(sql) {
                return Ok(s.clone());
            }
            let translated = to_postgres_sql(sql);
            let stmt = futures::executor::block_on(self.client.prepare(&translated)).map_err(|e| db_error(e, sql))?;
            if self.statements.len() >= STATEMENT_CACHE {
                self.statements.clear();
            }
            self.statements.insert(sql.to_string(), stmt.clone());
            Ok(stmt)
        }

        pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
            let stmt = self.statement(sql)?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            futures::executor::block_on(self.client.execute(&stmt, &refs)).map_err(|e| db_error(e, sql))
        }

        pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<tokio_postgres::Row>> {
            let stmt = self.statement(sql)?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            futures::executor::block_on(self.client.query(&stmt, &refs)).map_err(|e| db_error(e, sql))
        }

        /// One statement for each set of values, pipelined: every request
        /// is sent before the first answer is read, so N statements cost
        /// about one round trip, not N. The answers' rows, in order.
        pub fn query_each(&mut self, sql: &str, rows: &[Vec<Value>]) -> Result<Vec<Vec<tokio_postgres::Row>>> {
            /// Statements in flight at most (their answers are held until all have come).
            const PIPELINE: usize = 1000;
            let stmt = self.statement(sql)?;
            let mut out = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(PIPELINE) {
                let refs: Vec<Vec<&(dyn ToSql + Sync)>> =
                    chunk.iter().map(|p| p.iter().map(|v| v as &(dyn ToSql + Sync)).collect()).collect();
                let client = &self.client;
                let requests = refs.iter().map(|r| client.query(&stmt, r));
                out.extend(
                    futures::executor::block_on(futures::future::try_join_all(requests))
                        .map_err(|e| db_error(e, sql))?,
                );
            }
            Ok(out)
        }

        pub fn batch(&mut self, sql: &str) -> Result<()> {
            futures::executor::block_on(self.client.batch_execute(sql)).map_err(|e| db_error(e, sql))
        }

        pub fn is_closed(&self) -> bool {
            self.client.is_closed()
        }
    }

    fn db_error(e: tokio_postgres::Error, sql: &str) -> anyhow::Error {
        let detail = match e.as_db_error() {
            Some(d) => {
                let mut s = format!("{} ({})", d.message(), d.code().code());
                if let Some(detail) = d.detail() {
                    s.push_str(&format!(": {detail}"));
                }
                s
            }
            None => format!("{e}"),
        };
        anyhow!("PostgreSQL: {detail}; {}", sql_context(sql))
    }

    /// The pool: connections made on demand, up to `max`, kept for reuse.
    pub struct Pool {
        runtime: Option<tokio::runtime::Runtime>,
        config: tokio_postgres::Config,
        tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
        state: Mutex<PoolState>,
        returned: Condvar,
        max: usize,
        /// What the URL names, for messages (no password).
        label: String,
    }

    struct PoolState {
        idle: Vec<Conn>,
        open: usize,
    }

    impl Drop for Pool {
        fn drop(&mut self) {
            // Never blocks, so a store may be dropped inside the daemon's tasks.
            if let Some(rt) = self.runtime.take() {
                rt.shutdown_background();
            }
        }
    }

    /// A connection taken from the pool; it goes back when dropped, unless
    /// it broke or was left inside a transaction.
    pub struct Pooled<'a> {
        pool: &'a Pool,
        conn: Option<Conn>,
    }

    impl std::ops::Deref for Pooled<'_> {
        type Target = Conn;
        fn deref(&self) -> &Conn {
            self.conn.as_ref().expect("a pooled connection")
        }
    }
    impl std::ops::DerefMut for Pooled<'_> {
        fn deref_mut(&mut self) -> &mut Conn {
            self.conn.as_mut().expect("a pooled connection")
        }
    }

    impl Drop for Pooled<'_> {
        fn drop(&mut self) {
            let Some(mut conn) = self.conn.take() else { return };
            if conn.in_tx && !conn.is_closed() {
                // A panic inside a transaction: roll it back before reuse.
                if conn.batch("ROLLBACK").is_ok() {
                    conn.in_tx = false;
                }
            }
            let mut st = self.pool.lock();
            if conn.is_closed() || conn.in_tx {
                st.open -= 1;
            } else {
                st.idle.push(conn);
            }
            drop(st);
            self.pool.returned.notify_one();
        }
    }

    impl Pool {
        /// A pool for `url` (a libpq URL or key=value string); connects once to check it.
        pub fn connect(url: &str, max: usize) -> Result<Pool> {
            let config: tokio_postgres::Config =
                url.parse().map_err(|e| anyhow!("storage.url is not a PostgreSQL address libpq accepts: {e}"))?;
            let label = label(&config);
            let tls = match config.get_ssl_mode() {
                tokio_postgres::config::SslMode::Disable => None,
                _ => Some(tls_connector()?),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("govwatch-pg")
                .enable_all()
                .build()
                .context("failed to start the PostgreSQL connections' runtime")?;
            let pool = Pool {
                runtime: Some(runtime),
                config,
                tls,
                state: Mutex::new(PoolState { idle: Vec::new(), open: 0 }),
                returned: Condvar::new(),
                max: max.max(1),
                label,
            };
            drop(pool.get()?);
            Ok(pool)
        }

        /// Host, port and database (no user, no password).
        pub fn label(&self) -> &str {
            &self.label
        }

        fn lock(&self) -> MutexGuard<'_, PoolState> {
            self.state.lock().unwrap_or_else(|e| e.into_inner())
        }

        /// A connection: an idle one, a new one while under `max`, else the next one returned.
        pub fn get(&self) -> Result<Pooled<'_>> {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let mut st = self.lock();
            loop {
                while let Some(c) = st.idle.pop() {
                    if c.is_closed() {
                        st.open -= 1;
                    } else {
                        return Ok(Pooled { pool: self, conn: Some(c) });
                    }
                }
                if st.open < self.max {
                    st.open += 1;
                    drop(st);
                    return match self.open_conn() {
                        Ok(c) => Ok(Pooled { pool: self, conn: Some(c) }),
                        Err(e) => {
                            self.lock().open -= 1;
                            self.returned.notify_one();
                            Err(e)
                        }
                    };
                }
                let now = std::time::Instant::now();
                if now >= deadline {
                    bail!("no free connection to {} within 60 s ({} in use)", self.label, self.max);
                }
                st = self.returned.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
            }
        }

        fn open_conn(&self) -> Result<Conn> {
            let config = self.config.clone();
            let tls = self.tls.clone();
            let rt = self.runtime.as_ref().expect("the runtime lives as long as the pool");
            let task = rt.spawn(async move {
                let connect = async {
                    match tls {
                        Some(tls) => {
                            let (client, conn) = config.connect(tls).await?;
                            tokio::spawn(async move {
                                if let Err(e) = conn.await {
                                    tracing::debug!(error = %e, "PostgreSQL connection ended");
                                }
                            });
                            Ok::<_, tokio_postgres::Error>(client)
                        }
                        None => {
                            let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
                            tokio::spawn(async move {
                                if let Err(e) = conn.await {
                                    tracing::debug!(error = %e, "PostgreSQL connection ended");
                                }
                            });
                            Ok(client)
                        }
                    }
                };
                match tokio::time::timeout(Duration::from_secs(15), connect).await {
                    Ok(r) => r.map_err(|e| format!("{e}")),
                    Err(_) => Err("no answer within 15 s".to_string()),
                }
            });
            let client = futures::executor::block_on(task)
                .map_err(|e| anyhow!("the PostgreSQL connection task failed: {e}"))?
                .map_err(|e| anyhow!("failed to connect to PostgreSQL at {}: {e}", self.label))?;
            Ok(Conn { client, statements: HashMap::new(), in_tx: false })
        }
    }

    /// Host, port and database, without user or password.
    fn label(c: &tokio_postgres::Config) -> String {
        use tokio_postgres::config::Host;
        let host = match c.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_string(),
        };
        let port = c.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}/{}", c.get_dbname().unwrap_or(""))
    }

    fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
        use rustls_platform_verifier::ConfigVerifierExt;
        let config = rustls::ClientConfig::with_platform_verifier().context("failed to set up TLS for PostgreSQL")?;
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }

    /// A column of a PostgreSQL row, by its type.
    pub(super) fn col<'r>(r: &'r tokio_postgres::Row, i: usize) -> Result<Col<'r>> {
        let ty = r.columns().get(i).ok_or_else(|| anyhow!("no column {i}"))?.type_().clone();
        let c = match ty {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map_or(Col::Null, Col::Int),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map_or(Col::Null, |v| Col::Int(v.into())),
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map_or(Col::Null, |v| Col::Int(v.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map_or(Col::Null, |v| Col::Int(v.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map_or(Col::Null, Col::Real),
            Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map_or(Col::Null, |v| Col::Real(v.into())),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                r.try_get::<_, Option<&str>>(i)?.map_or(Col::Null, Col::Text)
            }
            Type::BYTEA => r.try_get::<_, Option<&[u8]>>(i)?.map_or(Col::Null, Col::Blob),
            Type::NUMERIC => match r.try_get::<_, Option<Numeric>>(i)? {
                None => Col::Null,
                Some(Numeric::Int(v)) => Col::Int(v),
                Some(Numeric::Real(v)) => Col::Real(v),
            },
            other => bail!("column {i} has the type {other}, which the store does not read"),
        };
        Ok(c)
    }

    /// A NUMERIC (what SUM of BIGINT gives): an integer when it is one.
    enum Numeric {
        Int(i64),
        Real(f64),
    }

    impl<'a> tokio_postgres::types::FromSql<'a> for Numeric {
        fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
            let word = |k: usize| -> std::result::Result<u16, Box<dyn StdError + Sync + Send>> {
                raw.get(k..k + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "short NUMERIC".into())
            };
            let ndigits = word(0)? as usize;
            let weight = word(2)? as i16 as i32;
            let sign = word(4)?;
            if sign == 0xC000 {
                return Ok(Numeric::Real(f64::NAN));
            }
            let mut int: i128 = 0;
            let mut frac = 0f64;
            let mut whole = true;
            for k in 0..ndigits {
                let d = word(8 + 2 * k)? as i128;
                let power = weight - k as i32;
                if power >= 0 {
                    int += d * 10_000i128.checked_pow(power as u32).ok_or("NUMERIC too large")?;
                } else if d != 0 {
                    whole = false;
                    frac += d as f64 * 10_000f64.powi(power);
                }
            }
            let neg = sign == 0x4000;
            if whole && let Ok(v) = i64::try_from(if neg { -int } else { int }) {
                return Ok(Numeric::Int(v));
            }
            let v = int as f64 + frac;
            Ok(Numeric::Real(if neg { -v } else { v }))
        }
        fn accepts(ty: &Type) -> bool {
            *ty == Type::NUMERIC
        }
    }

    impl ToSql for Value {
        fn to_sql(
            &self,
            ty: &Type,
            out: &mut bytes::BytesMut,
        ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
            match self {
                Value::Null => Ok(IsNull::Yes),
                Value::Int(v) => match *ty {
                    Type::INT8 => v.to_sql(ty, out),
                    Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                    Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                    Type::BOOL => (*v != 0).to_sql(ty, out),
                    Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                    Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                        v.to_string().as_str().to_sql(ty, out)
                    }
                    ref other => Err(format!("an integer cannot be bound to a {other} parameter").into()),
                },
                Value::Real(v) => match *ty {
                    Type::FLOAT8 => v.to_sql(ty, out),
                    Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                    Type::TEXT | Type::VARCHAR | Type::UNKNOWN => v.to_string().as_str().to_sql(ty, out),
                    ref other => Err(format!("a number cannot be bound to a {other} parameter").into()),
                },
                Value::Text(s) => match *ty {
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                        // PostgreSQL's text cannot hold NUL; SQLite's can.
                        if s.contains('\0') {
                            s.replace('\0', "\u{FFFD}").as_str().to_sql(ty, out)
                        } else {
                            s.as_str().to_sql(ty, out)
                        }
                    }
                    Type::INT8 => s.trim().parse::<i64>()?.to_sql(ty, out),
                    Type::INT4 => s.trim().parse::<i32>()?.to_sql(ty, out),
                    Type::BYTEA => s.as_bytes().to_sql(ty, out),
                    ref other => Err(format!("text cannot be bound to a {other} parameter").into()),
                },
                Value::Blob(b) => match *ty {
                    Type::BYTEA => b.as_slice().to_sql(ty, out),
                    ref other => Err(format!("bytes cannot be bound to a {other} parameter").into()),
                },
            }
        }

        fn accepts(_: &Type) -> bool {
            true
        }

        to_sql_checked!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            to_postgres_sql("SELECT a FROM t WHERE b = ?1 AND c = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = $12"
        );
        assert_eq!(to_postgres_sql("VALUES (?, ?, '?x', \"a?\")"), "VALUES ($1, $2, '?x', \"a?\")");
    }
}
