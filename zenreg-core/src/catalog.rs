//! The flavor catalog: every linked flavor and implementation, read once from the inventory
//! into sorted maps. Conflicts are errors on lookup, never a silent choice.

use crate::component::ComponentType;
use crate::error::CatalogError;
use crate::flavor::{FlavorDescriptor, FlavorRegistration};
use crate::registry::{ImplementationDescriptor, ImplementationRegistration};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A flavor and, when linked, its implementation.
#[derive(Debug, Clone, Copy)]
pub struct FlavorEntry {
    /// The flavor's static descriptor.
    pub descriptor: &'static FlavorDescriptor,
    /// The linked implementation, if any.
    pub implementation: Option<&'static ImplementationDescriptor>,
}

impl FlavorEntry {
    /// Whether the implementation is linked into this program.
    pub fn is_linked(&self) -> bool {
        self.implementation.is_some()
    }
}

/// Every flavor and implementation linked into the program.
#[derive(Debug, Default)]
pub struct Catalog {
    flavors: BTreeMap<ComponentType, BTreeMap<&'static str, Vec<&'static FlavorDescriptor>>>,
    implementations: BTreeMap<(ComponentType, &'static str), Vec<&'static ImplementationDescriptor>>,
}

static GLOBAL: LazyLock<Catalog> = LazyLock::new(|| {
    Catalog::from_parts(
        inventory::iter::<FlavorRegistration>.into_iter().map(|r| (r.0)()),
        inventory::iter::<ImplementationRegistration>.into_iter().map(|r| &r.0),
    )
});

impl Catalog {
    /// The catalog of this program, built from the inventory on first use.
    pub fn global() -> &'static Catalog {
        &GLOBAL
    }

    /// A catalog of the given flavors and implementations (for tests and embedding).
    pub fn from_parts(
        flavors: impl IntoIterator<Item = &'static FlavorDescriptor>,
        implementations: impl IntoIterator<Item = &'static ImplementationDescriptor>,
    ) -> Catalog {
        let mut catalog = Catalog::default();
        for flavor in flavors {
            let slot = catalog.flavors.entry(flavor.component_type).or_default().entry(flavor.name).or_default();
            slot.push(flavor);
            slot.sort_by_key(|f| f.source);
        }
        for implementation in implementations {
            let flavor = (implementation.flavor)();
            catalog
                .implementations
                .entry((implementation.component_type, flavor.name))
                .or_default()
                .push(implementation);
        }
        catalog
    }

