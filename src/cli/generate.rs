//! `hookgate completions SHELL` and `hookgate man`: generated from the clap
//! definitions at run time, so they cannot drift from the options. The
//! package build writes both to files (deploy/debian/build-package).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use super::{Cli, VERSION};

/// Writes the completion script for `shell`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "hookgate", out);
}

/// Writes the man page `hookgate(1)`: clap's sections, then what an
/// operator of the installed gateway looks for and `--help` does not say.
pub fn man(out: &mut dyn Write) -> io::Result<()> {
    page(manual()).render(out)?;
    out.write_all(INSTALLED.as_bytes())
}

/// Writes `hookgate.1` and a page per subcommand (`hookgate-queue-ls.1`,
/// ...), which `hookgate.1` refers to, into `dir`; returns their paths.
pub fn man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let main = dir.join("hookgate.1");
    man(&mut io::BufWriter::new(std::fs::File::create(&main)?))?;
    let mut written = vec![main];
    let mut pending: Vec<clap::Command> = manual().get_subcommands().cloned().collect();
    while let Some(command) = pending.pop() {
        pending.extend(command.get_subcommands().cloned());
        written.push(page(command).generate_to(dir)?);
    }
    Ok(written)
}

/// The command as the pages show it: built, so that subcommands carry
/// their full names (`hookgate-queue-ls`), and without the `help`
/// subcommand, which has no page.
fn manual() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// A page titled in capitals, as man pages are, naming the version built.
fn page(command: clap::Command) -> Man {
    let name = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
        .to_uppercase();
    Man::new(command)
        .title(name)
        .source(format!("hookgate {VERSION}"))
}

const INSTALLED: &str = r#".SH FILES
.TP
\fI/etc/hookgate/routes.toml\fR
The routes, read when neither \fB\-\-config\fR nor \fBHOOKGATE_CONFIG\fR names a file and the working directory has no \fIconfig/routes.toml\fR.
.TP
\fI/etc/hookgate/hookgate.env\fR
The secrets the routes name as \fB${VAR}\fR, read by the systemd unit (mode 0600).
.TP
\fI/var/lib/hookgate\fR
The state directory under the systemd unit: a relative \fB[store] path\fR is placed there.
.SH ENVIRONMENT
.TP
\fBHOOKGATE_CONFIG\fR
The routes file, when \fB\-\-config\fR is not given.
.TP
\fBHOOKGATE_\fISECTION\fB__\fIKEY\fR
Overrides a key of the routes file, e.g. \fBHOOKGATE_SERVER__LISTEN\fR.
.TP
\fBSTATE_DIRECTORY\fR
Set by systemd's \fBStateDirectory=\fR: where a relative store path goes.
.TP
\fBNOTIFY_SOCKET\fR
Set by systemd for \fBType=notify\fR: the gateway sends READY=1, RELOADING=1 and STOPPING=1 there.
.TP
\fBRUST_LOG\fR
The log level (default \fBinfo\fR).
.SH SIGNALS
\fBSIGHUP\fR reloads the routes file; \fBSIGTERM\fR and \fBSIGINT\fR finish in-flight requests, then exit.
.SH SEE ALSO
\fBsystemctl\fR(1), \fBjournalctl\fR(1)
"#;
