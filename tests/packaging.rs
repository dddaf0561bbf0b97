//! The systemd unit and the Debian package: `systemd-analyze verify` accepts
//! the unit, the unit has the directives the daemon relies on (sd_notify,
//! watchdog, the govwatch user, hardening), and `[package.metadata.deb]` in
//! Cargo.toml ships the binary, the unit, the configuration and the
//! maintainer scripts.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

const UNIT: &str = "systemd/govwatch.service";

/// `[daemon] shutdown_timeout_secs` by default: the unit's TimeoutStopSec must exceed it.
const DEFAULT_SHUTDOWN_SECS: u64 = 10;

/// One `Key=Value` line of a unit file, with its section and line number.
#[derive(Debug)]
struct Directive {
    section: String,
    key: String,
    value: String,
    line: usize,
    /// Whether the line just above is a comment (every directive explains itself).
    commented: bool,
}

fn read(rel: &str) -> String {
    let path = support::repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The unit file's directives in order (systemd.syntax: `#`/`;` comments,
/// `[Section]` headers, `Key=Value`, trailing `\` continues a line).
fn parse_unit(text: &str) -> Vec<Directive> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut previous_was_comment = false;
    let mut pending: Option<(usize, String, bool)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some((start, mut joined, commented)) = pending.take() {
            joined.push(' ');
            joined.push_str(line.trim_end_matches('\\'));
            if line.ends_with('\\') {
                pending = Some((start, joined, commented));
            } else {
                out.push(directive(&section, &joined, start, commented));
            }
            continue;
        }
        if line.is_empty() {
            previous_was_comment = false;
        } else if line.starts_with('#') || line.starts_with(';') {
            previous_was_comment = true;
        } else if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
            previous_was_comment = false;
        } else if let Some(cont) = line.strip_suffix('\\') {
            pending = Some((i + 1, cont.to_string(), previous_was_comment));
            previous_was_comment = false;
        } else {
            out.push(directive(&section, line, i + 1, previous_was_comment));
            previous_was_comment = false;
        }
    }
    assert!(pending.is_none(), "the unit ends inside a continued line");
    out
}

fn directive(section: &str, line: &str, number: usize, commented: bool) -> Directive {
    let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("line {number} is not Key=Value: {line}"));
    Directive {
        section: section.to_string(),
        key: key.trim().to_string(),
        value: value.trim().to_string(),
        line: number,
        commented,
    }
}

/// Every value of `key` in `section`, in order.
fn values<'a>(unit: &'a [Directive], section: &str, key: &str) -> Vec<&'a str> {
    unit.iter().filter(|d| d.section == section && d.key == key).map(|d| d.value.as_str()).collect()
}

/// The single value of `key` in `section`.
fn value<'a>(unit: &'a [Directive], section: &str, key: &str) -> &'a str {
    let all = values(unit, section, key);
    assert_eq!(all.len(), 1, "[{section}] {key}= should appear exactly once, found {all:?}");
    all[0]
}

/// A systemd time span ("30", "30s", "1min 30s", "500ms") in milliseconds.
fn timespan_ms(span: &str) -> u64 {
    let mut total = 0;
    for part in span.split_whitespace() {
        let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
        let n: u64 = digits.parse().unwrap_or_else(|_| panic!("not a time span: {span}"));
        let unit_ms = match &part[digits.len()..] {
            "" | "s" | "sec" | "second" | "seconds" => 1_000,
            "ms" | "msec" => 1,
            "m" | "min" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hour" | "hours" => 3_600_000,
            other => panic!("unknown time unit {other:?} in {span}"),
        };
        total += n * unit_ms;
    }
    total
}

