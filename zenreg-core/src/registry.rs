//! Container-registry implementations: the trait an implementation crate implements, its
//! type-erased form, the registration macro, and the image-name rule every registry applies.

use crate::component::ComponentType;
use crate::config::{ContainerRegistryConfig, FlavorConfig, JsonObject};
use crate::diagnostics::Diagnostics;
use crate::error::Error;
use crate::flavor::{Flavor, FlavorDescriptor};
use crate::reference::is_domain;
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::pin::Pin;

/// Username and password for a registry (`<token>` as the username means an identity token).
///
/// The password is a [`SecretString`]: zeroized when dropped, shown by neither `Debug` nor
/// `Display`; read it with [`ExposeSecret::expose_secret`] where it is sent, and nowhere else.
///
/// ```
/// use zenreg_core::{Credentials, ExposeSecret};
///
/// let credentials = Credentials::new("robot", "hunter2");
/// assert_eq!(credentials.password.expose_secret(), "hunter2");
/// assert!(!format!("{credentials:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or identity token.
    pub password: SecretString,
}

impl Credentials {
    /// Credentials of `username` and `password`.
    pub fn new(username: impl Into<String>, password: impl Into<SecretString>) -> Credentials {
        Credentials { username: username.into(), password: password.into() }
    }
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        self.username == other.username && self.password.expose_secret() == other.password.expose_secret()
    }
}

impl Eq for Credentials {}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"********").finish()
    }
}

/// The type that does a flavor's work when pushing.
///
/// `type Flavor` ties the implementation to its flavor: `from_config` receives exactly that
/// flavor's config type, so an implementation written against another config does not compile.
/// Register it with [`register_container_registry!`](crate::register_container_registry).
pub trait ContainerRegistry: Send + Sync + Sized + 'static {
    /// The flavor this type implements.
    type Flavor: Flavor<Config: ContainerRegistryConfig>;

    /// Builds the implementation from a validated config.
    fn from_config(config: <Self::Flavor as Flavor>::Config) -> Result<Self, Error>;

    /// The config the implementation was built from.
    fn config(&self) -> &<Self::Flavor as Flavor>::Config;

    /// Runs before an image is pushed (e.g. checks that the target repository exists).
    /// Anything worth telling the user that is not a failure goes to `diagnostics`.
    fn prepare_image_push(
        &self,
        image: &str,
        diagnostics: &Diagnostics,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = (image, diagnostics);
        async { Ok(()) }
    }

    /// Registry credentials the implementation obtains itself (e.g. an ECR login token), used
    /// when the component has no authentication secret; `None` falls back to the user's Docker
    /// config.
    fn credentials(
        &self,
        diagnostics: &Diagnostics,
    ) -> impl Future<Output = Result<Option<Credentials>, Error>> + Send {
        let _ = diagnostics;
        async { Ok(None) }
    }
}

/// A boxed future, as returned by the object-safe registry methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe face of every [`ContainerRegistry`], used by the push flow.
pub trait DynContainerRegistry: Send + Sync {
    /// The flavor of the component.
    fn flavor(&self) -> &'static FlavorDescriptor;
    /// The registry URI.
    fn uri(&self) -> &str;
    /// The configured authentication secret, if any.
    fn authentication_secret(&self) -> Option<&str>;
    /// The configured default repository, if any.
    fn default_repository(&self) -> Option<&str>;
    /// See [`ContainerRegistryConfig::is_local`].
    fn is_local(&self) -> bool;
    /// See [`ContainerRegistryConfig::requires_authentication`].
    fn requires_authentication(&self) -> bool;
    /// See [`ContainerRegistry::prepare_image_push`].
    fn prepare_image_push<'a>(
        &'a self,
        image: &'a str,
        diagnostics: &'a Diagnostics,
    ) -> BoxFuture<'a, Result<(), Error>>;
    /// See [`ContainerRegistry::credentials`].
    fn credentials<'a>(&'a self, diagnostics: &'a Diagnostics) -> BoxFuture<'a, Result<Option<Credentials>, Error>>;
}

impl<T: ContainerRegistry> DynContainerRegistry for T {
    fn flavor(&self) -> &'static FlavorDescriptor {
        <T::Flavor as Flavor>::descriptor()
    }
    fn uri(&self) -> &str {
        self.config().uri()
    }
    fn authentication_secret(&self) -> Option<&str> {
        self.config().authentication_secret()
    }
    fn default_repository(&self) -> Option<&str> {
        self.config().default_repository()
    }
    fn is_local(&self) -> bool {
        self.config().is_local()
    }
    fn requires_authentication(&self) -> bool {
        self.config().requires_authentication()
    }
    fn prepare_image_push<'a>(
        &'a self,
        image: &'a str,
        diagnostics: &'a Diagnostics,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(ContainerRegistry::prepare_image_push(self, image, diagnostics))
    }
    fn credentials<'a>(&'a self, diagnostics: &'a Diagnostics) -> BoxFuture<'a, Result<Option<Credentials>, Error>> {
        Box::pin(ContainerRegistry::credentials(self, diagnostics))
    }
}

