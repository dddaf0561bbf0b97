//! The console's pages and their JSON twins. Every handler reads on the
//! blocking pool, builds plain rows (masked for roles that may not see
//! citizens' numbers), and renders a template — or serializes the same rows.
//!
//! Content from feeds and exports is untrusted: templates auto-escape, the
//! only `|safe` values are the index's highlighted fragments (escaped by
//! `index::snippet` before the `<b>` tags go in), and links to originals are
//! shown only for http(s) URLs.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::User;
use crate::alerts::Line;
use crate::config::{self, Config};
use crate::glossary::REPOST_STATES;
use crate::index::{SearchRequest, Sort};
use crate::model::ItemId;
use crate::rules::{Rule, State as FState};

/// The search filters' item kinds and levels: (name, the glossary's word).
pub fn kinds() -> Vec<(&'static str, &'static str)> {
    use crate::model::ItemKind;
    [ItemKind::Feed, ItemKind::Page, ItemKind::Hotline, ItemKind::Message].map(|k| (k.as_str(), k.zh())).to_vec()
}

pub fn levels() -> Vec<(&'static str, &'static str)> {
    use crate::model::Level;
    [Level::National, Level::Province, Level::City, Level::County, Level::Town, Level::Department]
        .map(|l| (l.as_str(), l.zh()))
        .to_vec()
}

/// The glossary's word for an item kind or level given by name ("" if unknown).
fn word_of(list: &[(&'static str, &'static str)], name: &str) -> &'static str {
    list.iter().find(|k| k.0 == name).map_or("", |k| k.1)
}
/// Rows a download holds at most.
pub const DOWNLOAD_ROWS: usize = 10_000;
const PAGE_SIZE: usize = 20;
/// The search page offers sources in a list up to this many; beyond, a text field.
const SOURCE_OPTIONS: usize = 200;

pub type Params = Query<HashMap<String, String>>;

/// An error page or JSON error with a status.
pub struct WebError(pub StatusCode, pub String);

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %format!("{e:#}"), "console request failed");
        WebError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        (
            self.0,
            Html(format!(
                "<!doctype html><meta charset=utf-8><title>出错了</title><p>{}</p>",
                crate::index::snippet::escape_html(&self.1)
            )),
        )
            .into_response()
    }
}

/// A JSON API error.
pub struct ApiError(pub StatusCode, pub String);

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %format!("{e:#}"), "API request failed");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e.0, e.1)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

/// Runs blocking work (the store, the index) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    // Searches are CPU work: fifty of them at once on two cores only take
    // turns, each fifty times as long, with the threads' switching on top.
    // Queued instead, they finish in order and the slowest wait less.
    let permit = slots().clone().acquire_owned().await.context("the console is shutting down")?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await
    .context("a console task panicked")?
}

/// How many store and index calls run at once: two per core (a store call
/// may wait on the disk).
fn slots() -> &'static Arc<tokio::sync::Semaphore> {
    static SLOTS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(tokio::sync::Semaphore::new(2 * cores))
    })
}

/// Renders `name` with the page context plus what every page shows.
pub fn render(
    st: &AppState,
    name: &str,
    user: Option<&User>,
    page: &str,
    ctx: Value,
) -> Result<Html<String>, WebError> {
    let mut ctx = ctx;
    if let Value::Object(m) = &mut ctx {
        m.insert("page".into(), json!(page));
        m.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
        if let Some(u) = user {
            m.insert("user".into(), json!({"name": u.name, "csrf": u.csrf}));
            m.insert("role_zh".into(), json!(u.role.zh()));
            m.insert("masked".into(), json!(!u.role.sees_personal_data()));
        }
    }
    let t = st.templates.get_template(name).map_err(|e| WebError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    t.render(ctx).map(Html).map_err(|e| WebError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))
}

/// Masks citizens' numbers and names unless the user may see them.
pub fn m<'a>(user: &User, s: &'a str) -> Cow<'a, str> {
    if user.role.sees_personal_data() { Cow::Borrowed(s) } else { crate::alerts::mask::mask(s) }
}

fn t(d: &DateTime<FixedOffset>) -> String {
    d.format("%Y-%m-%d %H:%M").to_string()
}

fn safe_link(url: Option<&str>) -> Option<String> {
    let u = url?;
    let lower = u.trim_start().to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| u.to_string())
}

fn unit_name(cfg: &Config, id: &str) -> String {
    cfg.unit(id).map_or_else(|| id.to_string(), |u| u.name.clone())
}

fn source_name(cfg: &Config, id: &str) -> String {
    cfg.source(id).map_or_else(|| id.to_string(), |s| s.display_name().to_string())
}

fn param<'a>(p: &'a HashMap<String, String>, k: &str) -> &'a str {
    p.get(k).map(|s| s.trim()).unwrap_or("")
}

/// The query string of `p` with `k` set to `v` (for paging links).
fn with_param(p: &HashMap<String, String>, k: &str, v: &str) -> String {
    let mut pairs: BTreeMap<&str, &str> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    pairs.insert(k, v);
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
        .finish()
}

