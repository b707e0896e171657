//! The row operations of one PostgreSQL transaction ([`Tx`]): components and secrets, with row
//! locks in write transactions, unique-name clashes reported as [`Written::NameTaken`], and
//! secret values sealed on the way in and opened on the way out.

use super::error::{PgErrorKind, PostgresError, classify, sqlstate};
use super::{EXCLUSIVE_LOCK, timed};
use crate::backend::{SecretSummary, Tx, Written};
use crate::crypto::{self, CryptoError, KeySource, SecretsKey};
use crate::model::{Component, Damage, Secret, SecretValues};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};
use std::collections::{BTreeMap, HashMap};
use zenreg_core::{ComponentType, SecretString};

/// A component query: the decoded columns, in the order [`PgTx::component`] reads them.
macro_rules! select_components {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, component_type, flavor, config::text, labels::text, created, updated \
             FROM zenreg_components ",
            $rest
        )
    };
}

// Each statement text is its own cache key. Write transactions use the `FOR UPDATE` variants.
const COMPONENT_BY_NAME: &str = select_components!("WHERE component_type = $1 AND name = $2");
const COMPONENT_BY_NAME_LOCKED: &str = select_components!("WHERE component_type = $1 AND name = $2 FOR UPDATE");
const COMPONENTS_BY_PREFIX: &str =
    select_components!("WHERE component_type = $1 AND starts_with(id, $2) ORDER BY id LIMIT $3");
const COMPONENTS_BY_PREFIX_LOCKED: &str =
    select_components!("WHERE component_type = $1 AND starts_with(id, $2) ORDER BY id LIMIT $3 FOR UPDATE");
const COMPONENTS_OF_TYPE: &str =
    select_components!("WHERE component_type = $1 AND ($2::text IS NULL OR flavor = $2) ORDER BY name");
const INSERT_COMPONENT: &str = "INSERT INTO zenreg_components \
     (id, name, component_type, flavor, config, labels, created, updated) \
     VALUES ($1, $2, $3, $4, $5::text::json, $6::text::json, $7, $8) \
     ON CONFLICT (component_type, name) DO NOTHING";
const UPDATE_COMPONENT: &str = "UPDATE zenreg_components \
     SET name = $2, config = $3::text::json, labels = $4::text::json, updated = $5, revision = revision + 1 \
     WHERE id = $1";
const DELETE_COMPONENT: &str = "DELETE FROM zenreg_components WHERE id = $1";
const SECRETS: &str = "SELECT id, name, entries::text, created, updated FROM zenreg_secrets ORDER BY name";
const SECRETS_LOCKED: &str =
    "SELECT id, name, entries::text, created, updated FROM zenreg_secrets ORDER BY name FOR UPDATE";
const SECRET_BY_NAME: &str = "SELECT id, name, entries::text, created, updated FROM zenreg_secrets WHERE name = $1";
const SECRET_BY_NAME_LOCKED: &str =
    "SELECT id, name, entries::text, created, updated FROM zenreg_secrets WHERE name = $1 FOR UPDATE";
const UNSEALED_SECRETS: &str =
    "SELECT id, name, entries::text, created, updated FROM zenreg_secrets WHERE NOT sealed ORDER BY name FOR UPDATE";
const PUT_SECRET: &str = "INSERT INTO zenreg_secrets (id, name, entries, sealed, created, updated) \
     VALUES ($1, $2, $3::text::json, $4, $5, $6) \
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, entries = excluded.entries, sealed = excluded.sealed, \
     updated = excluded.updated, revision = zenreg_secrets.revision + 1";
const RESEAL_SECRET: &str =
    "UPDATE zenreg_secrets SET entries = $2::text::json, sealed = true, revision = revision + 1 WHERE id = $1";
const SOME_SEALED: &str = "SELECT entries::text FROM zenreg_secrets WHERE sealed AND id <> $1 LIMIT 1";
const DELETE_SECRET: &str = "DELETE FROM zenreg_secrets WHERE id = $1";

/// One transaction of a [`PgStore`](super::PgStore).
pub(super) struct PgTx<'t, 'c> {
    pub(super) tx: &'t mut Transaction<'c>,
    pub(super) statements: &'t mut HashMap<&'static str, Statement>,
    /// Where the key comes from; loaded by the first value sealed or opened.
    pub(super) keys: &'t mut KeySource,
    /// Whether this is a write transaction (rows read are locked).
    pub(super) write: bool,
    pub(super) location: &'t str,
    pub(super) password: Option<&'t str>,
}

