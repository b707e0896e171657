//! Errors of the PostgreSQL store, as data: what went wrong and at which store (its URL without
//! the password). Every text taken from the driver or the server passes through [`scrub`], so a
//! password can never reach a message even if a server or library were to echo it.

use crate::crypto::CryptoError;

/// An error of the PostgreSQL store.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL store `{location}`: {kind}")]
pub struct PostgresError {
    /// What went wrong (also the error's source, so that the driver's causes are in its chain).
    #[source]
    pub kind: PgErrorKind,
    /// The store's URL without its password (or a placeholder when the URL did not parse).
    pub location: String,
}

/// What went wrong with a PostgreSQL store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgErrorKind {
    /// The URL does not parse.
    #[error("invalid URL: {source}")]
    InvalidUrl {
        /// What is wrong (never the URL itself, nor its user info).
        source: super::url::UrlError,
    },
    /// The server could not be reached, or the connection could not be set up.
    #[error("cannot connect: {reason}")]
    Connect {
        /// What the driver said, with its causes (`error connecting to server: Connection
        /// refused (os error 111)`).
        reason: String,
        /// The driver's error and its causes (their text scrubbed of the password).
        #[source]
        cause: Option<DriverCause>,
        /// Whether the server could not be reached at all (an I/O error: refused, unknown host,
        /// timed out), as opposed to a connection set up and then refused.
        unreachable: bool,
        /// Whether a password was found (URL, `PGPASSWORD`, password file).
        password_given: bool,
        /// A password file passed over because others may read it (path, mode), as libpq does.
        ignored_passfile: Option<(std::path::PathBuf, u32)>,
    },
    /// TLS could not be set up or the server's certificate was refused.
    #[error("TLS: {reason}")]
    Tls {
        /// What rustls or the setup said.
        reason: String,
    },
    /// The server refused the login.
    #[error("authentication failed: {reason}")]
    Authentication {
        /// What the server said.
        reason: String,
    },
    /// The database's zenreg schema is newer than this build.
    #[error("store schema version {found}; this zenreg knows up to {supported}")]
    TooNew {
        /// The version in the database.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// A table with a name of zenreg's that is not zenreg's (another application's), left
    /// untouched.
    #[error("the database has a table `{table}` that is not zenreg's (columns: {columns}); it was left untouched")]
    ForeignTable {
        /// The table.
        table: &'static str,
        /// Its columns, `name type, …`.
        columns: String,
    },
    /// The connection broke in the middle of a command. The transaction was rolled back by the
    /// server unless it broke while committing, when it may or may not have been applied.
    #[error("{}", if *during_commit {
        "the connection was lost while committing; the change may or may not have been applied"
    } else {
        "the connection was lost; nothing of this command was written"
    })]
    ConnectionLost {
        /// Whether it broke during `COMMIT`.
        during_commit: bool,
    },
    /// A row lock was not granted within the lock timeout (another client holds it).
    #[error("another client held a lock for too long: {reason}")]
    Busy {
        /// What the server said.
        reason: String,
    },
    /// A secret's values could not be sealed or opened.
    #[error("secret `{secret}`: {source}")]
    Secrets {
        /// The secret's name.
        secret: String,
        /// What the cipher said.
        source: CryptoError,
    },
    /// Any other error of the server or the driver.
    #[error("{message}{}", code.as_ref().map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default())]
    Server {
        /// The SQLSTATE, when the server sent one.
        code: Option<String>,
        /// What the server or driver said, with the driver's causes.
        message: String,
        /// The driver's error and its causes (their text scrubbed of the password).
        #[source]
        cause: Option<DriverCause>,
    },
}

impl PostgresError {
    /// Whether the connection was lost (a retry on a new connection may work).
    pub fn is_connection_lost(&self) -> bool {
        matches!(self.kind, PgErrorKind::ConnectionLost { .. })
    }
}

/// A driver error kept in the chain of a [`PostgresError`]: the text of the driver's error and
/// of each of its causes, each scrubbed of the password, so that walking the chain can never
/// show a password even if a server or library echoed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverCause {
    message: String,
    source: Option<Box<DriverCause>>,
}

