//! Secrets at rest: every secret value is sealed with XChaCha20-Poly1305 under a key the store
//! (and a PostgreSQL server) never sees, so a copy of the store file or a `pg_dump` holds no value.
//!
//! A sealed value is a versioned text envelope,
//! `zenreg:v1:<key fingerprint>:<base64(nonce ‖ ciphertext ‖ tag)>`, kept where the plaintext
//! used to be: secret names and key names stay readable (for listings), values do not.
//!
//! - The nonce is 24 random bytes per value: XChaCha's nonce is long enough that drawing it at
//!   random never repeats in practice, so no counter has to be kept in the store.
//! - The associated data is the secret's id and the key name, so a value copied into another
//!   row or under another key name fails to open instead of silently moving.
//! - The fingerprint is a keyed value derived from the key (never the key itself). It tells
//!   "this value was sealed under another key" ([`CryptoError::WrongKey`]) apart from "this value
//!   was damaged or moved" ([`CryptoError::Damaged`]): both are errors, never garbage.
//! - A value without the `zenreg:` prefix is a legacy plaintext value from a store written before
//!   encryption; it is readable as it is and sealed on the next write ([`needs_sealing`]).
//!
//! The key is 32 random bytes, written as base64: in `ZENREG_SECRETS_KEY`, or in a key file
//! (created 0600 on first use beside an embedded store; for a shared PostgreSQL store it is never
//! created implicitly, so a teammate without the key gets [`CryptoError::NoKey`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use zenreg_core::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::model::SecretValues;

/// The environment variable holding the key as base64.
pub const KEY_VARIABLE: &str = "ZENREG_SECRETS_KEY";
/// What every sealed value starts with; the version follows.
const PREFIX: &str = "zenreg:";
/// The envelope version this build writes (and the only one it reads).
const VERSION: &str = "v1";
/// Length of the key in bytes.
const KEY_LEN: usize = 32;
/// Length of an XChaCha20 nonce in bytes.
const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag in bytes.
const TAG_LEN: usize = 16;
/// Bytes of the fingerprint (shown as hex): enough to tell keys apart, too few to matter.
const FINGERPRINT_LEN: usize = 8;
/// A nonce reserved for deriving the fingerprint. A random nonce equals it with probability
/// 2^-192, and it only ever authenticates an empty message, so it reveals nothing of the key.
const FINGERPRINT_NONCE: [u8; NONCE_LEN] = *b"zenreg-key-fingerprint-1";

/// Why a value could not be sealed or opened, or a key not loaded. Never contains a key or a
/// secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A sealed value was met but no key is configured.
    #[error("cannot decrypt or encrypt secret values: no key (set {KEY_VARIABLE} or {KEY_FILE_VARIABLE})")]
    NoKey,
    /// The value was sealed under another key than the one given.
    #[error("cannot decrypt secret values: wrong key (values were sealed with key {sealed_with}, this key is {given})")]
    WrongKey {
        /// Fingerprint of the key the value was sealed with.
        sealed_with: String,
        /// Fingerprint of the key given.
        given: String,
    },
    /// The value was sealed under this key but does not open: changed, truncated, or moved to
    /// another secret or key name.
    #[error("a secret value is damaged or was moved between secrets ({reason})")]
    Damaged {
        /// What is wrong.
        reason: &'static str,
    },
    /// An envelope of a version this build does not know (written by a newer zenreg).
    #[error("a secret value uses encryption format `{version}`; this zenreg knows `{VERSION}`")]
    UnknownVersion {
        /// The version found.
        version: String,
    },
    /// The key text is not 32 bytes of base64.
    #[error("invalid secrets key from {origin}: {reason}")]
    InvalidKey {
        /// Where the key came from (the variable's name or the file's path), never the key.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key file could not be read or created.
    #[error("secrets key file `{path}`: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file that is not a regular file (a FIFO would block the command, a device or a
    /// folder holds no key), refused before it is opened.
    #[error("secrets key file `{path}` is {kind}, not a regular file")]
    KeyFileNotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead (`a named pipe (FIFO)`, `a directory`, …).
        kind: &'static str,
    },
    /// A key file far larger than a key, refused without reading it.
    #[error("secrets key file `{path}` has {size} bytes; a key file holds 44 characters of base64")]
    KeyFileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// A key file that others may read is refused rather than used.
    #[error("secrets key file `{path}` is readable by other users (mode {mode:o}); make it 0600")]
    KeyFileTooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The system's random source failed.
    #[error("cannot draw random bytes: {0}")]
    Random(String),
    /// The cipher refused (a value too long to seal).
    #[error("cannot encrypt a secret value")]
    Seal,
}

