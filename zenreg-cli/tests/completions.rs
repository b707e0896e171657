//! `zenreg completions SHELL` and `zenreg man`: the bash script is loaded into a real bash and
//! asked to complete a command line the way the shell does on <TAB>; the man pages are rendered by
//! man-db's `man -l` with its warnings on (`scripts/services.sh` installs man-db).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ZENREG: &str = env!("CARGO_BIN_EXE_zenreg");

fn zenreg(args: &[&str]) -> Output {
    Command::new(ZENREG).args(args).env_remove("ZENREG_STORE").stdin(Stdio::null()).output().expect("zenreg runs")
}

fn stdout_of(args: &[&str]) -> String {
    let output = zenreg(args);
    assert!(output.status.success(), "zenreg {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "zenreg {args:?} wrote to stderr: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// A directory of the test's own under cargo's test temporary directory.
fn scratch(label: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("completions-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What bash offers for `words` (the last one being completed), with `script` loaded: the
/// function that `complete -p PROGRAM` names is called as bash's programmable completion calls it
/// (`$1` the command, `$2` the word, `$3` the word before, `COMP_WORDS`/`COMP_CWORD` set).
pub fn bash_completions(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = words[0];
    let driver = format!(
        r#"set -u
source '{script}'
spec=$(complete -p '{program}') || {{ echo "no completion registered for {program}" >&2; exit 3; }}
function=$(sed -n 's/.*-F \([^ ]*\).*/\1/p' <<<"$spec")
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$function" "${{COMP_WORDS[0]}}" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        script = script.display(),
        words = quoted.join(" "),
    );
    let output = Command::new("bash").arg("--norc").arg("-c").arg(driver).output().expect("bash runs");
    assert!(output.status.success(), "bash failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut offered: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect();
    offered.sort();
    offered
}

#[test]
fn bash_completes_the_subcommands_of_container_registry() {
    let dir = scratch("bash");
    let script = dir.join("zenreg.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    assert_eq!(
        bash_completions(&script, &["zenreg", "container-registry", "re"]),
        ["register", "remove-attribute", "rename"]
    );
    // One level up and one down, to show the script follows the command tree.
    assert_eq!(bash_completions(&script, &["zenreg", "cont"]), ["container-registry"]);
    assert!(bash_completions(&script, &["zenreg", "secret", "create", "--"]).contains(&"--store".to_string()));
    assert!(
        bash_completions(&script, &["zenreg", "container-registry", "register", "--"])
            .contains(&"--flavor".to_string())
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_shell_gets_a_script_for_this_binary() {
    for (shell, marker) in [
        ("bash", "complete -F _zenreg"),
        ("zsh", "#compdef zenreg"),
        ("fish", "complete -c zenreg"),
        ("elvish", "edit:completion:arg-completer[zenreg]"),
        ("powershell", "Register-ArgumentCompleter -Native -CommandName 'zenreg'"),
    ] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains(marker), "{shell} script lacks `{marker}`:\n{script}");
        assert!(script.contains("remove-attribute"), "{shell} script lacks the subcommands");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_shells() {
    let output = zenreg(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("error: invalid value 'tcsh'"), "{stderr}");
    assert!(stderr.contains("bash, elvish, fish, powershell, zsh"), "{stderr}");
}

/// `man -l PAGE` with man-db's warnings on: the rendered text, or a panic with what man said.
fn render(page: &Path) -> String {
    let output = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("`man` runs: install man-db (scripts/services.sh does)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.is_empty(), "man -l {}: {stderr}", page.display());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn man_renders_the_page_without_warnings() {
    let dir = scratch("man");
    let page = dir.join("zenreg.1");
    let roff = stdout_of(&["man"]);
    assert!(roff.starts_with(".ie \\n(.g .ds Aq"), "not roff: {}", &roff[..roff.len().min(200)]);
    std::fs::write(&page, roff).unwrap();
    let text = render(&page);
    for expected in ["NAME", "SYNOPSIS", "--store", "zenreg-container-registry(1)", "zenreg-completions(1)"] {
        assert!(text.contains(expected), "the page lacks `{expected}`:\n{text}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn man_out_dir_writes_every_page_and_every_reference_has_its_page() {
    let dir = scratch("man-dir");
    assert_eq!(stdout_of(&["man", "--out-dir", dir.to_str().unwrap()]), "");
    let pages: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    for expected in ["zenreg.1", "zenreg-container-registry.1", "zenreg-container-registry-register.1", "zenreg-man.1"]
    {
        assert!(pages.iter().any(|p| p == expected), "no {expected} among {pages:?}");
    }
    for page in &pages {
        render(&dir.join(page));
        // A page's SUBCOMMANDS section names pages as `zenreg\-secret\-create(1)`.
        let roff = std::fs::read_to_string(dir.join(page)).unwrap();
        for line in roff.lines().filter(|l| l.ends_with("(1)")) {
            let target = format!("{}.1", line.trim_end_matches("(1)").replace("\\-", "-"));
            assert!(pages.contains(&target), "{page} refers to {line}, which has no page");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn man_out_dir_that_cannot_be_written_is_one_error_and_a_hint() {
    let dir = scratch("man-missing");
    let missing = dir.join("missing");
    let output = zenreg(&["man", "--out-dir", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with(&format!("error: could not write the man pages into `{}`", missing.display())));
    assert!(lines[1].starts_with("hint: "));
    let _ = std::fs::remove_dir_all(dir);
}
