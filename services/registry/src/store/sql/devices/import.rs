//! Bulk import of one chunk of devices in one transaction, in a handful of
//! statements whatever the chunk size: one query for the endpoints that
//! exist, one for the PSK identities that are taken, one multi-row INSERT,
//! and an UPDATE per changed device (only with `update_existing`).
//!
//! Conflicts are decided before writing, so no statement fails and aborts
//! the transaction (PostgreSQL aborts on the first error). A device created
//! concurrently by another writer between the checks and the INSERT is
//! caught by `ON CONFLICT DO NOTHING` and reported as rejected.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, Row, Transaction};

use super::{device_of, insert_sql, taken, update_sql, COLUMNS};
use crate::device::Device;
use crate::error::Error;
use crate::ids::DeviceId;
use crate::store::sql::query::Sql;
use crate::store::{ImportOutcome, Result};

fn rejected(error: Error) -> ImportOutcome {
    ImportOutcome::Rejected {
        already_exists: matches!(error, Error::AlreadyExists { .. }),
        reason: error.to_string(),
    }
}

/// Who holds each PSK identity (server and bootstrap namespaces).
#[derive(Default)]
struct Holders {
    psk: HashMap<String, DeviceId>,
    bootstrap: HashMap<String, DeviceId>,
}

impl Holders {
    /// The unique name of `d` that a device other than `own` holds.
    fn conflict(&self, d: &Device, own: &DeviceId) -> Option<Error> {
        let held = |map: &HashMap<String, DeviceId>, value: Option<&str>| {
            value
                .and_then(|v| map.get(v))
                .is_some_and(|holder| holder != own)
        };
        if held(&self.psk, d.credentials.psk_identity()) {
            return Some(taken(d, "psk_identity"));
        }
        if held(&self.bootstrap, d.bootstrap_psk_identity()) {
            return Some(taken(d, "bootstrap_psk_identity"));
        }
        None
    }

    /// `d` (now stored under `id`) holds its names from here on.
    fn claim(&mut self, d: &Device, id: &DeviceId) {
        if let Some(v) = d.credentials.psk_identity() {
            self.psk.insert(v.to_owned(), id.clone());
        }
        if let Some(v) = d.bootstrap_psk_identity() {
            self.bootstrap.insert(v.to_owned(), id.clone());
        }
    }
}

async fn existing(
    tx: &mut Transaction<'static, Any>,
    chunk: &[Device],
) -> Result<HashMap<String, Device>> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM devices d WHERE d.endpoint IN ("
    ));
    sql.bind_list(chunk.iter().map(|d| d.endpoint.as_str()))
        .push(")");
    let rows = sql.query().fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|row| device_of(row).map(|d| (d.endpoint.clone(), d)))
        .collect()
}

async fn holders(tx: &mut Transaction<'static, Any>, chunk: &[Device]) -> Result<Holders> {
    let names: HashSet<&str> = chunk
        .iter()
        .flat_map(|d| [d.credentials.psk_identity(), d.bootstrap_psk_identity()])
        .flatten()
        .collect();
    let mut holders = Holders::default();
    if names.is_empty() {
        return Ok(holders);
    }
    let mut sql = Sql::new(
        "SELECT d.id, d.psk_identity, d.bootstrap_psk_identity FROM devices d WHERE d.psk_identity IN (",
    );
    sql.bind_list(names.iter().copied())
        .push(") OR d.bootstrap_psk_identity IN (")
        .bind_list(names.iter().copied())
        .push(")");
    for row in sql.query().fetch_all(&mut **tx).await? {
        let id = DeviceId::parse(&row.try_get::<String, _>("id")?, "devices.id")
            .map_err(Error::corrupt)?;
        if let Some(v) = row.try_get::<Option<String>, _>("psk_identity")? {
            holders.psk.insert(v, id.clone());
        }
        if let Some(v) = row.try_get::<Option<String>, _>("bootstrap_psk_identity")? {
            holders.bootstrap.insert(v, id);
        }
    }
    Ok(holders)
}

/// Imports `chunk` inside `tx`; one outcome per device, in order.
pub(super) async fn chunk(
    tx: &mut Transaction<'static, Any>,
    chunk: &[Device],
    update_existing: bool,
) -> Result<Vec<ImportOutcome>> {
    let stored = existing(tx, chunk).await?;
    let mut holders = holders(tx, chunk).await?;
    let mut endpoints_seen: HashSet<&str> = HashSet::new();
    let mut outcomes = Vec::with_capacity(chunk.len());
    let mut inserts: Vec<(usize, &Device)> = Vec::new();
    let mut updates: Vec<Device> = Vec::new();
    for d in chunk {
        if !endpoints_seen.insert(d.endpoint.as_str()) {
            outcomes.push(rejected(Error::already_exists(format!(
                "endpoint {:?} (it appears twice in this import)",
                d.endpoint
            ))));
            continue;
        }
        let outcome = match stored.get(&d.endpoint) {
            // Do not tell one tenant about another's devices.
            Some(e) if e.tenant_id != d.tenant_id => rejected(taken(d, "endpoint")),
            Some(e) if e.same_content(d) => ImportOutcome::Unchanged,
            Some(_) if !update_existing => rejected(Error::already_exists(format!(
                "endpoint {:?} (with other settings; import with update_existing to change it)",
                d.endpoint
            ))),
            Some(e) => match holders.conflict(d, &e.id) {
                Some(conflict) => rejected(conflict),
                None => {
                    let updated = Device {
                        id: e.id.clone(),
                        revision: e.revision + 1,
                        created_at_ms: e.created_at_ms,
                        ..d.clone()
                    };
                    holders.claim(&updated, &updated.id);
                    updates.push(updated);
                    ImportOutcome::Updated {
                        previous: Box::new(e.clone()),
                    }
                }
            },
            None => match holders.conflict(d, &d.id) {
                Some(conflict) => rejected(conflict),
                None => {
                    holders.claim(d, &d.id);
                    inserts.push((outcomes.len(), d));
                    ImportOutcome::Created
                }
            },
        };
        outcomes.push(outcome);
    }
    for device in &updates {
        update_sql(device)?.query().execute(&mut **tx).await?;
    }
    if !inserts.is_empty() {
        let inserted = insert_all(tx, &inserts).await?;
        for (index, d) in &inserts {
            if !inserted.contains(d.id.as_str()) {
                if let Some(outcome) = outcomes.get_mut(*index) {
                    *outcome = rejected(Error::already_exists(format!(
                        "endpoint {:?} or one of its PSK identities (registered concurrently)",
                        d.endpoint
                    )));
                }
            }
        }
    }
    Ok(outcomes)
}

/// One multi-row INSERT; the ids of the rows actually inserted.
async fn insert_all(
    tx: &mut Transaction<'static, Any>,
    inserts: &[(usize, &Device)],
) -> Result<HashSet<String>> {
    let mut sql = Sql::default();
    for (i, (_, d)) in inserts.iter().enumerate() {
        let row = insert_sql(d)?;
        if i == 0 {
            sql = row;
        } else {
            sql.append_values(row);
        }
    }
    sql.push(" ON CONFLICT DO NOTHING RETURNING id");
    let rows = sql.query().fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("id").map_err(Error::from))
        .collect()
}
