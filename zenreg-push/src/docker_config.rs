//! Credentials from the user's Docker configuration: `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`) with its `auths`, `credHelpers` and `credsStore`, the way the Docker
//! CLI reads them.

use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// The Docker config file this process would use.
pub fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => dirs::home_dir().map(|home| home.join(".docker").join("config.json")),
    }
}

/// The registry host of an image name: its first path component when that looks like a host
/// (has `.` or `:`, or is `localhost`), else Docker Hub.
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
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

/// Reads the text of the Docker config file at `path` (named in errors) for `host`, without
/// running any helper: parsing is kept apart from running programs so it can be fuzzed.
pub fn answer_from_text(text: &str, path: &Path, host: &str) -> Result<ConfigAnswer, Error> {
    let config: ConfigFile = serde_json::from_str(text).map_err(|e| DockerConfigError {
        message: format!("Docker config `{}` is not valid JSON: {e}", path.display()),
        help: Some("fix or remove the file, or set DOCKER_CONFIG to another directory"),
    })?;
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
    if let Some((_, name)) = config.cred_helpers.iter().find(|(key, _)| normalise_host(key) == host) {
        return Ok(helper(name));
    }
    if let Some((_, entry)) = config.auths.iter().find(|(key, _)| normalise_host(key) == host)
        && let Some(credentials) = decode_entry(entry, path)?
    {
        return Ok(ConfigAnswer::Credentials(credentials, CredentialSource::DockerConfig(path.to_path_buf())));
    }
    if let Some(store) = &config.creds_store {
        return Ok(helper(store));
    }
    Ok(ConfigAnswer::Nothing)
}

fn decode_entry(entry: &AuthEntry, path: &Path) -> Result<Option<Credentials>, Error> {
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials { username: username.clone(), password: password.clone() }));
    }
    if let Some(token) = &entry.identitytoken {
        return Ok(Some(Credentials { username: "<token>".into(), password: token.clone() }));
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else { return Ok(None) };
    let invalid = || DockerConfigError {
        message: format!("an `auth` entry in Docker config `{}` is not base64 `user:password`", path.display()),
        help: None,
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (username, password) = decoded.split_once(':').ok_or_else(invalid)?;
    Ok(Some(Credentials { username: username.to_string(), password: password.to_string() }))
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs `docker-credential-NAME get` with the server on stdin. "Not found" is no credentials;
/// a helper that cannot run is an error naming it.
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>, Error> {
    let program = format!("docker-credential-{name}");
    let failed = |why: String| DockerConfigError {
        message: format!("credential helper `{program}` failed: {why}"),
        help: Some("install the helper, or remove it from your Docker config (`credsStore` / `credHelpers`)"),
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(server.as_bytes()).map_err(|e| failed(e.to_string()))?;
    }
    let output = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // Helpers answer "credentials not found in native keychain" when they have nothing.
        if stdout.contains("credentials not found")
            || String::from_utf8_lossy(&output.stderr).contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(failed(format!("exit status {}", output.status)));
    }
    let answer: HelperAnswer =
        serde_json::from_str(stdout.trim()).map_err(|e| failed(format!("unreadable answer: {e}")))?;
    Ok(Some(Credentials { username: answer.username, password: answer.secret }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!((credentials.username.as_str(), credentials.password.as_str()), ("alice", "s3cret"));
        assert_eq!(source, CredentialSource::DockerConfig(path.clone()));
        assert!(lookup_in(&path, "docker.io").unwrap().is_some());
        assert!(lookup_in(&path, "ghcr.io").unwrap().is_none());
        std::fs::write(&path, r#"{"credsStore": "zenreg-test-missing-helper"}"#).unwrap();
        let error = lookup_in(&path, "ghcr.io").unwrap_err();
        assert!(error.to_string().contains("docker-credential-zenreg-test-missing-helper"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
