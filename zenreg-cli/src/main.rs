//! The `zenreg` command: the built-in commands of zenreg-cli over every flavor this binary links.
//!
//! `inventory` only sees crates the binary names, so each flavor crate is named here. The test
//! `every_flavor_dependency_is_linked` fails when a dependency is added without its line.

use std::process::ExitCode;

#[cfg(feature = "aws")]
use zenreg_aws as _;
use zenreg_aws_config as _;

fn main() -> ExitCode {
    zenreg_cli::main()
}
