//! Compile-time behaviour of the macros: every misuse is one precise error (pinned `.stderr`
//! files, for the one toolchain this project builds with), and correct use compiles and runs.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