/// A linked implementation, as registered by
/// [`register_container_registry!`](crate::register_container_registry).
#[derive(Debug)]
pub struct ImplementationDescriptor {
    /// The component type implemented.
    pub component_type: ComponentType,
    /// The flavor implemented.
    pub flavor: fn() -> &'static FlavorDescriptor,
    /// Full Rust path of the implementation type.
    pub type_name: fn() -> &'static str,
    /// The crate that registered it.
    pub integration: &'static str,
    /// Validates a stored config and builds the implementation.
    pub build: fn(&JsonObject) -> Result<Box<dyn DynContainerRegistry>, Error>,
}

/// What [`register_container_registry!`](crate::register_container_registry) submits.
#[doc(hidden)]
pub struct ImplementationRegistration(pub ImplementationDescriptor);

inventory::collect!(ImplementationRegistration);

#[doc(hidden)]
pub fn build_container_registry<T: ContainerRegistry>(
    object: &JsonObject,
) -> Result<Box<dyn DynContainerRegistry>, Error> {
    let config = <<T::Flavor as Flavor>::Config as FlavorConfig>::from_json(object)?;
    Ok(Box::new(T::from_config(config)?))
}

/// Registers a [`ContainerRegistry`] implementation for its flavor.
///
/// ```ignore
/// zenreg_core::register_container_registry!(AcmeRegistry);
/// ```
#[macro_export]
macro_rules! register_container_registry {
    ($ty:ty) => {
        $crate::__private::inventory::submit! {
            $crate::__private::ImplementationRegistration($crate::ImplementationDescriptor {
                component_type: $crate::ComponentType::ContainerRegistry,
                flavor: <<$ty as $crate::ContainerRegistry>::Flavor as $crate::Flavor>::descriptor,
                type_name: ::core::any::type_name::<$ty>,
                integration: ::core::env!("CARGO_PKG_NAME"),
                build: $crate::__private::build_container_registry::<$ty>,
            })
        }
    };
}

/// Whether `image` belongs to the registry at `registry_uri`.
///
/// As in ZenML, a leading `index.docker.io/` or `docker.io/` is removed from both before
/// comparing. Unlike ZenML's plain prefix test, the URI must end at a path boundary:
/// `localhost:5000` does not own `localhost:50001/app`.
pub fn is_valid_image_name_for_registry(image: &str, registry_uri: &str) -> bool {
    let explicit_hub = strip_docker_hub(image).len() != image.len();
    let image = strip_docker_hub(image);
    let uri = strip_docker_hub(registry_uri.trim_end_matches('/'));
    if uri.is_empty() {
        // The registry is Docker Hub itself: every image without a registry host is on it. An
        // image named `docker.io/…` is on it whatever its next component looks like
        // (`docker.io/my.team/app`: found by the `image_name` fuzz target through `--retag`).
        return explicit_hub || !image.split('/').next().is_some_and(|first| image.contains('/') && is_domain(first));
    }
    // After a URI that is only a host, `:` starts a port, not a tag: `localhost` does not own
    // `localhost:5000/app` (found by the property test against a reference model).
    let host_only = !uri.contains('/') && is_domain(uri);
    image.strip_prefix(uri).is_some_and(|rest| {
        // The image may also be the URI's repository itself, tagged or not (`:latest`).
        rest.starts_with('/') || (!host_only && (rest.is_empty() || rest.starts_with(':') || rest.starts_with('@')))
    })
}

fn strip_docker_hub(name: &str) -> &str {
    for host in ["index.docker.io", "docker.io"] {
        if name == host {
            return "";
        }
        if let Some(rest) = name.strip_prefix(host).and_then(|r| r.strip_prefix('/')) {
            return rest;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::is_valid_image_name_for_registry as valid;

    #[test]
    fn image_names_follow_the_registry_uri() {
        assert!(valid("localhost:5000/app:1", "localhost:5000"));
        assert!(valid("localhost:5000/team/app", "localhost:5000/team"));
        assert!(!valid("localhost:50001/app", "localhost:5000"));
        assert!(!valid("localhost:5000/teamx/app", "localhost:5000/team"));
        assert!(!valid("ghcr.io/other/app", "ghcr.io/me"));
        assert!(valid("docker.io/me/app:1", "me"));
        assert!(valid("index.docker.io/me/app", "docker.io/me"));
        assert!(valid("me/app", "index.docker.io/me"));
        assert!(valid("me/app", "docker.io"));
        assert!(!valid("ghcr.io/me/app", "docker.io"));
        assert!(!valid("localhost:5000/app", "localhost"));
        assert!(valid("docker.io/my.team/app:1", "docker.io"));
        assert!(!valid("my.team/app:1", "docker.io"));
        assert!(valid("localhost:5000/team:1", "localhost:5000/team"));
    }
}