/// A 32-byte secrets key. Wiped from memory when dropped; `Debug` shows only its fingerprint.
#[derive(Clone)]
pub struct SecretsKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    fingerprint: String,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsKey").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

impl SecretsKey {
    /// A new random key.
    pub fn generate() -> Result<SecretsKey, CryptoError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(key.as_mut()).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(SecretsKey::from_bytes(key))
    }

    fn from_bytes(key: Zeroizing<[u8; KEY_LEN]>) -> SecretsKey {
        let cipher = XChaCha20Poly1305::new(&(*key).into());
        let tag = cipher
            .encrypt(&XNonce::from(FINGERPRINT_NONCE), Payload { msg: b"", aad: b"zenreg secrets key fingerprint" })
            .unwrap_or_default();
        let fingerprint = tag.iter().take(FINGERPRINT_LEN).map(|b| format!("{b:02x}")).collect();
        SecretsKey { key, fingerprint }
    }

    /// Parses a key written as base64 (standard alphabet, padding optional, surrounding
    /// whitespace ignored). `origin` names where it came from, for the error.
    pub fn from_base64(text: &str, origin: &str) -> Result<SecretsKey, CryptoError> {
        let invalid = |reason| CryptoError::InvalidKey { origin: origin.to_string(), reason };
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let padded;
        let text = if text.len().is_multiple_of(4) {
            text
        } else {
            padded = Zeroizing::new(format!("{text}{}", "=".repeat(4 - text.len() % 4)));
            padded.as_str()
        };
        let bytes = Zeroizing::new(BASE64.decode(text).map_err(|_| invalid("it is not base64"))?);
        let key: [u8; KEY_LEN] =
            bytes.as_slice().try_into().map_err(|_| invalid("it must be 32 bytes (44 characters of base64)"))?;
        Ok(SecretsKey::from_bytes(Zeroizing::new(key)))
    }

    /// The key as base64, for writing it to a key file or showing it once to its owner.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.key.as_ref()))
    }

    /// A short public identifier of the key (16 hex digits), safe to print.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Reads the key from a file: a regular file (checked before it is opened, so a FIFO never
    /// blocks), of at most [`MAX_KEY_FILE`] bytes (checked before it is read), that neither group
    /// nor others may read.
    pub fn read_file(path: &Path) -> Result<SecretsKey, CryptoError> {
        use std::io::Read as _;
        let file_error = |source| CryptoError::KeyFile { path: path.to_path_buf(), source };
        let check = |metadata: &std::fs::Metadata| -> Result<(), CryptoError> {
            if !metadata.is_file() {
                return Err(CryptoError::KeyFileNotRegular { path: path.to_path_buf(), kind: file_kind(metadata) });
            }
            if metadata.len() > MAX_KEY_FILE {
                return Err(CryptoError::KeyFileTooLarge { path: path.to_path_buf(), size: metadata.len() });
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = metadata.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(CryptoError::KeyFileTooOpen { path: path.to_path_buf(), mode });
                }
            }
            Ok(())
        };
        check(&std::fs::metadata(path).map_err(file_error)?)?;
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        // Non-blocking: a path swapped for a FIFO after the check must not make the open wait.
        #[cfg(target_os = "linux")]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, O_NONBLOCK);
        let file = options.open(path).map_err(file_error)?;
        check(&file.metadata().map_err(file_error)?)?;
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_KEY_FILE + 1).read_to_string(&mut text).map_err(file_error)?;
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(CryptoError::KeyFileTooLarge { path: path.to_path_buf(), size: text.len() as u64 });
        }
        SecretsKey::from_base64(&text, &path.display().to_string())
    }

    /// Creates a key file (mode 0600) holding a new random key; fails if the file exists.
    pub fn create_file(path: &Path) -> Result<SecretsKey, CryptoError> {
        let key = SecretsKey::generate()?;
        key.write_new_file(path)?;
        Ok(key)
    }

    /// Writes the key to `path` (mode 0600), replacing a file there, and flushes it to disk.
    pub fn write_file(&self, path: &Path) -> Result<(), CryptoError> {
        match std::fs::remove_file(path) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                Err(CryptoError::KeyFile { path: path.to_path_buf(), source })
            }
            _ => self.write_new_file(path),
        }
    }

    /// Writes the key to a new file (mode 0600, flushed to disk); fails if the file exists.
    fn write_new_file(&self, path: &Path) -> Result<(), CryptoError> {
        use std::io::Write as _;
        let file_error = |source| CryptoError::KeyFile { path: path.to_path_buf(), source };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(file_error)?;
        let text = Zeroizing::new(format!("{}\n", self.to_base64().as_str()));
        // A half-written key file would lock its owner out of every value sealed with it.
        if let Err(error) = file.write_all(text.as_bytes()).and_then(|()| file.sync_all()) {
            let _ = std::fs::remove_file(path);
            return Err(file_error(error));
        }
        Ok(())
    }

    /// Reads the key file, creating it with a new key if it does not exist (the embedded
    /// store's behaviour). Two processes creating it at once end up with the same key: the one
    /// that loses the race reads the winner's file.
    pub fn read_or_create_file(path: &Path) -> Result<SecretsKey, CryptoError> {
        match SecretsKey::create_file(path) {
            Ok(key) => Ok(key),
            Err(CryptoError::KeyFile { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                // The winner may not have written the key yet.
                for _ in 0..50 {
                    match SecretsKey::read_file(path) {
                        Err(CryptoError::InvalidKey { reason: "it is empty", .. }) => {
                            std::thread::sleep(std::time::Duration::from_millis(20))
                        }
                        other => return other,
                    }
                }
                SecretsKey::read_file(path)
            }
            Err(error) => Err(error),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.key).into())
    }

    /// Seals one value of secret `row_id` under key name `name`.
    pub fn seal(&self, row_id: &str, name: &str, value: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        let aad = associated_data(row_id, name);
        let sealed = self
            .cipher()
            .encrypt(&XNonce::from(nonce), Payload { msg: value.as_bytes(), aad: &aad })
            .map_err(|_| CryptoError::Seal)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{VERSION}:{}:{}", self.fingerprint, BASE64.encode(blob)))
    }

    /// Opens a sealed value of secret `row_id` under key name `name`.
    pub fn open(&self, row_id: &str, name: &str, stored: &str) -> Result<String, CryptoError> {
        let envelope = Envelope::parse(stored)?;
        if envelope.fingerprint != self.fingerprint {
            return Err(CryptoError::WrongKey {
                sealed_with: envelope.fingerprint.to_string(),
                given: self.fingerprint.clone(),
            });
        }
        let blob = BASE64.decode(envelope.payload).map_err(|_| CryptoError::Damaged { reason: "not base64" })?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Damaged { reason: "too short" });
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Damaged { reason: "too short" })?;
        let aad = associated_data(row_id, name);
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: &aad })
                .map_err(|_| CryptoError::Damaged { reason: "authentication failed" })?,
        );
        String::from_utf8(plain.to_vec()).map_err(|_| CryptoError::Damaged { reason: "not UTF-8" })
    }
}

