//! Two linked crates defining the same flavor name is an error naming both, never a silent pick.
//! The two flavors live in this test binary only, so the other tests see a clean catalog.

use zenreg_core::builtin::BaseContainerRegistryConfig;
use zenreg_core::{Catalog, CatalogError, ComponentType};

mod first {
    use super::BaseContainerRegistryConfig;

    /// One `twin`.
    #[derive(zenreg_core::Flavor)]
    #[flavor(name = "twin", config = BaseContainerRegistryConfig)]
    pub struct TwinFlavor;
}

mod second {
    use super::BaseContainerRegistryConfig;

    /// The other `twin`.
    #[derive(zenreg_core::Flavor)]
    #[flavor(name = "twin", config = BaseContainerRegistryConfig)]
    pub struct TwinFlavor;
}

#[test]
fn duplicate_flavor_names_are_an_error_naming_both_sources() {
    let catalog = Catalog::global();
    let error = catalog.flavor(ComponentType::ContainerRegistry, "twin").unwrap_err();
    assert_eq!(
        error,
        CatalogError::DuplicateFlavor {
            component_type: ComponentType::ContainerRegistry,
            name: "twin".into(),
            sources: vec!["duplicates::first::TwinFlavor".into(), "duplicates::second::TwinFlavor".into()],
        }
    );
    assert_eq!(
        error.to_string(),
        "container_registry flavor `twin` is defined more than once: by duplicates::first::TwinFlavor and duplicates::second::TwinFlavor"
    );
    assert_eq!(catalog.conflicts(), vec![error]);
    // Both stay visible in listings, so the user can see what collides.
    assert_eq!(catalog.flavors(ComponentType::ContainerRegistry).filter(|f| f.descriptor.name == "twin").count(), 2);
}
