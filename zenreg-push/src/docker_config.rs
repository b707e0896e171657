//! Credentials from the user's Docker configuration: `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`) with its `auths`, `credHelpers` and `credsStore`, the way the Docker
//! CLI reads them. No message shows a value of the file or a helper's answer (they hold
//! passwords); helpers run with a time limit.

use base64::Engine;
use serde_json::{Map, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zenreg_core::Credentials;

/// The server address Docker uses for Docker Hub.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The user's Docker config or a credential helper could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DockerConfigError {
    /// What is wrong.
    pub message: String,
    /// What to do about it (no program's commands).
    pub help: Option<&'static str>,
}

type Error = DockerConfigError;

/// Where credentials for a registry were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// The component's authentication secret.
    Secret(String),
    /// An `auths` entry of a Docker config file.
    DockerConfig(PathBuf),
    /// A Docker credential helper (`docker-credential-NAME`).
    Helper(String),
    /// The flavor's implementation obtained them (e.g. an ECR login token).
    Flavor(String),
    /// None were found: the push is anonymous.
    None,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Secret(name) => write!(f, "authentication secret `{name}`"),
            CredentialSource::DockerConfig(path) => write!(f, "Docker config `{}`", path.display()),
            CredentialSource::Helper(name) => write!(f, "credential helper `docker-credential-{name}`"),
            CredentialSource::Flavor(name) => write!(f, "the registry login of the `{name}` flavor"),
            CredentialSource::None => {
                f.write_str("no credentials (no authentication secret, nothing in the Docker config)")
            }
        }
    }
}

/// The Docker config file this process would use.
pub fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => dirs::home_dir().map(|home| home.join(".docker").join("config.json")),
    }
}

/// The registry host of an image name: its first path component when that is a domain by the
/// reference grammar's rule ([`zenreg_core::reference::is_domain`]), else Docker Hub.
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if zenreg_core::reference::is_domain(first) => first,
        _ => "docker.io",
    }
}

/// `https://index.docker.io/v1/`, `docker.io`, `index.docker.io` all name Docker Hub; other keys
/// lose their scheme and path.
fn normalise_host(key: &str) -> String {
    let host = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

/// Looks up credentials for `host` (as returned by [`registry_host`]) in the Docker config.
pub fn lookup(host: &str) -> Result<Option<(Credentials, CredentialSource)>, Error> {
    match config_path() {
        Some(path) if path.exists() => lookup_in(&path, host),
        _ => Ok(None),
    }
}

/// [`lookup`] in a given config file.
pub fn lookup_in(path: &Path, host: &str) -> Result<Option<(Credentials, CredentialSource)>, Error> {
    // A FIFO would block the push until someone writes to it; a directory or device is no config.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(DockerConfigError {
            message: format!("Docker config `{}` is not a regular file", path.display()),
            help: Some("fix or remove the file, or set DOCKER_CONFIG to another directory"),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| DockerConfigError {
        message: format!("cannot read Docker config `{}`: {e}", path.display()),
        help: None,
    })?;
    match answer_from_text(&text, path, host)? {
        ConfigAnswer::Credentials(credentials, source) => Ok(Some((credentials, source))),
        ConfigAnswer::Helper { name, server } => {
            run_helper(&name, &server).map(|c| c.map(|c| (c, CredentialSource::Helper(name))))
        }
        ConfigAnswer::Nothing => Ok(None),
    }
}

/// What a Docker config file says about one registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigAnswer {
    /// Credentials written in the file.
    Credentials(Credentials, CredentialSource),
    /// Ask credential helper `docker-credential-NAME` about `server`.
    Helper {
        /// The helper's name (after `docker-credential-`).
        name: String,
        /// The server address to ask it about.
        server: String,
    },
    /// The file has nothing for the host.
    Nothing,
}

/// What to do about a Docker config zenreg cannot read.
const FIX_CONFIG: &str = "fix or remove the file, or set DOCKER_CONFIG to another directory";

/// How long a credential helper may take (one that unlocks a keychain may wait for a
/// passphrase): [`HELPER_TIMEOUT_ENV`] overrides it, in seconds.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(60);
/// See [`HELPER_TIMEOUT`].
pub const HELPER_TIMEOUT_ENV: &str = "ZENREG_CREDENTIAL_HELPER_TIMEOUT";

/// A problem of the file at `path`, named by where it is and what kind of value is there: never
/// the value itself (it may be a password, or base64 of one).
fn malformed(path: &Path, what: String) -> DockerConfigError {
    DockerConfigError { message: format!("Docker config `{}`: {what}", path.display()), help: Some(FIX_CONFIG) }
}

