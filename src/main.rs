//! The `govwatch` binary: parse the command line, set up logging, run the
//! subcommand, print the whole error chain, map it to an exit status
//! (0 ok, 1 failure, 2 configuration error).

use std::process::ExitCode;

use clap::Parser;
use govwatch::cli::{self, Cli, Command, EXIT_FAILURE, Reported};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs its work; one-shot commands only warnings unless asked.
    let default = if matches!(cli.command, Command::Run) { "info,tokio_cron_scheduler=warn" } else { "warn" };
    let filter = EnvFilter::try_from_env("GOVWATCH_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let filter = quiet_parsers(filter, std::env::var("GOVWATCH_LOG").ok().as_deref());
    // Under systemd (JOURNAL_STREAM set) journald stamps each line itself:
    // plain `LEVEL target: message field=value` lines, no colours, no time.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!journald && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if journald {
        logs.without_time().init()
    } else {
        logs.init()
    }
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(Reported(code)) = e.downcast_ref::<Reported>() {
                return ExitCode::from(*code);
            }
            // `govwatch search … | head` closes the pipe early: not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("错误：{e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// html5ever logs (through the `log` bridge) a WARN for every misplaced piece
/// of table text — 6.27 million lines, 577 MB, from one 21 MB page — and
/// DEBUG lines per character reference: nothing an administrator can act on
/// (govwatch reports what it changed about a page in the source's warnings).
/// Only its errors are kept, unless `GOVWATCH_LOG` names it.
fn quiet_parsers(filter: EnvFilter, asked: Option<&str>) -> EnvFilter {
    if asked.is_some_and(|a| a.contains("html5ever")) {
        return filter;
    }
    match "html5ever=error".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    }
}