/// The largest key file read: a key is 44 characters of base64; room is left for whitespace
/// and line ends an editor may add, not for anything that is not a key.
pub const MAX_KEY_FILE: u64 = 4096;

/// Linux's `O_NONBLOCK` (the same on every Linux architecture Rust supports but Alpha, MIPS,
/// PA-RISC and SPARC, which this program is not built for).
#[cfg(target_os = "linux")]
const O_NONBLOCK: i32 = 0o4000;

/// What a file that is not a regular file is, for messages.
pub(crate) fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    let file_type = metadata.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() { "a directory" } else { "not a regular file" }
}

/// Binds a value to its row and key name. The id is a UUID (no NUL), and the NUL separator keeps
/// `("a", "bc")` and `("ab", "c")` apart.
fn associated_data(row_id: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + row_id.len() + name.len());
    aad.extend_from_slice(b"zenreg:v1\0");
    aad.extend_from_slice(row_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// The parts of a sealed value.
struct Envelope<'a> {
    fingerprint: &'a str,
    payload: &'a str,
}

impl<'a> Envelope<'a> {
    fn parse(stored: &'a str) -> Result<Envelope<'a>, CryptoError> {
        let rest = stored.strip_prefix(PREFIX).ok_or(CryptoError::Damaged { reason: "not a sealed value" })?;
        let (version, rest) = rest.split_once(':').ok_or(CryptoError::Damaged { reason: "no version" })?;
        if version != VERSION {
            // Only the version's own characters are echoed, and only if they look like one.
            let shown = if version.len() <= 8 && version.bytes().all(|b| b.is_ascii_alphanumeric()) {
                version.to_string()
            } else {
                "?".to_string()
            };
            return Err(CryptoError::UnknownVersion { version: shown });
        }
        let (fingerprint, payload) = rest.split_once(':').ok_or(CryptoError::Damaged { reason: "no fingerprint" })?;
        if fingerprint.len() != FINGERPRINT_LEN * 2 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CryptoError::Damaged { reason: "bad fingerprint" });
        }
        Ok(Envelope { fingerprint, payload })
    }
}