/// A stored secret before its values are opened.
struct StoredSecret {
    id: String,
    name: String,
    entries: BTreeMap<String, String>,
    created: String,
    updated: String,
    /// Why the row could not be read in full.
    damaged: Option<String>,
}

impl PgTx<'_, '_> {
    fn error(&self, kind: PgErrorKind) -> PostgresError {
        PostgresError { kind, location: self.location.to_string() }
    }

    fn driver(&self, error: &postgres::Error) -> PostgresError {
        driver_error(error, self.password, self.location)
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, PostgresError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql).map_err(|e| self.driver(&e))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, PostgresError> {
        let statement = self.statement(sql)?;
        timed(sql, || self.tx.query(&statement, params)).map_err(|e| self.driver(&e))
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, PostgresError> {
        let statement = self.statement(sql)?;
        timed(sql, || self.tx.execute(&statement, params)).map_err(|e| self.driver(&e))
    }

    /// Runs a statement that may break a unique constraint inside a savepoint, so that a clash
    /// leaves the transaction usable and comes back as `None`.
    fn execute_unique(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<u64>, PostgresError> {
        let statement = self.statement(sql)?;
        let (password, location) = (self.password, self.location);
        let fail = |e: &postgres::Error| driver_error(e, password, location);
        let mut savepoint = self.tx.savepoint("zenreg_unique").map_err(|e| fail(&e))?;
        match timed(sql, || savepoint.execute(&statement, params)) {
            Ok(count) => {
                savepoint.commit().map_err(|e| fail(&e))?;
                Ok(Some(count))
            }
            Err(error) if error.code().is_some_and(|c| c.code() == sqlstate::UNIQUE_VIOLATION) => {
                savepoint.rollback().map_err(|e| fail(&e))?;
                Ok(None)
            }
            Err(error) => Err(fail(&error)),
        }
    }

    fn stored_secret(&self, row: &Row) -> StoredSecret {
        let mut damage = Damage::default();
        let entries = damage.json("entries", row.get(2));
        StoredSecret {
            id: row.get(0),
            name: row.get(1),
            entries,
            created: row.get(3),
            updated: row.get(4),
            damaged: damage.into_reason(),
        }
    }

    /// The key, loaded now if it was not yet; `secret` names the secret in an error.
    fn key(&mut self, secret: &str) -> Result<Option<SecretsKey>, PostgresError> {
        match self.keys.key() {
            Ok(key) => Ok(key.cloned()),
            Err(source) => Err(self.error(PgErrorKind::Secrets { secret: secret.to_string(), source })),
        }
    }

    fn open(&mut self, stored: StoredSecret) -> Result<Secret, PostgresError> {
        // A damaged row is shown as it is (and can be deleted); there is nothing to open.
        let values = match stored.damaged {
            Some(_) => stored.entries.into_iter().map(|(k, v)| (k, SecretString::from(v))).collect(),
            None => {
                // Legacy plaintext values open without a key.
                let sealed = stored.entries.values().any(|v| crypto::is_sealed(v));
                let key = if sealed { self.key(&stored.name)? } else { None };
                crypto::open_entries(key.as_ref(), &stored.id, &stored.entries)
                    .map_err(|source| self.error(PgErrorKind::Secrets { secret: stored.name.clone(), source }))?
            }
        };
        Ok(Secret {
            id: stored.id,
            name: stored.name,
            values,
            created: stored.created,
            updated: stored.updated,
            damaged: stored.damaged,
        })
    }

    fn seal(&mut self, id: &str, name: &str, values: &SecretValues) -> Result<String, PostgresError> {
        // One sealed value of another row tells which key the store uses.
        let other: Option<String> = timed(SOME_SEALED, || self.tx.query_opt(SOME_SEALED, &[&id]))
            .map_err(|e| self.driver(&e))?
            .map(|row| row.get(0));
        let key = self.key(name)?;
        let secrets = |source| self.error(PgErrorKind::Secrets { secret: name.to_string(), source });
        let key = key.ok_or_else(|| secrets(CryptoError::NoKey))?;
        if let Some(entries) = other {
            let entries: BTreeMap<String, String> = serde_json::from_str(&entries).unwrap_or_default();
            crypto::ensure_same_key(&key, entries.values()).map_err(secrets)?;
        }
        let sealed = crypto::seal_entries(&key, id, values).map_err(secrets)?;
        Ok(serde_json::to_string(&sealed).unwrap_or_else(|_| "{}".into()))
    }

    /// Seals every legacy plaintext secret with the current key; how many were sealed.
    pub(super) fn seal_plaintext(&mut self) -> Result<u64, PostgresError> {
        let rows = self.query(UNSEALED_SECRETS, &[])?;
        // Only with a key at hand: a key that cannot be loaded is the business of the commands
        // that need values, not of every write (as on a store file).
        if rows.is_empty() || !matches!(self.keys.key(), Ok(Some(_))) {
            return Ok(0);
        }
        let mut count = 0;
        for row in &rows {
            let stored = self.stored_secret(row);
            if stored.damaged.is_some() {
                continue;
            }
            let opened = self.open(stored)?;
            let sealed = self.seal(&opened.id, &opened.name, &opened.values)?;
            self.execute(RESEAL_SECRET, &[&opened.id, &sealed])?;
            count += 1;
        }
        Ok(count)
    }

    /// Re-seals every secret under `new` (see [`Backend::rekey`](crate::backend::Backend::rekey)).
    pub(super) fn rekey(&mut self, new: &SecretsKey) -> Result<u64, PostgresError> {
        let rows = self.query(SECRETS_LOCKED, &[])?;
        let mut count = 0;
        for row in &rows {
            let stored = self.stored_secret(row);
            if stored.damaged.is_some() {
                continue;
            }
            let sealed = stored.entries.values().any(|v| crypto::is_sealed(v));
            let old = if sealed { self.key(&stored.name)? } else { None };
            let rekeyed = crypto::rekey_entries(old.as_ref(), new, &stored.id, &stored.entries)
                .map_err(|source| self.error(PgErrorKind::Secrets { secret: stored.name.clone(), source }))?;
            let text = serde_json::to_string(&rekeyed).unwrap_or_else(|_| "{}".into());
            self.execute(RESEAL_SECRET, &[&stored.id, &text])?;
            count += 1;
        }
        Ok(count)
    }

    fn component_rows(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Component>, PostgresError> {
        let rows = self.query(sql, params)?;
        Ok(rows.iter().map(component_from_row).collect())
    }
}

/// A driver error in words (for use while the transaction is borrowed).
fn driver_error(error: &postgres::Error, password: Option<&str>, location: &str) -> PostgresError {
    PostgresError { kind: classify(error, false, password), location: location.to_string() }
}

/// A component row ([`select_components!`] columns) as a [`Component`]. The server has checked
/// the JSON's syntax, not its shape: a row that does not decode is a damaged component (listed
/// around, shown and deletable), as on the embedded store.
fn component_from_row(row: &Row) -> Component {
    let mut damage = Damage::default();
    let component_type = row.get::<_, &str>(2).parse().unwrap_or_else(|problem: String| {
        damage.note("component_type", problem);
        ComponentType::ContainerRegistry
    });
    Component {
        id: row.get(0),
        name: row.get(1),
        component_type,
        flavor: row.get(3),
        config: damage.json("config", row.get(4)),
        labels: damage.json("labels", row.get(5)),
        created: row.get(6),
        updated: row.get(7),
        damaged: damage.into_reason(),
    }
}

impl<E> Tx<E> for PgTx<'_, '_>
where
    E: From<PostgresError> + From<CryptoError>,
{
    fn for_each_component(
        &mut self,
        component_type: ComponentType,
        flavor: Option<&str>,
        f: &mut dyn FnMut(Component),
    ) -> Result<(), E> {
        let statement = self.statement(COMPONENTS_OF_TYPE)?;
        if !self.write {
            // Rows in name order from the first one: walking the (type, name) index starts
            // sending at once, while the plan the server picks for a whole table (read it all,
            // then sort) sends nothing until it has sorted, which for 10,000 components is 5–9 ms
            // of waiting (BENCHMARKS.md §6). Set for this read-only transaction only.
            self.tx.batch_execute("SET LOCAL enable_sort = off").map_err(|e| self.driver(&e))?;
        }
        // One query whose rows stream in as they are read: the server sends while this process
        // decodes (no round trip per batch), and the driver's bounded channel and the socket
        // buffer hold back the rest, so a listing of 10,000 components never holds all of them
        // (nor their JSON) at once.
        let (password, location) = (self.password, self.location);
        let fail = |e: &postgres::Error| driver_error(e, password, location);
        let params: [&(dyn ToSql + Sync); 2] = [&component_type.as_str(), &flavor];
        // Timed to its first row: the rest stream in while the caller reads them.
        let mut rows = timed(COMPONENTS_OF_TYPE, || self.tx.query_raw(&statement, params)).map_err(|e| fail(&e))?;
        while let Some(row) = rows.next().map_err(|e| fail(&e))? {
            f(component_from_row(&row));
        }
        Ok(())
    }

    fn component_by_name(&mut self, component_type: ComponentType, name: &str) -> Result<Option<Component>, E> {
        let sql = if self.write { COMPONENT_BY_NAME_LOCKED } else { COMPONENT_BY_NAME };
        Ok(self.component_rows(sql, &[&component_type.as_str(), &name])?.into_iter().next())
    }

    fn components_by_id_prefix(
        &mut self,
        component_type: ComponentType,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Component>, E> {
        let sql = if self.write { COMPONENTS_BY_PREFIX_LOCKED } else { COMPONENTS_BY_PREFIX };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self.component_rows(sql, &[&component_type.as_str(), &prefix, &limit])?)
    }

    fn insert_component(&mut self, component: &Component) -> Result<Written, E> {
        let inserted = self.execute(
            INSERT_COMPONENT,
            &[
                &component.id,
                &component.name,
                &component.component_type.as_str(),
                &component.flavor,
                &component.config_text(),
                &component.labels_text(),
                &component.created,
                &component.updated,
            ],
        )?;
        Ok(if inserted == 1 { Written::Done } else { Written::NameTaken })
    }

    fn update_component(&mut self, component: &Component) -> Result<Written, E> {
        let outcome = self.execute_unique(
            UPDATE_COMPONENT,
            &[&component.id, &component.name, &component.config_text(), &component.labels_text(), &component.updated],
        )?;
        Ok(match outcome {
            None => Written::NameTaken,
            Some(0) => Written::Missing,
            Some(_) => Written::Done,
        })
    }

    fn delete_component(&mut self, id: &str) -> Result<bool, E> {
        Ok(self.execute(DELETE_COMPONENT, &[&id])? > 0)
    }

    fn list_secrets(&mut self) -> Result<Vec<Secret>, E> {
        let rows = self.query(SECRETS, &[])?;
        let mut secrets = Vec::with_capacity(rows.len());
        for row in &rows {
            let stored = self.stored_secret(row);
            secrets.push(self.open(stored)?);
        }
        Ok(secrets)
    }

    fn secret_summaries(&mut self) -> Result<Vec<SecretSummary>, E> {
        let rows = self.query(SECRETS, &[])?;
        let mut summaries = Vec::with_capacity(rows.len());
        for row in &rows {
            let stored = self.stored_secret(row);
            summaries.push(SecretSummary {
                keys: stored.entries.into_keys().collect(),
                id: stored.id,
                name: stored.name,
                created: stored.created,
                updated: stored.updated,
                damaged: stored.damaged,
            });
        }
        Ok(summaries)
    }

    fn find_secret(&mut self, name: &str) -> Result<Option<Secret>, E> {
        let sql = if self.write { SECRET_BY_NAME_LOCKED } else { SECRET_BY_NAME };
        let rows = self.query(sql, &[&name])?;
        match rows.first() {
            Some(row) => {
                let stored = self.stored_secret(row);
                Ok(Some(self.open(stored)?))
            }
            None => Ok(None),
        }
    }

    fn put_secret(&mut self, secret: &Secret) -> Result<Written, E> {
        let entries = self.seal(&secret.id, &secret.name, &secret.values)?;
        let outcome = self.execute_unique(
            PUT_SECRET,
            &[&secret.id, &secret.name, &entries, &true, &secret.created, &secret.updated],
        )?;
        Ok(if outcome.is_some() { Written::Done } else { Written::NameTaken })
    }

    fn delete_secret(&mut self, id: &str) -> Result<bool, E> {
        Ok(self.execute(DELETE_SECRET, &[&id])? > 0)
    }

    fn exclusive(&mut self) -> Result<(), E> {
        if self.write {
            self.execute("SELECT pg_advisory_xact_lock($1)", &[&EXCLUSIVE_LOCK])?;
        }
        Ok(())
    }
}
