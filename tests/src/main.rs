//! `zenreg-downstream`: the built-in commands in a downstream binary that links its own flavor.

use std::process::ExitCode;

use zenreg_tests as _;

fn main() -> ExitCode {
    zenreg_core::cli::main()
}