/// Whether a stored value is sealed (as opposed to a legacy plaintext value).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Opens every value of a secret; legacy plaintext values pass through unchanged. Without a key,
/// a secret with any sealed value is [`CryptoError::NoKey`].
pub fn open_entries<V: EntryText>(
    key: Option<&SecretsKey>,
    row_id: &str,
    stored: &BTreeMap<String, V>,
) -> Result<SecretValues, CryptoError> {
    stored
        .iter()
        .map(|(name, value)| {
            let value = value.text();
            let plain = if is_sealed(value) {
                SecretString::from(key.ok_or(CryptoError::NoKey)?.open(row_id, name, value)?)
            } else {
                SecretString::from(value)
            };
            Ok((name.clone(), plain))
        })
        .collect()
}

/// A value of a secret as text: a `String` (as stored: sealed, or legacy plaintext) or a
/// [`SecretString`] (as the `Client` API hands values over).
pub trait EntryText {
    /// The text.
    fn text(&self) -> &str;
}

impl EntryText for String {
    fn text(&self) -> &str {
        self
    }
}

impl EntryText for SecretString {
    fn text(&self) -> &str {
        self.expose_secret()
    }
}

/// The fingerprint of the key a stored value was sealed with, if it is a sealed value.
pub fn sealed_with(stored: &str) -> Option<&str> {
    Envelope::parse(stored).ok().map(|envelope| envelope.fingerprint)
}

/// Refuses to seal with `key` in a store whose values are sealed with another key (found in
/// `stored`, any secret's stored values): a store never ends up with values under two keys, of
/// which each teammate could open only some.
pub fn ensure_same_key<'a, V: EntryText + 'a>(
    key: &SecretsKey,
    stored: impl IntoIterator<Item = &'a V>,
) -> Result<(), CryptoError> {
    match stored.into_iter().find_map(|value| sealed_with(value.text())) {
        Some(fingerprint) if fingerprint != key.fingerprint() => {
            Err(CryptoError::WrongKey { sealed_with: fingerprint.to_string(), given: key.fingerprint().to_string() })
        }
        _ => Ok(()),
    }
}

/// Seals every value of a secret for storing.
pub fn seal_entries<V: EntryText>(
    key: &SecretsKey,
    row_id: &str,
    values: &BTreeMap<String, V>,
) -> Result<BTreeMap<String, String>, CryptoError> {
    values.iter().map(|(name, value)| Ok((name.clone(), key.seal(row_id, name, value.text())?))).collect()
}

/// Whether a stored secret has a value that is not sealed (a legacy store to migrate).
pub fn needs_sealing<V: EntryText>(stored: &BTreeMap<String, V>) -> bool {
    stored.values().any(|value| !is_sealed(value.text()))
}

/// Re-seals a stored secret under `new`: values sealed with `old` (or already with `new`, so a
/// repeated rekey is harmless) and legacy plaintext values. Anything that opens under neither
/// key is an error, and nothing is returned half-converted.
pub fn rekey_entries<V: EntryText>(
    old: Option<&SecretsKey>,
    new: &SecretsKey,
    row_id: &str,
    stored: &BTreeMap<String, V>,
) -> Result<BTreeMap<String, String>, CryptoError> {
    stored
        .iter()
        .map(|(name, value)| {
            let value = value.text();
            let plain = if !is_sealed(value) {
                Zeroizing::new(value.to_string())
            } else if Envelope::parse(value)?.fingerprint == new.fingerprint() {
                Zeroizing::new(new.open(row_id, name, value)?)
            } else {
                Zeroizing::new(old.ok_or(CryptoError::NoKey)?.open(row_id, name, value)?)
            };
            Ok((name.clone(), new.seal(row_id, name, &plain)?))
        })
        .collect()
}

