//! The configuration tree, how it is loaded, and how it is checked.
//!
//! Layers, later ones winning: built-in defaults (the `Default` impls and
//! `#[serde(default)]` below), then one TOML file, then environment variables
//! `GOVWATCH__SECTION__KEY` (e.g. `GOVWATCH__STORAGE__DATA_DIR=/srv/gw`).
//! The file is `--config FILE`, else `/etc/govwatch/govwatch.toml` if it
//! exists, else `config/govwatch.toml`. `config/govwatch.example.toml`
//! documents every key.
//!
//! Checking reports *every* problem at once, each with its key path and a
//! hint, because an administrator fixing a config one error per run gives up.
//! Relative paths (storage folders, local source files) are relative to the
//! working directory.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use regex::Regex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{Level, Role, SourceKind};

pub const DEFAULT_SYSTEM_PATH: &str = "/etc/govwatch/govwatch.toml";
pub const DEFAULT_LOCAL_PATH: &str = "config/govwatch.toml";
pub const DEFAULT_SCHEDULE: &str = "0 */30 * * * *";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// The SQLite store and other state.
    pub data_dir: PathBuf,
    /// The tantivy index (derived from the store; rebuildable). Each node
    /// sharing a PostgreSQL store has its own.
    pub index_dir: PathBuf,
    /// Where the store is: `sqlite` (the file `data_dir/govwatch.sqlite3`,
    /// the default) or `postgres` (the database at `url`, shared by nodes).
    pub backend: StorageBackend,
    /// The PostgreSQL database, as libpq writes it:
    /// `postgresql://user:password@host:5432/db?sslmode=require`, or
    /// `host=/var/run/postgresql dbname=govwatch`. Best given by the
    /// environment (`GOVWATCH__STORAGE__URL`) when it holds a password.
    pub url: Option<String>,
    /// PostgreSQL connections this process keeps at most.
    pub pool_size: usize,
}

/// Which database holds the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    #[default]
    Sqlite,
    Postgres,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            data_dir: PathBuf::from("var"),
            index_dir: PathBuf::from("index"),
            backend: StorageBackend::Sqlite,
            url: None,
            pool_size: 8,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fetch {
    /// Whole-request timeout.
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    /// Larger bodies are refused (a health error), not truncated.
    pub max_body_bytes: u64,
    /// Requests in flight to one host at a time.
    pub per_host: usize,
    /// Sources polled at once.
    pub concurrency: usize,
    /// Retries within one poll for timeouts, connection errors, 5xx and 429.
    pub retries: u32,
    /// First retry delay; doubles each retry.
    pub retry_base_ms: u64,
    /// After a failed poll the source waits base × 2^(failures−1) …
    pub backoff_base_secs: u64,
    /// … but never longer than this: a failing source is never parked for good.
    pub backoff_max_secs: u64,
    /// The longest `Retry-After` honoured: a server that asks for longer than
    /// a poll waits (60 s) is not asked again before then, up to this.
    pub retry_after_max_secs: u64,
    /// Hosts, IP addresses and networks (`10.1.0.0/16`) that links and
    /// redirects in fetched documents may lead to although they are private
    /// (loopback, intranet, link-local …). A configured source's own host is
    /// always allowed; see `sources::address`.
    pub allow_private: Vec<String>,
    pub user_agent: String,
}

impl Default for Fetch {
    fn default() -> Self {
        Fetch {
            timeout_secs: 30,
            connect_timeout_secs: 10,
            max_body_bytes: 20 << 20,
            per_host: 2,
            concurrency: 16,
            retries: 2,
            retry_base_ms: 1000,
            backoff_base_secs: 60,
            backoff_max_secs: 3600,
            retry_after_max_secs: 6 * 3600,
            allow_private: Vec::new(),
            user_agent: concat!("govwatch/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Deadline rules; every number is the default of the documents named in
/// DESIGN.md and can be changed per jurisdiction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Due soon from the start of the working day this many working days before a deadline.
    pub warn_working_days: u32,
    /// Due soon this many hours before a deadline counted in hours (urgent orders, 舆情).
    pub warn_hours: u32,
    pub hotline: HotlineRules,
    pub messages: MessageRules,
    pub disclosure: DisclosureRules,
    pub opinion: OpinionRules,
    pub repost: RepostRules,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            warn_working_days: 1,
            warn_hours: 6,
            hotline: HotlineRules::default(),
            messages: MessageRules::default(),
            disclosure: DisclosureRules::default(),
            opinion: OpinionRules::default(),
            repost: RepostRules::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HotlineRules {
    /// Working days by a word of 诉求类型; the longest word found in the category wins.
    pub days: std::collections::BTreeMap<String, u32>,
    /// Working days when no word matches.
    pub default_days: u32,
    /// Urgent orders (紧急程度 says 紧急/特急/加急): hours.
    pub urgent_hours: u32,
    /// Extra working days when 延期 says only 是.
    pub extension_days: u32,
}

impl Default for HotlineRules {
    fn default() -> Self {
        HotlineRules {
            days: [("咨询", 2), ("求助", 10), ("建议", 10), ("投诉", 15), ("举报", 15)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            default_days: 10,
            urgent_hours: 24,
            extension_days: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageRules {
    /// A message is answered within this many working days.
    pub reply_days: u32,
    /// Unanswered this many months: the single-veto flag.
    pub unanswered_months: u32,
}

impl Default for MessageRules {
    fn default() -> Self {
        MessageRules { reply_days: 5, unanswered_months: 3 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisclosureRules {
    /// 政府信息公开条例 第三十三条: 20 working days …
    pub days: u32,
    /// … and 20 more when extended.
    pub extension_days: u32,
    /// Categories (诉求类型/分类) that mark a disclosure application.
    pub categories: Vec<String>,
}

impl Default for DisclosureRules {
    fn default() -> Self {
        DisclosureRules {
            days: 20,
            extension_days: 20,
            categories: vec!["依申请公开".into(), "政府信息公开申请".into(), "信息公开申请".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepostRules {
    /// 转载一般不得滞后1个工作日: working days after the superior's publication …
    pub lag_working_days: u32,
    /// … or hours instead (some provinces: 8), when set.
    pub lag_hours: Option<u32>,
    /// Superior items older than this many days are no longer followed.
    pub window_days: u32,
}

impl Default for RepostRules {
    fn default() -> Self {
        RepostRules { lag_working_days: 1, lag_hours: None, window_days: 90 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpinionRules {
    /// 国办发〔2016〕61号: respond within 48 hours …
    pub hours: u32,
    /// … 24 for major items.
    pub major_hours: u32,
}

impl Default for OpinionRules {
    fn default() -> Self {
        OpinionRules { hours: 48, major_hours: 24 }
    }
}

/// Additions to the built-in official calendar (see `calendar`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarSettings {
    /// Schedule files in the built-in format (`YEAR NAME off FROM..TO work DATE`),
    /// e.g. next year's notice before govwatch ships it.
    pub files: Vec<PathBuf>,
    /// Local changes: a day off (a typhoon closure) or a working day.
    pub days: Vec<LocalDay>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDay {
    pub date: chrono::NaiveDate,
    /// true: a day off; false: a working day.
    pub off: bool,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexSettings {
    /// Indexing threads.
    pub threads: usize,
    /// Indexing memory budget, all threads together (bulk indexing is ~9% faster at 1 GiB than at 256 MiB).
    pub heap_mb: usize,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings { threads: 2, heap_mb: 512 }
    }
}

/// How emails leave: an SMTP relay, or files (one .eml per message) for the
/// demo and dry runs. The keys are a contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    pub transport: MailTransport,
    pub host: String,
    /// Default by `security`: 587 (starttls), 465 (tls), 25 (none).
    pub port: Option<u16>,
    pub security: MailSecurity,
    #[serde(deserialize_with = "stringish")]
    pub username: Option<String>,
    /// Also from `GOVWATCH__MAIL__PASSWORD`, which keeps it out of the file.
    #[serde(deserialize_with = "secret", serialize_with = "hide")]
    pub password: Option<Secret>,
    pub from: String,
    /// Where the file transport writes.
    pub dir: PathBuf,
    /// A PEM file of extra CA certificates to trust (an intranet relay's own CA).
    pub ca_file: Option<PathBuf>,
    /// Connect, command and send timeout.
    pub timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: MailTransport::File,
            host: "127.0.0.1".into(),
            port: None,
            security: MailSecurity::Starttls,
            username: None,
            password: None,
            from: "govwatch <govwatch@localhost>".into(),
            dir: PathBuf::from("var/mail"),
            ca_file: None,
            timeout_secs: 30,
        }
    }
}

impl MailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            MailSecurity::Starttls => 587,
            MailSecurity::Tls => 465,
            MailSecurity::None => 25,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    Smtp,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    Starttls,
    Tls,
    None,
}

/// A value never shown: not in `Debug`, not when the config is serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

fn hide<S: serde::Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("***"),
        None => s.serialize_none(),
    }
}

/// Strings that the environment layer may have read as numbers or booleans
/// (`GOVWATCH__MAIL__PASSWORD=123456`).
fn stringish<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        Some(other) => return Err(serde::de::Error::custom(format!("应为字符串，而不是 {other}"))),
    })
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(stringish(d)?.map(Secret))
}

/// When and how units are mailed what they owe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Off: no rounds are run and nothing is mailed.
    pub enabled: bool,
    /// Times of day (Asia/Shanghai, "HH:MM") of the digest rounds, on working
    /// days of the official calendar.
    pub rounds: Vec<String>,
    /// Mail a finding as soon as it is first seen overdue, besides the rounds.
    pub immediate: bool,
    /// An open finding already mailed is listed again after this many working
    /// days (0: in every round). A change of state or escalation is mailed at once.
    pub repeat_working_days: u32,
    /// Working days overdue after which a finding is shown to the supervising
    /// unit, in its own email of the round (催办).
    pub escalate_after: u32,
    /// Working days overdue after which a finding goes into the supervising
    /// unit's summary of its late units (通报), in the same email.
    pub report_after: u32,
    /// Report a finding mailed while open once more when it is resolved.
    pub report_resolved: bool,
    /// Where mail for a unit without addresses goes (a duty mailbox).
    pub fallback: Vec<String>,
    /// A folder of templates that replace the built-in ones by name
    /// (digest.html, digest.txt, report.html, report.txt).
    pub templates: Option<PathBuf>,
    /// Attach the rows as an .xlsx workbook.
    pub attach_xlsx: bool,
    /// Findings listed in an email's body at most, all groups together: when
    /// the groups' rows pass it, the least pressing groups list fewer, but
    /// each still shows its three worst. The attachment and the console have
    /// them all.
    pub max_rows: usize,
    /// Findings listed in the body per group (单项否决, 紧急工单, each rule's
    /// overdue and due soon): the worst first, the rest counted (另有 N 项见附件).
    pub max_rows_per_group: usize,
    /// A message the relay keeps refusing with 4xx or cannot be reached for
    /// is marked failed after this many hours.
    pub give_up_after_hours: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            rounds: vec!["09:00".into()],
            immediate: false,
            repeat_working_days: 1,
            escalate_after: 3,
            report_after: 5,
            report_resolved: true,
            fallback: Vec::new(),
            templates: None,
            attach_xlsx: true,
            max_rows: 100,
            max_rows_per_group: 20,
            give_up_after_hours: 72,
        }
    }
}

impl AlertsConfig {
    /// The round times, parsed and sorted (bad entries are `config check` errors).
    pub fn round_times(&self) -> Vec<chrono::NaiveTime> {
        let mut v: Vec<_> = self.rounds.iter().filter_map(|r| parse_hhmm(r).ok()).collect();
        v.sort();
        v.dedup();
        v
    }
}

fn parse_hhmm(s: &str) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| format!("{s:?} 不是时刻；请写成 \"HH:MM\"，如 \"09:00\""))
}

/// The daemon as a service (`govwatch run`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// On SIGTERM/SIGINT the process exits within this many seconds: polls in
    /// flight are finished or abandoned, the index committed if time allows
    /// (it catches up from the store at the next start otherwise).
    pub shutdown_timeout_secs: u64,
    /// Nodes sharing one store (`[storage] backend = "postgres"`): a node
    /// that stops beating loses its sources and its leader's jobs to the
    /// others within this many seconds. A live node renews its leases every
    /// fifth of it.
    pub lease_secs: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig { shutdown_timeout_secs: 10, lease_secs: 60 }
    }
}

/// Importing hotline and message exports: the bounds a file must keep to be
/// read at all (`sources::export::Limits`). A workbook over a bound is refused
/// whole and quarantined; a CSV record over one is quarantined and the rest imported.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// XLSX/XLSM: the most bytes all the zip's entries may inflate to, measured
    /// by inflating them (headers are not trusted).
    pub max_xlsx_bytes: u64,
    /// XLSX/XLSM: the most entries (files) in the zip.
    pub max_xlsx_entries: u64,
    /// The most cells govwatch holds of one sheet (each row counted from the
    /// first used column to its last cell).
    pub max_cells: u64,
    /// CSV: the longest field, in bytes (UTF-8, after decoding).
    pub max_csv_field_bytes: u64,
    /// CSV: the longest record (all its fields), in bytes.
    pub max_csv_record_bytes: u64,
    /// CSV: the most fields in one record.
    pub max_csv_columns: u64,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            max_xlsx_bytes: 256 << 20,
            max_xlsx_entries: 10_000,
            max_cells: 10_000_000,
            max_csv_field_bytes: 1 << 20,
            max_csv_record_bytes: 4 << 20,
            max_csv_columns: 1_000,
        }
    }
}