/// The kind of a JSON value, for a message that must not show it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A key as shown in a message: quoted, control characters escaped, cut at 100 characters.
fn shown_key(key: &str) -> String {
    let mut shown: String = key.chars().take(100).flat_map(char::escape_debug).collect();
    if key.chars().count() > 100 {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

/// The object under `name`, if any (absent and `null` are none).
fn object_at<'a>(
    config: &'a Map<String, Value>,
    name: &str,
    path: &Path,
) -> Result<Option<&'a Map<String, Value>>, Error> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(malformed(path, format!("`{name}` is {}, not an object", kind(other)))),
    }
}

/// Reads the text of the Docker config file at `path` (named in errors) for `host`, without
/// running any helper: parsing is kept apart from running programs so it can be fuzzed. No
/// error shows a value of the file: they name the key and the kind of value found.
pub fn answer_from_text(text: &str, path: &Path, host: &str) -> Result<ConfigAnswer, Error> {
    // serde's messages quote the values they stumble on: only the position is shown.
    let config: Value = serde_json::from_str(text).map_err(|e| DockerConfigError {
        message: format!(
            "Docker config `{}` is not valid JSON (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ),
        help: Some(FIX_CONFIG),
    })?;
    let Value::Object(config) = config else {
        return Err(malformed(path, format!("the file holds {}, not an object", kind(&config))));
    };
    let host = normalise_host(host);
    let server = if host == "docker.io" { DOCKER_HUB_SERVER.to_string() } else { host.clone() };
    let helper = |name: &str| {
        // An empty name would run `docker-credential-`; Docker ignores such entries too.
        if name.is_empty() {
            ConfigAnswer::Nothing
        } else {
            ConfigAnswer::Helper { name: name.to_string(), server: server.clone() }
        }
    };
    if let Some(helpers) = object_at(&config, "credHelpers", path)?
        && let Some((key, name)) = helpers.iter().find(|(key, _)| normalise_host(key) == host)
    {
        return match name {
            Value::String(name) => Ok(helper(name)),
            other => {
                Err(malformed(path, format!("`credHelpers.{}` is {}, not a helper name", shown_key(key), kind(other))))
            }
        };
    }
    if let Some(auths) = object_at(&config, "auths", path)?
        && let Some((key, entry)) = auths.iter().find(|(key, _)| normalise_host(key) == host)
        && let Some(credentials) = decode_entry(entry, key, path)?
    {
        return Ok(ConfigAnswer::Credentials(credentials, CredentialSource::DockerConfig(path.to_path_buf())));
    }
    match config.get("credsStore") {
        None | Some(Value::Null) => Ok(ConfigAnswer::Nothing),
        Some(Value::String(store)) => Ok(helper(store)),
        Some(other) => Err(malformed(path, format!("`credsStore` is {}, not a helper name", kind(other)))),
    }
}

fn decode_entry(entry: &Value, key: &str, path: &Path) -> Result<Option<Credentials>, Error> {
    let at = format!("auths.{}", shown_key(key));
    let Value::Object(entry) = entry else {
        return Err(malformed(
            path,
            format!(
                "`{at}` is {}, not an object with `auth` (or `username` and `password`); its value is not shown",
                kind(entry)
            ),
        ));
    };
    let text = |field: &str| -> Result<Option<&str>, Error> {
        match entry.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(malformed(path, format!("`{at}.{field}` is {}, not a string", kind(other)))),
        }
    };
    let (auth, username, password, identity) =
        (text("auth")?, text("username")?, text("password")?, text("identitytoken")?);
    if let (Some(username), Some(password)) = (username, password) {
        return Ok(Some(Credentials::new(username, password)));
    }
    if let Some(token) = identity {
        return Ok(Some(Credentials::new("<token>", token)));
    }
    let Some(auth) = auth.filter(|a| !a.is_empty()) else { return Ok(None) };
    let invalid = || DockerConfigError {
        message: format!("`{at}.auth` in Docker config `{}` is not base64 `user:password`", path.display()),
        help: None,
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (username, password) = decoded.split_once(':').ok_or_else(invalid)?;
    Ok(Some(Credentials::new(username, password)))
}

/// The credential helpers' time limit in force.
fn helper_timeout() -> Result<Duration, Error> {
    match std::env::var(HELPER_TIMEOUT_ENV).ok().filter(|v| !v.trim().is_empty()) {
        None => Ok(HELPER_TIMEOUT),
        Some(value) => value
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| DockerConfigError {
                message: format!("{HELPER_TIMEOUT_ENV}=`{value}` is not a positive number of seconds"),
                help: Some("unset it or give it a number of seconds"),
            }),
    }
}

