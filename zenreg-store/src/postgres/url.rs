//! PostgreSQL connection URLs (`postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`), the
//! password's other sources (`PGPASSWORD`, `~/.pgpass`) and the URL's display form, which never
//! carries a password.
//!
//! Parsed here rather than by tokio-postgres because its parser knows neither `verify-ca` /
//! `verify-full` nor `sslrootcert`, and because every message must show the URL without its
//! password, so the parts have to be known anyway.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// How TLS is used, with libpq's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS if the server offers it, without checking its certificate (libpq's default; also
    /// what `allow` becomes).
    Prefer,
    /// TLS always, without checking the certificate.
    Require,
    /// TLS, certificate signed by the trusted CA, any host name.
    VerifyCa,
    /// TLS, certificate signed by the trusted CA and naming the host.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgHost {
    /// A host name or IP address.
    Tcp(String),
    /// The directory of a Unix-domain socket (`?host=/run/postgresql`).
    Socket(PathBuf),
}

/// The environment a URL is completed from. Taken as data, not read inside the parser, so
/// tests can give their own without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct PgEnv {
    /// `PGPASSWORD`.
    pub password: Option<String>,
    /// `PGPASSFILE`; `~/.pgpass` when unset.
    pub passfile: Option<PathBuf>,
    /// `PGUSER`, else the login name (`USER`).
    pub user: Option<String>,
    /// `PGSSLROOTCERT`.
    pub sslrootcert: Option<PathBuf>,
    /// The home directory (for `~/.pgpass` and `~/.postgresql/root.crt`).
    pub home: Option<PathBuf>,
}

impl PgEnv {
    /// The process's environment.
    pub fn from_process() -> PgEnv {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        PgEnv {
            password: var("PGPASSWORD"),
            passfile: var("PGPASSFILE").map(PathBuf::from),
            user: var("PGUSER").or_else(|| var("USER")).or_else(|| var("LOGNAME")),
            sslrootcert: var("PGSSLROOTCERT").map(PathBuf::from),
            home: dirs::home_dir(),
        }
    }
}

/// A parsed connection URL with its password resolved. `Debug` never shows the password.
#[derive(Clone)]
pub struct PgUrl {
    /// The role.
    pub user: String,
    password: Option<Zeroizing<String>>,
    /// The server.
    pub host: PgHost,
    /// The port.
    pub port: u16,
    /// The database.
    pub dbname: String,
    /// TLS use.
    pub sslmode: SslMode,
    /// The CA bundle for `verify-ca` / `verify-full`, if given.
    pub sslrootcert: Option<PathBuf>,
    /// How long to wait for the server to answer a connection.
    pub connect_timeout: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
    /// A password file passed over because group or others may read it (path and mode), as
    /// libpq does: said when the server then wants a password.
    pub ignored_passfile: Option<(PathBuf, u32)>,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUrl").field("url", &self.display()).finish_non_exhaustive()
    }
}

/// Whether `text` names a PostgreSQL store rather than a file path.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgresql://") || text.starts_with("postgres://")
}

/// Why a percent-encoded part of a URL does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("`%` must be followed by two hex digits")]
    BadEscape,
    /// The decoded bytes are not UTF-8.
    #[error("not UTF-8 after percent-decoding")]
    NotUtf8(#[source] std::string::FromUtf8Error),
}

