//! The kinds of stack component a flavor can make.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What kind of stack component a flavor makes. Only container registries exist so far; the
/// enum leaves room for more without changing the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentType {
    /// A container registry that images are pushed to.
    ContainerRegistry,
}

impl ComponentType {
    /// Every component type, in display order.
    pub const ALL: &'static [ComponentType] = &[ComponentType::ContainerRegistry];

    /// The snake_case name used in configs, JSON and the CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComponentType::ContainerRegistry => "container_registry",
        }
    }

    /// How users call one component of this type in messages.
    pub const fn human_name(self) -> &'static str {
        match self {
            ComponentType::ContainerRegistry => "container registry",
        }
    }

    /// The CLI command group of this type.
    pub const fn command(self) -> &'static str {
        match self {
            ComponentType::ContainerRegistry => "container-registry",
        }
    }

    /// The service connector resource type components of this type use.
    pub const fn resource_type(self) -> &'static str {
        match self {
            ComponentType::ContainerRegistry => "docker-registry",
        }
    }
}

impl fmt::Display for ComponentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ComponentType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ComponentType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s || t.as_str().replace('_', "-") == s)
            .ok_or_else(|| format!("unknown component type `{s}`; known: container_registry"))
    }
}
