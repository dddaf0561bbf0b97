//! The web console in a real browser: headless Chromium (Debian's `chromium`
//! package) driven over WebDriver by `chromedriver` (`chromium-driver`), which
//! the test starts on a free loopback port, against the real daemon on
//! loopback (`web::console`). It logs in as the duty officer, searches and
//! filters, walks the overdue board to an item, follows the acceptance path
//! from the home page, downloads the board as .xlsx, checks that hostile feed
//! content stays inert, and saves screenshots of the main pages to
//! `target/screenshots/`.
//!
//! Without Chromium it says "NOT RUN" and passes, unless
//! GOVWATCH_REQUIRE_BROWSER=1 (set by `.ci/test`, which installs it).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::web::{OFFICER, console};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one thing may take to show up in the browser.
const WAIT: Duration = Duration::from_secs(20);
const SITE: &str = "政务公开与热线监测";
/// The order the demo's data makes overdue (see `web.rs`).
const ORDER: &str = "GD20261102001";

/// Whether the browser is installed; without it, NOT RUN — or a failure
/// when GOVWATCH_REQUIRE_BROWSER=1.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("GOVWATCH_REQUIRE_BROWSER").as_deref() != Ok("1"),
        "GOVWATCH_REQUIRE_BROWSER=1 but {} {} missing: install them with \
         `apt-get install chromium chromium-driver` (.ci/test does)",
        missing.join(" and "),
        if missing.len() == 1 { "is" } else { "are" }
    );
    eprintln!(
        "NOT RUN: browser tests need chromium and chromium-driver (apt-get install chromium chromium-driver); \
         .ci/test installs them"
    );
    false
}

/// `chromedriver` on a free loopback port, in its own process group so that
/// the Chromium it starts goes with it.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn start(log: PathBuf) -> Driver {
        let mut last = String::new();
        // A port found free can be taken before chromedriver binds it: retry.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("{CHROMEDRIVER} does not start: {e}"));
            let mut d = Driver { child, port, log: log.clone() };
            let deadline = Instant::now() + WAIT;
            last.clear();
            while Instant::now() < deadline {
                if let Ok(Some(st)) = d.child.try_wait() {
                    last = format!("chromedriver exited ({st}):\n{}", d.log_tail());
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return d;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if last.is_empty() {
                last = format!("chromedriver did not listen on port {port} within {WAIT:?}:\n{}", d.log_tail());
            }
        }
        panic!("{last}");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group is chromedriver's own (process_group(0)): its id is ours.
        let _ =
            Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chromedriver command on the session that fantoccini has no method for
/// (the browser's console log).
#[derive(Debug)]
struct SessionPost {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/{}", session.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(self.body.to_string()))
    }
}

fn capabilities(profile: &Path, downloads: &Path) -> Capabilities {
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        // Without these, the closed network makes Chromium hang on connections.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        "--lang=zh-CN",
    ]
    .into_iter()
    .map(String::from)
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": args,
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
            },
        },
        "goog:loggingPrefs": {"browser": "ALL"},
        // An alert stays open for the test to see instead of being dismissed.
        "unhandledPromptBehavior": "ignore",
        "timeouts": {"pageLoad": 20_000, "script": 10_000},
    });
    match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

#[test]
fn the_console_works_in_headless_chromium() {
    if !browser_installed() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let daemon = console(dir.path());
    let base = format!("http://{}", daemon.addr.as_deref().unwrap());
    eprintln!("daemon ready at {base} after {:.1} s", started.elapsed().as_secs_f64());
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let shots = screenshot_dir();
    let driver = Driver::start(dir.path().join("chromedriver.log"));

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outcome = rt.block_on(async {
        let client = ClientBuilder::rustls()
            .expect("a WebDriver client")
            .capabilities(capabilities(profile.path(), &downloads))
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("no Chromium session: {e}\nchromedriver log:\n{}", driver.log_tail()));
        // On this thread (the steps' futures are not Send); a panic in them
        // comes back as an error, so that the session is closed first.
        let steps = tokio::task::LocalSet::new()
            .run_until(async {
                tokio::task::spawn_local(steps(client.clone(), base.clone(), downloads.clone(), shots.clone())).await
            })
            .await;
        // Chromium quits with its session, whatever the steps did.
        let _ = client.close().await;
        steps
    });
    drop(driver);
    if let Err(e) = outcome {
        let log = daemon.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        eprintln!("daemon log (last lines):\n{}", tail.join("\n"));
        match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => panic!("the browser steps did not finish: {e}"),
        }
    }
    eprintln!("browser tests took {:.1} s", started.elapsed().as_secs_f64());
}

