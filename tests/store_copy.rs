//! `govwatch store copy --to URL` as an administrator runs it: the demo's
//! SQLite store into a new PostgreSQL database, progress on stderr, counts
//! on stdout, the password never shown; refused while the daemon holds the
//! data folder and into a database that has rows.
//!
//! PostgreSQL is the test process's throwaway cluster (`store::pg_cluster`);
//! where it cannot start the test says NOT RUN (a failure in CI).

use std::path::Path;
use std::process::{Command, Output};

use govwatch::store::Store;

use crate::support;

const DEMO: &str = "config/demo.toml";

fn govwatch(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(support::bin());
    cmd.args(args)
        .current_dir(support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", state.join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", state.join("index"))
        .env_remove("GOVWATCH_CONFIG")
        .env_remove("GOVWATCH__STORAGE__URL")
        // The copy starts from a SQLite store, even when the suite runs on PostgreSQL.
        .env_remove(govwatch::store::TEST_POSTGRES_BASE);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("govwatch runs")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn store_copy_moves_the_demo_store_to_postgresql_once() {
    let Some(cluster) = govwatch::store::pg_cluster::test_cluster() else { return };
    // The cluster's password: it must never be shown.
    let password = cluster.password().to_string();
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let o = govwatch(s, &["poll", "--config", DEMO], &[]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let url = cluster.database("cli_copy").unwrap();
    assert!(url.contains(&password));

    // Not while the daemon holds the data folder.
    let lock = govwatch::daemon::lock::InstanceLock::acquire(&s.join("var"), "2026-12-06T09:00:00+08:00").unwrap();
    let o = govwatch(s, &["store", "copy", "--config", DEMO, "--to", &url], &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let holder = format!("进程号 {}，启动于 2026-12-06 09:00:00", std::process::id());
    assert!(err.contains("后台服务正在数据目录") && err.contains(&holder), "{err}");
    drop(lock);
    let dst = Store::open_postgres(&url, 1).unwrap();
    assert_eq!(dst.count_items().unwrap(), 0, "the refused copy wrote nothing");

    let o = govwatch(s, &["store", "copy", "--config", DEMO, "--to", &url], &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("逐表核对行数一致"), "{out}");
    let items = out.lines().find(|l| l.trim_start().starts_with("items ")).unwrap_or_else(|| panic!("{out}"));
    assert!(items.trim_end().ends_with(" 28 行"), "{items}");
    assert!(out.contains("cases        8 行") && out.contains("nodes、leases、web_sessions、login_attempts"), "{out}");
    assert!(err.contains("复制 items 0/28") && err.contains("复制 items 28/28"), "{err}");
    assert!(!out.contains(&password) && !err.contains(&password), "{out}{err}");
    assert_eq!(dst.count_items().unwrap(), 28);
    let sqlite = Store::open_sqlite(&s.join("var")).unwrap();
    assert_eq!(dst.max_rev().unwrap(), sqlite.max_rev().unwrap());

    // Again, the URL from the environment: refused, the tables named, nothing written.
    let o = govwatch(s, &["store", "copy", "--config", DEMO], &[("GOVWATCH__STORAGE__URL", &url)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("不是空的：表 sources、items、cases、imports 中已有数据"), "{err}");
    assert!(!out.contains(&password) && !err.contains(&password), "{out}{err}");
    assert_eq!(dst.count_items().unwrap(), 28);

    // Without a destination: say where it goes.
    let o = govwatch(s, &["store", "copy", "--config", DEMO], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("GOVWATCH__STORAGE__URL"));
}
