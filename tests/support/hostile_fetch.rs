//! The hostile inputs of issue 18 that reach govwatch by fetching (items 1–3
//! and the fetch/HTML/charset parts of 7), as functions, so that a test — or
//! the combined acceptance run of `govwatch run` — can serve them.
//! Each says which item of the issue it reproduces; the inputs are the
//! issue's own (a page linking `file:///…`, 20,000 nested `<div>`s, a
//! `Retry-After: 3600`, table text that html5ever foster-parents, a feed
//! mixing UTF-8 and GBK bytes).

use std::path::{Path, PathBuf};

use super::{Canned, TestServer, rss};

/// What the local "secret" file holds (it plays `/etc/passwd`); it must
/// never reach the store, the index or a warning.
pub const SECRET: &str = "root:x:0:0:GOVWATCH-SECRET-4711:/root:/bin/bash";

/// Writes `dir/passwd` holding [`SECRET`]; returns its path.
pub fn secret_file(dir: &Path) -> PathBuf {
    let p = dir.join("passwd");
    std::fs::write(&p, format!("{SECRET}\n")).unwrap();
    p
}

/// `file:///…` for a path.
pub fn file_url(p: &Path) -> String {
    url::Url::from_file_path(p).unwrap().to_string()
}

/// A column list page: one `<li>` per (href, title) with a date, and a 下一页 link.
pub fn list_page(entries: &[(&str, &str)], next: Option<&str>, head: &str) -> String {
    let mut s = format!("<html><head>{head}</head><body><ul class=\"list\">");
    for (i, (href, title)) in entries.iter().enumerate() {
        s.push_str(&format!("<li><a href=\"{href}\">{title}</a><span>2026-11-{:02}</span></li>", 10 + i));
    }
    s.push_str("</ul>");
    if let Some(n) = next {
        s.push_str(&format!("<div class=\"page\"><a href=\"{n}\">下一页</a></div>"));
    }
    s + "</body></html>"
}

/// An entry page whose body (`div.body`) says `text`.
pub fn entry_page(text: &str) -> String {
    format!("<html><body><div class=\"body\"><p>{text}</p></div></body></html>")
}

/// `page.follow` with the body selector of the issue (`body = "body"`).
pub const FOLLOW_BODY: &str = "[sources.page]\nitem = \"ul.list li\"\nfollow = true\npages = 2\nbody = \"body\"\n";

/// Item 1: a column whose entry links, 下一页 and `<base href>` lead to
/// local files, and an entry that redirects to one. Routes `/files/*` on
/// `server`; returns the `[[sources]]` TOML. Nothing of [`SECRET`] may be
/// stored, and no title of `next_local` ("本地下一页的条目").
pub fn install_file_links(server: &TestServer, dir: &Path) -> String {
    let secret = secret_file(dir);
    let next_local = dir.join("next.html");
    std::fs::write(&next_local, list_page(&[("/x.html", "本地下一页的条目")], None, "")).unwrap();
    let secret_url = file_url(&secret);
    let page = list_page(
        &[(&secret_url, "指向本地文件的条目"), ("/files/redirect", "重定向到本地文件的条目")],
        Some(&file_url(&next_local)),
        "",
    );
    server.route("/files/index.html", vec![Canned::ok("text/html; charset=utf-8", page)]);
    server.route("/files/redirect", vec![Canned::status(302).header("location", &secret_url)]);
    // A relative link under a <base href="file:///…/">.
    let dir_url = file_url(dir) + "/";
    let based = list_page(&[("passwd", "经 base 指向本地文件的条目")], None, &format!("<base href=\"{dir_url}\">"));
    server.route("/files/based.html", vec![Canned::ok("text/html; charset=utf-8", based)]);
    // A feed whose item links a local file.
    let feed =
        rss("本地文件", &[("指向本地文件的订阅条目".into(), secret_url.clone(), "".into(), "2026-11-20".into())]);
    server.route("/files/feed.xml", vec![Canned::ok("application/rss+xml", feed)]);
    [
        super::source("files", "page", &server.url("/files/index.html"), FOLLOW_BODY),
        super::source("files-based", "page", &server.url("/files/based.html"), FOLLOW_BODY),
        super::source("files-feed", "feed", &server.url("/files/feed.xml"), ""),
    ]
    .concat()
}