#[test]
fn unit_has_the_directives_the_daemon_relies_on() {
    let unit = parse_unit(&read(UNIT));
    let svc = "Service";

    // sd_notify: READY=1, STATUS=…, WATCHDOG=1 from the main process.
    assert_eq!(value(&unit, svc, "Type"), "notify");
    assert_eq!(value(&unit, svc, "NotifyAccess"), "main");
    let watchdog = timespan_ms(value(&unit, svc, "WatchdogSec"));
    assert!(watchdog >= 10_000, "WatchdogSec={watchdog} ms is too short for a daemon pinging every half of it");

    // How it starts, reloads and stops.
    assert_eq!(value(&unit, svc, "ExecStart"), "/usr/bin/govwatch run --config /etc/govwatch/govwatch.toml");
    let reload = value(&unit, svc, "ExecReload");
    assert!(reload.contains("-HUP") && reload.contains("$MAINPID"), "ExecReload must send SIGHUP: {reload}");
    let stop = timespan_ms(value(&unit, svc, "TimeoutStopSec"));
    assert!(
        stop > DEFAULT_SHUTDOWN_SECS * 1_000,
        "TimeoutStopSec ({stop} ms) must exceed the daemon's own shutdown timeout ({DEFAULT_SHUTDOWN_SECS} s)"
    );
    assert_eq!(value(&unit, svc, "Restart"), "on-failure");

    // The static system user the package creates, and its folders.
    assert_eq!(value(&unit, svc, "User"), "govwatch");
    assert_eq!(value(&unit, svc, "Group"), "govwatch");
    assert!(values(&unit, svc, "DynamicUser").iter().all(|v| *v == "no"), "the package creates a static user");
    assert_eq!(value(&unit, svc, "StateDirectory"), "govwatch");
    assert_eq!(value(&unit, svc, "ConfigurationDirectory"), "govwatch");
    assert_eq!(value(&unit, svc, "WorkingDirectory"), "/var/lib/govwatch");

    // Hardening.
    for (key, want) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("UMask", "0027"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(value(&unit, svc, key), want, "{key}=");
    }
    let mut families: Vec<&str> = value(&unit, svc, "RestrictAddressFamilies").split_whitespace().collect();
    families.sort_unstable();
    assert_eq!(families, ["AF_INET", "AF_INET6", "AF_UNIX"], "network for fetching and SMTP, AF_UNIX for sd_notify");
    let filters = values(&unit, svc, "SystemCallFilter");
    assert!(filters.contains(&"@system-service"), "SystemCallFilter=@system-service missing: {filters:?}");
    let denied: Vec<&str> =
        filters.iter().filter_map(|f| f.strip_prefix('~')).flat_map(|f| f.split_whitespace()).collect();
    assert!(denied.contains(&"@privileged") && denied.contains(&"@resources"), "deny list: {denied:?}");

    assert_eq!(value(&unit, "Install", "WantedBy"), "multi-user.target");

    // Every directive says why it is there.
    let bare: Vec<String> =
        unit.iter().filter(|d| !d.commented).map(|d| format!("line {}: {}=", d.line, d.key)).collect();
    assert!(bare.is_empty(), "directives without a comment just above them: {bare:#?}");
}

/// The unit as `systemd-analyze verify` can check it here: the binary it
/// runs must exist, so ExecStart points at the test build of govwatch.
fn checkable_unit(text: &str) -> String {
    let bin = support::bin();
    let mut out = text.replace("/usr/bin/govwatch", &bin.to_string_lossy());
    if !Path::new("/bin/kill").exists() {
        // Any executable will do for verify; only ExecReload uses kill.
        out = out.replace("/bin/kill", &bin.to_string_lossy());
    }
    out
}

/// Runs `systemd-analyze verify` on `text` saved as `govwatch.service` in a
/// temp folder: `None` when the tool is missing, else whether it passed and
/// its diagnostics about this unit. (verify exits 0 on a misspelt key or a bad
/// value, so the diagnostics decide; lines about other units on the machine
/// are not ours to judge.)
fn verify(text: &str) -> Option<(bool, Vec<String>, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("govwatch.service");
    std::fs::write(&path, text).unwrap();
    let output = match Command::new("systemd-analyze").arg("verify").arg(&path).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("running systemd-analyze: {e}"),
    };
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let ours: Vec<String> = all
        .lines()
        .filter(|l| l.contains(&*path.to_string_lossy()) || l.contains("govwatch.service"))
        .map(str::to_string)
        .collect();
    Some((output.status.success() && ours.is_empty(), ours, all))
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let text = checkable_unit(&read(UNIT));
    let Some((ok, ours, all)) = verify(&text) else {
        eprintln!("NOT RUN: systemd-analyze not found; the unit was not verified");
        return;
    };
    assert!(ok, "systemd-analyze verify rejects {UNIT}:\n{ours:#?}\nfull output:\n{all}");

    // The check above is not blind: the same unit with a misspelt key and a
    // bad value fails it.
    let broken =
        text.replace("\nType=notify\n", "\nType=notifyy\n").replace("\nPrivateTmp=yes\n", "\nPrivateTmpp=yes\n");
    assert_ne!(broken, text, "the unit should contain Type=notify and PrivateTmp=yes lines");
    let (ok, ours, all) = verify(&broken).expect("systemd-analyze ran a moment ago");
    assert!(!ok, "systemd-analyze verify should reject a misspelt unit; it said:\n{all}");
    assert!(ours.iter().any(|l| l.contains("notifyy")), "{ours:#?}");
    assert!(ours.iter().any(|l| l.contains("PrivateTmpp")), "{ours:#?}");
}