/// Where the screenshots go: `target/screenshots/` (or under CARGO_TARGET_DIR).
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::repo().join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn steps(c: Client, base: String, downloads: PathBuf, shots: PathBuf) {
    let mut t = Instant::now();
    let mut lap = |what: &str| {
        eprintln!("browser: {what} ({:.1} s)", t.elapsed().as_secs_f64());
        t = Instant::now();
    };
    log_in(&c, &base, &shots).await;
    lap("logged in as the officer");
    search_and_filter(&c, &shots).await;
    lap("searched 热线, filtered by unit");
    board_to_item(&c, &shots).await;
    lap("overdue board to the order's item page");
    acceptance_path(&c, &shots).await;
    lap("home page: the unit with most overdue orders, one of its orders");
    download_xlsx(&c, &downloads).await;
    lap("downloaded the board as .xlsx");
    hostile_content_is_inert(&c, &shots).await;
    lap("hostile feed content stayed inert");
    reposts_and_sources(&c, &shots).await;
    lap("reposts and sources in the glossary's words");
}

/// The repost check and the sources' health, from the menu, in Chinese
/// (they showed `（doc_no）` and `feed / superior`).
async fn reposts_and_sources(c: &Client, shots: &Path) {
    click_nav(c, "转载核对").await;
    wait_url(c, "the repost check", |u| u.path() == "/reposts").await;
    wait_el(c, "the reposts table", Locator::Css("table#reposts > tbody > tr")).await;
    assert_title(c, "转载核对").await;
    let main = text(&c.find(Locator::Css("main")).await.unwrap()).await;
    assert!(
        main.contains("（文号相同，见「") && main.contains("（标题相同，见「"),
        "how each repost was recognized, and in which column:\n{main}"
    );
    screenshot(c, shots, "reposts").await;
    click_nav(c, "数据源").await;
    wait_url(c, "the sources page", |u| u.path() == "/sources").await;
    wait_el(c, "the sources table", Locator::Css("table#sources > tbody > tr")).await;
    let main = text(&c.find(Locator::Css("main")).await.unwrap()).await;
    assert!(main.contains("订阅源 · 上级政策 · 省级") && main.contains("网页栏目 · 本级网站 · 县级"), "{main}");
    screenshot(c, shots, "sources").await;
    console_clean(c, "reposts and sources").await;
}

// ───────────────────────── the steps ─────────────────────────

/// Step 1: The login page, a wrong password, then the officer's.
async fn log_in(c: &Client, base: &str, shots: &Path) {
    c.goto(&format!("{base}/")).await.expect("the console opens");
    let url = wait_url(c, "the redirect to the login page", |u| u.path() == "/login").await;
    assert_eq!(url.query(), Some("next=%2F"), "the login page remembers where we were going");
    let form = "//form[@action='/login']";
    wait_el(c, "the login form", Locator::XPath(&format!("{form}//input[@name='name']"))).await;
    assert_title(c, "登录").await;
    screenshot(c, shots, "login").await;

    submit_login(c, form, OFFICER.0, "not the password").await;
    let error = wait_el(c, "the login error", Locator::Css("p.error[role=alert]")).await;
    assert_eq!(text(&error).await, "用户名或密码不正确。");
    // The refusal is a 401, which the browser logs as a failed load.
    let logged = console_problems(c).await;
    assert!(logged.iter().all(|m| m.contains("/login") && m.contains("401")), "{logged:?}");

    submit_login(c, form, OFFICER.0, OFFICER.1).await;
    wait_url(c, "the home page after logging in", |u| u.path() == "/").await;
    let who = wait_el(c, "the logged-in user", Locator::Css("header .who span")).await;
    assert_eq!(text(&who).await, "zhiban（值班员）");
    assert_title(c, "首页").await;
    console_clean(c, "login").await;
}