/// Website inspection (政府网站检查, 国办秘函〔2019〕19号): stale and empty
/// columns, dead links, personal data in published items, unhealthy sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InspectionConfig {
    /// Off: none of the inspection rules run.
    pub enabled: bool,
    /// News, 要闻, 动态 columns and homepages: stale when the newest item is
    /// older than this many days (the checklist: two weeks).
    pub news_days: u32,
    /// Notices and policy columns (通知公告, 政策文件): this many months (six).
    pub notices_months: u32,
    /// A stale column is due soon this many days before its limit.
    pub warn_days: u32,
    /// The unit that receives unhealthy-source findings (the administrator's);
    /// unset: the source's own unit.
    pub admin_unit: Option<String>,
    /// A source failing this many polls in a row is unhealthy.
    pub unhealthy_after_failures: u32,
    /// Scan published portal items for citizens' ID, mobile and bank card
    /// numbers; a hit is mailed at once, not in the next digest.
    pub personal_data: bool,
    /// Numbers published on purpose (duty and contact mobiles, a unit's
    /// account): never reported as personal data. Labelled official
    /// contacts (值班联系人、咨询电话 …) are recognized without this list.
    pub personal_data_allow: Vec<String>,
    pub links: LinkCheckConfig,
}

impl Default for InspectionConfig {
    fn default() -> Self {
        InspectionConfig {
            enabled: true,
            news_days: 14,
            notices_months: 6,
            warn_days: 3,
            admin_unit: None,
            unhealthy_after_failures: 3,
            personal_data: true,
            personal_data_allow: Vec::new(),
            links: LinkCheckConfig::default(),
        }
    }
}

/// The dead-link check of portal items (the item's link and every link in its body).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkCheckConfig {
    pub enabled: bool,
    /// When the daemon checks links: cron with seconds, Asia/Shanghai.
    pub schedule: String,
    /// A link is dead after this many failed checks …
    pub dead_after_failures: u32,
    /// … spanning at least this many days, with no success since.
    pub dead_after_days: u32,
    /// Requests at once to one host …
    pub per_host: usize,
    /// … and in all.
    pub concurrency: usize,
    pub timeout_secs: u64,
    /// A link checked less than this many hours ago is not checked again.
    pub recheck_hours: u32,
    /// Links checked per run at most (the oldest checks first).
    pub per_run: usize,
}

impl Default for LinkCheckConfig {
    fn default() -> Self {
        LinkCheckConfig {
            enabled: true,
            schedule: "0 30 2 * * *".into(),
            dead_after_failures: 3,
            dead_after_days: 2,
            per_host: 2,
            concurrency: 32,
            timeout_secs: 15,
            recheck_hours: 20,
            per_run: 50_000,
        }
    }
}

/// What a portal column publishes, which sets how fresh it must stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnCategory {
    /// 要闻, 动态, 新闻: two weeks.
    News,
    /// 通知公告, 政策文件: six months.
    Notices,
    /// The portal's homepage: two weeks.
    Homepage,
    /// Not checked for freshness.
    None,
}

impl ColumnCategory {
    /// Guessed from a column's name, as the checklist groups columns.
    pub fn guess(name: &str) -> Option<ColumnCategory> {
        const HOME: [&str; 2] = ["首页", "主页"];
        const NEWS: [&str; 6] = ["要闻", "动态", "新闻", "资讯", "热点", "图片"];
        const NOTICES: [&str; 8] = ["通知", "公告", "公示", "政策", "文件", "规划", "解读", "信息公开"];
        if HOME.iter().any(|w| name.contains(w)) {
            Some(ColumnCategory::Homepage)
        } else if NOTICES.iter().any(|w| name.contains(w)) {
            Some(ColumnCategory::Notices)
        } else if NEWS.iter().any(|w| name.contains(w)) {
            Some(ColumnCategory::News)
        } else {
            None
        }
    }

    /// For officers' eyes (the glossary's word).
    pub fn zh(self) -> &'static str {
        crate::glossary::column_category(self)
    }
}

/// The web console. The daemon serves `/healthz` and `/metrics` on `listen`;
/// `base_url` makes the links in emails.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address the daemon's HTTP server binds (`127.0.0.1:8080`; port 0 picks a free one).
    pub listen: String,
    /// The console's address as units' mail clients reach it.
    pub base_url: String,
    /// A reverse proxy that authenticates users puts the user name in this
    /// header (e.g. "X-Remote-User"); the name must be one of `[[users]]`
    /// (its password is then not used). Only requests from `trusted_proxies`
    /// are believed.
    pub trusted_user_header: Option<String>,
    /// Addresses the header is believed from. Default: loopback only.
    pub trusted_proxies: Vec<String>,
    /// A login lasts this long without use (hours).
    pub session_hours: u64,
    /// A connection must send its request's head within this many seconds,
    /// else it is closed (half-sent requests and idle kept-alive connections).
    pub header_timeout_secs: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            base_url: "http://127.0.0.1:8080".into(),
            trusted_user_header: None,
            trusted_proxies: vec!["127.0.0.1".into(), "::1".into()],
            session_hours: 12,
            header_timeout_secs: 10,
        }
    }
}

/// Who may open the console. `officer` sees citizens' phone and ID numbers
/// masked; `admin` sees them whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// An argon2 PHC string from `govwatch user add NAME`.
    #[serde(default)]
    pub password_hash: String,
    #[serde(default)]
    pub role: UserRole,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    #[default]
    Officer,
    Admin,
}