/// Item 2: a column on `server` (a source's own host, on loopback) whose
/// entry and 下一页 links lead to `victim` (another loopback address, not a
/// source), a feed that redirects to `victim`, one that redirects to the
/// cloud metadata address. `victim` must see no request. Returns the
/// `[[sources]]` TOML.
pub fn install_private_links(server: &TestServer, victim: &TestServer) -> String {
    victim.route("/secret.html", vec![Canned::ok("text/html; charset=utf-8", entry_page(SECRET))]);
    victim.route(
        "/list2.html",
        vec![Canned::ok("text/html; charset=utf-8", list_page(&[("/y.html", "内网列表条目")], None, ""))],
    );
    victim.route(
        "/feed.xml",
        vec![Canned::ok(
            "application/rss+xml",
            rss("内网", &[("内网订阅条目".into(), "http://x.gov.cn/1".into(), SECRET.into(), "2026-11-20".into())]),
        )],
    );
    let page = list_page(&[(&victim.url("/secret.html"), "指向内网地址的条目")], Some(&victim.url("/list2.html")), "");
    server.route("/private/index.html", vec![Canned::ok("text/html; charset=utf-8", page)]);
    server.route("/private/redirect.xml", vec![Canned::status(302).header("location", &victim.url("/feed.xml"))]);
    server.route(
        "/private/metadata.xml",
        vec![
            Canned::status(302).header("location", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
        ],
    );
    [
        super::source("private", "page", &server.url("/private/index.html"), FOLLOW_BODY),
        super::source("private-redirect", "feed", &server.url("/private/redirect.xml"), ""),
        super::source("private-metadata", "feed", &server.url("/private/metadata.xml"), ""),
    ]
    .concat()
}

/// Item 3: `n` nested `<div>`s around `text` (the issue: 20,000 in a feed
/// description aborted `govwatch run`; 100,000 killed `poll`).
pub fn nested_divs(n: usize, text: &str) -> String {
    "<div>".repeat(n) + text + &"</div>".repeat(n)
}

/// Item 3 and 7: a feed whose one item carries 20,000 nested `<div>`s, a
/// column whose entry page does, and a page with table text html5ever
/// foster-parents (each piece a WARN line of its log). Returns the
/// `[[sources]]` TOML.
pub fn install_deep_html(server: &TestServer) -> String {
    let feed = rss(
        "嵌套",
        &[(
            "两万层嵌套的条目".into(),
            "http://x.gov.cn/deep".into(),
            nested_divs(20_000, "嵌套正文"),
            "2026-11-20".into(),
        )],
    );
    server.route("/deep/feed.xml", vec![Canned::ok("application/rss+xml", feed)]);
    let list = list_page(&[("/deep/entry.html", "正文两万层嵌套的条目")], None, "");
    server.route("/deep/index.html", vec![Canned::ok("text/html; charset=utf-8", list)]);
    let entry = format!("<html><body><div class=\"body\">{}</div></body></html>", nested_divs(20_000, "深层正文"));
    server.route("/deep/entry.html", vec![Canned::ok("text/html; charset=utf-8", entry)]);
    let foster = format!(
        "<html><body><table>{}</table>{}</body></html>",
        "表格外的文字<b>加粗</b>".repeat(2_000),
        list_page(&[("/deep/t.html", "表格之后的条目")], None, "")
    );
    server.route("/deep/foster.html", vec![Canned::ok("text/html; charset=utf-8", foster)]);
    [
        super::source("deep-feed", "feed", &server.url("/deep/feed.xml"), ""),
        super::source("deep-page", "page", &server.url("/deep/index.html"), FOLLOW_BODY),
        super::source("foster", "page", &server.url("/deep/foster.html"), "[sources.page]\nitem = \"ul.list li\"\n"),
    ]
    .concat()
}

/// Item 7: a feed labelled GBK whose bytes are GBK except one title written
/// in UTF-8 (`正常`), as a CMS that pastes another system's text makes.
pub fn mixed_charset_feed() -> Vec<u8> {
    let gbk = |s: &str| encoding_rs::GB18030.encode(s).0.into_owned();
    let mut b =
        gbk("<?xml version=\"1.0\" encoding=\"gbk\"?><rss version=\"2.0\"><channel><title>示范县政务公开</title>");
    b.extend(gbk("<item><title>关于做好政务公开工作的通知</title><link>http://x.gov.cn/1</link></item>"));
    b.extend(gbk("<item><title>"));
    b.extend("网站运行正常".as_bytes());
    b.extend(gbk("</title><link>http://x.gov.cn/2</link></item></channel></rss>"));
    b
}
