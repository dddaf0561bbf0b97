//! Alerts delivered through a real SMTP server on loopback
//! (`support::smtp`): STARTTLS with a certificate made for the test, AUTH, a
//! server that is down and comes back, 4xx then 250, 5xx, and what arrives.
//! The library is driven directly so that time (backoff) is an argument.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone};
use govwatch::alerts::Round;
use govwatch::alerts::render::Templates;
use govwatch::calendar::Calendar;
use govwatch::config::Config;
use govwatch::mailer::{self, Mailer};
use govwatch::normalize::time::china;
use govwatch::store::Store;

use crate::alerts::parse;
use crate::support::smtp::{SmtpOptions, SmtpServer, SmtpTls, free_port};

/// Monday 2026-11-23, 09:00.
fn monday() -> DateTime<FixedOffset> {
    china().with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

const ORDERS: &str = "工单编号,来电时间,诉求类型,诉求内容,承办单位,办结时间,状态\n\
GD001,2026-11-02 09:15,咨询,来电人：李小明，身份证110101199003071234，电话13812341234，反映小区停水,县教育局,,处理中\n\
GD002,2026-11-20 10:00,咨询,学校门口交通拥堵,县教育局,,处理中\n";

struct Env {
    _dir: tempfile::TempDir,
    cfg: Config,
    store: Store,
    cal: Calendar,
    templates: Templates,
}

/// A config with `[mail]` as given (the password from the environment
/// layer, as administrators keep it), two hotline orders imported and the
/// rules evaluated at `monday()`.
fn env(mail: &str, password: Option<&str>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let toml = format!(
        r#"
[storage]
data_dir = "{var}"
index_dir = "{index}"
[mail]
{mail}
from = "政务公开监测 <govwatch@example.gov.cn>"
[web]
base_url = "https://gk.example.gov.cn/govwatch"
[[units]]
id = "ban"
name = "县政府办公室"
emails = ["ban@example.gov.cn"]
[[units]]
id = "jiaoyuju"
name = "县教育局"
emails = ["jyj@example.gov.cn"]
supervisor = "ban"
[[sources]]
id = "rexian"
kind = "export"
url = "{drop}"
unit = "ban"
role = "hotline"
level = "county"
"#,
        var = dir.path().join("var").display(),
        index = dir.path().join("index").display(),
        drop = drop.display(),
    );
    let path = dir.path().join("govwatch.toml");
    std::fs::write(&path, toml).unwrap();
    let env: Vec<(String, String)> =
        password.map(|p| vec![("GOVWATCH__MAIL__PASSWORD".to_string(), p.to_string())]).unwrap_or_default();
    let loaded = govwatch::config::load_with_env(&path, env).unwrap();
    let errors: Vec<String> = loaded.errors().map(|p| p.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let cfg = loaded.config;
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let csv = drop.join("orders.csv");
    std::fs::write(&csv, ORDERS).unwrap();
    let r = govwatch::import::import_file(&cfg, &store, &cfg.sources[0], &csv, monday(), &mut |_| {});
    assert_eq!(r.new, 2, "{:?}", r.error);
    let cal = Calendar::official();
    govwatch::findings::evaluate(&cfg, &cal, &store, monday(), true).unwrap();
    let templates = Templates::load(None).unwrap();
    Env { _dir: dir, cfg, store, cal, templates }
}

impl Env {
    fn queue(&self) -> usize {
        let r = mailer::queue_round(&self.cfg, &self.cal, &self.store, &self.templates, &Round::scheduled(monday()))
            .unwrap();
        r.emails
    }

    fn deliver(&self, at: DateTime<FixedOffset>) -> mailer::Delivery {
        let mailer = Mailer::new(&self.cfg).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(mailer.deliver(&self.store, at))
            .unwrap()
    }

    fn states(&self) -> Vec<String> {
        self.store.outbox(None, 100).unwrap().into_iter().map(|r| r.state).collect()
    }
}

fn smtp(port: u16, security: &str, extra: &str) -> String {
    format!(
        "transport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"{security}\"\ntimeout_secs = 10\n{extra}"
    )
}

#[test]
fn starttls_and_auth_deliver_readable_masked_digests() {
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::StartTls,
        auth: Some(("govwatch".into(), "123456".into())),
        ..SmtpOptions::default()
    });
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = server.write_ca(ca_dir.path());
    // A numeric password from the environment stays a string.
    let e = env(
        &smtp(server.port(), "starttls", &format!("username = \"govwatch\"\nca_file = \"{}\"", ca.display())),
        Some("123456"),
    );
    // GD001 is 14 working days overdue: the unit's digest, and the
    // supervisor's email with the 通报 (one each).
    assert_eq!(e.queue(), 2);
    let d = e.deliver(monday());
    assert_eq!((d.sent, d.retried, d.failed), (2, 0, 0), "{:?}", d.last_error);
    let got = server.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|m| m.tls && m.auth_user.as_deref() == Some("govwatch")));
    assert!(got.iter().all(|m| m.mail_from == "govwatch@example.gov.cn"));
    let digest = got.iter().find(|m| m.rcpt_to.contains(&"jyj@example.gov.cn".to_string())).unwrap();
    assert_eq!(digest.rcpt_to, ["jyj@example.gov.cn"]);
    let raw = String::from_utf8_lossy(&digest.data);
    assert!(raw.contains("Subject: =?utf-8?b?"), "the Chinese subject is encoded");
    assert!(raw.contains("Auto-Submitted: auto-generated"));
    for secret in ["13812341234", "110101199003071234", "李小明"] {
        assert!(!raw.contains(secret), "{secret} left the building");
    }
    let m = parse(&digest.data);
    assert_eq!(m.subject, "【催办】县教育局待办提醒：已超期 1 项，即将到期 1 项（2026年11月23日）");
    assert_eq!((m.to.as_slice(), m.cc.as_slice()), (&["jyj@example.gov.cn".to_string()][..], &[][..]));
    let outbox = e.store.outbox(Some("sent"), 10).unwrap();
    assert!(outbox.iter().any(|r| format!("<{}>", m.message_id) == r.message_id), "Message-ID as stored");
    for part in [&m.text, &m.html.replace("&#x2f;", "/")] {
        assert!(part.contains("GD001"), "{part}");
        assert!(part.contains("来电人：李**，身份证110101********1234，电话138****1234"), "{part}");
        assert!(part.contains("https://gk.example.gov.cn/govwatch/items/"), "{part}");
        assert!(part.contains("热线工单办理时限"));
    }
    let (name, xlsx) = &m.attachments[0];
    assert_eq!(name, "县教育局待办事项-20261123.xlsx");
    assert_eq!(&xlsx[..2], b"PK");
    let report = got.iter().find(|m| m.rcpt_to == ["ban@example.gov.cn"]).unwrap();
    assert!(parse(&report.data).subject.starts_with("【通报】县政府办公室：所辖 1 个单位 1 项"));
}

