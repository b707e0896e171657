//! The built-in commands (`zenreg flavor …`, `zenreg container-registry …`), as a library so
//! every binary that links zenreg-core offers the same commands.

pub fn main() -> std::process::ExitCode { std::process::ExitCode::SUCCESS }
