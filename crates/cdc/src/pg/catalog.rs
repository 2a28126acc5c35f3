//! What the source reads from the catalog: table shapes, type names, the publication and the
//! slot's state.

use super::types::sql_type;
use super::{quote_ident, quote_literal};
use crate::change::{Column, Table};
use std::collections::HashMap;
use tokio_postgres::Client;

/// A captured table's shape with its columns' type OIDs.
#[derive(Clone, Debug)]
pub struct Shape {
    /// The table.
    pub table: Table,
    /// Each column's type OID.
    pub type_oids: Vec<u32>,
}

/// Splits `schema.table` (or `table`, in `public`).
pub fn split_name(name: &str) -> (String, String) {
    match name.split_once('.') {
        Some((s, t)) => (s.to_string(), t.to_string()),
        None => ("public".to_string(), name.to_string()),
    }
}

/// The shape of `schema.table`, its key being the primary key; an error when the table does not
/// exist.
pub async fn shape(client: &Client, catalog: &str, qualified: &str) -> Result<Shape, String> {
    let (schema, name) = split_name(qualified);
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid::oid, format_type(a.atttypid, a.atttypmod),
                    coalesce(a.attnum = ANY(i.indkey), false)
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&schema, &name],
        )
        .await
        .map_err(|e| format!("reading the columns of {qualified}: {e}"))?;
    if rows.is_empty() {
        return Err(format!("table {qualified} does not exist"));
    }
    let mut columns = Vec::with_capacity(rows.len());
    let mut type_oids = Vec::with_capacity(rows.len());
    for row in rows {
        let type_oid: u32 = row.get(1);
        let type_name: String = row.get(2);
        columns.push(Column {
            name: row.get(0),
            sql_type: sql_type(type_oid, &type_name),
            type_name,
            key: row.get(3),
        });
        type_oids.push(type_oid);
    }
    Ok(Shape {
        table: Table {
            catalog: catalog.to_string(),
            schema,
            name,
            columns,
        },
        type_oids,
    })
}

/// Type names by (OID, modifier), looked up once each.
#[derive(Default)]
pub struct TypeNames {
    known: HashMap<(u32, i32), String>,
}

impl TypeNames {
    /// `format_type(oid, modifier)`.
    pub async fn name(
        &mut self,
        client: &Client,
        type_oid: u32,
        type_mod: i32,
    ) -> Result<String, String> {
        if let Some(name) = self.known.get(&(type_oid, type_mod)) {
            return Ok(name.clone());
        }
        let row = client
            .query_one(
                "SELECT format_type($1::oid, $2::int4)",
                &[&type_oid, &type_mod],
            )
            .await
            .map_err(|e| format!("looking up type {type_oid}: {e}"))?;
        let name: String = row.get(0);
        self.known.insert((type_oid, type_mod), name.clone());
        Ok(name)
    }
}

/// Creates the publication `name` for `tables`, or sets its tables to them when it exists.
pub async fn ensure_publication(
    client: &Client,
    name: &str,
    tables: &[String],
) -> Result<(), String> {
    let list = tables
        .iter()
        .map(|t| {
            let (s, n) = split_name(t);
            format!("{}.{}", quote_ident(&s), quote_ident(&n))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let exists = client
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[&name])
        .await
        .map_err(|e| format!("reading publications: {e}"))?
        .is_some();
    let sql = if exists {
        format!("ALTER PUBLICATION {} SET TABLE {list}", quote_ident(name))
    } else {
        format!("CREATE PUBLICATION {} FOR TABLE {list}", quote_ident(name))
    };
    match client.batch_execute(&sql).await {
        Ok(()) => Ok(()),
        // Another node created it at the same moment.
        Err(e)
            if !exists && e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("setting up publication {name}: {e}")),
    }
}

/// The state of a replication slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// No such slot.
    Missing,
    /// It exists; its WAL is `lost` (invalidated) or still kept.
    Present {
        /// Whether its WAL was removed (the slot was invalidated).
        lost: bool,
        /// Whether a session streams from it now.
        active: bool,
    },
}

/// The state of slot `name`.
pub async fn slot_state(client: &Client, name: &str) -> Result<SlotState, String> {
    let row = client
        .query_opt(
            "SELECT coalesce(wal_status = 'lost', false), active FROM pg_replication_slots WHERE slot_name = $1",
            &[&name],
        )
        .await
        .map_err(|e| format!("reading replication slots: {e}"))?;
    Ok(match row {
        None => SlotState::Missing,
        Some(r) => SlotState::Present {
            lost: r.get(0),
            active: r.get(1),
        },
    })
}

/// Drops slot `name` if it exists (waiting for a session still using it to go away).
pub async fn drop_slot(client: &Client, name: &str) -> Result<(), String> {
    client
        .batch_execute(&format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = {}",
            quote_literal(name)
        ))
        .await
        .map_err(|e| format!("dropping replication slot {name}: {e}"))
}

/// Why `qualified` cannot be captured, if it cannot: it does not exist, or it has neither a
/// primary key nor another replica identity, so that publishing it would make the application's
/// UPDATE and DELETE statements on it fail.
pub async fn capture_problem(client: &Client, qualified: &str) -> Result<Option<String>, String> {
    let (schema, name) = split_name(qualified);
    let row = client
        .query_opt(
            "SELECT c.relreplident::text,
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&schema, &name],
        )
        .await
        .map_err(|e| format!("reading table {qualified}: {e}"))?;
    Ok(match row {
        None => Some(format!("table {qualified} does not exist")),
        Some(r) => {
            let identity: String = r.get(0);
            let primary: bool = r.get(1);
            match (identity.as_str(), primary) {
                ("f" | "i", _) | ("d", true) => None,
                _ => Some(format!(
                    "table {qualified} has no primary key (nor REPLICA IDENTITY FULL or USING INDEX): publishing it would make its UPDATE and DELETE statements fail"
                )),
            }
        }
    })
}
