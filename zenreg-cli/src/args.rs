//! The free-form arguments of `register`, `update` and `secret create|update`: `--key=value`
//! attributes (with `@file` values), `--label key=value`, and values typed by the flavor's schema.

use crate::error::Error;
use serde_json::Value;
use std::io::Read;
use zenreg_core::JsonObject;
use zenreg_store::{Labels, is_identifier};

/// Largest file an `@file` value may name.
pub const MAX_VALUE_FILE: u64 = 1024 * 1024;

/// What a list of free arguments holds.
#[derive(Debug, Default)]
pub struct FreeArgs {
    /// `--key=value` pairs, values raw (files already read), in order.
    pub attributes: Vec<(String, String)>,
    /// `--key` given without a value (prompted for by `-i`).
    pub bare_keys: Vec<String>,
    /// `--label key=value`.
    pub labels: Labels,
    /// `--flavor NAME`, when it came after the first attribute.
    pub flavor: Option<String>,
}

/// Options that may appear among the attributes (clap stops parsing at the first attribute).
#[derive(Debug, Clone, Copy)]
pub struct Accepts {
    /// `--flavor NAME` / `-f NAME`.
    pub flavor: bool,
    /// `--label k=v` / `-l k=v`.
    pub labels: bool,
    /// `--key` without a value.
    pub bare_keys: bool,
    /// `@file` values.
    pub files: bool,
}

