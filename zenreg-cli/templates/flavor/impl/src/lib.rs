//! The implementation of the `{{name}}` container-registry flavor: what happens when pushing.
//!
//! [`{{Camel}}ContainerRegistry`] implements [`ContainerRegistry`] with
//! `type Flavor = {{Camel}}ContainerRegistryFlavor`, so the compiler checks that it is built from exactly that
//! flavor's config, and `register_container_registry!` registers it for the flavor. zenreg's push
//! flow calls it after checking that the image belongs to the registry's URI:
//! [`prepare_image_push`](ContainerRegistry::prepare_image_push) first, then
//! [`credentials`](ContainerRegistry::credentials) when the component has no authentication
//! secret, then the push itself.
//!
//! A binary links this crate only with its `{{name}}` feature, so whatever this crate depends
//! on is compiled only by the builds that push.

use zenreg_core::{ContainerRegistry, Credentials, Diagnostics, Error};

use {{name}}_config::{{Camel}}ContainerRegistryConfig;
use {{name}}_config::{{Camel}}ContainerRegistryFlavor;

/// A `{{name}}` container registry, built from a validated config.
///
/// Keep clients and caches (logins, HTTP connections) here: the push flow builds one value per
/// push and reuses it for every call.
#[derive(Debug)]
pub struct {{Camel}}ContainerRegistry {
    config: {{Camel}}ContainerRegistryConfig,
}

impl ContainerRegistry for {{Camel}}ContainerRegistry {
    type Flavor = {{Camel}}ContainerRegistryFlavor;

    fn from_config(config: {{Camel}}ContainerRegistryConfig) -> Result<Self, Error> {
        // Build API clients from the config here; a config that cannot work is an
        // `Error::registry(message, Some(hint))`.
        Ok({{Camel}}ContainerRegistry { config })
    }

    fn config(&self) -> &{{Camel}}ContainerRegistryConfig {
        &self.config
    }

    async fn prepare_image_push(&self, image: &str, diagnostics: &Diagnostics) -> Result<(), Error> {
        // Runs before `image` is pushed: check (or create) what the push needs on the registry's
        // side, e.g. that the project `self.config.project` exists. A problem the push would hit
        // anyway is an `Error::registry` with a hint; a doubt that should not stop the push is a
        // `diagnostics.warn(…)` (hooks never print).
        let _ = (image, diagnostics);
        Ok(())
    }

    async fn credentials(&self, diagnostics: &Diagnostics) -> Result<Option<Credentials>, Error> {
        // Asked only when the component has no authentication secret: return a login the
        // registry's own API hands out (a token exchange, a cloud identity) as
        // `Some(Credentials::new(username, password))` (the password is a `SecretString`:
        // zeroized on drop, never printed). `None` lets the push fall back to the user's Docker
        // config and credential helpers.
        let _ = diagnostics;
        Ok(None)
    }
}

zenreg_core::register_container_registry!({{Camel}}ContainerRegistry);

#[cfg(test)]
mod tests {
    use super::*;
    use zenreg_core::{Catalog, ComponentType, FlavorConfig as _};

    #[test]
    fn the_implementation_is_registered_for_its_flavor() {
        let implementation = Catalog::global()
            .implementation(ComponentType::ContainerRegistry, "{{name}}")
            .expect("linked by this crate's own test binary");
        assert!((implementation.type_name)().ends_with("::{{Camel}}ContainerRegistry"));
        assert_eq!(implementation.integration, "{{kebab}}-impl");
    }

    #[test]
    fn it_is_built_from_a_validated_config() {
        let mut object = zenreg_core::JsonObject::new();
        object.insert("uri".into(), "registry.example.com".into());
        object.insert("project".into(), "ml".into());
        let config = {{Camel}}ContainerRegistryConfig::from_json(&object).expect("a valid config");
        let registry = {{Camel}}ContainerRegistry::from_config(config).expect("a registry");
        assert_eq!(registry.config().project, "ml");
    }
}
