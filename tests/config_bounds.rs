//! Issue 18 item 7 (the configuration's part): `govwatch config check`
//! refuses numbers that would stop or swamp the work and text with control
//! characters, naming the key and what is allowed, in Chinese.

use std::process::Command;

use crate::support;

const UNITS: &str = r#"
[[units]]
id = "bangongshi"
name = "区政府办公室"
emails = ["gk@example.gov.cn"]
"#;

/// `govwatch config check` of `toml`: (exit status, stdout).
fn check(toml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("govwatch.toml");
    std::fs::write(&path, toml).unwrap();
    let o = Command::new(support::bin())
        .args(["config", "check", "--config", path.to_str().unwrap()])
        .current_dir(support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", dir.path().join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", dir.path().join("index"))
        .env_remove("GOVWATCH_CONFIG")
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

#[test]
fn numbers_out_of_range_are_refused_with_the_key_and_the_range() {
    let toml = format!(
        "[fetch]\nmax_body_bytes = 0\nper_host = 0\nretries = 4000000000\nconcurrency = 0\ntimeout_secs = 0\n\
         [web]\nsession_hours = 100000\nheader_timeout_secs = 0\n\
         [alerts]\nmax_rows = 0\n\
         [inspection.links]\nper_run = 0\n\
         [rules.hotline]\ndays = {{ \"咨询\" = 0 }}\n\
         {UNITS}"
    );
    let (status, out) = check(&toml);
    assert_eq!(status, Some(2), "{out}");
    for want in [
        "错误：fetch.max_body_bytes：0 超出范围：应为 1024 到 1073741824 字节（默认 20971520）",
        "错误：fetch.per_host：0 超出范围：应为 1 到 64（默认 2）",
        "错误：fetch.retries：4000000000 超出范围：应为 0 到 10 次（默认 2）",
        "错误：fetch.concurrency：0 超出范围：应为 1 到 1024（默认 16）",
        "错误：fetch.timeout_secs：0 超出范围：应为 1 到 3600 秒（默认 30）",
        "错误：web.session_hours：100000 超出范围：应为 1 到 720 小时（默认 12）",
        "错误：web.header_timeout_secs：0 超出范围：应为 1 到 300 秒（默认 10）",
        "错误：alerts.max_rows：0 超出范围：应为 1 到 10000 条（默认 100）",
        "错误：inspection.links.per_run：0 超出范围：应为 1 到 10000000 条（默认 50000）",
        "错误：rules.hotline.days.咨询：0 超出范围：应为 1 到 365 个工作日",
    ] {
        assert!(out.contains(want), "{want}\n---\n{out}");
    }
    // Beyond what the key's type holds at all: still the key and a range, in Chinese.
    let (status, out) = check(&format!("[fetch]\nretries = 50000000000\n{UNITS}"));
    assert_eq!(status, Some(2), "{out}");
    assert!(out.contains("错误：fetch.retries：50000000000 超出范围：应为 0 到 4294967295 之间的整数"), "{out}");
    // The defaults and the demo are within every range.
    assert_eq!(check(UNITS).0, Some(0));
}

#[test]
fn control_characters_in_names_ids_and_addresses_are_refused() {
    let toml = "[mail]\nfrom = \"govwatch <gw@example.gov.cn>\\r\\nBcc: all@evil.example\"\n\
                [[units]]\nid = \"ban\\ngongshi\"\nname = \"区政府办公室\\r\\nBcc: x@evil.example\"\n\
                emails = [\"gk@example.gov.cn\\r\\nBcc: x@evil.example\"]\n\
                [[units]]\nid = \"gongkaiban\"\nname = \"公开办\\u202E\"\naliases = [\"办\\t公开\"]\n";
    let (status, out) = check(toml);
    assert_eq!(status, Some(2), "{out}");
    for want in [
        "错误：units[0].name：\"区政府办公室\\r\\nBcc: x@evil.example\" 含控制字符",
        "错误：units[0].emails[0]：\"gk@example.gov.cn\\r\\nBcc: x@evil.example\" 含控制字符",
        "错误：units[0].id：\"ban\\ngongshi\" 含控制字符",
        "错误：units[1].name：",
        "错误：units[1].aliases[0]：\"办\\t公开\" 含控制字符",
        "错误：mail.from：",
        "配置中的文字不能含换行、回车、制表符等控制字符",
    ] {
        assert!(out.contains(want), "{want}\n---\n{out}");
    }
    // The report itself carries no control character from the file.
    assert!(!out.contains("\r") && !out.contains("\u{202E}"), "{out:?}");
}