#[test]
fn a_server_that_is_down_gets_the_email_when_it_comes_back() {
    let port = free_port();
    let e = env(&smtp(port, "none", ""), None);
    assert_eq!(e.queue(), 2);
    let d = e.deliver(monday());
    // The first email found the server down; the second waits its turn.
    assert_eq!((d.sent, d.retried, d.failed), (0, 1, 0));
    assert!(d.last_error.unwrap().to_lowercase().contains("refused"));
    assert_eq!(e.states(), ["queued", "queued"]);
    let server = SmtpServer::start(SmtpOptions { port: Some(port), ..SmtpOptions::default() });
    // The first waits out its backoff (1 min); the other goes now.
    let d = e.deliver(monday() + chrono::Duration::seconds(10));
    assert_eq!((d.sent, d.retried), (1, 0));
    let d = e.deliver(monday() + chrono::Duration::seconds(61));
    assert_eq!((d.sent, d.retried), (1, 0));
    assert_eq!(server.wait_for(2, Duration::from_secs(10)).len(), 2);
    assert_eq!(e.states(), ["sent", "sent"]);
    // Sent is sent: nothing goes twice.
    assert_eq!(e.deliver(monday() + chrono::Duration::hours(1)).sent, 0);
    assert_eq!(e.queue(), 0, "the round is recorded");
}

