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
