//! zenreg-store: the embedded store of components and secrets, and the [`Client`] API over it.
//!
//! Every config that goes in is validated by its flavor (through the catalog of
//! [`zenreg_core`]); secrets are referenced by components and resolved only when a component is
//! used. Errors are data ([`Error`]): the program using the client words the hints.
//!
//! Modules depend on each other in one direction: `model` ← `sqlite` ← `error` ← `client`;
//! `crypto` ← `backend` ← `postgres` (the PostgreSQL store, wired into the client next).

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

pub use client::{Client, MAX_NAME_LEN, MAX_SECRET_VALUE, is_identifier, is_name_char, is_secret_name, validate_name};
pub use error::{Error, Kind};
pub use model::{Component, Labels, Registration, Secret};
pub use sqlite::{SqliteError, Store, StoreError, default_path, looks_like_id};