#[test]
fn a_4xx_is_retried_and_a_5xx_fails_and_is_shown() {
    let server = SmtpServer::start(SmtpOptions {
        data_replies: vec![(451, "4.3.0 try again later".into()), (550, "5.7.1 rejected by policy".into())],
        ..SmtpOptions::default()
    });
    let e = env(&smtp(server.port(), "none", ""), None);
    assert_eq!(e.queue(), 2);
    // Oldest first: the digest gets 451 (retried), the 通报 gets 550 (failed).
    let d = e.deliver(monday());
    assert_eq!((d.sent, d.retried, d.failed), (0, 1, 1));
    let rows = e.store.outbox(None, 10).unwrap();
    let failed = rows.iter().find(|r| r.state == "failed").unwrap();
    assert!(failed.last_error.as_deref().unwrap().contains("550"), "{failed:?}");
    assert_eq!(failed.kind, "report");
    let queued = rows.iter().find(|r| r.state == "queued").unwrap();
    assert!(queued.last_error.as_deref().unwrap().contains("451"));
    assert_eq!(queued.attempts, 1);
    // Not before the backoff; then accepted.
    assert_eq!(e.deliver(monday() + chrono::Duration::seconds(30)).sent, 0);
    let d = e.deliver(monday() + chrono::Duration::seconds(61));
    assert_eq!((d.sent, d.failed), (1, 0));
    assert_eq!(server.data_attempts(), 3);
    assert_eq!(server.received().len(), 1);
    // The failed one stays failed until an administrator requeues it.
    assert_eq!(e.deliver(monday() + chrono::Duration::hours(2)).sent, 0);
    assert_eq!(e.store.requeue_failed(&[], monday() + chrono::Duration::hours(2)).unwrap(), 1);
    assert_eq!(e.deliver(monday() + chrono::Duration::hours(2)).sent, 1);
    assert_eq!(server.received().len(), 2);
}

#[test]
fn a_wrong_password_keeps_the_email_queued_and_a_relay_down_for_days_is_given_up() {
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::Implicit,
        auth: Some(("govwatch".into(), "right".into())),
        ..SmtpOptions::default()
    });
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = server.write_ca(ca_dir.path());
    let e = env(
        &smtp(server.port(), "tls", &format!("username = \"govwatch\"\nca_file = \"{}\"", ca.display())),
        Some("wrong"),
    );
    assert_eq!(e.queue(), 2);
    // 535 is the session's problem, not the email's: it waits.
    let d = e.deliver(monday());
    assert_eq!((d.sent, d.retried, d.failed), (0, 1, 0));
    assert!(d.last_error.unwrap().contains("535"));
    assert_eq!(e.states(), ["queued", "queued"]);
    // After alerts.give_up_after_hours (72) it is marked failed, with the reason.
    let d = e.deliver(monday() + chrono::Duration::hours(73));
    assert_eq!(d.failed, 2);
    let rows = e.store.outbox(Some("failed"), 10).unwrap();
    assert!(rows.iter().all(|r| r.last_error.as_deref().unwrap().starts_with("gave up after")), "{rows:?}");
    assert!(server.received().is_empty());
}

#[test]
fn immediate_mail_lists_only_newly_overdue_findings() {
    let dir = tempfile::tempdir().unwrap();
    let e = env(&format!("transport = \"file\"\ndir = \"{}\"", dir.path().join("mail").display()), None);
    let immediate = |at| mailer::queue_round(&e.cfg, &e.cal, &e.store, &e.templates, &Round::immediate(at)).unwrap();
    let r = immediate(monday());
    // GD001 is overdue, GD002 only due soon: one email, to the unit, listing GD001; no 通报, no copy.
    assert_eq!((r.emails, r.findings), (1, 1));
    assert_eq!(r.queued[0].0, "immediate");
    assert_eq!(r.queued[0].2, ["jyj@example.gov.cn"]);
    assert!(r.queued[0].3.starts_with("【超期提醒】县教育局：新增超期事项 1 项"), "{}", r.queued[0].3);
    // Ten minutes later nothing new is overdue: nothing, and no round recorded.
    let r = immediate(monday() + chrono::Duration::minutes(10));
    assert_eq!(r.emails, 0);
    assert!(!e.store.round_done(&r.round).unwrap());
    // The day's round still sends the full digest (GD002 is new to it), and the 通报.
    assert_eq!(e.queue(), 2);
    assert_eq!(e.deliver(monday()).sent, 3);
    let mails: Vec<_> = std::fs::read_dir(dir.path().join("mail")).unwrap().map(|f| f.unwrap().path()).collect();
    assert_eq!(mails.len(), 3);
}

