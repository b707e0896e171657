use zenreg_core::__private::validator::ValidationError;
use zenreg_core::{ComponentType, ContainerRegistry, Error, Flavor, FlavorConfig, flavor_config};

/// A config that declares the base fields itself to attach its own validators.
#[flavor_config(container_registry, validate = whole)]
#[derive(Debug)]
pub struct FullConfig {
    /// The registry URI.
    #[validate(length(min = 3))]
    pub uri: String,
    /// The secret.
    pub authentication_secret: Option<String>,
    /// The default repository.
    pub default_repository: ::core::option::Option<::std::string::String>,
    /// A flag.
    #[serde(default)]
    pub insecure: bool,
}

fn whole(_: &FullConfig) -> Result<(), ValidationError> {
    Ok(())
}

/// A unit struct config: the base fields only.
#[flavor_config(container_registry)]
pub struct UnitConfig;

#[derive(Flavor)]
#[flavor(
    name = "full_flavor_2",
    config = FullConfig,
    implementation = "crate::FullRegistry",
    feature = "full",
    display_name = "Full",
    docs_url = "https://example.com/docs",
    sdk_docs_url = "https://example.com/sdk",
    logo_url = "https://example.com/logo.png",
    connector_type = "full",
    crate = ::zenreg_core
)]
pub struct FullFlavor;

#[derive(Flavor)]
#[flavor(name = "unit", config = UnitConfig)]
pub struct UnitFlavor;

pub struct FullRegistry {
    config: FullConfig,
}

impl ContainerRegistry for FullRegistry {
    type Flavor = FullFlavor;
    fn from_config(config: FullConfig) -> Result<Self, Error> {
        Ok(FullRegistry { config })
    }
    fn config(&self) -> &FullConfig {
        &self.config
    }
}

zenreg_core::register_container_registry!(FullRegistry);

fn main() {
    assert_eq!(<FullFlavor as Flavor>::NAME, "full_flavor_2");
    assert_eq!(FullConfig::COMPONENT_TYPE, ComponentType::ContainerRegistry);
    let names: Vec<&str> = FullConfig::FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(names, ["uri", "authentication_secret", "default_repository", "insecure"]);
    let entry = zenreg_core::Catalog::global()
        .flavor(ComponentType::ContainerRegistry, "full_flavor_2")
        .unwrap();
    assert!(entry.is_linked());
    assert!(entry.descriptor.source.ends_with("::FullFlavor"));
    let unit = serde_json::json!({ "uri": "localhost:5000/" });
    let config = UnitConfig::from_json(unit.as_object().unwrap()).unwrap();
    assert_eq!(config.uri, "localhost:5000");
}
