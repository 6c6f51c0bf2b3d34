//! `wildcert completions SHELL` and the manual page: both generated from the clap
//! definitions `--help` shows, so they cannot drift from it.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::commands::error::CommandError;
use wildcert::exit::Status;

pub fn completions(shell: clap_complete::Shell) -> Result<Status, CommandError> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "wildcert", &mut std::io::stdout());
    Ok(Status::Ok)
}

pub fn manpage() -> Result<Status, CommandError> {
    let mut out = std::io::stdout().lock();
    out.write_all(&render_manpage().map_err(CommandError::Io)?).map_err(CommandError::Io)?;
    Ok(Status::Ok)
}

/// `wildcert(1)`: the top-level page, then one section per command (`WILDCERT ISSUE`,
/// `WILDCERT BUCKET POLICY`, ...) with its synopsis, description and options.
pub fn render_manpage() -> std::io::Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    let mut stack: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    stack.reverse();
    while let Some(sub) = stack.pop() {
        let title = sub.get_bin_name().unwrap_or(sub.get_name()).to_uppercase();
        writeln!(page, ".SH \"{title}\"")?;
        let man = clap_mangen::Man::new(sub.clone());
        let mut body = Vec::new();
        man.render_synopsis_section(&mut body)?;
        man.render_description_section(&mut body)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut body)?;
        }
        // The command's own sections become subsections of its section.
        for line in String::from_utf8_lossy(&body).lines() {
            match line.strip_prefix(".SH ") {
                Some(heading) => writeln!(page, ".SS {}", heading.to_lowercase())?,
                None => writeln!(page, "{line}")?,
            }
        }
        let mut children: Vec<&clap::Command> =
            sub.get_subcommands().filter(|c| !c.is_hide_set() && c.get_name() != "help").collect();
        children.reverse();
        stack.extend(children);
    }
    Ok(page)
}