/// The work orders of the acceptance round (issue 17), written for this
/// test after what a county office saw in its trial (the issue's report):
/// a 住建局 with 150 overdue orders and one urgent gas-leak order whose text
/// starts `来电人反映锦绣花园小区` (masking turned it into `来电人反**绣花园小区`),
/// a 教育局 and a 卫健委 late too, and one order of the supervising 政府办
/// itself. The topics are everyday 12345 ones.
fn acceptance_orders() -> String {
    const TOPICS: &[&str] = &[
        "小区楼道灯损坏，夜间出行不便",
        "反映路口红绿灯时间过短，行人来不及通过",
        "小区二次供水水压不足，高层无法正常用水",
        "投诉工地夜间违规施工，噪音扰民",
        "老旧小区加装电梯进度咨询",
        "小区周边道路积水严重，雨天无法通行",
    ];
    let mut csv = String::from("工单编号,来电时间,诉求类型,诉求内容,承办单位,办结时间,状态,紧急程度\n");
    // 150 for 县住建局, received 2 to 11 November (咨询: 2 working days), all
    // overdue 5 working days or more on Monday the 23rd.
    for i in 0..150u32 {
        let day = 2 + i / 15;
        let topic = TOPICS[i as usize % TOPICS.len()];
        csv.push_str(&format!(
            "GD202611{day:02}{i:04},2026-11-{day:02} {:02}:{:02},咨询,{topic},县住建局,,处理中,一般\n",
            8 + i % 9,
            i % 60
        ));
    }
    // The urgent order: 24 hours from Tuesday the 17th, three working days late on Monday.
    csv.push_str(
        "GD202611170999,2026-11-17 10:05,求助,来电人反映锦绣花园小区3栋燃气管道疑似泄漏，闻到明显燃气味，\
         联系电话13912345678,县住建局,,处理中,紧急\n",
    );
    csv.push_str("GD202611050101,2026-11-05 14:20,咨询,咨询孩子转学需要准备哪些材料,县教育局,,处理中,\n");
    csv.push_str("GD202611160102,2026-11-16 09:40,咨询,咨询新生儿预防接种时间,县卫健委,,处理中,\n");
    csv.push_str("GD202611200103,2026-11-20 11:00,咨询,咨询政府信息公开申请的办理方式,县政府办公室,,处理中,\n");
    csv
}