fn query_string(p: &HashMap<String, String>) -> String {
    let pairs: BTreeMap<&str, &str> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
        .finish()
}

// ───────────────────────── findings ─────────────────────────

/// One row of the overdue board (and of its downloads and `/api/findings`).
#[derive(Debug, Clone, Serialize)]
pub struct FindingRow {
    pub fingerprint: String,
    pub rule: &'static str,
    pub rule_zh: &'static str,
    pub state: &'static str,
    pub state_zh: &'static str,
    pub item_id: String,
    pub unit: String,
    pub unit_name: String,
    pub number: String,
    pub summary: String,
    pub received: String,
    pub deadline: String,
    /// Working days overdue (0 when not yet).
    pub days: i64,
    pub basis: String,
    pub link: String,
}

/// Open findings as last evaluated, filtered and sorted by the parameters.
fn finding_rows(
    st: &AppState,
    user: &User,
    p: &HashMap<String, String>,
    unit: Option<&str>,
) -> Result<Vec<FindingRow>> {
    let cfg = st.config();
    let mut lines: Vec<Line> = st.store.alert_lines(crate::cli::now())?;
    crate::alerts::words::name_sources(&mut lines, &cfg.sources);
    let unit = unit.or(Some(param(p, "unit")).filter(|s| !s.is_empty()));
    let rule = param(p, "rule");
    let state = param(p, "state");
    let mut rows: Vec<(Line, FindingRow)> = lines
        .into_iter()
        .filter(|l| l.state != FState::Resolved)
        .filter(|l| unit.is_none_or(|u| l.unit == u))
        .filter(|l| rule.is_empty() || l.rule.as_str() == rule)
        .filter(|l| state.is_empty() || l.state.as_str() == state)
        .map(|l| {
            let summary: String = m(user, crate::alerts::words::summary_source(&l)).chars().take(80).collect();
            let row = FindingRow {
                fingerprint: l.fingerprint.clone(),
                rule: l.rule.as_str(),
                rule_zh: l.rule.zh(),
                state: l.state.as_str(),
                state_zh: l.state.zh(),
                item_id: l.item_id.to_string(),
                unit: l.unit.clone(),
                unit_name: unit_name(&cfg, &l.unit),
                // No internal id as a number: an item without 文号 or 编号 shows none.
                number: l.number.clone().unwrap_or_default(),
                summary,
                received: l.received_at.as_ref().map(t).unwrap_or_default(),
                deadline: t(&l.deadline),
                days: l.overdue_working_days,
                basis: l.basis.clone(),
                link: l.url(&cfg.web),
            };
            (l, row)
        })
        .collect();
    match param(p, "sort") {
        "deadline" => rows.sort_by_key(|a| a.0.deadline),
        "unit" => rows.sort_by(|a, b| {
            a.1.unit_name.cmp(&b.1.unit_name).then(b.0.overdue_working_days.cmp(&a.0.overdue_working_days))
        }),
        "received" => rows.sort_by_key(|a| a.0.received_at),
        _ => rows.sort_by(|a, b| {
            (b.0.state == FState::Overdue)
                .cmp(&(a.0.state == FState::Overdue))
                .then(b.0.overdue_working_days.cmp(&a.0.overdue_working_days))
                .then(a.0.deadline.cmp(&b.0.deadline))
        }),
    }
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

#[derive(Serialize)]
struct UnitCount {
    id: String,
    name: String,
    overdue: usize,
    due_soon: usize,
    max_days: i64,
}

fn by_unit(rows: &[FindingRow]) -> Vec<UnitCount> {
    let mut m: BTreeMap<&str, UnitCount> = BTreeMap::new();
    for r in rows {
        let e = m.entry(&r.unit).or_insert_with(|| UnitCount {
            id: r.unit.clone(),
            name: r.unit_name.clone(),
            overdue: 0,
            due_soon: 0,
            max_days: 0,
        });
        if r.state == "overdue" {
            e.overdue += 1;
            e.max_days = e.max_days.max(r.days);
        } else {
            e.due_soon += 1;
        }
    }
    let mut v: Vec<UnitCount> = m.into_values().collect();
    v.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(b.max_days.cmp(&a.max_days)).then(b.due_soon.cmp(&a.due_soon)));
    v
}

/// The warning the board and the home page show when a deadline on them was
/// counted in a year without an official schedule (Monday–Friday).
fn calendar_warning(cfg: &Config, rows: &[FindingRow], today: chrono::NaiveDate) -> Option<String> {
    let days = rows
        .iter()
        .filter_map(|r| r.deadline.get(..10).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()))
        .chain([today]);
    let (from, to) = (days.clone().min()?, days.max()?);
    let cal = config::build_calendar(&cfg.calendar).ok()?;
    let years: Vec<String> = cal.uncovered_years(from, to).iter().map(|y| format!("{y} 年")).collect();
    (!years.is_empty()).then(|| {
        format!(
            "尚未收录 {}的国务院办公厅节假日安排：其中的期限暂按周一至周五计算，可能有误。\
             请管理员在通知发布后用 govwatch calendar notice 读入。",
            years.join("、")
        )
    })
}