    /// Every flavor of a component type, sorted by name (duplicates included, see
    /// [`Catalog::conflicts`]).
    pub fn flavors(&self, component_type: ComponentType) -> impl Iterator<Item = FlavorEntry> + '_ {
        self.flavors.get(&component_type).into_iter().flat_map(|by_name| by_name.values().flatten()).map(
            move |descriptor| FlavorEntry {
                descriptor,
                implementation: self
                    .implementations
                    .get(&(component_type, descriptor.name))
                    .and_then(|list| list.first().copied()),
            },
        )
    }

    /// Names of every flavor of a component type, sorted.
    pub fn names(&self, component_type: ComponentType) -> Vec<&'static str> {
        self.flavors.get(&component_type).map(|by_name| by_name.keys().copied().collect()).unwrap_or_default()
    }

    /// The flavor called `name`; an error when it is unknown or defined twice.
    pub fn flavor(&self, component_type: ComponentType, name: &str) -> Result<FlavorEntry, CatalogError> {
        let found = self.flavors.get(&component_type).and_then(|by_name| by_name.get(name));
        match found.map(Vec::as_slice) {
            Some([descriptor]) => {
                Ok(FlavorEntry { descriptor, implementation: self.implementation(component_type, name).ok() })
            }
            Some(many) if many.len() > 1 => Err(CatalogError::DuplicateFlavor {
                component_type,
                name: name.to_string(),
                sources: many.iter().map(|f| f.source.to_string()).collect(),
            }),
            _ => Err(CatalogError::UnknownFlavor {
                component_type,
                name: name.to_string(),
                known: self.names(component_type).into_iter().map(String::from).collect(),
            }),
        }
    }

    /// The implementation of flavor `name`; an error naming the cargo feature when it is not
    /// linked.
    pub fn implementation(
        &self,
        component_type: ComponentType,
        name: &str,
    ) -> Result<&'static ImplementationDescriptor, CatalogError> {
        match self.implementations.get(&(component_type, name)).map(Vec::as_slice) {
            Some([implementation]) => Ok(implementation),
            Some(many) if many.len() > 1 => Err(CatalogError::DuplicateImplementation {
                flavor: name.to_string(),
                implementations: many.iter().map(|i| (i.type_name)().to_string()).collect(),
            }),
            _ => {
                let descriptor = self.flavor_descriptor(component_type, name);
                Err(CatalogError::NotLinked {
                    flavor: name.to_string(),
                    feature: descriptor.and_then(|d| d.feature).map(String::from),
                    implementation: descriptor.and_then(|d| d.implementation).map(String::from),
                })
            }
        }
    }

    fn flavor_descriptor(&self, component_type: ComponentType, name: &str) -> Option<&'static FlavorDescriptor> {
        self.flavors.get(&component_type)?.get(name)?.first().copied()
    }

    /// Every duplicate flavor or implementation, as errors naming both sources.
    pub fn conflicts(&self) -> Vec<CatalogError> {
        let mut conflicts = Vec::new();
        for (component_type, by_name) in &self.flavors {
            for name in by_name.keys() {
                if let Err(error @ CatalogError::DuplicateFlavor { .. }) = self.flavor(*component_type, name) {
                    conflicts.push(error);
                }
            }
        }
        for ((component_type, name), list) in &self.implementations {
            if list.len() > 1
                && let Err(error) = self.implementation(*component_type, name)
            {
                conflicts.push(error);
            }
        }
        conflicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::{DefaultContainerRegistryFlavor, DockerRegistry, GitHubContainerRegistryFlavor};
    use crate::flavor::Flavor;
    use crate::registry::build_container_registry;

    const CR: ComponentType = ComponentType::ContainerRegistry;

    /// A flavor descriptor like the built-in `default`, under another name and source.
    fn flavor(name: &'static str, source: &'static str, feature: Option<&'static str>) -> &'static FlavorDescriptor {
        let base = DefaultContainerRegistryFlavor::descriptor();
        Box::leak(Box::new(FlavorDescriptor { name, source, feature, implementation: Some("x::Impl"), ..*base }))
    }

    fn implementation(flavor: fn() -> &'static FlavorDescriptor) -> &'static ImplementationDescriptor {
        Box::leak(Box::new(ImplementationDescriptor {
            component_type: CR,
            flavor,
            type_name: std::any::type_name::<DockerRegistry<DefaultContainerRegistryFlavor>>,
            integration: "zenreg-core",
            build: build_container_registry::<DockerRegistry<DefaultContainerRegistryFlavor>>,
        }))
    }

    #[test]
    fn the_global_catalog_holds_the_built_ins_sorted_and_linked() {
        let catalog = Catalog::global();
        let names = catalog.names(CR);
        assert_eq!(names, ["azure", "default", "digitalocean", "dockerhub", "gcp", "github"]);
        assert!(catalog.flavors(CR).all(|entry| entry.is_linked()));
        assert!(catalog.conflicts().is_empty());
        let github = catalog.flavor(CR, "github").unwrap();
        assert_eq!(github.descriptor.source, "zenreg_core::builtin::GitHubContainerRegistryFlavor");
        assert!(std::ptr::eq(github.descriptor, GitHubContainerRegistryFlavor::descriptor()));
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let catalog = Catalog::from_parts([flavor("b", "m::B", None), flavor("a", "m::A", None)], []);
        assert_eq!(
            catalog.flavor(CR, "c").unwrap_err(),
            CatalogError::UnknownFlavor { component_type: CR, name: "c".into(), known: vec!["a".into(), "b".into()] }
        );
    }

    #[test]
    fn a_duplicate_name_is_an_error_naming_both_sources_never_a_choice() {
        let catalog = Catalog::from_parts([flavor("dup", "second::F", None), flavor("dup", "first::F", None)], []);
        let expected = CatalogError::DuplicateFlavor {
            component_type: CR,
            name: "dup".into(),
            sources: vec!["first::F".into(), "second::F".into()],
        };
        assert_eq!(catalog.flavor(CR, "dup").unwrap_err(), expected);
        assert_eq!(catalog.conflicts(), [expected]);
        // Listing shows both, so that `flavor list` can display the conflict.
        assert_eq!(catalog.flavors(CR).count(), 2);
    }

    #[test]
    fn an_unlinked_implementation_names_its_feature() {
        let catalog = Catalog::from_parts([flavor("heavy", "m::Heavy", Some("heavy"))], []);
        assert!(!catalog.flavor(CR, "heavy").unwrap().is_linked());
        assert_eq!(
            catalog.implementation(CR, "heavy").unwrap_err(),
            CatalogError::NotLinked {
                flavor: "heavy".into(),
                feature: Some("heavy".into()),
                implementation: Some("x::Impl".into()),
            }
        );
    }

    #[test]
    fn implementations_attach_to_their_flavor_and_duplicates_are_errors() {
        fn linked() -> &'static FlavorDescriptor {
            static ONCE: std::sync::OnceLock<&'static FlavorDescriptor> = std::sync::OnceLock::new();
            ONCE.get_or_init(|| flavor("linked", "m::Linked", None))
        }
        let one = Catalog::from_parts([linked()], [implementation(linked)]);
        let entry = one.flavor(CR, "linked").unwrap();
        assert!(entry.is_linked());
        let config = serde_json::json!({ "uri": "localhost:5000/" });
        let built = (entry.implementation.unwrap().build)(config.as_object().unwrap()).unwrap();
        assert_eq!(built.uri(), "localhost:5000");

        let two = Catalog::from_parts([linked()], [implementation(linked), implementation(linked)]);
        assert!(matches!(two.implementation(CR, "linked"), Err(CatalogError::DuplicateImplementation { .. })));
        assert_eq!(two.conflicts().len(), 1);
    }
}
