//! zenreg-store: the stores of components and secrets (an embedded SQLite file, a PostgreSQL
//! database), their secrets encryption, and the [`Client`] API over either.
//!
//! Every config that goes in is validated by its flavor (through the catalog of
//! [`zenreg_core`]); secrets are referenced by components and resolved only when a component is
//! used. Errors are data ([`Error`]): the program using the client words the hints.
//!
//! Secret values pass through the API as [`SecretValues`] (each a
//! [`SecretString`](zenreg_core::SecretString): zeroized when dropped, never shown by `Debug`):
//! [`Client::create_secret`], [`Client::update_secret`] and [`Secret::values`] take and hold
//! them (they were `BTreeMap<String, String>`), and [`Client::credentials`] gives
//! [`Credentials`](zenreg_core::Credentials) whose password is one.
//!
//! Modules depend on each other in one direction: `model`, `crypto` ← `backend` ← `sqlite`,
//! `postgres` ← `error` ← `client`. The client runs every command once, as a closure over a
//! [`backend::Tx`], on either store.

// Data from users, the store, the network and the environment never panics the program: no
// unwrap, expect or unchecked indexing outside tests (issue 10); exceptions carry a comment.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod backend;
pub mod client;
pub mod crypto;
pub mod error;
pub mod model;
pub mod postgres;
pub mod sqlite;

pub use backend::{BackendInfo, SecretSummary};
pub use client::{
    Client, CopyReport, MAX_NAME_LEN, MAX_SECRET_VALUE, check_location, is_identifier, is_name_char, is_secret_name,
    is_server_location, validate_name,
};
pub use crypto::{CryptoError, SecretsKey};
pub use error::{Error, KNOWN_SCHEMES, Kind, LocationProblem};
pub use model::{Component, Labels, Registration, Secret, SecretValues};
pub use postgres::PostgresError;
pub use sqlite::{
    SqliteError, Store, StoreError, default_file_path, default_path, looks_like_id, prepare_default_path,
};