fn unit_options(cfg: &Config) -> Vec<(String, String)> {
    cfg.units.iter().map(|u| (u.id.clone(), u.name.clone())).collect()
}

pub async fn home(State(st): State<Arc<AppState>>, Extension(user): Extension<User>) -> Result<Html<String>, WebError> {
    let (s, u) = (st.clone(), user.clone());
    let ctx = blocking(move || -> Result<Value> {
        let cfg = s.config();
        let rows = finding_rows(&s, &u, &HashMap::new(), None)?;
        let units = by_unit(&rows);
        let health = s.store.source_health()?;
        let failing = cfg
            .sources
            .iter()
            .filter(|src| src.enabled && health.iter().any(|h| h.id == src.id && h.consecutive_failures > 0))
            .count();
        // As last evaluated (the daemon every ten minutes), not recomputed per visit.
        let reposts_overdue: i64 = s
            .store
            .finding_counts()?
            .iter()
            .filter(|(rule, state, _)| rule == Rule::Repost.as_str() && state == "overdue")
            .map(|(_, _, n)| n)
            .sum();
        Ok(json!({
            "calendar_warning": calendar_warning(&cfg, &rows, crate::cli::now().date_naive()),
            "overdue": rows.iter().filter(|r| r.state == "overdue").count(),
            "due_soon": rows.iter().filter(|r| r.state == "due_soon").count(),
            "units": units,
            "failing": failing,
            "reposts_overdue": reposts_overdue,
            "items": s.store.count_items()?,
            "last_round": s.store.last_round()?.map(|(round, _, n)| format!("{}，{n} 封", crate::glossary::round(&round))),
        }))
    })
    .await?;
    render(&st, "home.html", Some(&user), "home", ctx)
}

fn findings_ctx(st: &AppState, user: &User, p: &HashMap<String, String>, unit: Option<&str>) -> Result<Value> {
    let cfg = st.config();
    let rows = finding_rows(st, user, p, unit)?;
    let mut by_rule: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            let of = |s: &str| rows.iter().filter(|x| x.rule == r.as_str() && x.state == s).count();
            json!({"name": r.zh(), "overdue": of("overdue"), "due_soon": of("due_soon")})
        })
        .collect();
    by_rule.retain(|v| v["overdue"] != 0 || v["due_soon"] != 0);
    let unit_page = unit.and_then(|u| cfg.unit(u)).map(|u| {
        json!({
            "name": u.name,
            "supervisor_id": u.supervisor,
            "supervisor": u.supervisor.as_deref().map(|s| unit_name(&cfg, s)),
            "emails": u.emails.join("、"),
        })
    });
    Ok(json!({
        "heading": match unit.and_then(|u| cfg.unit(u)) { Some(u) => format!("{}：待办事项", u.name), None => "超期督办".into() },
        "unit_page": unit_page,
        "calendar_warning": calendar_warning(&cfg, &rows, crate::cli::now().date_naive()),
        "overdue": rows.iter().filter(|r| r.state == "overdue").count(),
        "due_soon": rows.iter().filter(|r| r.state == "due_soon").count(),
        "by_unit": by_unit(&rows),
        "by_rule": by_rule,
        "rows": rows,
        "unit_options": unit_options(&cfg),
        "rules": Rule::ALL.iter().map(|r| (r.as_str(), r.zh())).collect::<Vec<_>>(),
        "f": {"unit": param(p, "unit"), "rule": param(p, "rule"), "state": param(p, "state"), "sort": param(p, "sort")},
        "query_string": query_string(p),
    }))
}

pub async fn findings(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Query(p): Params,
) -> Result<Html<String>, WebError> {
    let (s, u) = (st.clone(), user.clone());
    let ctx = blocking(move || findings_ctx(&s, &u, &p, None)).await?;
    render(&st, "findings.html", Some(&user), "findings", ctx)
}

pub async fn unit_page(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Path(unit): Path<String>,
    Query(p): Params,
) -> Result<Html<String>, WebError> {
    if st.config().unit(&unit).is_none() {
        return Err(WebError(StatusCode::NOT_FOUND, format!("没有单位「{unit}」")));
    }
    let (s, u) = (st.clone(), user.clone());
    let ctx = blocking(move || findings_ctx(&s, &u, &p, Some(&unit))).await?;
    render(&st, "findings.html", Some(&user), "findings", ctx)
}

pub async fn api_findings(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Query(p): Params,
) -> Result<Json<Vec<FindingRow>>, ApiError> {
    Ok(Json(blocking(move || finding_rows(&st, &user, &p, None)).await?))
}

// ───────────────────────── search ─────────────────────────

