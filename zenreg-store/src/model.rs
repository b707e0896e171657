//! What the store keeps: components and secrets, and what registering one tells the caller.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use zenreg_core::{ComponentType, ExposeSecret, JsonObject, SecretString};

/// Labels of a component.
pub type Labels = BTreeMap<String, String>;

/// A stored component: a named, validated config of one flavor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// UUID, stable across renames.
    pub id: String,
    /// Unique name per component type.
    pub name: String,
    /// The component type.
    pub component_type: ComponentType,
    /// The flavor's name.
    pub flavor: String,
    /// The validated, normalised config (secret references unresolved).
    pub config: JsonObject,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// Last update time, RFC 3339 UTC.
    pub updated: String,
    /// Why the stored row could not be read in full (e.g. `config: expected value at line 1
    /// column 1`), when it is damaged: `config` and `labels` are then empty. Only listings and
    /// `Client::component_as_stored` return damaged
    /// components, so that they can be shown and deleted; nothing uses them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

/// The values of a secret, by key: each a [`SecretString`] (zeroized when dropped, never shown by
/// `Debug`); read one with [`ExposeSecret::expose_secret`](zenreg_core::ExposeSecret) where it
/// is used.
pub type SecretValues = BTreeMap<String, SecretString>;

/// A stored secret: named key/value pairs. `Debug` never shows the values.
#[derive(Clone)]
pub struct Secret {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The values, by key.
    pub values: SecretValues,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// Last update time, RFC 3339 UTC.
    pub updated: String,
    /// Why the stored row could not be read in full, when it is damaged (`values` is then
    /// empty). Only listings and `Client::secret_as_stored`
    /// return damaged secrets.
    pub damaged: Option<String>,
}

/// Equal when every field and every value is (values compared as text, for tests and copies).
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.created == other.created
            && self.updated == other.updated
            && self.damaged == other.damaged
            && self.values.len() == other.values.len()
            && self
                .values
                .iter()
                .zip(&other.values)
                .all(|((k, v), (l, w))| k == l && v.expose_secret() == w.expose_secret())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .field("damaged", &self.damaged)
            .finish_non_exhaustive()
    }
}

/// A registered or updated component and what the user should know about it.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The stored component.
    pub component: Component,
    /// Secrets the component refers to that do not exist yet.
    pub missing_secrets: Vec<String>,
    /// The flavor's message after a registration, if it has one.
    pub post_registration_message: Option<&'static str>,
}

/// Current time as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl Component {
    /// The config as stored: JSON text, keys in the order given.
    pub(crate) fn config_text(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".into())
    }

    /// The labels as stored: JSON text.
    pub(crate) fn labels_text(&self) -> String {
        serde_json::to_string(&self.labels).unwrap_or_else(|_| "{}".into())
    }
}

/// What could not be read of one stored row, column by column (`config: expected value …`): a
/// row that does not decode is still listed around, shown and deletable, on either store.
#[derive(Default)]
pub(crate) struct Damage(Vec<String>);

impl Damage {
    pub(crate) fn note(&mut self, column: &str, problem: impl fmt::Display) {
        self.0.push(format!("{column}: {problem}"));
    }

    pub(crate) fn into_reason(self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("; "))
    }

    /// A JSON column decoded, or noted and read as the type's default (so the rest of the row,
    /// its name and id, can still be shown).
    pub(crate) fn json<T: serde::de::DeserializeOwned + Default>(&mut self, column: &str, text: &str) -> T {
        serde_json::from_str(text).unwrap_or_else(|error| {
            self.note(column, error);
            T::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_its_keys_and_never_its_values() {
        let secret = Secret {
            id: "id".into(),
            name: "creds".into(),
            values: [("password".to_string(), SecretString::from("hunter2-planted"))].into(),
            created: now(),
            updated: now(),
            damaged: None,
        };
        let shown = format!("{secret:?} {:?}", secret.values);
        assert!(shown.contains("password") && !shown.contains("hunter2-planted"), "{shown}");
        assert!(secret == secret.clone());
    }
}
