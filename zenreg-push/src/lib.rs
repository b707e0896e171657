//! zenreg-push: the push flow and its transport.
//!
//! [`push`] loads a container-registry component through the [`zenreg_store::Client`], revalidates
//! it, builds its flavor's implementation, checks that the image belongs to the registry, runs the
//! flavor's `prepare_image_push`, resolves credentials (authentication secret, then the flavor's
//! own login, then the user's Docker config and credential helpers, then none) and pushes through
//! the Docker Engine or zenreg's own OCI registry client ([`oci`]) with retries, returning the
//! repository digest.
//!
//! Modules depend on each other in one direction: `oci` ← `docker_config` ← `error` ←
//! `engine` ← `flow`.

// Data from users, the store, the network and the environment never panics the program: no
// unwrap, expect or unchecked indexing outside tests (issue 10); exceptions carry a comment.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod choice;
pub mod docker_config;
pub mod engine;
pub mod error;
pub mod flow;
pub mod memory;
pub mod oci;

pub use docker_config::{CredentialSource, DockerConfigError};
pub use engine::{Daemon, Engine, PushEvent, PushFailure};
pub use error::Error;
pub use flow::{
    EngineKind, NoProgress, PushOutcome, PushProgress, PushRequest, RegistryAccess, push, registry_access,
    retag_target, split_tag,
};