#[derive(Debug, Clone, Serialize)]
pub struct HitRow {
    #[serde(flatten)]
    pub hit: crate::index::Hit,
    pub source_name: String,
    pub unit_name: String,
    pub kind_zh: &'static str,
    pub level_zh: &'static str,
    /// What the unit is to this item: 跟进单位 for a superior's policy or public
    /// opinion (the unit follows it; it does not own it), else 责任单位 / 承办单位.
    pub unit_label: &'static str,
    pub published: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchPage {
    pub total: usize,
    pub total_is_estimate: bool,
    pub took_ms: f64,
    pub hits: Vec<HitRow>,
    /// What of the query was left out or cut, in Chinese (empty when nothing was).
    pub notices: Vec<String>,
}

/// Builds the request from the parameters; a bad date is the user's error.
fn search_request(cfg: &Config, p: &HashMap<String, String>, limit: usize) -> Result<SearchRequest, WebError> {
    let mut req = SearchRequest::new(param(p, "q"));
    let one = |k: &str| -> Vec<String> {
        Some(param(p, k)).filter(|s| !s.is_empty()).map(|s| vec![s.to_string()]).unwrap_or_default()
    };
    req.kinds = one("kind");
    // The source filter is an id, or (typed into the text field) a name.
    req.sources = one("source")
        .into_iter()
        .map(|v| match cfg.source(&v) {
            Some(_) => v,
            None => cfg.sources.iter().find(|s| s.display_name() == v).map_or(v, |s| s.id.clone()),
        })
        .collect();
    req.units = one("unit");
    req.levels = one("level");
    let day = |k: &str, label: &str| -> Result<Option<chrono::NaiveDate>, WebError> {
        match param(p, k) {
            "" => Ok(None),
            s => crate::index::parse_day(s)
                .map(Some)
                .map_err(|e| WebError(StatusCode::BAD_REQUEST, format!("{label}：{e}"))),
        }
    };
    req.since = day("since", "起始日期")?;
    req.until = day("until", "截止日期")?;
    req.sort = match param(p, "sort") {
        "newest" => Sort::Newest,
        "oldest" => Sort::Oldest,
        _ => Sort::Relevance,
    };
    // The index lists at most MAX_WINDOW results (and says so); a page far beyond is that far.
    let page: usize = param(p, "page").parse().unwrap_or(1).clamp(1, crate::index::MAX_WINDOW);
    req.limit = limit;
    req.offset = ((page - 1) * limit).min(crate::index::MAX_WINDOW);
    Ok(req)
}

fn run_search(st: &AppState, user: &User, req: &SearchRequest) -> Result<SearchPage> {
    let names = st.names();
    let r = st.index.search(req)?;
    let hits = r
        .hits
        .into_iter()
        .map(|mut h| {
            // Replaced only when masking changed something (most texts hold no number).
            for field in [&mut h.title, &mut h.title_html, &mut h.snippet, &mut h.snippet_text] {
                if let Cow::Owned(masked) = m(user, field) {
                    *field = masked;
                }
            }
            h.url = safe_link(h.url.as_deref());
            HitRow {
                source_name: names.source(&h.source).to_string(),
                unit_name: names.unit(&h.unit).to_string(),
                kind_zh: word_of(&kinds(), &h.kind),
                level_zh: word_of(&levels(), &h.level),
                unit_label: h
                    .role
                    .parse::<crate::model::Role>()
                    .map_or(crate::glossary::UNIT, crate::glossary::unit_of_role),
                published: h.published_at.as_deref().map(crate::index::display_time),
                hit: h,
            }
        })
        .collect();
    Ok(SearchPage {
        total: r.total,
        total_is_estimate: r.total_is_estimate,
        took_ms: r.took_ms,
        hits,
        notices: r.notices,
    })
}

pub async fn search(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Query(p): Params,
) -> Result<Html<String>, WebError> {
    let cfg = st.config();
    // A list of thousands of sources is no use to pick from, and was most of
    // every search page (5,000 sources: 370 KB, most of its rendering time);
    // beyond SOURCE_OPTIONS the filter is a text field (an id or a name).
    let sources: Option<Vec<(&str, &str)>> = (cfg.sources.len() <= SOURCE_OPTIONS)
        .then(|| cfg.sources.iter().map(|s| (s.id.as_str(), s.display_name())).collect());
    let mut ctx = json!({
        "q": param(&p, "q"),
        "kinds": kinds(),
        "levels": levels(),
        "sources": sources,
        "unit_options": unit_options(&cfg),
        "f": {
            "kind": param(&p, "kind"), "source": param(&p, "source"), "unit": param(&p, "unit"),
            "level": param(&p, "level"), "since": param(&p, "since"), "until": param(&p, "until"), "sort": param(&p, "sort"),
        },
        "query_string": query_string(&p),
    });
    if !param(&p, "q").is_empty() {
        match search_request(&cfg, &p, PAGE_SIZE) {
            Err(e) => ctx["error"] = json!(e.1),
            Ok(req) => {
                let (s, u, r2) = (st.clone(), user.clone(), req.clone());
                match blocking(move || run_search(&s, &u, &r2)).await {
                    Ok(results) => {
                        let page = req.offset / PAGE_SIZE + 1;
                        if page > 1 {
                            ctx["prev_page"] = json!(with_param(&p, "page", &(page - 1).to_string()));
                        }
                        if req.offset + results.hits.len() < results.total {
                            ctx["next_page"] = json!(with_param(&p, "page", &(page + 1).to_string()));
                        }
                        ctx["offset"] = json!(req.offset);
                        ctx["results"] = serde_json::to_value(&results).map_err(anyhow::Error::from)?;
                    }
                    // A query the parser refuses is the user's to fix.
                    Err(e) => ctx["error"] = json!(format!("{e:#}")),
                }
            }
        }
    }
    render(&st, "search.html", Some(&user), "search", ctx)
}

pub async fn api_search(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Query(p): Params,
) -> Result<Json<SearchPage>, ApiError> {
    let limit = param(&p, "limit").parse().unwrap_or(PAGE_SIZE).clamp(1, 1000);
    let mut req = search_request(&st.config(), &p, limit)?;
    if let Ok(o) = param(&p, "offset").parse::<usize>() {
        req.offset = o;
    }
    Ok(Json(blocking(move || run_search(&st, &user, &req)).await?))
}

// ───────────────────────── downloads ─────────────────────────

const FINDING_HEADERS: [&str; 9] =
    ["状态", "规则", "承办单位", "编号", "摘要", "收到时间", "截止时间", "超期工作日", "链接"];
const SEARCH_HEADERS: [&str; 8] = ["标题", "数据源", "单位", "类别", "发布时间", "摘要", "原文链接", "控制台链接"];

fn finding_cells(r: &FindingRow) -> Vec<String> {
    vec![
        r.state_zh.into(),
        r.rule_zh.into(),
        r.unit_name.clone(),
        r.number.clone(),
        r.summary.clone(),
        r.received.clone(),
        r.deadline.clone(),
        r.days.to_string(),
        r.link.clone(),
    ]
}

fn search_cells(cfg: &Config, h: &HitRow) -> Vec<String> {
    vec![
        h.hit.title.clone(),
        h.source_name.clone(),
        h.unit_name.clone(),
        h.kind_zh.into(),
        h.published.clone().unwrap_or_default(),
        h.hit.snippet_text.clone(),
        h.hit.url.clone().unwrap_or_default(),
        cfg.web.item_url(&h.hit.id.to_string()),
    ]
}

/// A CSV cell that a spreadsheet will show as text, never run as a formula
/// (OWASP, CSV injection): text starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'`. Titles and summaries come from feeds
/// and exports, so `=HYPERLINK(…)` in a title is someone else's text. A plain
/// number (`-3`, `2.5`) stays a number. The .xlsx downloads need none of
/// this: every cell there is written as a string cell.
pub fn csv_cell(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let number = {
        let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
        !digits.is_empty()
            && digits.split_once('.').map_or(digits.chars().all(|c| c.is_ascii_digit()), |(a, b)| {
                !a.is_empty() && !b.is_empty() && (a.chars().chain(b.chars())).all(|c| c.is_ascii_digit())
            })
    };
    if risky && !number { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

/// A table as .csv (UTF-8 with BOM, which Excel and WPS need to read Chinese) or .xlsx.
fn download(name: &str, ext: &str, headers: &[&str], rows: Vec<Vec<String>>) -> Result<Response> {
    let stamp = crate::cli::now().format("%Y%m%d-%H%M");
    let file = format!("{name}-{stamp}.{ext}");
    let disposition = format!(
        "attachment; filename=\"govwatch-{stamp}.{ext}\"; filename*=UTF-8''{}",
        url::form_urlencoded::byte_serialize(file.as_bytes()).collect::<String>()
    );
    let (mime, body) = if ext == "csv" {
        let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
        w.write_record(headers)?;
        for r in &rows {
            w.write_record(r.iter().map(|c| csv_cell(c).into_owned()))?;
        }
        ("text/csv; charset=utf-8", w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)
    } else {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        for (c, h) in headers.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        for (i, r) in rows.iter().enumerate() {
            for (c, v) in r.iter().enumerate() {
                sheet.write_string(i as u32 + 1, c as u16, v)?;
            }
        }
        sheet.autofit();
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", book.save_to_buffer()?)
    };
    Ok(([(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, disposition)], body).into_response())
}

pub async fn findings_download(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Path(ext): Path<String>,
    Query(p): Params,
) -> Result<Response, WebError> {
    let ext = download_ext(&ext)?;
    Ok(blocking(move || {
        let rows = finding_rows(&st, &user, &p, None)?;
        download("超期督办", ext, &FINDING_HEADERS, rows.iter().map(finding_cells).collect())
    })
    .await?)
}

pub async fn search_download(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Path(ext): Path<String>,
    Query(p): Params,
) -> Result<Response, WebError> {
    let ext = download_ext(&ext)?;
    let mut req = search_request(&st.config(), &p, DOWNLOAD_ROWS)?;
    req.offset = 0;
    Ok(blocking(move || {
        let cfg = st.config();
        let page = run_search(&st, &user, &req)?;
        download("检索结果", ext, &SEARCH_HEADERS, page.hits.iter().map(|h| search_cells(&cfg, h)).collect())
    })
    .await?)
}

fn download_ext(file: &str) -> Result<&'static str, WebError> {
    match file {
        "xlsx" => Ok("xlsx"),
        "csv" => Ok("csv"),
        _ => Err(WebError(StatusCode::NOT_FOUND, "只能下载 .xlsx 或 .csv".into())),
    }
}

// ───────────────────────── reposts ─────────────────────────

/// Every repost obligation now, newest superior policy first.
fn all_reposts(st: &AppState) -> Result<Vec<crate::rules::repost::Obligation>> {
    let cfg = st.config();
    let cal = crate::cli::calendar_of(&cfg)?;
    let mut all = crate::findings::reposts(&cfg, &cal, &st.store, crate::cli::now())?;
    all.sort_by(|x, y| y.superior_at.cmp(&x.superior_at).then(x.portal.cmp(&y.portal)));
    Ok(all)
}

/// Those the `portal` (a website, or one of its columns) and `state` parameters ask for.
fn filter_reposts(
    cfg: &Config,
    mut all: Vec<crate::rules::repost::Obligation>,
    p: &HashMap<String, String>,
) -> Vec<crate::rules::repost::Obligation> {
    let (portal, state) = (param(p, "portal"), param(p, "state"));
    let site = cfg.source(portal).filter(|s| s.role == crate::model::Role::Portal).map_or(portal, |s| s.site_id());
    all.retain(|o| (site.is_empty() || *o.portal == *site) && (state.is_empty() || o.state == state));
    all
}

pub async fn reposts(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Query(p): Params,
) -> Result<Html<String>, WebError> {
    let s = st.clone();
    let ctx = blocking(move || -> Result<Value> {
        let cfg = s.config();
        let all = all_reposts(&s)?;
        let count = |st: &str| all.iter().filter(|o| o.state == st).count();
        let counts = json!({"on_time": count("on_time"), "late": count("late"), "overdue": count("overdue"), "pending": count("pending")});
        let shown = filter_reposts(&cfg, all, &p);
        let rows: Vec<Value> = shown
            .iter()
            .map(|o| {
                json!({
                    "superior_id": o.superior_item_id.to_string(),
                    "title": o.superior_title,
                    "doc_no": o.doc_no,
                    "at": t(&o.superior_at),
                    "portal": o.portal_name,
                    "state": o.state,
                    "state_zh": crate::glossary::repost_state(o.state),
                    "days": o.late_working_days,
                    "deadline": t(&o.deadline),
                    "repost_id": o.repost_item_id.map(|i| i.to_string()),
                    "reposted_at": o.reposted_at.as_ref().map(t),
                    "matched_by": o.matched_by.map(|m| m.zh()),
                    "column": o.repost_column,
                })
            })
            .collect();
        let portals: Vec<(String, String)> =
            crate::rules::repost::duties(&cfg).into_iter().map(|d| (d.portal, d.name)).collect();
        Ok(json!({
            "rows": rows, "counts": counts, "portals": portals, "states": REPOST_STATES,
            "f": {"portal": param(&p, "portal"), "state": param(&p, "state")},
        }))
    })
    .await?;
    render(&st, "reposts.html", Some(&user), "reposts", ctx)
}

pub async fn api_reposts(State(st): State<Arc<AppState>>, Query(p): Params) -> Result<Json<Value>, ApiError> {
    let rows = blocking(move || Ok(filter_reposts(&st.config(), all_reposts(&st)?, &p))).await?;
    Ok(Json(serde_json::to_value(rows).map_err(anyhow::Error::from)?))
}

// ───────────────────────── sources ─────────────────────────

#[derive(Debug, Serialize)]
pub struct SourceRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub role: &'static str,
    pub level: &'static str,
    pub kind_zh: &'static str,
    pub role_zh: &'static str,
    pub level_zh: &'static str,
    pub unit: String,
    pub enabled: bool,
    pub items: u64,
    /// `ok`, `failing`, `never_polled` or `disabled`.
    pub health: &'static str,
    pub state: String,
    pub class: &'static str,
    pub consecutive_failures: u32,
    pub last_success: String,
    pub error: Option<String>,
    pub error_at: String,
    /// What an officer should know of its items, one Chinese line each: the
    /// website a column belongs to, rows that are intake only or history.
    pub notes: Vec<String>,
}

fn source_rows(st: &AppState) -> Result<Vec<SourceRow>> {
    let cfg = st.config();
    let health = st.store.source_health()?;
    let counts = st.store.count_items_by_source()?;
    let intake = crate::findings::intake(&cfg, &st.store, crate::cli::now())?;
    let sites = crate::rules::repost::sites(&cfg);
    let show = |s: &Option<String>| s.as_deref().map(crate::index::display_time).unwrap_or_default();
    Ok(cfg
        .sources
        .iter()
        .map(|s| {
            let h = health.iter().find(|h| h.id == s.id);
            let (health, state, class) = match h {
                _ if !s.enabled => ("disabled", String::new(), ""),
                None => ("never_polled", String::new(), "due_soon"),
                Some(h) if h.consecutive_failures > 0 => {
                    ("failing", format!("（连续 {} 次）", h.consecutive_failures), "overdue")
                }
                Some(_) => ("ok", String::new(), ""),
            };
            SourceRow {
                id: s.id.clone(),
                name: s.display_name().to_string(),
                kind: s.kind.as_str(),
                role: s.role.as_str(),
                level: s.level.as_str(),
                kind_zh: s.kind.zh(),
                role_zh: s.role.zh(),
                level_zh: s.level.zh(),
                unit: unit_name(&cfg, &s.unit),
                enabled: s.enabled,
                items: counts.get(&s.id).copied().unwrap_or(0),
                health,
                state: format!("{}{state}", crate::glossary::health(health)),
                class,
                consecutive_failures: h.map_or(0, |h| h.consecutive_failures),
                last_success: h.map(|h| show(&h.last_success_at)).unwrap_or_default(),
                // Only while it fails: a source that recovered shows no error.
                error: h.and_then(|h| h.current_error()).map(str::to_string),
                error_at: h.filter(|h| h.current_error().is_some()).map(|h| show(&h.last_error_at)).unwrap_or_default(),
                notes: {
                    let site = sites
                        .iter()
                        .filter(|d| s.role == crate::model::Role::Portal && d.columns.len() > 1)
                        .find(|d| d.portal == s.site_id())
                        .map(|d| {
                            format!(
                                "网站「{}」的 {} 个栏目之一，上级政策在任一栏目转载一次即可",
                                d.name,
                                d.columns.len()
                            )
                        });
                    site.into_iter().chain(intake.get(&s.id).map(|i| i.zh()).unwrap_or_default()).collect()
                },
            }
        })
        .collect())
}

pub async fn sources(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
) -> Result<Html<String>, WebError> {
    let s = st.clone();
    let rows = blocking(move || source_rows(&s)).await?;
    render(&st, "sources.html", Some(&user), "sources", json!({"rows": rows}))
}

pub async fn api_sources(State(st): State<Arc<AppState>>) -> Result<Json<Vec<SourceRow>>, ApiError> {
    Ok(Json(blocking(move || source_rows(&st)).await?))
}

// ───────────────────────── items ─────────────────────────

fn item_json(st: &AppState, user: &User, id: ItemId) -> Result<Option<Value>> {
    let cfg = st.config();
    let Some(item) = st.store.item(id)? else { return Ok(None) };
    let source_names: HashMap<&str, &str> =
        cfg.sources.iter().filter_map(|s| s.name.as_deref().map(|n| (s.id.as_str(), n))).collect();
    let findings: Vec<Value> = st
        .store
        .findings_of_item(id)?
        .into_iter()
        .map(|f| {
            let state = f.state.parse::<FState>().map(|s| s.zh()).unwrap_or("");
            let rule = f.rule.parse::<Rule>().map(|r| r.zh()).unwrap_or("");
            json!({
                "rule": rule, "rule_id": f.rule, "unit": f.unit, "unit_name": unit_name(&cfg, &f.unit),
                "state": f.state, "state_zh": state,
                "deadline": f.deadline.as_deref().map(crate::index::display_time),
                "days": f.overdue_working_days,
                "basis": crate::alerts::words::basis_with_names(&f.basis, &source_names),
            })
        })
        .collect();
    let emails: Vec<Value> = st
        .store
        .emails_of_item(id)?
        .into_iter()
        .map(|e| {
            json!({"id": e.id, "round": e.round, "round_zh": crate::glossary::round(&e.round), "unit": unit_name(&cfg, &e.unit),
                "subject": e.subject, "state": e.state, "state_zh": crate::glossary::outbox_state(&e.state)})
        })
        .collect();
    let mut fields: Vec<(&str, String)> = vec![
        ("编号", item.id.to_string()),
        ("数据源", source_name(&cfg, &item.source)),
        (crate::glossary::unit_of_role(item.role), unit_name(&cfg, &item.unit)),
        ("类别", item.kind.zh().to_string()),
        ("层级", item.level.zh().to_string()),
    ];
    if let Some(p) = &item.published {
        fields.push(("发布时间", t(&p.at)));
    }
    if let Some(d) = &item.doc_no {
        fields.push(("文号", d.clone()));
    }
    if let Some(p) = &item.publisher {
        fields.push(("发布机构", p.clone()));
    }
    if !item.categories.is_empty() {
        fields.push(("分类", item.categories.join("、")));
    }
    if let Some(c) = &item.case {
        fields.push(("工单/留言编号", c.number.clone()));
        if let Some(r) = &c.received_at {
            fields.push(("受理时间", t(&r.at)));
        }
        if let Some(k) = &c.category {
            fields.push(("诉求类型", k.clone()));
        }
        let opt = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        for (label, v) in [
            ("承办单位（原文）", opt(&c.handler)),
            ("紧急程度", opt(&c.urgency)),
            ("办理时限", c.deadline_at.as_ref().map(|p| t(&p.at))),
            ("延期", opt(&c.extension)),
            ("办理状态", opt(&c.status)),
            ("办结时间", c.closed_at.as_ref().map(|p| t(&p.at))),
            ("答复意见", opt(&c.reply)),
        ] {
            if let Some(v) = v {
                fields.push((label, v));
            }
        }
    }
    fields.push(("首次发现", t(&item.first_seen_at)));
    fields.push(("最近变化", t(&item.last_changed_at)));
    Ok(Some(json!({
        "item": {"id": item.id.to_string(), "title": m(user, &item.title)},
        "fields": fields.into_iter().map(|(k, v)| (k, m(user, &v).into_owned())).collect::<Vec<_>>(),
        "text": m(user, &item.text),
        "link": safe_link(item.link.as_deref()),
        "findings": findings,
        "emails": emails,
    })))
}

fn parse_id(s: &str) -> Result<ItemId, WebError> {
    s.parse().map_err(|_| WebError(StatusCode::NOT_FOUND, format!("没有条目「{s}」")))
}

pub async fn item(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let id = parse_id(&id)?;
    let (s, u) = (st.clone(), user.clone());
    match blocking(move || item_json(&s, &u, id)).await? {
        Some(ctx) => render(&st, "item.html", Some(&user), "item", ctx),
        None => Err(WebError(StatusCode::NOT_FOUND, format!("没有条目「{id}」"))),
    }
}

pub async fn api_item(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    match blocking(move || item_json(&st, &user, id)).await? {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no item {id}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sources: usize) -> Config {
        let mut toml = String::from("[[units]]\nid = \"ban\"\nname = \"办公室\"\nemails = [\"a@example.gov.cn\"]\n");
        for i in 0..sources {
            toml.push_str(&format!(
                "[[sources]]\nid = \"s{i}\"\nname = \"门户{i}\"\nkind = \"feed\"\nurl = \"http://example.gov.cn/{i}.xml\"\n\
                 unit = \"ban\"\nrole = \"portal\"\nlevel = \"county\"\n"
            ));
        }
        crate::config::from_toml_str(&toml).unwrap().config
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_board_warns_when_a_deadline_falls_in_a_year_without_a_schedule() {
        let cfg = config(1);
        let row = |deadline: &str| FindingRow {
            fingerprint: String::new(),
            rule: "hotline_deadline",
            rule_zh: "",
            state: "due_soon",
            state_zh: "",
            item_id: String::new(),
            unit: "ban".into(),
            unit_name: String::new(),
            number: String::new(),
            summary: String::new(),
            received: String::new(),
            deadline: deadline.into(),
            days: 0,
            basis: String::new(),
            link: String::new(),
        };
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 21).unwrap();
        assert_eq!(calendar_warning(&cfg, &[row("2026-12-30 23:59")], today), None);
        let w = calendar_warning(&cfg, &[row("2026-12-30 23:59"), row("2027-01-05 23:59")], today).unwrap();
        assert!(w.starts_with("尚未收录 2027 年的国务院办公厅节假日安排"), "{w}");
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_shown_as_text() {
        for bad in [
            "=HYPERLINK(\"http://evil.example\",\"点我\")",
            "=cmd|' /C calc'!A0",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "-",
            "+",
        ] {
            assert_eq!(csv_cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for fine in ["热线 =1", "GD2026", "", "12", "-3", "+5", "2.5", "-0.5", "http://a.example/?x=1"] {
            assert_eq!(csv_cell(fine), fine, "{fine:?}");
        }
    }

    #[test]
    fn the_source_filter_takes_an_id_or_a_name() {
        let cfg = config(3);
        let by_id = search_request(&cfg, &params(&[("q", "热线"), ("source", "s1")]), 20).ok().unwrap();
        assert_eq!(by_id.sources, vec!["s1"]);
        let by_name = search_request(&cfg, &params(&[("q", "热线"), ("source", " 门户2 ")]), 20).ok().unwrap();
        assert_eq!(by_name.sources, vec!["s2"]);
        let unknown = search_request(&cfg, &params(&[("q", "热线"), ("source", "nope")]), 20).ok().unwrap();
        assert_eq!(unknown.sources, vec!["nope"], "an unknown source finds nothing rather than everything");
    }

    #[test]
    fn many_sources_are_a_text_field_and_a_few_a_list() {
        let env = super::super::templates();
        let render = |sources: Value| {
            let ctx = json!({"q": "热线", "kinds": kinds(), "levels": levels(), "sources": sources,
                "unit_options": Vec::<(String, String)>::new(), "f": {"source": "s7"}, "query_string": ""});
            env.get_template("search.html").unwrap().render(ctx).unwrap()
        };
        let list = render(json!([["s1", "门户1"], ["s7", "门户7"]]));
        assert!(list.contains("<select name=\"source\">") && list.contains("<option value=\"s7\" selected>门户7"));
        let field = render(Value::Null);
        assert!(!field.contains("<select name=\"source\">"), "no list of every source");
        assert!(field.contains("<input name=\"source\" value=\"s7\""));
    }
}
