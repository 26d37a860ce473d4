//! Man pages rendered from the clap definitions: `alice.1` and one page per subcommand
//! (`alice-run.1`, `alice-events-tail.1`, …), the names the SUBCOMMANDS sections refer to.
//! Each subcommand page ends with a SEE ALSO section naming the pages above it.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Writes the top page (`alice.1`) to stdout.
pub fn print(cli: clap::Command) -> anyhow::Result<()> {
    let cli = prepared(cli);
    let text = render(&cli, &source(&cli), &[])?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&text)?;
    stdout.flush()?;
    Ok(())
}

/// Writes the page of every visible command into `dir` (created if missing).
pub fn write_to(cli: clap::Command, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cli = prepared(cli);
    write_tree(&cli, &source(&cli), &mut Vec::new(), dir)
}

/// `help` is not a command with a page of its own: without it no page refers to
/// `alice-help(1)`. Building fills in each subcommand's display name (`alice-events-tail`),
/// which names its page.
fn prepared(cli: clap::Command) -> clap::Command {
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    cli
}

/// Every page's footer names the program and its version (`alice 0.1.0`), not the command.
fn source(cli: &clap::Command) -> String {
    format!(
        "{} {}",
        cli.get_name(),
        cli.get_version().unwrap_or_default()
    )
}

/// Writes `cmd`'s page and those of its visible subcommands; `parents` are the display names
/// above it, nearest last.
fn write_tree(
    cmd: &clap::Command,
    source: &str,
    parents: &mut Vec<String>,
    dir: &Path,
) -> anyhow::Result<()> {
    let path = dir.join(clap_mangen::Man::new(cmd.clone()).get_filename());
    std::fs::write(&path, render(cmd, source, parents)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    parents.push(display_name(cmd).to_owned());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub, source, parents, dir)?;
    }
    parents.pop();
    Ok(())
}

/// One page in roff, with a SEE ALSO section naming `parents` (nearest first).
fn render(cmd: &clap::Command, source: &str, parents: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .source(source)
        .render(&mut text)?;
    if !parents.is_empty() {
        let refs: Vec<String> = parents
            .iter()
            .rev()
            .map(|p| format!("\\fB{}\\fR(1)", p.replace('-', "\\-")))
            .collect();
        write!(text, ".SH \"SEE ALSO\"\n{}\n", refs.join(", "))?;
    }
    Ok(text)
}

fn display_name(cmd: &clap::Command) -> &str {
    cmd.get_display_name().unwrap_or(cmd.get_name())
}
