//! `bykilt`: parses the command line and hands it to the library.

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = bykilt::cli::Cli::parse();
    bykilt::log_lines::install();
    let mut out = bykilt::output::Output::stdio(cli.global.quiet, cli.global.json);
    let code = bykilt::run(cli, &mut out);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