/// Why a PostgreSQL URL was refused. Never holds the URL, nor anything of its user info (the
/// text between `://` and the last `@`), which may be a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a `postgresql://` or `postgres://` URL.
    #[error("a PostgreSQL URL starts with postgresql:// or postgres://")]
    Scheme,
    /// An `@` after a `/`, `?` or `#`: a user info (password) holding one of `/ ? # @` unencoded,
    /// or an `@` in the database name or a parameter. Either way where the password ends cannot
    /// be told, so nothing of it is used or shown.
    #[error(
        "the URL has an `@` after a `/`, `?` or `#`; percent-encode `/ ? # @ :` in the user name and password \
         (`%2F %3F %23 %40 %3A`), and `@` elsewhere (`%40`)"
    )]
    ReservedInUserInfo,
    /// A fragment (`#…`).
    #[error("a fragment (`#…`) has no meaning in a PostgreSQL URL")]
    Fragment,
    /// The user name does not decode.
    #[error("user name: {0}")]
    UserName(#[source] DecodeError),
    /// The password does not decode (what is wrong with it is not said, so nothing of it shows).
    #[error("the password is not valid percent-encoding")]
    Password,
    /// The database name does not decode.
    #[error("database name: {0}")]
    DatabaseName(#[source] DecodeError),
    /// The host does not decode.
    #[error("host: {0}")]
    Host(#[source] DecodeError),
    /// A parameter's name does not decode.
    #[error("a parameter name: {0}")]
    ParameterName(#[source] DecodeError),
    /// A parameter's value does not decode.
    #[error("parameter `{name}`: {source}")]
    ParameterValue {
        /// The parameter.
        name: String,
        /// What is wrong.
        source: DecodeError,
    },
    /// An `sslmode` libpq does not know.
    #[error("unknown sslmode `{value}` (use disable, prefer, require, verify-ca or verify-full)")]
    SslMode {
        /// The value given.
        value: String,
    },
    /// `connect_timeout` is not a whole number.
    #[error("connect_timeout is a whole number of seconds")]
    ConnectTimeout(#[source] std::num::ParseIntError),
    /// A port that is not 1–65535.
    #[error("invalid port `{text}`")]
    Port {
        /// The port as written (after the user info, never part of it).
        text: String,
        /// Why it does not parse, when it is not a number at all.
        #[source]
        source: Option<std::num::ParseIntError>,
    },
    /// A parameter zenreg does not support.
    #[error(
        "unsupported URL parameter `{name}` (known: sslmode, sslrootcert, connect_timeout, application_name, user, \
         password, dbname, host, port)"
    )]
    UnsupportedParameter {
        /// The parameter.
        name: String,
    },
    /// Several hosts (`h1,h2`).
    #[error("several hosts in one URL are not supported; give one host")]
    SeveralHosts,
    /// `[` without `]`.
    #[error("an IPv6 address in [ ] lacks its `]`")]
    Ipv6Bracket,
    /// Something else than `:PORT` after `[…]`.
    #[error("expected `:PORT` after the IPv6 address")]
    Ipv6Port,
    /// No user name anywhere.
    #[error("no user name in the URL, PGUSER or USER")]
    NoUser,
}

impl PgUrl {
    /// Parses `url`, completing it from `env`. The error never repeats the URL, which may hold
    /// a password, nor anything between `://` and the last `@`.
    pub fn parse(url: &str, env: &PgEnv) -> Result<PgUrl, UrlError> {
        let rest =
            url.strip_prefix("postgresql://").or_else(|| url.strip_prefix("postgres://")).ok_or(UrlError::Scheme)?;
        // The user info ends at the last `@`: a password may hold any character but `/ ? # @`
        // unencoded. An `@` after one of those is refused, whether a password holds them (libpq
        // would read the text before them as the host, and a message would show the rest) or
        // the `@` belongs to the path or a parameter: which it is cannot be told.
        let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (userinfo, rest) = match rest.rfind('@') {
            Some(at) if at > end_of_authority => return Err(UrlError::ReservedInUserInfo),
            Some(at) => (rest.get(..at), rest.get(at + 1..).unwrap_or_default()),
            None => (None, rest),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        if rest.contains('#') || query.is_some_and(|q| q.contains('#')) {
            return Err(UrlError::Fragment);
        }
        let (hostport, path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, Some(path)),
            None => (rest, None),
        };
        let mut user = None;
        let mut password = None;
        if let Some(userinfo) = userinfo {
            let (name, secret) = match userinfo.split_once(':') {
                Some((name, secret)) => (name, Some(secret)),
                None => (userinfo, None),
            };
            if !name.is_empty() {
                user = Some(decode(name).map_err(UrlError::UserName)?);
            }
            if let Some(secret) = secret {
                // Not echoed, whatever is wrong with it.
                password = Some(Zeroizing::new(decode(secret).map_err(|_| UrlError::Password)?));
            }
        }
        let (mut host, mut port) = parse_host_port(hostport)?;
        let mut dbname = match path {
            Some(path) if !path.is_empty() => Some(decode(path).map_err(UrlError::DatabaseName)?),
            _ => None,
        };
        let mut sslmode = SslMode::Prefer;
        let mut sslrootcert = None;
        let mut connect_timeout = Duration::from_secs(10);
        let mut application_name = "zenreg".to_string();
        for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key).map_err(UrlError::ParameterName)?;
            let value =
                Zeroizing::new(decode(value).map_err(|source| UrlError::ParameterValue { name: key.clone(), source })?);
            match key.as_str() {
                "sslmode" => {
                    sslmode = SslMode::parse(&value).ok_or_else(|| UrlError::SslMode { value: value.to_string() })?
                }
                "sslrootcert" => sslrootcert = Some(PathBuf::from(value.as_str())),
                "connect_timeout" => {
                    let seconds: u64 = value.parse().map_err(UrlError::ConnectTimeout)?;
                    // libpq treats 0 as "wait forever"; a store command should not hang for ever.
                    connect_timeout = Duration::from_secs(if seconds == 0 { 3600 } else { seconds.max(2) });
                }
                "application_name" => application_name = value.to_string(),
                "user" => user = Some(value.to_string()),
                "password" => password = Some(value),
                "dbname" => dbname = Some(value.to_string()),
                "port" => port = Some(parse_port(&value)?),
                "host" if value.starts_with('/') => host = Some(PgHost::Socket(PathBuf::from(value.as_str()))),
                "host" if !value.is_empty() => host = Some(PgHost::Tcp(value.to_string())),
                _ => return Err(UrlError::UnsupportedParameter { name: key }),
            }
        }
        let user = user.or_else(|| env.user.clone()).ok_or(UrlError::NoUser)?;
        let host = host.unwrap_or_else(|| PgHost::Tcp("localhost".into()));
        let port = port.unwrap_or(5432);
        let dbname = dbname.unwrap_or_else(|| user.clone());
        let sslrootcert = sslrootcert.or_else(|| env.sslrootcert.clone());
        let mut parsed = PgUrl {
            user,
            password,
            host,
            port,
            dbname,
            sslmode,
            sslrootcert,
            connect_timeout,
            application_name,
            ignored_passfile: None,
        };
        if parsed.password.is_none() {
            if let Some(password) = env.password.clone() {
                parsed.password = Some(Zeroizing::new(password));
            } else if let Some(passfile) = env.passfile.clone().or_else(|| env.home.as_ref().map(|h| h.join(".pgpass")))
            {
                parsed.password = parsed.password_from_passfile(&passfile);
            }
        }
        Ok(parsed)
    }

    /// The password, if any source had one.
    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref().map(String::as_str)
    }

    /// The URL without its password: for messages, logs and `store info`.
    pub fn display(&self) -> String {
        let mut out = format!("postgresql://{}@", encode(&self.user));
        match &self.host {
            PgHost::Tcp(host) if host.contains(':') => {
                let _ = write!(out, "[{host}]:{}", self.port);
            }
            PgHost::Tcp(host) => {
                let _ = write!(out, "{host}:{}", self.port);
            }
            PgHost::Socket(_) => {}
        }
        let _ = write!(out, "/{}", encode(&self.dbname));
        let mut params = Vec::new();
        if let PgHost::Socket(dir) = &self.host {
            params.push(format!("host={}", encode(&dir.display().to_string())));
            params.push(format!("port={}", self.port));
        }
        params.push(format!("sslmode={}", self.sslmode.as_str()));
        if let Some(root) = &self.sslrootcert {
            params.push(format!("sslrootcert={}", encode(&root.display().to_string())));
        }
        let _ = write!(out, "?{}", params.join("&"));
        out
    }

    /// The first matching line of a password file (libpq's format and rules: fields
    /// `host:port:database:user:password`, `*` matches anything, `\` escapes `:` and `\`, and a
    /// file that group or others may read is ignored).
    fn password_from_passfile(&mut self, path: &Path) -> Option<Zeroizing<String>> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let metadata = std::fs::metadata(path).ok()?;
            if !metadata.is_file() {
                return None;
            }
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                self.ignored_passfile = Some((path.to_path_buf(), mode));
                return None;
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).ok()?);
        let host = match &self.host {
            PgHost::Tcp(host) => host.clone(),
            // libpq matches a socket connection against `localhost`.
            PgHost::Socket(_) => "localhost".to_string(),
        };
        let port = self.port.to_string();
        let wanted = [host.as_str(), port.as_str(), self.dbname.as_str(), self.user.as_str()];
        text.lines().filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty()).find_map(|line| {
            let fields = split_passfile_line(line);
            let [host, port, dbname, user, password] = fields.as_slice() else { return None };
            let matches = [host, port, dbname, user]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field.as_str() == "*" || field.as_str() == want);
            matches.then(|| Zeroizing::new(password.to_string()))
        })
    }
}