async fn submit_login(c: &Client, form: &str, name: &str, password: &str) {
    let field = wait_el(c, "the name field", Locator::XPath(&format!("{form}//input[@name='name']"))).await;
    field.clear().await.unwrap();
    field.send_keys(name).await.unwrap();
    let pw = c.find(Locator::XPath(&format!("{form}//input[@name='password']"))).await.unwrap();
    pw.clear().await.unwrap();
    pw.send_keys(password).await.unwrap();
    // Both answers come back as a new document: wait for the old one to go.
    let old = c.find(Locator::Css("body")).await.unwrap();
    c.find(Locator::XPath(&format!("{form}//button[normalize-space()='登录']"))).await.unwrap().click().await.unwrap();
    until(c, "the login form's answer", async || old.tag_name().await.err().map(|_| ())).await;
}

/// A search hit as shown: the unit from its meta line.
struct Hit {
    unit: String,
}

async fn hits(c: &Client) -> Vec<Hit> {
    let mut out = Vec::new();
    for li in c.find_all(Locator::Css("ol.hits > li.hit")).await.unwrap() {
        let meta = text(&li.find(Locator::Css("div.meta")).await.unwrap()).await;
        // 数据源（层级） · 跟进单位|责任单位|承办单位 单位 · 类别 · 发布时间 · 原文
        let unit = meta.split(" · ").nth(1).unwrap_or_else(|| panic!("no unit in the meta line {meta:?}"));
        let (label, unit) = unit.split_once(' ').unwrap_or_else(|| panic!("no unit label in {meta:?}"));
        assert!(["跟进单位", "责任单位", "承办单位"].contains(&label), "what the unit is to the item: {meta:?}");
        out.push(Hit { unit: unit.to_string() });
    }
    out
}

/// "共 12 条，用时 …" → 12.
async fn total(c: &Client) -> usize {
    let meta = text(&c.find(Locator::XPath("//main/p[@class='meta'][contains(., '用时')]")).await.unwrap()).await;
    let n: String = meta.chars().skip_while(|ch| !ch.is_ascii_digit()).take_while(|ch| ch.is_ascii_digit()).collect();
    n.parse().unwrap_or_else(|_| panic!("no total in {meta:?}"))
}

