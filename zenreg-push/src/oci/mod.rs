//! zenreg's own OCI registry client and push engine: it reads an image from an OCI layout, a
//! `docker save` archive or the Docker Engine's export, compresses layers that arrive
//! uncompressed in parallel, and speaks the distribution API itself, so a push needs no daemon
//! (with `--from`) and does not wait on `docker push`'s one-core-per-layer gzip.
//!
//! Modules depend on each other in one direction: `digest`, `error`, `media`, `policy`, `wire` ←
//! `compress`, `cache`, `layerstore`, `registry`, `source` ← `adaptive`, `archive` ← `push`. Nothing here names
//! the rest of the crate, so the crate's error type can wrap [`OciError`] without an import loop.

pub mod adaptive;
pub mod archive;
pub mod cache;
pub mod compress;
pub mod digest;
pub mod error;
pub mod layerstore;
pub mod media;
pub mod policy;
pub mod push;
pub mod registry;
pub mod source;
pub mod wire;

pub use compress::Compression;
pub use error::OciError;
pub use push::{Done, Event, Input, Options, Report, Target, push};
pub use source::Source;