/// Issue 17's acceptance: a round replayed for a supervisor of three late
/// units, one of them with 150 overdue orders and one urgent one.
#[test]
fn a_supervisor_of_three_late_units_gets_one_email_and_the_urgent_order_comes_first() {
    let server = SmtpServer::start(SmtpOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let mut toml = format!(
        r#"
[storage]
data_dir = "{var}"
index_dir = "{index}"
[mail]
transport = "smtp"
host = "127.0.0.1"
port = {port}
security = "none"
timeout_secs = 10
from = "政务公开监测 <govwatch@example.gov.cn>"
[web]
base_url = "https://gk.example.gov.cn/govwatch"
[[units]]
id = "ban"
name = "县政府办公室"
emails = ["ban@example.gov.cn"]
[[sources]]
id = "rexian"
kind = "export"
url = "{drop}"
unit = "ban"
role = "hotline"
level = "county"
"#,
        var = dir.path().join("var").display(),
        index = dir.path().join("index").display(),
        port = server.port(),
        drop = drop.display(),
    );
    for (id, name, mail) in
        [("zhujianju", "县住建局", "zjj"), ("jiaoyuju", "县教育局", "jyj"), ("weijianwei", "县卫健委", "wjw")]
    {
        toml.push_str(&format!(
            "[[units]]\nid = \"{id}\"\nname = \"{name}\"\nemails = [\"{mail}@example.gov.cn\"]\nsupervisor = \"ban\"\n"
        ));
    }
    let path = dir.path().join("govwatch.toml");
    std::fs::write(&path, toml).unwrap();
    let loaded = govwatch::config::load_with_env(&path, Vec::<(String, String)>::new()).unwrap();
    let errors: Vec<String> = loaded.errors().map(|p| p.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let cfg = loaded.config;
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let csv = drop.join("工单.csv");
    std::fs::write(&csv, acceptance_orders()).unwrap();
    let r = govwatch::import::import_file(&cfg, &store, &cfg.sources[0], &csv, monday(), &mut |_| {});
    assert_eq!((r.new, r.quarantined), (154, 0), "{:?}", r.error);
    let cal = Calendar::official();
    govwatch::findings::evaluate(&cfg, &cal, &store, monday(), true).unwrap();
    let templates = Templates::load(None).unwrap();
    let round = mailer::queue_round(&cfg, &cal, &store, &templates, &Round::scheduled(monday())).unwrap();
    // Every order is listed; one shown to both its unit and the supervisor counts once.
    assert_eq!(round.findings, 154);
    let d = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(Mailer::new(&cfg).unwrap().deliver(&store, monday()))
        .unwrap();
    assert_eq!((d.sent, d.failed), (round.emails, 0), "{:?}", d.last_error);
    let got = server.wait_for(round.emails, Duration::from_secs(10));

    // Each address gets one email.
    let mut rcpt: Vec<&str> = got.iter().flat_map(|m| m.rcpt_to.iter().map(String::as_str)).collect();
    rcpt.sort();
    assert_eq!(rcpt, ["ban@example.gov.cn", "jyj@example.gov.cn", "wjw@example.gov.cn", "zjj@example.gov.cn"]);
    let mail = |to: &str| parse(&got.iter().find(|m| m.rcpt_to == [to]).unwrap().data);
    let (zjj, ban) = (mail("zjj@example.gov.cn"), mail("ban@example.gov.cn"));

    // No heading without rows under it, in any email.
    for m in got.iter().map(|m| parse(&m.data)) {
        let lines: Vec<&str> = m.text.lines().collect();
        for (i, l) in lines.iter().enumerate().filter(|(_, l)| l.starts_with('【') && l.ends_with(" 项")) {
            assert!(lines.get(i + 1).is_some_and(|n| n.starts_with("1. ")), "{l} has no rows:\n{}", m.text);
        }
        for table in m.html.split("</h3>").skip(1) {
            let table = table.split("</table>").next().unwrap();
            assert!(table.contains("<td>"), "a heading without rows:\n{}", m.html);
        }
    }

    // The unit: the urgent order first, marked, above 150 older ones.
    assert!(zjj.subject.starts_with("【紧急】【催办】县住建局待办提醒：已超期 151 项"), "{}", zjj.subject);
    let heads: Vec<&str> = zjj.text.lines().filter(|l| l.starts_with('【')).collect();
    assert_eq!(heads, ["【紧急工单】1 项", "【热线工单办理时限】已超期 150 项"], "{}", zjj.text);
    let first = zjj.text.lines().find(|l| l.starts_with("1. ")).unwrap();
    assert!(first.starts_with("1. 【紧急】[新] GD202611170999 来电人反映锦绣花园小区3栋燃气管道疑似泄漏"), "{first}");
    assert!(zjj.text.contains("另有 130 项见附件"), "{}", zjj.text);
    assert!(zjj.html.contains("【紧急】</b>"), "{}", zjj.html);

    // The supervisor: its own order, its late units (催办) and the 通报, in one email.
    assert!(
        ban.subject.starts_with("【紧急】【催办】【通报】县政府办公室待办提醒：即将到期 1 项；所辖 3 个单位"),
        "{}",
        ban.subject
    );
    for part in [&ban.text, &ban.html] {
        for unit in ["县住建局", "县教育局", "县卫健委"] {
            assert!(part.contains(unit), "{unit} missing:\n{part}");
        }
        assert!(part.contains("GD202611200103"), "its own order:\n{part}");
        assert!(part.contains("特此通报"), "{part}");
    }
    let lines: Vec<&str> = ban.text.lines().collect();
    let zj = lines.iter().position(|l| l.contains(". 县住建局：150 项")).expect(&ban.text);
    assert!(lines[zj].ends_with("（列出最紧要的 10 项）"), "{}", lines[zj]);
    assert!(lines[zj + 1].starts_with("   - 热线工单办理时限：GD"), "the first bullet on its own line:\n{}", ban.text);
    assert!(ban.text.contains("- 【紧急】热线工单办理时限：GD202611170999 来电人反映锦绣花园小区"), "{}", ban.text);

    // Masked everywhere, and 反映 survives.
    for m in [&zjj, &ban] {
        assert!(!m.raw.contains("13912345678"));
        for part in [&m.text, &m.html] {
            assert!(part.contains("来电人反映锦绣花园小区") && part.contains("139****5678"), "{part}");
        }
    }
    // One attachment, every row: the unit's 151, the supervisor's own, 催办 and 通报 sheets.
    use calamine::Reader;
    let sheet = |m: &crate::alerts::Mail, name: &str| -> Vec<Vec<String>> {
        assert_eq!(m.attachments.len(), 1);
        let mut wb: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(m.attachments[0].1.clone())).unwrap();
        wb.worksheet_range(name).unwrap().rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
    };
    let rows = sheet(&zjj, "待办事项");
    assert_eq!(rows.len(), 152, "a header and every order");
    assert!(rows.iter().any(|r| r[4].contains("来电人反映锦绣花园小区") && r[4].contains("139****5678")));
    assert!(rows[1][12] == "紧急", "{:?}", rows[1]);
    assert_eq!(sheet(&ban, "待办事项").len(), 2);
    assert!(sheet(&ban, "超期通报").len() > 150);
    assert!(sheet(&ban, "所辖单位催办").iter().any(|r| r[3] == "GD202611170999"));
    // Every listed finding is marked with the one email that listed it.
    let outbox = store.outbox(None, 10).unwrap();
    assert_eq!(outbox.len(), 4);
    assert_eq!(mailer::queue_round(&cfg, &cal, &store, &templates, &Round::scheduled(monday())).unwrap().emails, 0);
}