impl UserRole {
    /// For officers' eyes (the glossary's word).
    pub fn zh(self) -> &'static str {
        crate::glossary::user_role(self)
    }

    /// May this role see citizens' phone and ID numbers unmasked?
    pub fn sees_personal_data(self) -> bool {
        self == UserRole::Admin
    }
}

impl WebConfig {
    /// The console page of an item.
    pub fn item_url(&self, id: &str) -> String {
        format!("{}/items/{id}", self.base_url.trim_end_matches('/'))
    }

    /// The console page of the sources' health.
    pub fn sources_url(&self) -> String {
        format!("{}/sources", self.base_url.trim_end_matches('/'))
    }

    /// The console page of everything a unit owes.
    pub fn unit_url(&self, unit: &str) -> String {
        format!("{}/units/{unit}", self.base_url.trim_end_matches('/'))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub emails: Vec<String>,
    /// The unit copied on escalation.
    #[serde(default)]
    pub supervisor: Option<String>,
    /// Other names used in exports.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Words that make a public-opinion item (政务舆情) this unit's to answer:
    /// its names, places, topics.
    #[serde(default)]
    pub watch_terms: Vec<String>,
    /// Watch terms that make an item major (24 h instead of 48 h).
    #[serde(default)]
    pub major_terms: Vec<String>,
}

/// Selectors and paging for a `page` source. Unset selectors use defaults
/// that fit the common `<li><a title="…" href="…">…</a><span>2020-07-02</span></li>`
/// layout: with no `item`, every `li` holding a link and a date is an entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageConfig {
    /// One list entry (CSS). Default: any `li` with a link and a date.
    pub item: Option<String>,
    /// The title within an entry; its `title` attribute wins over its text
    /// (list pages cut long titles with "…"). Default `a`.
    pub title: Option<String>,
    /// The link within an entry (`href`). Default `a`.
    pub link: Option<String>,
    /// The date within an entry; the first match that holds a date. Default:
    /// `span`, then the entry's whole text.
    pub date: Option<String>,
    /// chrono format of the date (e.g. `%Y-%m-%d`); default: any common form.
    pub date_format: Option<String>,
    /// List pages to read, following the next-page link. Default 1.
    pub pages: Option<u32>,
    /// The next-page link (CSS); default: the link whose text is 下一页.
    pub next: Option<String>,
    /// Fetch each new entry's own page for its body, PubDate and 文号.
    pub follow: bool,
    /// The article body on followed pages (CSS); default: common CMS
    /// containers, else the block with the densest prose (`sources::article`).
    pub body: Option<String>,
    /// At most this many entry pages are followed per poll. Default 50.
    pub follow_limit: Option<usize>,
}

impl PageConfig {
    pub fn pages(&self) -> u32 {
        self.pages.unwrap_or(1)
    }
    pub fn follow_limit(&self) -> usize {
        self.follow_limit.unwrap_or(50)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub kind: SourceKind,
    /// http(s) URL, or a local file path.
    pub url: String,
    pub unit: String,
    pub role: Role,
    pub level: Level,
    /// Cron with seconds, Asia/Shanghai.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub page: Option<PageConfig>,
    /// Portal sources: the superior sources whose policies this portal must
    /// repost. Unset: every superior source of a higher level (a county portal
    /// owes its city, province and 国务院); `[]`: none.
    #[serde(default)]
    pub reposts_from: Option<Vec<String>>,
    /// Portal sources: the website this column belongs to. A website owes each
    /// superior policy once, whichever of its columns reposts it. Unset: the
    /// source's unit (all portal columns of one unit are one website).
    #[serde(default)]
    pub site: Option<String>,
    /// Portal sources: the website's name, for people (one column saying it is enough).
    #[serde(default)]
    pub site_name: Option<String>,
    /// Superior sources: only items whose title matches one of these regular
    /// expressions are policies to repost (default: every item).
    #[serde(default)]
    pub repost_include: Vec<String>,
    /// Superior sources: items whose title matches one of these are not.
    #[serde(default)]
    pub repost_exclude: Vec<String>,
    /// Superior sources: only items in one of these categories or columns.
    #[serde(default)]
    pub repost_categories: Vec<String>,
    /// Portal sources: a lag of their own, in working days …
    #[serde(default)]
    pub repost_lag_working_days: Option<u32>,
    /// … or in hours.
    #[serde(default)]
    pub repost_lag_hours: Option<u32>,
    /// Export sources: header names per field (`number = "受理编号"` or a
    /// list), tried before the built-in names.
    #[serde(default)]
    pub columns: std::collections::BTreeMap<String, ColumnNames>,
    /// Portal sources: what the column publishes (news | notices | homepage |
    /// none), which sets its freshness limit; unset: guessed from its name.
    #[serde(default)]
    pub category: Option<ColumnCategory>,
    /// Portal sources: a freshness limit of their own, in days.
    #[serde(default)]
    pub stale_after_days: Option<u32>,
    /// Any source: it is unhealthy when no new item has come for this many days.
    #[serde(default)]
    pub expected_interval_days: Option<u32>,
    /// Export sources: `true`, its rows are only taken in (search,
    /// statistics), never given a deadline; `false`, deadlines even when the
    /// export cannot say whether a row was answered. Unset: intake only for
    /// rows from files with no reply or closing column (办结时间, 状态, 答复意见 …).
    #[serde(default)]
    pub intake_only: Option<bool>,
    /// Export sources: rows received more than this many days before the
    /// source's first import are history — counted, searchable, closed ones
    /// in the statistics, but never overdue and never mailed. Default 30.
    #[serde(default)]
    pub history_days: Option<u32>,
}

/// Rows received this many days before an export source's first import are history.
pub const DEFAULT_HISTORY_DAYS: u32 = 30;

/// One header name or several.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ColumnNames {
    One(String),
    Many(Vec<String>),
}

impl ColumnNames {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            ColumnNames::One(s) => vec![s],
            ColumnNames::Many(v) => v,
        }
    }
}

fn default_schedule() -> String {
    DEFAULT_SCHEDULE.to_string()
}

fn yes() -> bool {
    true
}

impl SourceConfig {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The website a portal column belongs to: `site`, else its unit.
    pub fn site_id(&self) -> &str {
        self.site.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or(&self.unit)
    }

    /// Export sources: rows received more than this many days before the first import are history.
    pub fn history_days(&self) -> u32 {
        self.history_days.unwrap_or(DEFAULT_HISTORY_DAYS)
    }

    /// The column's category for the freshness rule: configured, else
    /// guessed from its name; `None` for sources that are not portal columns.
    pub fn column_category(&self) -> Option<ColumnCategory> {
        if self.role != Role::Portal {
            return None;
        }
        match self.category.or_else(|| ColumnCategory::guess(self.display_name())) {
            Some(ColumnCategory::None) => None,
            Some(c) => Some(c),
            None if self.stale_after_days.is_some() => Some(ColumnCategory::News),
            None => None,
        }
    }

    pub fn is_http(&self) -> bool {
        let u = self.url.trim_start().to_ascii_lowercase();
        u.starts_with("http://") || u.starts_with("https://")
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    /// The file the configuration came from (none: defaults and environment only).
    pub file: Option<PathBuf>,
    pub storage: Storage,
    pub fetch: Fetch,
    pub index: IndexSettings,
    pub calendar: CalendarSettings,
    pub rules: RulesConfig,
    pub mail: MailConfig,
    pub alerts: AlertsConfig,
    pub web: WebConfig,
    pub daemon: DaemonConfig,
    pub import: ImportConfig,
    pub inspection: InspectionConfig,
    pub users: Vec<UserConfig>,
    pub units: Vec<Unit>,
    pub sources: Vec<SourceConfig>,
}

impl Config {
    pub fn unit(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.id == id)
    }

    pub fn source(&self, id: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.id == id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One thing wrong with a configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// Key path, e.g. `sources[3].unit`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => crate::glossary::ERROR,
            Severity::Warning => crate::glossary::WARNING,
        };
        if self.path.is_empty() {
            write!(f, "{tag}：{}", self.message)
        } else {
            write!(f, "{tag}：{}：{}", self.path, self.message)
        }
    }
}

/// A configuration with the problems found in it. `config` holds every part
/// that could be read, so that a partly broken file still shows what it can.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub problems: Vec<Problem>,
}

impl Loaded {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

/// Which file to read: the explicit one, else the system one if present,
/// else the local one.
pub fn resolve_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let system = Path::new(DEFAULT_SYSTEM_PATH);
    if system.exists() { system.to_path_buf() } else { PathBuf::from(DEFAULT_LOCAL_PATH) }
}

/// Loads the layered configuration from `path` and the process environment,
/// then checks it. Fails only when the file cannot be read or is not TOML.
pub fn load(path: &Path) -> Result<Loaded> {
    let env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("GOVWATCH__")).collect();
    load_with_env(path, env)
}

/// [`load`] with the environment given (tests).
pub fn load_with_env(path: &Path, env: Vec<(String, String)>) -> Result<Loaded> {
    if !path.exists() {
        anyhow::bail!(
            "{} 处没有配置文件；请用 --config 文件 指定，或把 config/govwatch.example.toml 复制到那里\
             （config/demo.toml 可运行演示）",
            path.display()
        );
    }
    let env_map: HashMap<String, String> = env.into_iter().collect();
    let built = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml).required(true))
        .add_source(
            config::Environment::with_prefix("GOVWATCH")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env_map)),
        )
        .build()
        .with_context(|| format!("无法读取配置文件 {}", path.display()))?;
    let tree: serde_json::Value =
        built.try_deserialize().with_context(|| format!("无法读取配置文件 {}", path.display()))?;
    let mut loaded = from_tree(&tree);
    loaded.config.file = Some(path.to_path_buf());
    Ok(loaded)
}