/// The `[package.metadata.deb]` table of Cargo.toml as text.
fn deb_metadata() -> String {
    let manifest = read("Cargo.toml");
    let start = manifest.find("\n[package.metadata.deb]\n").expect("Cargo.toml has [package.metadata.deb]");
    let rest = &manifest[start + 1..];
    let header_len = "[package.metadata.deb]\n".len();
    let end = rest[header_len..].find("\n[").map(|i| header_len + i).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// The `assets` entries (`["source", "dest", "mode"]`, one a line) of the metadata.
fn assets(meta: &str) -> Vec<Vec<String>> {
    let start = meta.find("\nassets = [").expect("[package.metadata.deb] lists assets");
    let body = &meta[start + "\nassets = [".len()..];
    let body = &body[..body.find("\n]").expect("assets = [ … ] closes on its own line")];
    body.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('['))
        .map(|l| l.split('"').skip(1).step_by(2).map(str::to_string).collect())
        .collect()
}

/// The value of `key = "…"` at the start of a line of the metadata.
fn string_key(meta: &str, key: &str) -> Option<String> {
    meta.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim();
        Some(rest.trim_matches('"').to_string())
    })
}

#[test]
fn deb_package_ships_binary_unit_config_and_scripts() {
    let meta = deb_metadata();
    let assets = assets(&meta);
    let has = |src: &str, dest: &str, mode: &str| assets.iter().any(|a| a == &[src, dest, mode]);
    assert!(has("target/release/govwatch", "usr/bin/", "755"), "the binary: {assets:#?}");
    // The configuration as a conffile (everything under /etc is one), not world-readable,
    // and the pristine example beside the documentation.
    assert!(has("config/govwatch.example.toml", "etc/govwatch/govwatch.toml", "640"), "the config: {assets:#?}");
    assert!(
        has("config/govwatch.example.toml", "usr/share/doc/govwatch/govwatch.example.toml", "644"),
        "the example config as documentation: {assets:#?}"
    );
    assert!(has("README.md", "usr/share/doc/govwatch/", "644"), "{assets:#?}");
    for asset in &assets {
        assert_eq!(asset.len(), 3, "[source, dest, mode]: {asset:?}");
        let src = &asset[0];
        assert!(src.starts_with("target/") || support::repo().join(src).is_file(), "asset {src} does not exist");
    }

    // The unit is an asset through cargo-deb's systemd-units: it takes
    // `<package>.service` from unit-scripts, installs it in
    // /usr/lib/systemd/system and writes the enable/restart fragments.
    let units = meta.lines().find(|l| l.starts_with("systemd-units")).expect("systemd-units is configured");
    let compact: String = units.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(compact.contains("unit-scripts=\"systemd/\""), "{units}");
    assert_eq!(Path::new(UNIT).parent(), Some(Path::new("systemd")));
    assert!(support::repo().join(UNIT).is_file());
    assert!(compact.contains("enable=true"), "enabled on install: {units}");
    assert!(
        compact.contains("start=false"),
        "not started on install (the config needs units and sources first): {units}"
    );

    // The maintainer scripts: cargo-deb requires #DEBHELPER# in each.
    let scripts = string_key(&meta, "maintainer-scripts").expect("maintainer-scripts is set");
    assert_eq!(scripts, "systemd/deb/");
    let postinst = read("systemd/deb/postinst");
    let postrm = read("systemd/deb/postrm");
    for (name, text) in [("postinst", &postinst), ("postrm", &postrm)] {
        assert!(text.starts_with("#!/bin/sh\n"), "{name} is a POSIX shell script");
        assert!(text.contains("\nset -e\n"), "{name} stops at the first error");
        // cargo-deb replaces every occurrence, comments included: once, on its own line.
        assert_eq!(text.matches("#DEBHELPER#").count(), 1, "{name} must hold the #DEBHELPER# token exactly once");
        assert!(text.contains("\n#DEBHELPER#\n"), "{name}: #DEBHELPER# must stand on its own line");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(support::repo().join("systemd/deb").join(name)).unwrap().permissions().mode();
            assert!(mode & 0o111 != 0, "{name} is not executable (mode {mode:o})");
        }
        if let Ok(o) = Command::new("sh").arg("-n").arg(support::repo().join("systemd/deb").join(name)).output() {
            assert!(o.status.success(), "sh -n {name}: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    // The user before the systemd fragments that may restart the service.
    let user = postinst.find("adduser --system").expect("postinst creates the system user");
    assert!(
        user < postinst.find("#DEBHELPER#").unwrap(),
        "postinst must create the user before #DEBHELPER# (the systemd fragments may restart the service)"
    );
    assert!(postinst.contains("install -d -o govwatch -g govwatch -m 0750 /var/lib/govwatch"));
    assert!(postinst.contains("chown root:govwatch /etc/govwatch/govwatch.toml"));
    assert!(postinst.contains("chmod 0640 /etc/govwatch/govwatch.toml"));
    // Data goes only on purge.
    let purge = postrm.find("\npurge)").expect("postrm handles purge");
    let rm = postrm.find("rm -rf /var/lib/govwatch").expect("purge removes the state folder");
    assert!(rm > purge && postrm[purge..rm].matches(";;").count() == 0, "the state folder is removed only on purge");
}