/// Runs `docker-credential-NAME get` with the server on stdin, within the helpers' time limit
/// (killed after it). "Not found" is no credentials; a helper that cannot run, fails, or answers
/// something else than `{"Username": …, "Secret": …}` is an error naming it, never showing what
/// it printed.
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>, Error> {
    let program = format!("docker-credential-{name}");
    let failed = |why: String| DockerConfigError {
        message: format!("credential helper `{program}` failed: {why}"),
        help: Some("install the helper, or remove it from your Docker config (`credsStore` / `credHelpers`)"),
    };
    let timeout = helper_timeout()?;
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input closes the pipe: its exit says more.
        let _ = stdin.write_all(server.as_bytes());
    }
    // Read on threads, so that a helper filling a pipe cannot block its own exit, and a helper
    // that never exits cannot block zenreg.
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(1024 * 1024).read_to_end(&mut bytes);
            }
            let _ = sender.send(bytes);
        });
        receiver
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!("no answer within {} s (it was stopped)", timeout.as_secs_f64())));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    let collect = |receiver: std::sync::mpsc::Receiver<Vec<u8>>| {
        String::from_utf8_lossy(&receiver.recv_timeout(Duration::from_secs(1)).unwrap_or_default()).into_owned()
    };
    let stdout = collect(stdout);
    if !status.success() {
        // Helpers answer "credentials not found in native keychain" when they have nothing.
        if stdout.contains("credentials not found") || collect(stderr).contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(status.to_string()));
    }
    let unreadable =
        || failed("its answer is not `{\"Username\": …, \"Secret\": …}` (not shown: it may hold a secret)".into());
    let answer: Value = serde_json::from_str(stdout.trim()).map_err(|_| unreadable())?;
    match (answer.get("Username"), answer.get("Secret")) {
        (Some(Value::String(username)), Some(Value::String(secret))) => {
            Ok(Some(Credentials::new(username.as_str(), secret.as_str())))
        }
        _ => Err(unreadable()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zenreg_core::ExposeSecret;

    #[test]
    fn finds_the_registry_host_of_an_image() {
        assert_eq!(registry_host("localhost:5000/app:1"), "localhost:5000");
        assert_eq!(registry_host("ghcr.io/me/app"), "ghcr.io");
        assert_eq!(registry_host("me/app"), "docker.io");
        assert_eq!(registry_host("app"), "docker.io");
        assert_eq!(registry_host("localhost/app"), "localhost");
    }

    #[test]
    fn a_config_that_is_not_a_regular_file_is_refused_without_reading() {
        let dir = std::env::temp_dir().join(format!("zenreg-docker-config-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("config.json");
        let _ = std::fs::remove_file(&fifo);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let error = lookup_in(&fifo, "localhost:5000").unwrap_err();
        assert!(error.message.ends_with("is not a regular file"), "{}", error.message);
        assert!(lookup_in(&dir, "localhost:5000").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_entries_are_named_without_their_values() {
        let path = Path::new("config.json");
        let planted = base64::engine::general_purpose::STANDARD.encode("alice:planted-password");
        for text in [
            format!(r#"{{"auths": {{"127.0.0.1:5001": "{planted}"}}}}"#),
            format!(r#"{{"auths": {{"127.0.0.1:5001": {{"auth": ["{planted}"]}}}}}}"#),
            format!(r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{planted}!"}}}}}}"#),
            format!(r#"{{"credHelpers": {{"127.0.0.1:5001": ["{planted}"]}}}}"#),
            format!(r#"{{"auths": ["{planted}"]}}"#),
            format!(r#"{{"credsStore": {{"x": "{planted}"}}}}"#),
            format!(r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{planted}" "#),
            format!(r#""{planted}""#),
        ] {
            let error = answer_from_text(&text, path, "127.0.0.1:5001").unwrap_err();
            assert!(!error.message.contains("planted") && !error.message.contains(&planted), "{}", error.message);
            assert!(error.message.contains("config.json"), "{}", error.message);
        }
        let error =
            answer_from_text(&format!(r#"{{"auths": {{"127.0.0.1:5001": "{planted}"}}}}"#), path, "127.0.0.1:5001")
                .unwrap_err();
        assert!(error.message.contains(r#"`auths."127.0.0.1:5001"` is a string"#), "{}", error.message);
    }

    #[test]
    fn reads_auths_entries() {
        let dir = std::env::temp_dir().join(format!("zenreg-docker-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(
            &path,
            format!(r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{auth}"}}, "https://index.docker.io/v1/": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        let (credentials, source) = lookup_in(&path, "127.0.0.1:5001").unwrap().unwrap();
        assert_eq!((credentials.username.as_str(), credentials.password.expose_secret()), ("alice", "s3cret"));
        assert_eq!(source, CredentialSource::DockerConfig(path.clone()));
        assert!(lookup_in(&path, "docker.io").unwrap().is_some());
        assert!(lookup_in(&path, "ghcr.io").unwrap().is_none());
        std::fs::write(&path, r#"{"credsStore": "zenreg-test-missing-helper"}"#).unwrap();
        let error = lookup_in(&path, "ghcr.io").unwrap_err();
        assert!(error.to_string().contains("docker-credential-zenreg-test-missing-helper"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