/// Where the key comes from, in order: the variable's value if set and non-empty, else the key
/// file if one is given. `create_file` creates a missing key file (embedded stores only).
/// `Ok(None)` means no key at all: components work, secret values do not.
pub fn load_key(
    variable: Option<&str>,
    file: Option<&Path>,
    create_file: bool,
) -> Result<Option<SecretsKey>, CryptoError> {
    if let Some(text) = variable.filter(|t| !t.trim().is_empty()) {
        return SecretsKey::from_base64(text, KEY_VARIABLE).map(Some);
    }
    match file {
        Some(path) if create_file => SecretsKey::read_or_create_file(path).map(Some),
        Some(path) => SecretsKey::read_file(path).map(Some),
        None => Ok(None),
    }
}

/// The environment variable naming a key file (PostgreSQL stores; an embedded store keeps its
/// key file beside it).
pub const KEY_FILE_VARIABLE: &str = "ZENREG_SECRETS_KEY_FILE";

/// Where a store's key comes from, loaded when first needed: components never need the key,
/// so a missing or unreadable key file fails only the commands that read or write values.
pub struct KeySource {
    variable: Option<Zeroizing<String>>,
    file: Option<PathBuf>,
    /// Whether a missing key file is created on the first secret write (embedded stores).
    create: bool,
    loaded: Option<SecretsKey>,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySource")
            .field("file", &self.file)
            .field("loaded", &self.loaded.as_ref().map(SecretsKey::fingerprint))
            .finish_non_exhaustive()
    }
}

impl KeySource {
    /// A key source: the variable's value (if set and non-empty) wins over the file; `create`
    /// says whether a missing file is created on the first secret write.
    pub fn new(variable: Option<String>, file: Option<PathBuf>, create: bool) -> KeySource {
        let variable = variable.filter(|v| !v.trim().is_empty()).map(Zeroizing::new);
        KeySource { variable, file, create, loaded: None }
    }

    /// A source holding `key` itself.
    pub fn with_key(key: SecretsKey) -> KeySource {
        KeySource { variable: None, file: None, create: false, loaded: Some(key) }
    }

    /// Whether a key is set up at all (a variable, a key file, or a key given), without loading
    /// it.
    pub fn is_configured(&self) -> bool {
        self.loaded.is_some() || self.variable.is_some() || self.file.is_some()
    }

    /// The key file, if the key comes from one.
    pub fn file(&self) -> Option<&Path> {
        if self.variable.is_some() { None } else { self.file.as_deref() }
    }

    /// The key if one is configured; `Ok(None)` when there is none yet (no variable, and no key
    /// file, or one still to be created). Never creates anything.
    pub fn key(&mut self) -> Result<Option<&SecretsKey>, CryptoError> {
        if self.loaded.is_none() {
            self.loaded = match (&self.variable, &self.file) {
                (Some(text), _) => Some(SecretsKey::from_base64(text, KEY_VARIABLE)?),
                (None, Some(path)) if self.create && !path.exists() => None,
                (None, Some(path)) => Some(SecretsKey::read_file(path)?),
                (None, None) => None,
            };
        }
        Ok(self.loaded.as_ref())
    }

    /// The key, creating the key file (0600) if this source may and it is missing; without a
    /// key, [`CryptoError::NoKey`].
    pub fn key_or_create(&mut self) -> Result<&SecretsKey, CryptoError> {
        if self.key()?.is_none() {
            match &self.file {
                Some(path) if self.create => self.loaded = Some(SecretsKey::read_or_create_file(path)?),
                _ => return Err(CryptoError::NoKey),
            }
        }
        self.loaded.as_ref().ok_or(CryptoError::NoKey)
    }

    /// The loaded key's fingerprint, or why the configured key cannot be loaded (for
    /// `store info`: a broken key is shown, not taken for "no key").
    pub fn describe(&mut self) -> (Option<String>, Option<String>) {
        match self.key() {
            Ok(key) => (key.map(|k| k.fingerprint().to_string()), None),
            Err(error) => (None, Some(error.to_string())),
        }
    }

