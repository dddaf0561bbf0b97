//! One daemon per data folder: an advisory lock on `<data_dir>/govwatch.lock`
//! (flock, released by the kernel when the process dies — also after
//! `kill -9`, so a stale file never blocks a restart). The file holds the
//! holder's pid and start time, so a second `govwatch run` can say who has it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub const LOCK_FILE: &str = "govwatch.lock";

/// Held for the life of the daemon; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

/// Another process holds the folder.
#[derive(Debug, thiserror::Error)]
#[error(
    "另一个 govwatch 已在数据目录 {dir} 上运行（{}）：请先停止它（systemctl stop govwatch），\
     或给本实例另设 storage.data_dir",
    describe(holder)
)]
pub struct AlreadyRunning {
    pub dir: String,
    /// What the lock file says, e.g. `pid 1234, started 2026-11-30T09:00:00+08:00`.
    pub holder: String,
}

impl InstanceLock {
    /// Takes the lock on `data_dir` (created if missing) or says who holds it.
    pub fn acquire(data_dir: &Path, started: &str) -> Result<InstanceLock> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("failed to create the data folder {}", data_dir.display()))?;
        let path = data_dir.join(LOCK_FILE);
        // Not truncated before the lock is ours: the holder's pid must survive.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("failed to open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(AlreadyRunning { dir: data_dir.display().to_string(), holder: holder_of(&mut file) }.into());
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("failed to lock {}", path.display()));
            }
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "pid {}, started {started}", std::process::id())?;
        file.sync_all()?;
        Ok(InstanceLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file's line (`pid 1234, started 2026-11-30T09:00:00+08:00`) as
/// officers read it: `进程号 1234，启动于 2026-11-30 09:00:00`. Another line
/// is shown as it is.
pub fn describe(holder: &str) -> String {
    let Some(rest) = holder.trim().strip_prefix("pid ") else { return holder.trim().to_string() };
    let (pid, started) = rest.split_once(", started ").unwrap_or((rest, ""));
    let started = chrono::DateTime::parse_from_rfc3339(started.trim())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| started.trim().to_string());
    if started.is_empty() { format!("进程号 {pid}") } else { format!("进程号 {pid}，启动于 {started}") }
}

/// Is a daemon running on `data_dir`? Its lock file's line if so. Reads only;
/// never creates the folder.
pub fn holder(data_dir: &Path) -> Option<String> {
    // Read-only is enough for flock, and works for users who may not write here.
    let mut file = OpenOptions::new().read(true).open(data_dir.join(LOCK_FILE)).ok()?;
    match file.try_lock() {
        // Free: nobody runs here. (Released at once when `file` drops.)
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => Some(holder_of(&mut file)),
        Err(TryLockError::Error(_)) => None,
    }
}

fn holder_of(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.read_to_string(&mut s);
    match s.trim() {
        "" => "一个尚未写下进程号的进程".to_string(),
        line => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_the_lock_frees_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(dir.path(), "2026-11-30T09:00:00+08:00").unwrap();
        let holder_line = format!("pid {}, started 2026-11-30T09:00:00+08:00", std::process::id());
        assert_eq!(holder(dir.path()).as_deref(), Some(holder_line.as_str()));
        let err = InstanceLock::acquire(dir.path(), "later").unwrap_err();
        let msg = format!("{err:#}");
        let shown = format!("进程号 {}，启动于 2026-11-30 09:00:00", std::process::id());
        assert!(msg.contains("已在数据目录") && msg.contains(&shown), "{msg}");
        // The refused attempt did not clobber the holder's line.
        assert_eq!(std::fs::read_to_string(first.path()).unwrap().trim(), holder_line);
        drop(first);
        assert_eq!(holder(dir.path()), None);
        let again = InstanceLock::acquire(dir.path(), "later").unwrap();
        assert!(std::fs::read_to_string(again.path()).unwrap().contains("started later"));
    }

    #[test]
    fn the_holder_is_described_in_chinese() {
        assert_eq!(describe("pid 42, started 2026-11-30T09:00:00+08:00"), "进程号 42，启动于 2026-11-30 09:00:00");
        assert_eq!(describe("pid 42, started later"), "进程号 42，启动于 later");
        assert_eq!(describe("pid 42"), "进程号 42");
        assert_eq!(describe("something else"), "something else");
    }
}