/// `[[users]]` and the console's login settings.
fn check_users(c: &Config, problems: &mut Vec<Problem>) {
    let mut seen = HashSet::new();
    for (i, u) in c.users.iter().enumerate() {
        if u.name.trim().is_empty() {
            problems.push(error(format!("users[{i}].name"), "不能为空"));
        } else if !seen.insert(u.name.as_str()) {
            problems.push(error(format!("users[{i}].name"), format!("{:?} 出现了两次", u.name)));
        }
        if u.password_hash.is_empty() {
            if c.web.trusted_user_header.is_none() {
                problems.push(error(
                    format!("users[{i}].password_hash"),
                    "缺少：用 govwatch user add 用户名 生成（或设置 web.trusted_user_header）",
                ));
            }
        } else if argon2::PasswordHash::new(&u.password_hash).is_err() {
            problems.push(error(
                format!("users[{i}].password_hash"),
                "不是 argon2 哈希（$argon2id$…）：用 govwatch user add 用户名 生成",
            ));
        }
    }
    for (i, p) in c.web.trusted_proxies.iter().enumerate() {
        if p.parse::<std::net::IpAddr>().is_err() {
            problems.push(error(format!("web.trusted_proxies[{i}]"), format!("{p:?} 不是 IP 地址")));
        }
    }
}

/// Parses a TOML string (tests and the embedded example).
pub fn from_toml_str(s: &str) -> Result<Loaded> {
    let tree: serde_json::Value = toml_to_json(s)?;
    Ok(from_tree(&tree))
}

fn toml_to_json(s: &str) -> Result<serde_json::Value> {
    let built = config::Config::builder()
        .add_source(config::File::from_str(s, config::FileFormat::Toml))
        .build()
        .context("不是有效的 TOML")?;
    Ok(built.try_deserialize()?)
}

const TOP_KEYS: &[&str] = &[
    "storage",
    "fetch",
    "index",
    "calendar",
    "rules",
    "mail",
    "alerts",
    "web",
    "daemon",
    "import",
    "inspection",
    "users",
    "units",
    "sources",
];

