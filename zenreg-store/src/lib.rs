//! zenreg-store: the embedded store of components and secrets, and the [`Client`] API over it.
//!
//! Every config that goes in is validated by its flavor (through the catalog of
//! [`zenreg_core`]); secrets are referenced by components and resolved only when a component is
//! used. Errors are data ([`Error`]): the program using the client words the hints.
//!
//! Modules depend on each other in one direction: `model` ← `sqlite` ← `error` ← `client`;
//! `crypto` ← `backend` ← `postgres` (the PostgreSQL store, wired into the client next).

pub mod backend;
pub mod client;
pub mod crypto;
pub mod error;
pub mod model;
pub mod postgres;
pub mod sqlite;

pub use client::{Client, MAX_NAME_LEN, is_identifier, validate_name};
pub use error::{Error, Kind};
pub use model::{Component, Labels, Registration, Secret};
pub use sqlite::{SqliteError, Store, StoreError, default_path};
