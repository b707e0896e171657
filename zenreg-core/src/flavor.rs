//! The `Flavor` trait and the static descriptor every flavor submits to the inventory.

use crate::component::ComponentType;
use crate::config::{ConfigVTable, FlavorConfig};
use serde::Serialize;

/// A named kind of component. Implemented by `#[derive(Flavor)]`; do not implement by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a flavor",
    label = "not a flavor",
    note = "derive it: `#[derive(zenreg_core::Flavor)] #[flavor(name = \"...\", config = ...)]`"
)]
pub trait Flavor: 'static {
    /// The flavor's configuration type.
    type Config: FlavorConfig;
    /// The flavor's name, unique per component type.
    const NAME: &'static str;
    /// The flavor's static descriptor, as registered in the catalog.
    fn descriptor() -> &'static FlavorDescriptor;
}

/// Everything the catalog knows about a flavor, built at compile time.
#[derive(Debug, Serialize)]
pub struct FlavorDescriptor {
    /// Name users type (`aws`, `dockerhub`, …).
    pub name: &'static str,
    /// Human name (`AWS`, `DockerHub`, …).
    pub display_name: &'static str,
    /// The flavor type's doc comment.
    pub description: &'static str,
    /// The kind of component the flavor makes.
    pub component_type: ComponentType,
    /// The crate that defines the flavor.
    pub integration: &'static str,
    /// Rust path of the flavor type.
    pub source: &'static str,
    /// Rust path of the implementation type, if the flavor has one.
    pub implementation: Option<&'static str>,
    /// Cargo feature of the binary that links the implementation, if it is not always linked.
    pub feature: Option<&'static str>,
    /// Documentation of the flavor.
    pub docs_url: Option<&'static str>,
    /// Documentation of the implementation's API.
    pub sdk_docs_url: Option<&'static str>,
    /// Logo shown by front ends.
    pub logo_url: Option<&'static str>,
    /// Shown to the user after a component of this flavor is registered.
    pub post_registration_message: Option<&'static str>,
    /// Service connector type that can authenticate components of this flavor.
    pub connector_type: Option<&'static str>,
    /// The config's fields, validation and schema.
    #[serde(skip)]
    pub config: ConfigVTable,
}

impl FlavorDescriptor {
    /// The service connector resource type (`docker-registry` for container registries).
    pub fn resource_type(&self) -> &'static str {
        self.component_type.resource_type()
    }
}

/// The component type of flavor `F`, for the generated descriptor. Going through `F` rather
/// than naming its config keeps a wrong `config = …` to the single error on the associated type.
#[doc(hidden)]
pub const fn component_type_of<F: Flavor>() -> ComponentType {
    <F::Config as FlavorConfig>::COMPONENT_TYPE
}

/// The config vtable of flavor `F`, for the generated descriptor.
#[doc(hidden)]
pub const fn config_vtable_of<F: Flavor>() -> ConfigVTable {
    ConfigVTable::of::<F::Config>()
}

/// What `#[derive(Flavor)]` submits to the inventory.
#[doc(hidden)]
pub struct FlavorRegistration(pub fn() -> &'static FlavorDescriptor);

inventory::collect!(FlavorRegistration);