    /// Replaces the key in use (after a rekey).
    pub fn replace(&mut self, key: SecretsKey) {
        self.loaded = Some(key);
    }
}

/// Where a rekey of an embedded store puts the new key before its commit: `<key file>.new`,
/// renamed over the key file once the values are sealed with it (the store's next open finishes
/// a rekey killed in between).
pub fn pending_key_file(key_file: &Path) -> PathBuf {
    let mut path = key_file.as_os_str().to_owned();
    path.push(".new");
    PathBuf::from(path)
}

/// Renames `from` over `to` and flushes the directory holding them, so that the rename
/// survives a crash.
pub fn install_key_file(from: &Path, to: &Path) -> Result<(), CryptoError> {
    std::fs::rename(from, to).map_err(|source| CryptoError::KeyFile { path: to.to_path_buf(), source })?;
    if let Some(directory) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Best effort: some file systems cannot flush a directory; the rename is done either way.
        let _ = std::fs::File::open(directory).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// The key file of an embedded store: `<store file>.key`, beside it.
pub fn key_file_beside(store: &Path) -> PathBuf {
    let mut path = store.as_os_str().to_owned();
    path.push(".key");
    PathBuf::from(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opened values as text, to compare.
    fn plain(values: SecretValues) -> BTreeMap<String, String> {
        values.into_iter().map(|(k, v)| (k, v.expose_secret().to_string())).collect()
    }

    fn entries(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_value_round_trips_and_is_not_readable() {
        let key = SecretsKey::generate().unwrap();
        let sealed = key.seal("id-1", "password", "hunter2").unwrap();
        assert!(sealed.starts_with(&format!("zenreg:v1:{}:", key.fingerprint())), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open("id-1", "password", &sealed).unwrap(), "hunter2");
        // A fresh nonce each time: equal values do not look equal at rest.
        assert_ne!(sealed, key.seal("id-1", "password", "hunter2").unwrap());
    }

    #[test]
    fn a_value_moved_to_another_row_or_key_name_does_not_open() {
        let key = SecretsKey::generate().unwrap();
        let sealed = key.seal("id-1", "password", "hunter2").unwrap();
        assert!(matches!(key.open("id-2", "password", &sealed), Err(CryptoError::Damaged { .. })));
        assert!(matches!(key.open("id-1", "username", &sealed), Err(CryptoError::Damaged { .. })));
    }

    #[test]
    fn a_wrong_key_and_no_key_are_told_apart_from_damage() {
        let right = SecretsKey::generate().unwrap();
        let wrong = SecretsKey::generate().unwrap();
        assert_ne!(right.fingerprint(), wrong.fingerprint());
        let stored = seal_entries(&right, "id", &entries(&[("password", "hunter2")])).unwrap();
        match open_entries(Some(&wrong), "id", &stored) {
            Err(CryptoError::WrongKey { sealed_with, given }) => {
                assert_eq!(sealed_with, right.fingerprint());
                assert_eq!(given, wrong.fingerprint());
            }
            other => panic!("expected WrongKey, got {other:?}"),
        }
        assert!(matches!(open_entries(None, "id", &stored), Err(CryptoError::NoKey)));
        let message = CryptoError::NoKey.to_string();
        assert!(message.contains("no key") && message.contains(KEY_VARIABLE), "{message}");
    }

    #[test]
    fn tampering_is_detected() {
        let key = SecretsKey::generate().unwrap();
        let sealed = key.seal("id", "k", "value").unwrap();
        let (head, payload) = sealed.rsplit_once(':').unwrap();
        let mut blob = BASE64.decode(payload).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let flipped = format!("{head}:{}", BASE64.encode(&blob));
        assert!(matches!(key.open("id", "k", &flipped), Err(CryptoError::Damaged { .. })));
        assert!(matches!(key.open("id", "k", &format!("{head}:%%%")), Err(CryptoError::Damaged { .. })));
        assert!(matches!(key.open("id", "k", &format!("{head}:AAAA")), Err(CryptoError::Damaged { .. })));
        let future = sealed.replacen("zenreg:v1:", "zenreg:v9:", 1);
        assert!(
            matches!(key.open("id", "k", &future), Err(CryptoError::UnknownVersion { version }) if version == "v9")
        );
    }

    #[test]
    fn legacy_plaintext_is_read_as_is_and_flagged_for_sealing() {
        let key = SecretsKey::generate().unwrap();
        let legacy = entries(&[("username", "me"), ("password", "hunter2")]);
        assert!(needs_sealing(&legacy));
        assert_eq!(plain(open_entries(None, "id", &legacy).unwrap()), legacy);
        let sealed = seal_entries(&key, "id", &legacy).unwrap();
        assert!(!needs_sealing(&sealed));
        assert_eq!(sealed.keys().collect::<Vec<_>>(), ["password", "username"], "key names stay readable");
        assert_eq!(plain(open_entries(Some(&key), "id", &sealed).unwrap()), legacy);
    }

    #[test]
    fn rekey_moves_every_value_to_the_new_key_and_is_repeatable() {
        let old = SecretsKey::generate().unwrap();
        let new = SecretsKey::generate().unwrap();
        let mut stored = seal_entries(&old, "id", &entries(&[("a", "1"), ("b", "2")])).unwrap();
        stored.insert("legacy".into(), "3".into());
        let rekeyed = rekey_entries(Some(&old), &new, "id", &stored).unwrap();
        assert!(matches!(open_entries(Some(&old), "id", &rekeyed), Err(CryptoError::WrongKey { .. })));
        let expected = entries(&[("a", "1"), ("b", "2"), ("legacy", "3")]);
        assert_eq!(plain(open_entries(Some(&new), "id", &rekeyed).unwrap()), expected);
        // Running it again (say after an interruption) changes nothing it cannot open.
        let again = rekey_entries(Some(&old), &new, "id", &rekeyed).unwrap();
        assert_eq!(plain(open_entries(Some(&new), "id", &again).unwrap()), expected);
        // A value under a third key is refused, not passed through.
        let third = SecretsKey::generate().unwrap();
        let foreign = seal_entries(&third, "id", &entries(&[("a", "1")])).unwrap();
        assert!(matches!(rekey_entries(Some(&old), &new, "id", &foreign), Err(CryptoError::WrongKey { .. })));
    }

    #[test]
    fn keys_parse_from_base64_without_echoing_them() {
        let key = SecretsKey::generate().unwrap();
        let text = key.to_base64();
        let parsed = SecretsKey::from_base64(&format!("  {}\n", text.as_str()), "test").unwrap();
        assert_eq!(parsed.fingerprint(), key.fingerprint());
        let unpadded = SecretsKey::from_base64(text.trim_end_matches('='), "test").unwrap();
        assert_eq!(unpadded.fingerprint(), key.fingerprint());
        for bad in ["", "not base64 at all!", "c2hvcnQ=", &BASE64.encode([7u8; 33])] {
            let error = SecretsKey::from_base64(bad, KEY_VARIABLE).unwrap_err();
            assert!(matches!(error, CryptoError::InvalidKey { .. }), "{error:?}");
            let message = error.to_string();
            assert!(message.contains(KEY_VARIABLE), "{message}");
            assert!(bad.len() < 4 || !message.contains(bad), "the key text leaked: {message}");
        }
        assert!(!format!("{key:?}").contains(text.as_str()));
    }

    #[test]
    fn key_files_are_private_and_created_once() {
        let dir = std::env::temp_dir().join(format!("zenreg-crypto-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = key_file_beside(&dir.join("zenreg.db"));
        assert_eq!(path.file_name().unwrap(), "zenreg.db.key");
        assert!(matches!(load_key(None, Some(&path), false), Err(CryptoError::KeyFile { .. })));
        let created = load_key(None, Some(&path), true).unwrap().unwrap();
        let again = load_key(None, Some(&path), true).unwrap().unwrap();
        assert_eq!(created.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(SecretsKey::read_file(&path), Err(CryptoError::KeyFileTooOpen { mode: 0o644, .. })));
        }
        // The variable wins over the file.
        let other = SecretsKey::generate().unwrap();
        let chosen = load_key(Some(&other.to_base64()), Some(&path), true).unwrap().unwrap();
        assert_eq!(chosen.fingerprint(), other.fingerprint());
        assert!(load_key(None, None, true).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_first_use_of_a_key_file_agrees_on_one_key() {
        let dir = std::env::temp_dir().join(format!("zenreg-crypto-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.key");
        let fingerprints: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| SecretsKey::read_or_create_file(&path).unwrap().fingerprint().to_string()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(fingerprints.iter().all(|f| f == &fingerprints[0]), "{fingerprints:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