/// Reads each part separately so that one bad part does not hide the others.
fn from_tree(tree: &serde_json::Value) -> Loaded {
    let mut problems = Vec::new();
    let mut config = Config::default();
    let empty = serde_json::Map::new();
    let obj = tree.as_object().unwrap_or(&empty);
    for k in obj.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            problems.push(error(k, format!("未知的配置节{}", did_you_mean(k, TOP_KEYS))));
        }
    }
    if let Some(v) = obj.get("storage") {
        config.storage = part(v, "storage", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("fetch") {
        config.fetch = part(v, "fetch", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("index") {
        config.index = part(v, "index", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("rules") {
        config.rules = part(v, "rules", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("calendar") {
        config.calendar = part(v, "calendar", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("mail") {
        config.mail = part(v, "mail", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("alerts") {
        config.alerts = part(v, "alerts", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("web") {
        config.web = part(v, "web", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("daemon") {
        config.daemon = part(v, "daemon", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("import") {
        config.import = part(v, "import", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("inspection") {
        config.inspection = part(v, "inspection", &mut problems).unwrap_or_default();
    }
    if let Some(v) = obj.get("users") {
        match v.as_array() {
            None => problems.push(error("users", "应为表的列表：每个写成 [[users]]")),
            Some(list) => {
                for (i, el) in list.iter().enumerate() {
                    if let Some(u) = part::<UserConfig>(el, &format!("users[{i}]"), &mut problems) {
                        config.users.push(u);
                    }
                }
            }
        }
    }
    for (name, out) in [("units", 0), ("sources", 1)] {
        let Some(v) = obj.get(name) else { continue };
        let Some(list) = v.as_array() else {
            problems.push(error(name, format!("应为表的列表：每个写成 [[{name}]]")));
            continue;
        };
        for (i, el) in list.iter().enumerate() {
            let path = format!("{name}[{i}]");
            if out == 0 {
                if let Some(u) = part::<Unit>(el, &path, &mut problems) {
                    config.units.push(u);
                }
            } else if let Some(s) = part::<SourceConfig>(el, &path, &mut problems) {
                config.sources.push(s);
            }
        }
    }
    check(&config, obj, &mut problems);
    Loaded { config, problems }
}

fn error(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem { severity: Severity::Error, path: path.into(), message: message.into() }
}

fn warning(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem { severity: Severity::Warning, path: path.into(), message: message.into() }
}

/// Deserializes one part, turning a serde error into a problem at the exact
/// key, with a did-you-mean for misspelt keys.
fn part<T: DeserializeOwned>(v: &serde_json::Value, base: &str, problems: &mut Vec<Problem>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(v) {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let path = if inner == "." || inner.is_empty() { base.to_string() } else { format!("{base}.{inner}") };
            problems.push(error(path, explain_serde_error(&e.inner().to_string())));
            None
        }
    }
}

fn explain_serde_error(msg: &str) -> String {
    static UNKNOWN: OnceLock<Regex> = OnceLock::new();
    let re = UNKNOWN.get_or_init(|| {
        Regex::new(r"unknown (field|variant) `([^`]*)`, expected (?:one of )?(.*)$").expect("serde message pattern")
    });
    if let Some(c) = re.captures(msg) {
        let expected: Vec<&str> = c[3].split(", ").map(|s| s.trim_matches('`')).collect();
        let what = if &c[1] == "field" { "未知的键" } else { "未知的值" };
        return format!("{what} {:?}{}；可选：{}", &c[2], did_you_mean(&c[2], &expected), expected.join(", "));
    }
    static INTEGER: OnceLock<Regex> = OnceLock::new();
    let re = INTEGER.get_or_init(|| {
        Regex::new(r"^invalid value: integer `(-?\d+)`, expected (u8|u16|u32|u64|usize)")
            .expect("serde message pattern")
    });
    if let Some(c) = re.captures(msg) {
        let max = match &c[2] {
            "u8" => u64::from(u8::MAX),
            "u16" => u64::from(u16::MAX),
            "u32" => u64::from(u32::MAX),
            _ => u64::MAX,
        };
        return format!("{} 超出范围：应为 0 到 {max} 之间的整数", &c[1]);
    }
    if let Some(field) = msg.strip_prefix("missing field `").and_then(|s| s.strip_suffix('`')) {
        return format!("缺少键 {field:?}");
    }
    msg.to_string()
}

fn did_you_mean(got: &str, options: &[&str]) -> String {
    options
        .iter()
        .map(|o| (strsim::levenshtein(got, o), *o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 3))
        .min()
        .map(|(_, o)| format!("（是否想写 {o:?}？）"))
        .unwrap_or_default()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Semantic checks across parts: references, uniqueness, selectors, schedules.
fn check(c: &Config, tree: &serde_json::Map<String, serde_json::Value>, problems: &mut Vec<Problem>) {
    // Map each parsed unit/source back to its index in the file for key paths.
    let index_of = |list: &str, id: &str| -> usize {
        tree.get(list)
            .and_then(|v| v.as_array())
            .and_then(|a| a.iter().position(|e| e.get("id").and_then(|v| v.as_str()) == Some(id)))
            .unwrap_or(0)
    };
    let unit_ids: Vec<&str> = c.units.iter().map(|u| u.id.as_str()).collect();
    let known_units = if unit_ids.is_empty() { "（尚未配置）".to_string() } else { unit_ids.join(", ") };

    if c.units.is_empty() {
        problems.push(error("units", "没有配置任何单位；请至少添加一个含 id 和 name 的 [[units]]"));
    }
    let mut seen = HashSet::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for u in &c.units {
        let p = format!("units[{}]", index_of("units", &u.id));
        if !valid_id(&u.id) {
            problems.push(error(
                format!("{p}.id"),
                format!("{:?} 不是有效的标识；只能用字母、数字、'-'、'_' 或 '.'", u.id),
            ));
        }
        if !seen.insert(u.id.as_str()) {
            problems.push(error(format!("{p}.id"), format!("单位标识 {:?} 用了两次", u.id)));
        }
        if u.name.trim().is_empty() {
            problems.push(error(format!("{p}.name"), "单位须有名称（导出表格和邮件中使用的名称）"));
        }
        for (j, e) in u.emails.iter().enumerate() {
            let ok = e.split_once('@').is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !e.contains(' '));
            if !ok {
                problems.push(error(format!("{p}.emails[{j}]"), format!("{e:?} 不是邮箱地址")));
            }
        }
        if let Some(s) = &u.supervisor {
            if s == &u.id {
                problems.push(error(format!("{p}.supervisor"), "单位不能督办自己"));
            } else if !unit_ids.contains(&s.as_str()) {
                problems.push(error(format!("{p}.supervisor"), format!("没有单位 {s:?}；已配置的单位：{known_units}")));
            }
        }
        for (j, n) in std::iter::once(&u.name).chain(u.aliases.iter()).enumerate() {
            let key = if j == 0 { format!("{p}.name") } else { format!("{p}.aliases[{}]", j - 1) };
            if let Some(other) = names.insert(n.trim().to_string(), u.id.clone())
                && other != u.id
            {
                problems.push(error(key, format!("名称 {n:?} 也被单位 {other:?} 使用；每个名称只能对应一个单位")));
            }
        }
    }
    // Supervision must not loop.
    for u in &c.units {
        let mut at = u.supervisor.as_deref();
        let mut steps = 0;
        while let Some(s) = at {
            steps += 1;
            if s == u.id || steps > c.units.len() {
                problems.push(error(
                    format!("units[{}].supervisor", index_of("units", &u.id)),
                    format!("督办关系绕回了 {:?}", u.id),
                ));
                break;
            }
            at = c.unit(s).and_then(|x| x.supervisor.as_deref());
        }
    }

    check_mail(c, &|id| index_of("units", id), problems);
    check_sites(c, &|id| index_of("sources", id), problems);
    check_inspection(c, &known_units, &|id| index_of("sources", id), problems);
    check_fetch_addresses(&c.fetch, problems);
    check_storage(&c.storage, problems);
    check_numbers(c, &|id| index_of("sources", id), problems);
    for (k, v) in tree {
        check_text(v, k, problems);
    }
    if let Err(errs) = build_calendar(&c.calendar) {
        problems.extend(errs);
    }
    for (i, f) in c.calendar.files.iter().enumerate() {
        if !f.exists() {
            problems.push(warning(
                format!("calendar.files[{i}]"),
                format!(
                    "{} 尚不存在：govwatch calendar notice 读入放假通知时会创建它；在此之前只用内置安排",
                    f.display()
                ),
            ));
        }
    }
    if c.sources.is_empty() {
        problems.push(warning("sources", "没有配置任何数据源：不会抓取任何内容"));
    }
    let mut seen = HashSet::new();
    for s in &c.sources {
        let p = format!("sources[{}]", index_of("sources", &s.id));
        if !valid_id(&s.id) {
            problems.push(error(
                format!("{p}.id"),
                format!("{:?} 不是有效的标识；只能用字母、数字、'-'、'_' 或 '.'", s.id),
            ));
        }
        if !seen.insert(s.id.as_str()) {
            problems.push(error(format!("{p}.id"), format!("数据源标识 {:?} 用了两次", s.id)));
        }
        if !unit_ids.contains(&s.unit.as_str()) {
            problems.push(error(
                format!("{p}.unit"),
                format!("没有单位 {:?}{}；已配置的单位：{known_units}", s.unit, did_you_mean(&s.unit, &unit_ids)),
            ));
        }
        check_url(s, &p, problems);
        if let Err(e) = parse_schedule(&s.schedule) {
            problems.push(error(format!("{p}.schedule"), e));
        }
        match (s.kind, &s.page) {
            (SourceKind::Page, Some(page)) => check_page(page, &format!("{p}.page"), problems),
            (SourceKind::Page, None) => {}
            (_, Some(_)) => problems.push(warning(
                format!("{p}.page"),
                format!("已忽略：该数据源的 kind 是 {:?}，不是 \"page\"", s.kind.as_str()),
            )),
            _ => {}
        }
        for key in s.columns.keys() {
            if crate::sources::export::Field::from_key(key).is_none() {
                let keys: Vec<&str> = crate::sources::export::Field::ALL.iter().map(|f| f.key()).collect();
                problems.push(error(
                    format!("{p}.columns.{key}"),
                    format!("未知的字段{}；可用字段：{}", did_you_mean(key, &keys), keys.join(", ")),
                ));
            }
        }
        if let Some(from) = &s.reposts_from {
            if s.role != Role::Portal {
                problems.push(warning(
                    format!("{p}.reposts_from"),
                    "已忽略：只有 role = \"portal\"（本级网站）的数据源承担转载",
                ));
            }
            let superiors: Vec<&str> =
                c.sources.iter().filter(|x| x.role == Role::Superior).map(|x| x.id.as_str()).collect();
            for (j, id) in from.iter().enumerate() {
                if !superiors.contains(&id.as_str()) {
                    problems.push(error(
                        format!("{p}.reposts_from[{j}]"),
                        format!(
                            "没有上级政策数据源 {id:?}{}；上级政策数据源：{}",
                            did_you_mean(id, &superiors),
                            if superiors.is_empty() { "（无）".to_string() } else { superiors.join(", ") }
                        ),
                    ));
                }
            }
        }
        for (key, list) in [("repost_include", &s.repost_include), ("repost_exclude", &s.repost_exclude)] {
            for (j, re) in list.iter().enumerate() {
                if let Err(e) = Regex::new(re) {
                    problems.push(error(format!("{p}.{key}[{j}]"), format!("{re:?} 不是有效的正则表达式：{e}")));
                }
            }
        }
        if !s.columns.is_empty() && s.kind != SourceKind::Export {
            problems.push(warning(format!("{p}.columns"), "已忽略：只有导出表格（kind = \"export\"）有列名对照"));
        }
        check_site_and_intake(s, &p, problems);
        match (s.kind, s.role) {
            (SourceKind::Feed | SourceKind::Page, Role::Hotline | Role::Messages) => problems.push(warning(
                format!("{p}.role"),
                format!("role {:?} 通常来自导出表格（kind = \"export\"）", s.role.as_str()),
            )),
            (SourceKind::Export, Role::Superior | Role::Portal) => problems.push(error(
                format!("{p}.role"),
                format!("导出表格类数据源的 role 不能是 {:?}；请用 \"hotline\" 或 \"messages\"", s.role.as_str()),
            )),
            _ => {}
        }
    }
}

/// `site`, `site_name` (portal columns), `intake_only`, `history_days` (exports).
fn check_site_and_intake(s: &SourceConfig, p: &str, problems: &mut Vec<Problem>) {
    for (key, set) in [("site", s.site.is_some()), ("site_name", s.site_name.is_some())] {
        if set && s.role != Role::Portal {
            problems.push(warning(format!("{p}.{key}"), "已忽略：只有本级网站栏目（role = \"portal\"）属于某个网站"));
        }
    }
    if let Some(site) = &s.site
        && !valid_id(site.trim())
    {
        problems.push(error(
            format!("{p}.site"),
            format!("{site:?} 不是有效的标识；只能用字母、数字、'-'、'_' 或 '.'（同一网站的每个栏目写同一个标识）"),
        ));
    }
    for (key, set) in [("intake_only", s.intake_only.is_some()), ("history_days", s.history_days.is_some())] {
        if set && s.kind != SourceKind::Export {
            problems.push(warning(format!("{p}.{key}"), "已忽略：只有导出表格（kind = \"export\"）有此项"));
        }
    }
}

/// Websites whose columns disagree on what only one value can say: the
/// first column (in file order) that says it wins, as `rules::repost::sites` reads it.
fn check_sites(c: &Config, source_index: &dyn Fn(&str) -> usize, problems: &mut Vec<Problem>) {
    let mut lag: HashMap<&str, &SourceConfig> = HashMap::new();
    let mut name: HashMap<&str, &SourceConfig> = HashMap::new();
    for s in c.sources.iter().filter(|s| s.role == Role::Portal && s.enabled) {
        let p = format!("sources[{}]", source_index(&s.id));
        let lag_of = |x: &SourceConfig| (x.repost_lag_hours, x.repost_lag_working_days);
        if lag_of(s) != (None, None) {
            match lag.get(s.site_id()) {
                None => {
                    lag.insert(s.site_id(), s);
                }
                Some(f) if lag_of(f) != lag_of(s) => problems.push(warning(
                    format!(
                        "{p}.{}",
                        if s.repost_lag_hours.is_some() { "repost_lag_hours" } else { "repost_lag_working_days" }
                    ),
                    format!(
                        "网站 {:?} 的各栏目写了不同的转载时限；一个网站只有一个时限，采用 {:?} 的",
                        s.site_id(),
                        f.id
                    ),
                )),
                Some(_) => {}
            }
        }
        if let Some(n) = s.site_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            match name.get(s.site_id()) {
                None => {
                    name.insert(s.site_id(), s);
                }
                Some(f) if f.site_name.as_deref().map(str::trim) != Some(n) => problems.push(warning(
                    format!("{p}.site_name"),
                    format!(
                        "网站 {:?} 已由 {:?} 命名为 {:?}；采用该名称",
                        s.site_id(),
                        f.id,
                        f.site_name.as_deref().unwrap_or_default()
                    ),
                )),
                Some(_) => {}
            }
        }
    }
}

/// `fetch.allow_private`: each entry a host name, an address or a network.
/// `[storage]`: PostgreSQL needs an address libpq accepts (its password is never repeated).
fn check_storage(st: &Storage, problems: &mut Vec<Problem>) {
    match (st.backend, st.url.as_deref().map(str::trim).filter(|u| !u.is_empty())) {
        (StorageBackend::Postgres, None) => problems.push(error(
            "storage.url",
            "backend = \"postgres\" 需要数据库地址，如 postgresql://govwatch:密码@db.example:5432/govwatch \
             （密码可放在环境变量 GOVWATCH__STORAGE__URL 中）",
        )),
        (StorageBackend::Postgres, Some(url)) => {
            if let Err(e) = url.parse::<tokio_postgres::Config>() {
                problems.push(error("storage.url", format!("不是 PostgreSQL 能识别的地址：{e}")));
            }
        }
        (StorageBackend::Sqlite, _) => {}
    }
}

fn check_fetch_addresses(f: &Fetch, problems: &mut Vec<Problem>) {
    for (i, message) in crate::sources::address::check_allow_list(&f.allow_private) {
        problems.push(error(format!("fetch.allow_private[{i}]"), message));
    }
}

/// `[mail]`, `[alerts]`, `[web]`, and units that cannot be mailed.
fn check_mail(c: &Config, unit_index: &dyn Fn(&str) -> usize, problems: &mut Vec<Problem>) {
    let m = &c.mail;
    if let Err(e) = crate::mailer::parse_mailbox(&m.from) {
        problems.push(error("mail.from", format!("{e}；请写成如 \"govwatch <govwatch@example.gov.cn>\"")));
    }
    if m.transport == MailTransport::Smtp {
        if m.host.trim().is_empty() {
            problems.push(error("mail.host", "为空；请填写邮件服务器（SMTP）的主机名或地址"));
        }
        if m.port == Some(0) {
            problems.push(error("mail.port", "0 不是端口号"));
        }
        if m.username.is_some() != m.password.is_some() {
            let (key, hint) = if m.username.is_some() {
                ("mail.password", "设置了 username 但没有密码；请在此处或环境变量 GOVWATCH__MAIL__PASSWORD 中设置")
            } else {
                ("mail.username", "设置了密码但没有 username")
            };
            problems.push(error(key, hint));
        }
        if m.security == MailSecurity::None && m.password.is_some() {
            problems.push(warning(
                "mail.security",
                "\"none\" 会以明文发送密码；除非邮件服务器就在本机，请用 \"starttls\" 或 \"tls\"",
            ));
        }
        if let Some(f) = &m.ca_file
            && let Err(e) = std::fs::read(f)
        {
            problems.push(error("mail.ca_file", format!("无法读取 {}：{e}", f.display())));
        }
    }
    let a = &c.alerts;
    if a.enabled && a.rounds.is_empty() && !a.immediate {
        problems.push(warning("alerts.rounds", "没有设置发送时间且 immediate = false：不会发送任何邮件"));
    }
    for (i, r) in a.rounds.iter().enumerate() {
        if let Err(e) = parse_hhmm(r) {
            problems.push(error(format!("alerts.rounds[{i}]"), e));
        }
    }
    if a.report_after > 0 && a.escalate_after > a.report_after {
        problems.push(warning(
            "alerts.report_after",
            format!(
                "通报（{} 个工作日）早于催办（{} 个工作日）；通常 escalate_after 小于 report_after",
                a.report_after, a.escalate_after
            ),
        ));
    }
    for (j, e) in a.fallback.iter().enumerate() {
        if crate::mailer::parse_mailbox(e).is_err() {
            problems.push(error(format!("alerts.fallback[{j}]"), format!("{e:?} 不是邮箱地址")));
        }
    }
    if let Some(dir) = &a.templates {
        match crate::alerts::render::Templates::load(Some(dir)) {
            Ok(_) => {}
            Err(e) => problems.push(error("alerts.templates", format!("{e:#}"))),
        }
    }
    if let Err(e) = url::Url::parse(&c.web.base_url) {
        problems.push(error("web.base_url", format!("{:?} 不是网址（{e}）；邮件中的链接以它开头", c.web.base_url)));
    }
    if c.web.listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push(error("web.listen", format!("{:?} 不是“地址:端口”，如 \"127.0.0.1:8080\"", c.web.listen)));
    }
    check_users(c, problems);
    let im = &c.import;
    if im.max_csv_record_bytes < im.max_csv_field_bytes {
        problems.push(warning(
            "import.max_csv_record_bytes",
            format!(
                "{} 小于 import.max_csv_field_bytes（{}）：一条记录不会长于此值，字段上限实际是它",
                im.max_csv_record_bytes, im.max_csv_field_bytes
            ),
        ));
    }
    if a.enabled {
        for u in c.units.iter().filter(|u| u.emails.is_empty()) {
            let p = format!("units[{}].emails", unit_index(&u.id));
            if a.fallback.is_empty() {
                problems.push(warning(
                    p,
                    format!("单位 {:?} 没有收件地址，alerts.fallback 也为空：其事项不会发邮件提醒", u.id),
                ));
            } else {
                problems.push(warning(
                    p,
                    format!("单位 {:?} 没有收件地址：其邮件改发到 alerts.fallback（{}）", u.id, a.fallback.join(", ")),
                ));
            }
        }
    }
}

fn check_inspection(c: &Config, known_units: &str, source_index: &dyn Fn(&str) -> usize, problems: &mut Vec<Problem>) {
    let i = &c.inspection;
    if let Some(u) = &i.admin_unit
        && c.unit(u).is_none()
    {
        problems.push(error("inspection.admin_unit", format!("没有单位 {u:?}；已配置的单位：{known_units}")));
    }
    for (k, n) in i.personal_data_allow.iter().enumerate() {
        if n.chars().filter(|c| c.is_ascii_digit() || ('０'..='９').contains(c)).count() < 7 {
            problems.push(error(
                format!("inspection.personal_data_allow[{k}]"),
                format!("“{n}”不是号码：应写手机号、证件号或银行卡号，至少 7 位数字"),
            ));
        }
    }
    let l = &i.links;
    if l.enabled
        && let Err(e) = parse_schedule(&l.schedule)
    {
        problems.push(error("inspection.links.schedule", e));
    }
    if !i.enabled {
        return;
    }
    for s in &c.sources {
        let p = format!("sources[{}]", source_index(&s.id));
        if s.role != Role::Portal && (s.category.is_some() || s.stale_after_days.is_some()) {
            problems.push(warning(
                format!("{p}.category"),
                "category 和 stale_after_days 只适用于本级网站栏目（role = \"portal\"）",
            ));
        }
    }
}

fn check_url(s: &SourceConfig, p: &str, problems: &mut Vec<Problem>) {
    let url = s.url.trim();
    if url.is_empty() {
        problems.push(error(format!("{p}.url"), "为空；请填写 http(s) 网址或本地文件路径"));
        return;
    }
    if s.is_http() {
        if let Err(e) = url::Url::parse(url) {
            problems.push(error(format!("{p}.url"), format!("{url:?} 不是有效的网址：{e}")));
        }
    } else if url.contains("://") {
        problems.push(error(format!("{p}.url"), format!("{url:?}：只支持 http、https 和本地文件路径")));
    } else if !Path::new(url).exists() {
        problems
            .push(warning(format!("{p}.url"), format!("{url:?} 处没有文件（相对路径相对于当前工作目录 {}）", cwd())));
    }
}

fn cwd() -> String {
    std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|_| "?".into())
}

fn check_page(page: &PageConfig, p: &str, problems: &mut Vec<Problem>) {
    for (key, sel) in [
        ("item", &page.item),
        ("title", &page.title),
        ("link", &page.link),
        ("date", &page.date),
        ("next", &page.next),
        ("body", &page.body),
    ] {
        if let Some(sel) = sel
            && let Err(e) = scraper::Selector::parse(sel)
        {
            problems.push(error(format!("{p}.{key}"), format!("{sel:?} 不是有效的 CSS 选择器：{e}")));
        }
    }
    if let Some(fmt) = &page.date_format {
        use chrono::format::{Item, StrftimeItems};
        if StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error)) {
            problems.push(error(format!("{p}.date_format"), format!("{fmt:?} 不是有效的日期格式；如 \"%Y-%m-%d\"")));
        }
    }
    if let Some(n) = page.pages
        && !(1..=100).contains(&n)
    {
        problems.push(error(format!("{p}.pages"), format!("{n} 超出范围；可读取 1 到 100 个列表页")));
    }
    if let Some(n) = page.follow_limit {
        in_range(problems, format!("{p}.follow_limit"), n as u64, 1, 10_000, "个", Some(50));
    }
}

/// An error when `v` is outside `lo..=hi`, naming the key, the range (in
/// `unit`) and the default.
fn in_range(problems: &mut Vec<Problem>, key: String, v: u64, lo: u64, hi: u64, unit: &str, default: Option<u64>) {
    if !(lo..=hi).contains(&v) {
        let default = default.map(|d| format!("（默认 {d}）")).unwrap_or_default();
        problems.push(error(key, format!("{v} 超出范围：应为 {lo} 到 {hi}{unit}{default}")));
    }
}

/// A number's key, value, least and greatest allowed, unit and default.
type Bound = (String, u64, u64, u64, &'static str, Option<u64>);

/// Every number in the configuration within a sane range: 0 where a count
/// or a limit must be at least 1 would stop the work (`fetch.per_host = 0`
/// never fetches), and a huge one (`fetch.retries = 4000000000`) would hold
/// a poll or the memory for good.
fn check_numbers(c: &Config, source_index: &dyn Fn(&str) -> usize, problems: &mut Vec<Problem>) {
    const SECS: &str = " 秒";
    const DAYS: &str = " 天";
    const WDAYS: &str = " 个工作日";
    const HOURS: &str = " 小时";
    const TIMES: &str = " 次";
    const ROWS: &str = " 条";
    const BYTES: &str = " 字节";
    let dim = ImportConfig::default();
    const WEEK: u64 = 7 * 86_400;
    let (f, d) = (&c.fetch, Fetch::default());
    let r = &c.rules;
    let (dr, dh) = (RulesConfig::default(), HotlineRules::default());
    let (a, da) = (&c.alerts, AlertsConfig::default());
    let (i, di) = (&c.inspection, InspectionConfig::default());
    let (l, dl) = (&i.links, LinkCheckConfig::default());
    let (w, dw) = (&c.web, WebConfig::default());
    let mut table: Vec<Bound> = vec![
        ("storage.pool_size".into(), c.storage.pool_size as u64, 1, 256, "", Some(Storage::default().pool_size as u64)),
        ("fetch.timeout_secs".into(), f.timeout_secs, 1, 3600, SECS, Some(d.timeout_secs)),
        ("fetch.connect_timeout_secs".into(), f.connect_timeout_secs, 1, 600, SECS, Some(d.connect_timeout_secs)),
        ("fetch.max_body_bytes".into(), f.max_body_bytes, 1024, 1 << 30, " 字节", Some(d.max_body_bytes)),
        ("fetch.per_host".into(), f.per_host as u64, 1, 64, "", Some(d.per_host as u64)),
        ("fetch.concurrency".into(), f.concurrency as u64, 1, 1024, "", Some(d.concurrency as u64)),
        ("fetch.retries".into(), f.retries.into(), 0, 10, TIMES, Some(d.retries.into())),
        ("fetch.retry_base_ms".into(), f.retry_base_ms, 1, 60_000, " 毫秒", Some(d.retry_base_ms)),
        ("fetch.backoff_base_secs".into(), f.backoff_base_secs, 1, 86_400, SECS, Some(d.backoff_base_secs)),
        ("fetch.backoff_max_secs".into(), f.backoff_max_secs, 1, WEEK, SECS, Some(d.backoff_max_secs)),
        ("fetch.retry_after_max_secs".into(), f.retry_after_max_secs, 0, WEEK, SECS, Some(d.retry_after_max_secs)),
        ("index.threads".into(), c.index.threads as u64, 1, 64, "", Some(2)),
        ("index.heap_mb".into(), c.index.heap_mb as u64, 32, 65_536, " MB", Some(512)),
        ("rules.warn_working_days".into(), r.warn_working_days.into(), 0, 30, WDAYS, Some(dr.warn_working_days.into())),
        ("rules.warn_hours".into(), r.warn_hours.into(), 0, 720, HOURS, Some(dr.warn_hours.into())),
        (
            "rules.hotline.default_days".into(),
            r.hotline.default_days.into(),
            1,
            365,
            WDAYS,
            Some(dh.default_days.into()),
        ),
        (
            "rules.hotline.urgent_hours".into(),
            r.hotline.urgent_hours.into(),
            1,
            720,
            HOURS,
            Some(dh.urgent_hours.into()),
        ),
        (
            "rules.hotline.extension_days".into(),
            r.hotline.extension_days.into(),
            0,
            365,
            WDAYS,
            Some(dh.extension_days.into()),
        ),
        ("rules.messages.reply_days".into(), r.messages.reply_days.into(), 1, 365, WDAYS, Some(5)),
        ("rules.messages.unanswered_months".into(), r.messages.unanswered_months.into(), 1, 120, " 个月", Some(3)),
        ("rules.disclosure.days".into(), r.disclosure.days.into(), 1, 365, WDAYS, Some(20)),
        ("rules.disclosure.extension_days".into(), r.disclosure.extension_days.into(), 0, 365, WDAYS, Some(20)),
        ("rules.repost.lag_working_days".into(), r.repost.lag_working_days.into(), 0, 30, WDAYS, Some(1)),
        ("rules.repost.window_days".into(), r.repost.window_days.into(), 1, 3650, DAYS, Some(90)),
        ("rules.opinion.hours".into(), r.opinion.hours.into(), 1, 720, HOURS, Some(48)),
        ("rules.opinion.major_hours".into(), r.opinion.major_hours.into(), 1, 720, HOURS, Some(24)),
        ("mail.timeout_secs".into(), c.mail.timeout_secs, 1, 600, SECS, Some(30)),
        (
            "alerts.repeat_working_days".into(),
            a.repeat_working_days.into(),
            0,
            365,
            WDAYS,
            Some(da.repeat_working_days.into()),
        ),
        ("alerts.escalate_after".into(), a.escalate_after.into(), 0, 365, WDAYS, Some(da.escalate_after.into())),
        ("alerts.report_after".into(), a.report_after.into(), 0, 365, WDAYS, Some(da.report_after.into())),
        ("alerts.max_rows".into(), a.max_rows as u64, 1, 10_000, ROWS, Some(da.max_rows as u64)),
        (
            "alerts.max_rows_per_group".into(),
            a.max_rows_per_group as u64,
            1,
            10_000,
            ROWS,
            Some(da.max_rows_per_group as u64),
        ),
        (
            "alerts.give_up_after_hours".into(),
            a.give_up_after_hours.into(),
            1,
            8760,
            HOURS,
            Some(da.give_up_after_hours.into()),
        ),
        ("web.session_hours".into(), w.session_hours, 1, 720, HOURS, Some(dw.session_hours)),
        ("web.header_timeout_secs".into(), w.header_timeout_secs, 1, 300, SECS, Some(dw.header_timeout_secs)),
        ("daemon.shutdown_timeout_secs".into(), c.daemon.shutdown_timeout_secs, 1, 600, SECS, Some(10)),
        ("daemon.lease_secs".into(), c.daemon.lease_secs, 2, 3600, SECS, Some(60)),
        ("import.max_xlsx_bytes".into(), c.import.max_xlsx_bytes, 1 << 16, 16 << 30, BYTES, Some(dim.max_xlsx_bytes)),
        ("import.max_xlsx_entries".into(), c.import.max_xlsx_entries, 1, 1_000_000, "", Some(dim.max_xlsx_entries)),
        ("import.max_cells".into(), c.import.max_cells, 1, 1_000_000_000, "", Some(dim.max_cells)),
        (
            "import.max_csv_field_bytes".into(),
            c.import.max_csv_field_bytes,
            1,
            1 << 30,
            BYTES,
            Some(dim.max_csv_field_bytes),
        ),
        (
            "import.max_csv_record_bytes".into(),
            c.import.max_csv_record_bytes,
            1,
            1 << 30,
            BYTES,
            Some(dim.max_csv_record_bytes),
        ),
        ("import.max_csv_columns".into(), c.import.max_csv_columns, 1, 100_000_000, "", Some(dim.max_csv_columns)),
        ("inspection.news_days".into(), i.news_days.into(), 1, 3650, DAYS, Some(di.news_days.into())),
        ("inspection.notices_months".into(), i.notices_months.into(), 1, 120, " 个月", Some(di.notices_months.into())),
        ("inspection.warn_days".into(), i.warn_days.into(), 0, 365, DAYS, Some(di.warn_days.into())),
        (
            "inspection.unhealthy_after_failures".into(),
            i.unhealthy_after_failures.into(),
            1,
            1000,
            TIMES,
            Some(di.unhealthy_after_failures.into()),
        ),
        (
            "inspection.links.dead_after_failures".into(),
            l.dead_after_failures.into(),
            1,
            100,
            TIMES,
            Some(dl.dead_after_failures.into()),
        ),
        (
            "inspection.links.dead_after_days".into(),
            l.dead_after_days.into(),
            0,
            365,
            DAYS,
            Some(dl.dead_after_days.into()),
        ),
        ("inspection.links.per_host".into(), l.per_host as u64, 1, 64, "", Some(dl.per_host as u64)),
        ("inspection.links.concurrency".into(), l.concurrency as u64, 1, 1024, "", Some(dl.concurrency as u64)),
        ("inspection.links.timeout_secs".into(), l.timeout_secs, 1, 600, SECS, Some(dl.timeout_secs)),
        (
            "inspection.links.recheck_hours".into(),
            l.recheck_hours.into(),
            0,
            8760,
            HOURS,
            Some(dl.recheck_hours.into()),
        ),
        ("inspection.links.per_run".into(), l.per_run as u64, 1, 10_000_000, ROWS, Some(dl.per_run as u64)),
    ];
    if let Some(h) = r.repost.lag_hours {
        table.push(("rules.repost.lag_hours".into(), h.into(), 1, 720, HOURS, None));
    }
    for (word, days) in &r.hotline.days {
        table.push((format!("rules.hotline.days.{word}"), (*days).into(), 1, 365, WDAYS, None));
    }
    for s in &c.sources {
        let p = format!("sources[{}]", source_index(&s.id));
        for (key, v, lo, hi, unit) in [
            ("repost_lag_working_days", s.repost_lag_working_days, 0, 30, WDAYS),
            ("repost_lag_hours", s.repost_lag_hours, 1, 720, HOURS),
            ("stale_after_days", s.stale_after_days, 1, 3650, DAYS),
            ("expected_interval_days", s.expected_interval_days, 1, 3650, DAYS),
            ("history_days", s.history_days, 0, 36_500, DAYS),
        ] {
            if let Some(v) = v {
                table.push((format!("{p}.{key}"), v.into(), lo, hi, unit, None));
            }
        }
    }
    for (key, v, lo, hi, unit, default) in table {
        in_range(problems, key, v, lo, hi, unit, default);
    }
    if f.backoff_max_secs < f.backoff_base_secs {
        problems.push(error(
            "fetch.backoff_max_secs",
            format!("{} 小于 backoff_base_secs（{}）：退避上限不能小于起始值", f.backoff_max_secs, f.backoff_base_secs),
        ));
    }
    let threads = c.index.threads.max(1);
    if c.index.heap_mb < 16 * threads && (32..=65_536).contains(&c.index.heap_mb) {
        problems.push(error(
            "index.heap_mb",
            format!(
                "{} MB 不够 {threads} 个建索引线程用：每个线程至少 16 MB，应至少 {}",
                c.index.heap_mb,
                16 * threads
            ),
        ));
    }
}

/// Characters no configured text may hold: control characters (CR and LF
/// would let a unit's name or address add lines to an email's header), and
/// the Unicode line separators and direction overrides that make text read
/// otherwise than it is.
fn bad_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Every string in the configuration tree (keys too) free of [`bad_char`]s,
/// each one found reported at its key path.
fn check_text(tree: &serde_json::Value, path: &str, problems: &mut Vec<Problem>) {
    let shown = |s: &str| s.chars().flat_map(char::escape_debug).take(80).collect::<String>();
    match tree {
        serde_json::Value::String(s) => {
            if let Some(ch) = s.chars().find(|c| bad_char(*c)) {
                problems.push(error(
                    path,
                    format!(
                        "\"{}\" 含控制字符{}：配置中的文字不能含换行、回车、制表符等控制字符",
                        shown(s),
                        match ch {
                            '\r' => "（回车 \\r）".to_string(),
                            '\n' => "（换行 \\n）".to_string(),
                            '\t' => "（制表符 \\t）".to_string(),
                            c => format!("（U+{:04X}）", c as u32),
                        }
                    ),
                ));
            }
        }
        serde_json::Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                check_text(v, &format!("{path}[{i}]"), problems);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                if k.chars().any(bad_char) {
                    problems.push(error(
                        &key,
                        format!("键 \"{}\" 含控制字符：配置中的文字不能含换行、回车、制表符等控制字符", shown(k)),
                    ));
                }
                check_text(v, &key, problems);
            }
        }
        _ => {}
    }
}

/// The official calendar with the configured additions: schedule files are
/// read (this is the IO of configuration loading) and every bad line is a
/// problem at `calendar.files[i]`. A file that does not exist yet adds
/// nothing (`govwatch calendar notice` creates it; `check` warns).
pub fn build_calendar(c: &CalendarSettings) -> Result<crate::calendar::Calendar, Vec<Problem>> {
    let mut cal = crate::calendar::Calendar::official();
    let mut problems = Vec::new();
    for (i, f) in c.files.iter().enumerate() {
        let path = format!("calendar.files[{i}]");
        match std::fs::read_to_string(f) {
            Ok(text) => {
                if let Err(errs) = cal.add_schedule(&text, &f.display().to_string()) {
                    problems.extend(errs.into_iter().map(|e| error(&path, e.to_string())));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(error(&path, format!("无法读取 {}：{e}", f.display()))),
        }
    }
    for d in &c.days {
        cal.set_day(d.date, d.off, &d.name);
    }
    if problems.is_empty() { Ok(cal) } else { Err(problems) }
}

/// Parses a schedule the way the daemon's scheduler will (six fields,
/// seconds first), with a hint for the usual mistake.
pub fn parse_schedule(s: &str) -> Result<croner::Cron, String> {
    let fields = s.split_whitespace().count();
    if fields == 5 {
        return Err(format!("{s:?} 只有 5 段；计划须有 6 段，秒在最前：\"0 {s}\""));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(s)
        .map_err(|e| format!("{s:?} 不是有效的计划（{e}）；请写六段，秒在最前，如 \"{DEFAULT_SCHEDULE}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [storage]
        data_dir = "var"
        index_dir = "index"

        [[units]]
        id = "bangongshi"
        name = "区政府办公室"
        emails = ["gk@example.gov.cn"]
        supervisor = "gongkaiban"
        aliases = ["区府办"]

        [[units]]
        id = "gongkaiban"
        name = "区政务公开办"
        emails = ["gkb@example.gov.cn"]

        [[sources]]
        id = "gov-zhengce"
        name = "国务院 最新政策"
        kind = "feed"
        url = "https://www.gov.cn/rss.xml"
        unit = "bangongshi"
        role = "superior"
        level = "national"
        schedule = "0 */30 * * * *"

        [[sources]]
        id = "col"
        kind = "page"
        url = "https://www.example.gov.cn/tzgg/"
        unit = "gongkaiban"
        role = "portal"
        level = "county"
        [sources.page]
        item = "ul.list li"
        title = "a"
        link = "a"
        date = "span"
    "#;

    #[test]
    fn the_contract_example_is_clean() {
        let l = from_toml_str(GOOD).unwrap();
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        assert_eq!(l.config.sources[1].page.as_ref().unwrap().item.as_deref(), Some("ul.list li"));
        assert_eq!(l.config.fetch.per_host, 2);
    }

    #[test]
    fn site_and_intake_keys_are_checked() {
        let column = |id: &str, extra: &str| {
            format!(
                "\n[[sources]]\nid = \"{id}\"\nkind = \"feed\"\nurl = \"https://www.example.gov.cn/{id}.xml\"\n\
                 unit = \"gongkaiban\"\nrole = \"portal\"\nlevel = \"county\"\n{extra}\n"
            )
        };
        let toml = format!(
            "{GOOD}{}{}{}",
            column("a", "site = \"xian menhu\""),
            column("b", "repost_lag_hours = 8\nsite_name = \"县门户\""),
            column("c", "repost_lag_working_days = 1\nsite_name = \"县政府网站\"\nintake_only = true"),
        );
        let l = from_toml_str(&toml).unwrap();
        let problems: Vec<String> = l.problems.iter().map(|p| p.to_string()).collect();
        let has = |s: &str| problems.iter().any(|p| p.contains(s));
        assert!(has("错误：sources[2].site：\"xian menhu\" 不是有效的标识"), "{problems:#?}");
        // b and c are columns of gongkaiban's website (the default site), with "col" in GOOD.
        assert!(
            has("警告：sources[4].repost_lag_working_days：网站 \"gongkaiban\" 的各栏目写了不同的转载时限"),
            "{problems:#?}"
        );
        assert!(has("警告：sources[4].site_name：网站 \"gongkaiban\" 已由 \"b\" 命名为 \"县门户\""), "{problems:#?}");
        assert!(has("警告：sources[4].intake_only：已忽略：只有导出表格"), "{problems:#?}");
        assert_eq!(problems.len(), 4, "{problems:#?}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = GOOD
            .replace("unit = \"gongkaiban\"", "unit = \"jiaoyuju\"")
            .replace("schedule = \"0 */30 * * * *\"", "shedule = \"*/30 * * * *\"")
            .replace("supervisor = \"gongkaiban\"", "supervisor = \"nobody\"")
            .replace("item = \"ul.list li\"", "item = \"ul..list\"");
        let l = from_toml_str(&bad).unwrap();
        let shown: Vec<String> = l.problems.iter().map(|p| p.to_string()).collect();
        let all = shown.join("\n");
        assert!(all.contains("sources[1].unit：没有单位 \"jiaoyuju\""), "{all}");
        assert!(all.contains("已配置的单位：bangongshi, gongkaiban"), "{all}");
        assert!(all.contains("sources[0].shedule") || all.contains("sources[0]：未知的键 \"shedule\""), "{all}");
        assert!(all.contains("是否想写 \"schedule\"？"), "{all}");
        assert!(all.contains("units[0].supervisor：没有单位 \"nobody\""), "{all}");
        assert!(all.contains("sources[1].page.item"), "{all}");
    }

    #[test]
    fn wrong_types_and_values_name_the_key() {
        let bad = GOOD.replace("role = \"superior\"", "role = \"superiour\"").replace("per_host = 2", "");
        let l = from_toml_str(&(bad + "\n[fetch]\nper_host = \"two\"\n")).unwrap();
        let all: Vec<String> = l.problems.iter().map(|p| p.to_string()).collect();
        let all = all.join("\n");
        assert!(all.contains("sources[0].role：未知的值 \"superiour\"（是否想写 \"superior\"？）"), "{all}");
        assert!(all.contains("fetch.per_host"), "{all}");
    }

    #[test]
    fn five_field_cron_gets_a_hint() {
        let e = parse_schedule("*/30 * * * *").unwrap_err();
        assert!(e.contains("\"0 */30 * * * *\""), "{e}");
        assert!(parse_schedule("0 0 9 * * MON-FRI").is_ok());
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, GOOD).unwrap();
        let l = load_with_env(
            &path,
            vec![
                ("GOVWATCH__STORAGE__DATA_DIR".into(), "/srv/gw".into()),
                ("GOVWATCH__FETCH__PER_HOST".into(), "5".into()),
            ],
        )
        .unwrap();
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        assert_eq!(l.config.storage.data_dir, PathBuf::from("/srv/gw"));
        assert_eq!(l.config.storage.index_dir, PathBuf::from("index"));
        assert_eq!(l.config.fetch.per_host, 5);
    }

    #[test]
    fn mail_and_alerts_problems_name_their_keys() {
        let bad = GOOD.replace("emails = [\"gkb@example.gov.cn\"]\n", "")
            + r#"
            [mail]
            transport = "smtp"
            security = "none"
            username = "gw"
            from = "not an address"
            ca_file = "/nonexistent/ca.pem"
            [alerts]
            rounds = ["09:00", "9am"]
            fallback = ["duty(at)example.gov.cn"]
            [web]
            base_url = "gk.example.gov.cn"
        "#;
        let l = from_toml_str(&bad).unwrap();
        let all: Vec<String> = l.problems.iter().map(|p| p.to_string()).collect();
        let all = all.join("\n");
        for want in [
            "错误：mail.from：\"not an address\" 不是邮箱地址",
            "错误：mail.password：设置了 username 但没有密码",
            "错误：mail.ca_file：无法读取 /nonexistent/ca.pem",
            "错误：alerts.rounds[1]：\"9am\" 不是时刻",
            "错误：alerts.fallback[0]",
            "错误：web.base_url",
            "警告：units[1].emails：单位 \"gongkaiban\" 没有收件地址",
        ] {
            assert!(all.contains(want), "{want}\n---\n{all}");
        }
        // The password may come from the environment, as a number too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, GOOD.to_string() + "\n[mail]\ntransport = \"smtp\"\nusername = \"gw\"\n").unwrap();
        let l = load_with_env(&path, vec![("GOVWATCH__MAIL__PASSWORD".into(), "123456".into())]).unwrap();
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        assert_eq!(l.config.mail.password, Some(Secret("123456".into())));
        assert_eq!(l.config.mail.port(), 587);
        assert!(!format!("{:?}", l.config.mail).contains("123456"), "the password is never shown");
    }
}