fn split_passfile_line(line: &str) -> Vec<Zeroizing<String>> {
    let mut fields = Vec::new();
    let mut current = Zeroizing::new(String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            // The password (fifth field) is the rest of the line, colons and all.
            ':' if fields.len() < 4 => fields.push(std::mem::replace(&mut current, Zeroizing::new(String::new()))),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    match text.parse::<u16>() {
        Ok(0) => Err(UrlError::Port { text: text.to_string(), source: None }),
        Ok(port) => Ok(port),
        Err(source) => Err(UrlError::Port { text: text.to_string(), source: Some(source) }),
    }
}

fn parse_host_port(hostport: &str) -> Result<(Option<PgHost>, Option<u16>), UrlError> {
    if hostport.contains(',') {
        return Err(UrlError::SeveralHosts);
    }
    if hostport.is_empty() {
        return Ok((None, None));
    }
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::Ipv6Bracket)?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':').ok_or(UrlError::Ipv6Port)?),
        };
        (host.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (decode(host).map_err(UrlError::Host)?, Some(port)),
            None => (decode(hostport).map_err(UrlError::Host)?, None),
        }
    };
    let port = port.map(parse_port).transpose()?;
    let host = if host.is_empty() {
        None
    } else if host.starts_with('/') {
        Some(PgHost::Socket(PathBuf::from(host)))
    } else {
        Some(PgHost::Tcp(host))
    };
    Ok((host, port))
}