/// Step 2: The search page from the menu: 热线, highlighted; then one unit.
async fn search_and_filter(c: &Client, shots: &Path) {
    click_nav(c, "检索").await;
    wait_url(c, "the search page", |u| u.path() == "/search").await;
    let q = wait_el(c, "the search box", Locator::Css("form.search input[name=q]")).await;
    q.send_keys("热线").await.unwrap();
    c.find(Locator::Css("form.search button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_url(c, "the results of 热线", |u| u.query_pairs().any(|(k, v)| k == "q" && v == "热线")).await;
    wait_el(c, "a search hit", Locator::Css("ol.hits > li.hit")).await;
    assert_title(c, "检索").await;
    let marks = c.find_all(Locator::Css("li.hit b")).await.unwrap();
    let mut marked = Vec::new();
    for b in &marks {
        marked.push(text(b).await);
    }
    assert!(marked.iter().any(|m| m == "热线"), "热线 is highlighted (<b> in .hit); highlighted: {marked:?}");
    let all = hits(c).await;
    let before = total(c).await;
    screenshot(c, shots, "search").await;

    // The unit with the fewest hits on the page, so that the filter has
    // something to remove.
    let mut per_unit: BTreeMap<&str, usize> = BTreeMap::new();
    for h in &all {
        *per_unit.entry(&h.unit).or_default() += 1;
    }
    let unit = per_unit.iter().min_by_key(|(_, n)| **n).map(|(u, _)| u.to_string()).unwrap();
    let select = c.find(Locator::Css("form.search select[name=unit]")).await.unwrap();
    select.select_by_label(&unit).await.unwrap_or_else(|e| panic!("no option {unit:?} in the unit select: {e}"));
    let unit_id = select.prop("value").await.unwrap().unwrap_or_default();
    assert!(!unit_id.is_empty(), "{unit} has an id");
    eprintln!("browser: {before} results for 热线; filtering by {unit} ({unit_id})");
    c.find(Locator::Css("form.search button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_url(c, "the results filtered by unit", |u| u.query_pairs().any(|(k, v)| k == "unit" && v == unit_id)).await;
    wait_el(c, "a filtered hit", Locator::Css("ol.hits > li.hit")).await;
    let filtered = hits(c).await;
    assert!(!filtered.is_empty());
    for h in &filtered {
        assert_eq!(h.unit, unit, "every result's unit line shows the chosen unit");
    }
    let after = total(c).await;
    assert!(after <= before && (per_unit.len() == 1 || after < before), "{unit}: {after} of {before} results");
    let kept = c.find(Locator::Css("form.search select[name=unit]")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some(unit_id.as_str()), "the filter stays selected");
    let q = c.find(Locator::Css("form.search input[name=q]")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(q.as_deref(), Some("热线"), "the query stays in the box");
    console_clean(c, "search").await;
}

/// Step 3: The overdue board from the menu; the known overdue order; its item.
async fn board_to_item(c: &Client, shots: &Path) {
    click_nav(c, "超期督办").await;
    wait_url(c, "the overdue board", |u| u.path() == "/findings").await;
    let row = wait_el(
        c,
        "the order's row on the board",
        Locator::XPath(&format!("//table[@id='findings']/tbody/tr[.//a[normalize-space()='{ORDER}']]")),
    )
    .await;
    assert_title(c, "超期督办").await;
    assert_eq!(row.attr("class").await.unwrap().as_deref(), Some("overdue"));
    let cells = cells(&row).await;
    assert_eq!(cells[0], "已超期", "{cells:?}");
    assert!(cells[7].parse::<u32>().is_ok_and(|d| d > 0), "overdue working days: {cells:?}");
    screenshot(c, shots, "board").await;

    row.find(Locator::XPath(&format!(".//a[normalize-space()='{ORDER}']"))).await.unwrap().click().await.unwrap();
    wait_url(c, "the order's item page", |u| u.path().starts_with("/items/")).await;
    wait_el(c, "the item's fields", Locator::Css("dl.fields")).await;
    let main = text(&c.find(Locator::Css("main")).await.unwrap()).await;
    for want in [ORDER, "咨询孩子转学需要准备哪些材料", "热线工单办理时限", "示范县教育局", "已超期"]
    {
        assert!(main.contains(want), "the item page shows {want:?}:\n{main}");
    }
    screenshot(c, shots, "item").await;
    console_clean(c, "board and item").await;
}

/// Step 4: The acceptance path: the home page's table of units, sorted by overdue
/// count; the first unit's page; one of its overdue orders.
async fn acceptance_path(c: &Client, shots: &Path) {
    click_nav(c, "首页").await;
    wait_url(c, "the home page", |u| u.path() == "/").await;
    wait_el(c, "the table of units", Locator::Css("table#units > tbody > tr")).await;
    let mut units = Vec::new();
    for tr in c.find_all(Locator::Css("table#units > tbody > tr")).await.unwrap() {
        let cells = cells(&tr).await;
        let overdue: usize = cells[1].parse().unwrap_or_else(|_| panic!("overdue count in {cells:?}"));
        units.push((cells[0].clone(), overdue, tr));
    }
    let counts: Vec<usize> = units.iter().map(|u| u.1).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "sorted by overdue count: {counts:?}");
    let card = text(&c.find(Locator::Css("a.card[href='/findings?state=overdue'] b")).await.unwrap()).await;
    assert_eq!(card, counts.iter().sum::<usize>().to_string(), "the card counts what the table counts");
    screenshot(c, shots, "home").await;

    let (name, overdue, tr) = &units[0];
    assert!(*overdue > 0, "the demo has overdue orders");
    tr.find(Locator::Css("td a")).await.unwrap().click().await.unwrap();
    wait_url(c, "the unit's page", |u| u.path().starts_with("/units/")).await;
    let h1 = wait_el(c, "the unit's heading", Locator::Css("main h1")).await;
    assert_eq!(text(&h1).await, format!("{name}：待办事项"));
    let rows = c.find_all(Locator::Css("table#findings > tbody > tr")).await.unwrap();
    let mut overdue_rows = Vec::new();
    for r in rows {
        let cells = cells(&r).await;
        assert_eq!(&cells[2], name, "only the unit's own orders: {cells:?}");
        if r.attr("class").await.unwrap().as_deref() == Some("overdue") {
            overdue_rows.push((cells[3].clone(), r));
        }
    }
    assert_eq!(overdue_rows.len(), *overdue, "the unit page lists as many overdue orders as the home page counts");
    screenshot(c, shots, "unit").await;

    let (number, r) = &overdue_rows[0];
    r.find(Locator::XPath("./td[4]/a")).await.unwrap().click().await.unwrap();
    wait_url(c, "the overdue order's item page", |u| u.path().starts_with("/items/")).await;
    wait_el(c, "the item's fields", Locator::Css("dl.fields")).await;
    let main = text(&c.find(Locator::Css("main")).await.unwrap()).await;
    assert!(main.contains(number.as_str()), "the item page shows {number}:\n{main}");
    let finding = c
        .find_all(Locator::XPath(&format!(
            "//main//table/tbody/tr[td[3]/a[normalize-space()='{name}']][td[1][normalize-space()='已超期']]"
        )))
        .await
        .unwrap();
    assert!(!finding.is_empty(), "the item page shows {name}'s overdue finding:\n{main}");
    console_clean(c, "acceptance path").await;
}

/// Step 5: 下载：Excel on the board: an .xlsx (a zip: "PK") in the download folder.
async fn download_xlsx(c: &Client, downloads: &Path) {
    click_nav(c, "超期督办").await;
    wait_url(c, "the overdue board", |u| u.path() == "/findings").await;
    let link = wait_el(
        c,
        "the Excel download link",
        Locator::XPath("//main/p[contains(., '下载：')]/a[normalize-space()='Excel']"),
    )
    .await;
    let href = link.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.starts_with("/findings.xlsx"), "{href}");
    link.click().await.unwrap();
    let file = until(c, "the .xlsx in the download folder", async || {
        let entries = std::fs::read_dir(downloads).ok()?;
        entries
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "xlsx") && p.metadata().is_ok_and(|m| m.len() > 2))
    })
    .await;
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[..2], b"PK", "{} is a zip", file.display());
    eprintln!("downloaded {} ({} bytes)", file.display(), bytes.len());
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/findings", "a download leaves the page where it was");
    console_clean(c, "download").await;
}

