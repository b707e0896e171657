//! `zenreg-downstream`: the built-in commands in a downstream binary that links its own flavor.

use std::process::ExitCode;

use zenreg_acme as _;

fn main() -> ExitCode {
    zenreg_cli::main()
}