/// Percent-decoding of a URL part.
fn decode(text: &str) -> Result<String, DecodeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(DecodeError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| DecodeError::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| DecodeError::BadEscape)?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(DecodeError::NotUtf8)
}

/// Percent-encoding of everything but unreserved characters (and `/` for paths).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> PgEnv {
        PgEnv { user: Some("osuser".into()), ..PgEnv::default() }
    }

    #[test]
    fn a_full_url_parses_and_displays_without_its_password() {
        let url = PgUrl::parse(
            "postgresql://team:s3cr%40t@db.example:6543/zenreg?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            &env(),
        )
        .unwrap();
        assert_eq!(url.user, "team");
        assert_eq!(url.password(), Some("s3cr@t"));
        assert_eq!(url.host, PgHost::Tcp("db.example".into()));
        assert_eq!(url.port, 6543);
        assert_eq!(url.dbname, "zenreg");
        assert_eq!(url.sslmode, SslMode::VerifyFull);
        let shown = url.display();
        assert_eq!(shown, "postgresql://team@db.example:6543/zenreg?sslmode=verify-full&sslrootcert=/etc/ca.pem");
        assert!(!format!("{url:?}").contains("s3cr"));
    }

    #[test]
    fn defaults_follow_libpq() {
        let url = PgUrl::parse("postgres://", &env()).unwrap();
        assert_eq!((url.user.as_str(), url.port, url.dbname.as_str()), ("osuser", 5432, "osuser"));
        assert_eq!(url.host, PgHost::Tcp("localhost".into()));
        assert_eq!(url.sslmode, SslMode::Prefer);
        let v6 = PgUrl::parse("postgresql://u@[::1]:5433/d", &env()).unwrap();
        assert_eq!((v6.host, v6.port), (PgHost::Tcp("::1".into()), 5433));
        let socket = PgUrl::parse("postgresql://u@/d?host=/run/postgresql", &env()).unwrap();
        assert_eq!(socket.host, PgHost::Socket("/run/postgresql".into()));
        assert_eq!(socket.display(), "postgresql://u@/d?host=/run/postgresql&port=5432&sslmode=prefer");
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_the_password() {
        for (url, expected) in [
            ("mysql://u@h/d", "postgresql://"),
            ("postgresql://u:pw@h:99999/d", "invalid port"),
            ("postgresql://u:pw@h/d?sslmode=maybe", "unknown sslmode"),
            ("postgresql://u:pw@h/d?sslcert=/x", "unsupported URL parameter `sslcert`"),
            ("postgresql://u:pw@a,b/d", "several hosts"),
            ("postgresql://u:p%zzw@h/d", "password is not valid"),
        ] {
            let error = PgUrl::parse(url, &env()).unwrap_err().to_string();
            assert!(error.contains(expected), "{url}: {error}");
            assert!(!error.contains("pw") && !error.contains("p%zzw"), "{error}");
        }
    }

    /// Issue 22, item 1: a password holding `/`, `?`, `#` or `@` unencoded is refused, with
    /// advice to encode it, and nothing between `://` and the last `@` is ever shown or used
    /// as a host, a port or a database.
    #[test]
    fn a_password_with_reserved_characters_is_refused_without_showing_it() {
        for url in [
            "postgresql://r3:abc123/secretTail@127.0.0.1:5498/d3",
            "postgresql://r4:5432/hiddenpart@127.0.0.1:5498/d4",
            "postgresql://r5:pa?ssQQ@127.0.0.1:5498/d5",
            "postgres://r6:pa#ssQQ@127.0.0.1/d6",
            "postgresql://r7:a@b/c?d@127.0.0.1/d7",
        ] {
            let error = PgUrl::parse(url, &env()).unwrap_err();
            assert_eq!(error, UrlError::ReservedInUserInfo, "{url}");
            let shown = error.to_string();
            assert!(shown.contains("percent-encode") && shown.contains("%2F %3F %23 %40"), "{shown}");
            let user_info = &url[url.find("://").unwrap() + 3..url.rfind('@').unwrap()];
            for part in user_info.split([':', '/', '?', '#', '@']).filter(|p| p.len() > 3) {
                assert!(!shown.contains(part), "{url}: `{part}` shown in: {shown}");
            }
        }
        // Encoded, the same password is fine.
        let url = PgUrl::parse("postgresql://r3:abc123%2FsecretTail%3F%23%40@127.0.0.1:5498/d3", &env()).unwrap();
        assert_eq!(url.password(), Some("abc123/secretTail?#@"));
        assert_eq!((url.host, url.port, url.dbname.as_str()), (PgHost::Tcp("127.0.0.1".into()), 5498, "d3"));
        // A colon in the password needs no encoding: the first one ends the user name.
        assert_eq!(PgUrl::parse("postgresql://u:a:b@h/d", &env()).unwrap().password(), Some("a:b"));
    }

    #[test]
    fn errors_are_typed_and_keep_their_cause() {
        use std::error::Error as _;
        let error = PgUrl::parse("postgresql://u@h:99999/d", &env()).unwrap_err();
        assert!(matches!(&error, UrlError::Port { text, source: Some(_) } if text == "99999"), "{error:?}");
        assert!(error.source().is_some());
        let error = PgUrl::parse("postgresql://u@h/d%ff", &env()).unwrap_err();
        assert!(matches!(error, UrlError::DatabaseName(DecodeError::NotUtf8(_))), "{error:?}");
        assert!(error.source().and_then(|s| s.source()).is_some(), "the UTF-8 error is kept");
    }

    #[test]
    fn the_password_comes_from_the_url_then_pgpassword_then_the_passfile() {
        let dir = std::env::temp_dir().join(format!("zenreg-pgpass-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let passfile = dir.join("pgpass");
        std::fs::write(
            &passfile,
            "# comment\nother:*:*:*:nope\nlocalhost:5432:zen\\:db:team:from\\:file\n*:*:*:*:any\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut env = PgEnv { passfile: Some(passfile.clone()), ..env() };
        let from_file = PgUrl::parse("postgresql://team@localhost/zen%3Adb", &env).unwrap();
        assert_eq!(from_file.password(), Some("from:file"));
        let wildcard = PgUrl::parse("postgresql://team@localhost/elsewhere", &env).unwrap();
        assert_eq!(wildcard.password(), Some("any"));
        env.password = Some("from-env".into());
        assert_eq!(PgUrl::parse("postgresql://team@localhost/zen%3Adb", &env).unwrap().password(), Some("from-env"));
        assert_eq!(PgUrl::parse("postgresql://team:inline@localhost/x", &env).unwrap().password(), Some("inline"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).unwrap();
            env.password = None;
            let ignored = PgUrl::parse("postgresql://team@localhost/zen%3Adb", &env).unwrap();
            assert_eq!(ignored.password(), None, "a passfile others can read is ignored, as libpq does");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
