//! `completions` and `man` in a downstream binary (`zenreg-downstream`, built on
//! `zenreg_cli::main()`): the scripts and the page are in its own name, so its completion is
//! registered for `zenreg-downstream` and completes its commands (clap_complete alone completes
//! no subcommand of a binary with a `-` in its name: clap-rs/clap#6421).

use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_zenreg-downstream");

fn stdout_of(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("zenreg-downstream runs");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn bash_completion_is_registered_for_the_downstream_binary_and_completes_its_commands() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("downstream-completions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("zenreg-downstream.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    // The function bash calls is whichever `complete -p zenreg-downstream` names.
    let driver = format!(
        r#"source '{}'
function=$(complete -p zenreg-downstream | sed -n 's/.*-F \([^ ]*\).*/\1/p')
COMP_WORDS=(zenreg-downstream container-registry re)
COMP_CWORD=2
"$function" zenreg-downstream re container-registry
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script.display()
    );
    let output = Command::new("bash").arg("--norc").arg("-c").arg(driver).output().expect("bash runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut offered: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect();
    offered.sort();
    assert_eq!(offered, ["register", "remove-attribute", "rename"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_script_and_the_man_page_name_the_downstream_binary() {
    assert!(stdout_of(&["completions", "zsh"]).starts_with("#compdef zenreg-downstream"));
    assert!(stdout_of(&["completions", "fish"]).contains("complete -c zenreg-downstream"));
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH zenreg-downstream 1"), "{page}");
    assert!(page.contains("zenreg\\-downstream\\-container\\-registry(1)"), "{page}");
}