/// Parses attribute tokens such as `--uri=localhost:5000 --label team=ml`.
pub fn parse(tokens: &[String], accepts: Accepts) -> Result<FreeArgs, Error> {
    let mut out = FreeArgs::default();
    let mut tokens = tokens.iter();
    while let Some(token) = tokens.next() {
        let next_value = |tokens: &mut std::slice::Iter<'_, String>, option: &str| {
            tokens.next().cloned().ok_or_else(|| Error::usage(format!("`{option}` needs a value"), None))
        };
        let (option, inline) = match token.split_once('=') {
            Some((option, value)) => (option, Some(value.to_string())),
            None => (token.as_str(), None),
        };
        match option {
            "--flavor" | "-f" if accepts.flavor => {
                let value = match inline {
                    Some(value) => value,
                    None => next_value(&mut tokens, option)?,
                };
                out.flavor = Some(value);
            }
            "--label" | "-l" if accepts.labels => {
                let value = match inline {
                    Some(value) => value,
                    None => next_value(&mut tokens, option)?,
                };
                let (key, value) = parse_label(&value)?;
                out.labels.insert(key, value);
            }
            _ => {
                let Some(key) = option.strip_prefix("--") else {
                    return Err(unexpected(token));
                };
                if !is_identifier(key) {
                    return Err(Error::usage(
                        format!(
                            "invalid attribute name `{key}`: use letters, digits and `_`, not starting with a digit"
                        ),
                        None,
                    ));
                }
                if out.attributes.iter().any(|(k, _)| k == key) || out.bare_keys.iter().any(|k| k == key) {
                    return Err(Error::usage(format!("`--{key}` is given more than once"), None));
                }
                match inline {
                    Some(value) => {
                        let value = if accepts.files { read_value(key, &value)? } else { value };
                        out.attributes.push((key.to_string(), value));
                    }
                    None if accepts.bare_keys => out.bare_keys.push(key.to_string()),
                    None => {
                        return Err(Error::usage(
                            format!("`--{key}` needs a value: write `--{key}=VALUE`"),
                            Some(format!("`--{key}=@FILE` reads the value from a file")),
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn unexpected(token: &str) -> Error {
    Error::usage(
        format!("unexpected argument `{token}`"),
        Some("attributes are given as `--key=value`, labels as `--label key=value`".into()),
    )
}

/// `key=value` into its parts.
pub fn parse_label(text: &str) -> Result<(String, String), Error> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(Error::usage(format!("invalid label `{text}`: write `key=value`"), None)),
    }
}

/// `@path` reads a file (at most 1 MiB, one trailing newline dropped); `@@x` is the literal `@x`.
fn read_value(key: &str, value: &str) -> Result<String, Error> {
    if let Some(literal) = value.strip_prefix("@@") {
        return Ok(format!("@{literal}"));
    }
    let Some(path) = value.strip_prefix('@') else { return Ok(value.to_string()) };
    let mut text = read_file(path, &format!("`--{key}`"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Reads a value file for `what`: a regular file of at most [`MAX_VALUE_FILE`] bytes of UTF-8.
/// Anything else (a directory, a device, a FIFO that would block until someone writes) is
/// refused before it is read.
pub fn read_file(path: &str, what: &str) -> Result<String, Error> {
    let file_error = |error: std::io::Error| {
        Error::invalid(
            format!("cannot read {what} from file `{path}`: {error}"),
            Some("write `@@…` for a value that starts with `@`".into()),
        )
    };
    let not_regular = |metadata: &std::fs::Metadata| {
        Error::invalid(
            format!("cannot read {what} from `{path}`: it is {}, not a regular file", file_kind(metadata)),
            Some("give the path of a regular file, or `-` to read stdin".into()),
        )
    };
    let too_large = || Error::invalid(format!("file `{path}` for {what} is larger than the 1 MiB limit"), None);
    let metadata = std::fs::metadata(path).map_err(file_error)?;
    if !metadata.is_file() {
        return Err(not_regular(&metadata));
    }
    if metadata.len() > MAX_VALUE_FILE {
        return Err(too_large());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Non-blocking: if the path was swapped for a FIFO after the check, opening must not wait.
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, O_NONBLOCK);
    let file = options.open(path).map_err(file_error)?;
    let metadata = file.metadata().map_err(file_error)?;
    if !metadata.is_file() {
        return Err(not_regular(&metadata));
    }
    let mut text = String::new();
    file.take(MAX_VALUE_FILE + 1).read_to_string(&mut text).map_err(file_error)?;
    if text.len() as u64 > MAX_VALUE_FILE {
        return Err(too_large());
    }
    Ok(text)
}

/// Linux's `O_NONBLOCK` (the same on every Linux architecture Rust supports but Alpha, MIPS,
/// PA-RISC and SPARC, which this program is not built for).
#[cfg(target_os = "linux")]
const O_NONBLOCK: i32 = 0o4000;

/// Reads a secret value from stdin, with the `@FILE` limit: at most [`MAX_VALUE_FILE`] bytes.
pub fn read_stdin(key: &str) -> Result<String, Error> {
    let mut text = String::new();
    std::io::stdin().lock().take(MAX_VALUE_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_VALUE_FILE {
        return Err(Error::invalid(
            format!("the value of `--{key}` on stdin is larger than the 1 MiB limit"),
            Some("secret values are credentials and tokens: far smaller".into()),
        ));
    }
    Ok(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string())
}

fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    let file_type = metadata.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() { "a directory" } else { "not a regular file" }
}

/// Turns raw attribute strings into JSON values typed by the config schema: a field that takes
/// a string gets the text as is; any other field gets the text parsed as JSON (`4`, `true`,
/// `["a","b"]`), or the text itself so that validation reports the type mismatch by name.
pub fn typed_attributes(attributes: Vec<(String, String)>, schema: &Value) -> JsonObject {
    attributes
        .into_iter()
        .map(|(key, raw)| {
            let property = schema.get("properties").and_then(|p| p.get(&key));
            let value = match property {
                Some(property) if !accepts_string(property, schema) => {
                    serde_json::from_str::<Value>(&raw).ok().filter(|v| !v.is_string()).unwrap_or(Value::String(raw))
                }
                _ => Value::String(raw),
            };
            (key, value)
        })
        .collect()
}

fn accepts_string(property: &Value, root: &Value) -> bool {
    if let Some(reference) = property.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return root.get("$defs").and_then(|d| d.get(name)).is_some_and(|d| accepts_string(d, root));
    }
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        return values.iter().any(Value::is_string);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = property.get(key).and_then(Value::as_array) {
            return options.iter().any(|o| accepts_string(o, root));
        }
    }
    match property.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(tokens: &[&str]) -> Vec<String> {
        tokens.iter().map(|t| t.to_string()).collect()
    }

    const ALL: Accepts = Accepts { flavor: true, labels: true, bare_keys: false, files: true };

    #[test]
    fn parses_attributes_labels_and_a_late_flavor() {
        let args = parse(
            &strings(&["--uri=localhost:5000", "--label", "team=ml", "-f", "default", "--x=a=b", "--l2=@@at"]),
            ALL,
        )
        .unwrap();
        assert_eq!(
            args.attributes,
            [("uri".into(), "localhost:5000".into()), ("x".into(), "a=b".into()), ("l2".into(), "@at".into())]
        );
        assert_eq!(args.labels.get("team").map(String::as_str), Some("ml"));
        assert_eq!(args.flavor.as_deref(), Some("default"));
    }

    #[test]
    fn rejects_what_is_not_an_attribute() {
        for tokens in [&["uri=x"][..], &["--1uri=x"], &["--uri"], &["--uri=a", "--uri=b"], &["--label", "novalue"]] {
            assert!(parse(&strings(tokens), ALL).is_err(), "{tokens:?}");
        }
    }

    #[test]
    fn reads_files_with_a_size_limit() {
        let dir = std::env::temp_dir().join(format!("zenreg-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, "value\n").unwrap();
        let args = parse(&[format!("--k=@{}", small.display())], ALL).unwrap();
        assert_eq!(args.attributes[0].1, "value");
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; (MAX_VALUE_FILE + 1) as usize]).unwrap();
        let error = parse(&[format!("--k=@{}", big.display())], ALL).unwrap_err();
        assert!(error.to_string().contains("1 MiB"));
        assert!(parse(&["--k=@/nonexistent/zenreg".to_string()], ALL).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn types_values_by_schema() {
        let schema = json!({ "properties": {
            "uri": { "type": "string" },
            "n": { "type": "integer" },
            "flag": { "type": ["boolean", "null"] },
            "tags": { "type": "array", "items": { "type": "string" } },
        }});
        let typed = typed_attributes(
            vec![
                ("uri".into(), "123".into()),
                ("n".into(), "4".into()),
                ("flag".into(), "true".into()),
                ("tags".into(), "[\"a\"]".into()),
                ("n2".into(), "5".into()),
            ],
            &schema,
        );
        assert_eq!(Value::Object(typed), json!({ "uri": "123", "n": 4, "flag": true, "tags": ["a"], "n2": "5" }));
    }
}
