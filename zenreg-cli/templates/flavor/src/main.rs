//! `zenreg-{{kebab}}`: every zenreg command, over the built-in flavors and the `{{name}}` flavor.
//!
//! `inventory` only collects registrations from crates the binary names, hence the `use … as _`
//! lines: the config crate always, the implementation when the `{{name}}` feature is on.

use std::process::ExitCode;

use {{name}}_config as _;
#[cfg(feature = "{{name}}")]
use {{name}}_impl as _;

fn main() -> ExitCode {
    zenreg_cli::main()
}