impl DriverCause {
    /// The chain of `error` (itself first), scrubbed of `password`.
    pub(crate) fn of(error: &(dyn std::error::Error + 'static), password: Option<&str>) -> DriverCause {
        DriverCause {
            message: scrub(error.to_string(), password),
            source: error.source().map(|cause| Box::new(DriverCause::of(cause, password))),
        }
    }

    /// `message: cause: cause…`, for a one-line message.
    pub(crate) fn one_line(&self) -> String {
        let mut line = self.message.clone();
        let mut next = self.source.as_deref();
        while let Some(cause) = next {
            // A driver error whose text already ends with its cause's (some do) is not doubled.
            if !line.ends_with(&cause.message) {
                line.push_str(": ");
                line.push_str(&cause.message);
            }
            next = cause.source.as_deref();
        }
        line
    }
}

impl std::fmt::Display for DriverCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DriverCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}

/// Replaces every occurrence of the password in `text`.
pub(crate) fn scrub(text: String, password: Option<&str>) -> String {
    match password {
        // A one-character password would mangle every message; it also cannot appear in a way
        // that tells anyone anything they could not guess.
        Some(password) if password.len() >= 2 && text.contains(password) => text.replace(password, "********"),
        _ => text,
    }
}

/// SQLSTATE classes and codes the store tells apart.
pub(crate) mod sqlstate {
    /// `unique_violation`.
    pub const UNIQUE_VIOLATION: &str = "23505";
    /// `lock_not_available` (lock_timeout).
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    /// `admin_shutdown` (pg_terminate_backend, fast shutdown), `crash_shutdown`,
    /// `cannot_connect_now`, `idle_session_timeout`.
    pub const CONNECTION_ENDED: &[&str] = &["57P01", "57P02", "57P03", "57P05"];
    /// `invalid_authorization_specification`, `invalid_password`.
    pub const AUTHENTICATION: &[&str] = &["28000", "28P01"];
}

/// Classifies a driver error; `connecting` says whether it happened while connecting.
pub(crate) fn classify(error: &postgres::Error, connecting: bool, password: Option<&str>) -> PgErrorKind {
    let text = |s: String| scrub(s, password);
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let message = text(db.message().to_string());
        if sqlstate::AUTHENTICATION.contains(&code) {
            return PgErrorKind::Authentication { reason: message };
        }
        if sqlstate::CONNECTION_ENDED.contains(&code) {
            return if connecting {
                PgErrorKind::Connect {
                    reason: message,
                    cause: Some(DriverCause::of(error, password)),
                    unreachable: false,
                    password_given: password.is_some(),
                    ignored_passfile: None,
                }
            } else {
                PgErrorKind::ConnectionLost { during_commit: false }
            };
        }
        if code == sqlstate::LOCK_NOT_AVAILABLE {
            return PgErrorKind::Busy { reason: message };
        }
        return PgErrorKind::Server {
            code: Some(code.to_string()),
            message,
            cause: Some(DriverCause::of(error, password)),
        };
    }
    // The driver's own errors: look down the chain for TLS and I/O causes.
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    let mut unreachable = false;
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return PgErrorKind::Tls { reason: text(cause.to_string()) };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return PgErrorKind::Tls { reason: text(inner.to_string()) };
            }
            if !connecting {
                return PgErrorKind::ConnectionLost { during_commit: false };
            }
            unreachable = true;
        }
        source = cause.source();
    }
    if error.is_closed() && !connecting {
        return PgErrorKind::ConnectionLost { during_commit: false };
    }
    // The driver's own text names only its kind ("error connecting to server", "invalid
    // configuration"); what happened is in its causes, kept in the message and the chain.
    let cause = DriverCause::of(error, password);
    let message = cause.one_line();
    if connecting {
        return PgErrorKind::Connect {
            reason: message,
            cause: Some(cause),
            unreachable,
            password_given: password.is_some(),
            ignored_passfile: None,
        };
    }
    PgErrorKind::Server { code: None, message, cause: Some(cause) }
}