/// Step 6: a feed item with `<script>` and `<img onerror>` in it: found, shown as
/// text, and nothing of it runs — neither in the results nor on its page.
async fn hostile_content_is_inert(c: &Client, shots: &Path) {
    click_nav(c, "检索").await;
    wait_url(c, "the search page", |u| u.path() == "/search").await;
    let q = wait_el(c, "the search box", Locator::Css("form.search input[name=q]")).await;
    q.clear().await.unwrap();
    q.send_keys("攻击样本").await.unwrap();
    c.find(Locator::Css("form.search button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_url(c, "the results of 攻击样本", |u| u.query_pairs().any(|(k, v)| k == "q" && v == "攻击样本")).await;
    let title = wait_el(c, "the hostile hit", Locator::Css("ol.hits > li.hit a.title")).await;
    stays_inert(c, "the results").await;
    assert_title(c, "检索").await;
    let shown = text(&title).await;
    assert!(shown.contains("<script>document.title='pwned'</script>"), "the markup is shown as text: {shown:?}");
    screenshot(c, shots, "hostile").await;

    title.click().await.unwrap();
    wait_url(c, "the hostile item's page", |u| u.path().starts_with("/items/")).await;
    wait_el(c, "the item's text", Locator::Css("div.text")).await;
    stays_inert(c, "the item page").await;
    let h1 = text(&c.find(Locator::Css("main h1")).await.unwrap()).await;
    assert!(h1.contains("<script>document.title='pwned'</script>"), "shown as text: {h1:?}");
    let original = c.find_all(Locator::XPath("//dt[.='原文']")).await.unwrap();
    assert!(original.is_empty(), "no link is offered for a javascript: URL");
    console_clean(c, "hostile content").await;
}

/// For a second, the title is never 'pwned', no alert opens, and the page
/// holds no script or event handler but our own.
async fn stays_inert(c: &Client, page: &str) {
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        match c.get_alert_text().await {
            Err(e) if e.is_no_such_alert() => {}
            Ok(text) => panic!("{page}: an alert is open: {text:?}"),
            Err(e) => panic!("{page}: {e}"),
        }
        let title = c.title().await.unwrap();
        assert_ne!(title, "pwned", "{page}: script from the feed ran");
        assert!(title.ends_with(SITE), "{page}: title {title:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = c
        .execute(
            "return {scripts: Array.from(document.scripts).map(s => s.src), \
                     handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length, \
                     images: document.querySelectorAll('main img').length};",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found["scripts"], json!([format!("{}/static/app.js", origin(c).await)]), "{page}: {found}");
    assert_eq!(found["handlers"], 0, "{page}: {found}");
    assert_eq!(found["images"], 0, "{page}: {found}");
}

// ───────────────────────── helpers ─────────────────────────

async fn origin(c: &Client) -> String {
    let u = c.current_url().await.unwrap();
    u.origin().ascii_serialization()
}

/// Follows a link of the header's menu.
async fn click_nav(c: &Client, label: &str) {
    let a = wait_el(c, label, Locator::XPath(&format!("//header/nav/a[normalize-space()='{label}']"))).await;
    let before = c.current_url().await.unwrap();
    let target = a.attr("href").await.unwrap();
    a.click().await.unwrap();
    // A link to the page we are on still loads it anew; the old page's
    // elements going stale is the sign that it did.
    if target.as_deref() == Some(before.path()) {
        until(c, "the page to reload", async || a.tag_name().await.err().map(|_| ())).await;
    }
}

/// The visible text of a table row's cells.
async fn cells(tr: &Element) -> Vec<String> {
    let mut out = Vec::new();
    for td in tr.find_all(Locator::Css("td")).await.unwrap() {
        out.push(text(&td).await);
    }
    out
}

async fn text(e: &Element) -> String {
    e.text().await.unwrap().trim().to_string()
}

async fn assert_title(c: &Client, page: &str) {
    let title = c.title().await.unwrap();
    assert_eq!(title, format!("{page} · {SITE}"), "{}", describe(c).await);
}

/// Polls `probe` until it yields something; fails after WAIT with the page.
async fn until<T>(c: &Client, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("{what}: not within {WAIT:?}\n{}", describe(c).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_el(c: &Client, what: &str, loc: Locator<'_>) -> Element {
    until(c, what, async || c.find(loc).await.ok()).await
}

/// Waits for the browser to be at a URL that `ok` accepts and for the page
/// to have loaded; fails on the console's error page.
async fn wait_url(c: &Client, what: &str, ok: impl Fn(&url::Url) -> bool) -> url::Url {
    let url = until(c, what, async || {
        let u = c.current_url().await.ok()?;
        let ready = c.execute("return document.readyState", vec![]).await.ok()?;
        (ok(&u) && ready == "complete").then_some(u)
    })
    .await;
    let title = c.title().await.unwrap();
    assert!(!title.starts_with("出错"), "{what}: an error page\n{}", describe(c).await);
    url
}

/// Where the browser is and what it shows, for failure messages.
async fn describe(c: &Client) -> String {
    let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("(no URL: {e})"));
    let body = match c.find(Locator::Css("body")).await {
        Ok(b) => b.text().await.unwrap_or_default(),
        Err(e) => format!("(no body: {e})"),
    };
    let body: String = body.chars().take(3000).collect();
    format!("at {url}, the page shows:\n{body}")
}

/// Fails on anything the page wrote to the browser's console as a warning or
/// an error (a Content-Security-Policy violation, a failed load, a script
/// error).
async fn console_clean(c: &Client, step: &str) {
    let problems = console_problems(c).await;
    assert!(problems.is_empty(), "{step}: the browser's console has errors:\n{}", problems.join("\n"));
}

/// The warnings and errors in the browser's console since the last look.
async fn console_problems(c: &Client) -> Vec<String> {
    let entries = c.issue_cmd(SessionPost { path: "se/log", body: json!({"type": "browser"}) }).await.unwrap();
    entries
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] != "INFO" && e["level"] != "DEBUG")
        .map(|e| format!("{} {}", e["level"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or("")))
        .collect()
}

/// Saves the whole page as `<dir>/<name>.png` and prints the path.
async fn screenshot(c: &Client, dir: &Path, name: &str) {
    // The window as tall as the page (within reason), then back.
    let js = "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight";
    let height = c.execute(js, vec![]).await.ok().and_then(|h| h.as_u64()).unwrap_or(900).clamp(900, 4000);
    let resized = c.set_window_size(1280, height as u32).await.is_ok();
    let png = c.screenshot().await.unwrap_or_else(|e| panic!("screenshot of {name}: {e}"));
    if resized {
        let _ = c.set_window_size(1280, 900).await;
    }
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: a PNG");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());
}
