//! `spotify-auth completions SHELL`: the completion script for bash, zsh,
//! fish, PowerShell or elvish on stdout (clap_complete), made from the same
//! command line definition as `--help`.

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs};
use crate::exit::{Exit, Failure};

/// Runs `completions`.
pub fn run(args: &CompletionsArgs) -> Result<(), Failure> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "spotify-auth", &mut script);
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot write the script: {e}")))
}
