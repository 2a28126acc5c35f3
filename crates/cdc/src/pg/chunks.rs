//! How a table's snapshot is split for a parallel copy: ranges of the primary key's leading
//! column.
//!
//! The boundaries are the planner's statistics: `pg_stats.histogram_bounds` of that column,
//! quantiles that `ANALYZE` (autovacuum's, after a bulk load) already computed, or its
//! `most_common_vals` when every value is a common one (a composite key led by a few tenants).
//! Reading them is a catalog query and a sort of at most a few hundred values whatever the
//! table's size, where a `TABLESAMPLE` scan or an `ntile` over the key would read part or all of
//! a 1M–100M-row table before its copy even starts. They need not be exact or fresh: they only
//! balance the work. Correctness comes from the ranges themselves: half-open (`key >= lo AND
//! key < hi`), the first unbounded below and the last unbounded above, so that together they
//! hold every row once, whatever the boundaries. With a composite key the leading column alone
//! partitions the rows just as well, and each chunk still reads along the primary key's index.
//!
//! A table without a primary key, without statistics (never analysed) or estimated
//! (`pg_class.reltuples`) below a threshold is copied as one chunk.

use super::catalog::Shape;
use super::{quote_ident, quote_literal};

/// Bits of a snapshot row's ordinal that count rows inside its chunk; the chunk's index is
/// above them (see [`ordinal`]).
const ROW_BITS: u32 = 40;

/// The most chunks a table is split into: their rows' ordinals stay below 2^53, exact as JSON
/// numbers.
pub const MAX_CHUNKS: usize = 1 << (53 - ROW_BITS);

/// The ordinal of the `row`th row (from 0, in key order) of chunk `chunk` of a table: the
/// chunk's index in the high bits, the row's in the low 40. A table copied whole has chunk 0,
/// so its ordinals are its rows' indexes.
pub fn ordinal(chunk: usize, row: u64) -> u64 {
    ((chunk as u64) << ROW_BITS) | (row & ((1 << ROW_BITS) - 1))
}

/// One key range of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// The lowest key value it holds (inclusive), as text; `None`: unbounded below.
    pub lo: Option<String>,
    /// The first key value above it (exclusive), as text; `None`: unbounded above.
    pub hi: Option<String>,
}

impl Range {
    /// The whole table.
    pub fn all() -> Range {
        Range { lo: None, hi: None }
    }

    /// The SQL condition selecting the range on `column` (an unquoted name): `TRUE` for the
    /// whole table.
    pub fn predicate(&self, column: &str) -> String {
        let column = quote_ident(column);
        let mut terms = Vec::with_capacity(2);
        if let Some(lo) = &self.lo {
            terms.push(format!("{column} >= {}", quote_literal(lo)));
        }
        if let Some(hi) = &self.hi {
            terms.push(format!("{column} < {}", quote_literal(hi)));
        }
        if terms.is_empty() {
            "TRUE".into()
        } else {
            terms.join(" AND ")
        }
    }

    /// [`predicate`](Range::predicate) as a clause to follow a `FROM`: ` WHERE ...`, or empty
    /// for the whole table.
    pub fn condition(&self, column: &str) -> String {
        if self.lo.is_none() && self.hi.is_none() {
            String::new()
        } else {
            format!(" WHERE {}", self.predicate(column))
        }
    }
}

/// How a table is copied: its leading key column and its ranges (one covering everything
/// when it is copied whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The primary key's leading column (unquoted); `None` when the table is copied whole.
    pub column: Option<String>,
    /// The ranges, in key order.
    pub ranges: Vec<Range>,
}

impl Split {
    /// The whole table as one chunk.
    pub fn whole() -> Split {
        Split {
            column: None,
            ranges: vec![Range::all()],
        }
    }
}

/// At most `count` ranges over `bounds` (a histogram's values in key order, the first the
/// lowest seen, the last the highest): cut at evenly spaced inner bounds, so that each range
/// holds about as many rows. Fewer than three bounds, or a `count` of 1, give one range.
pub fn ranges(bounds: &[String], count: usize) -> Vec<Range> {
    let count = count.clamp(1, MAX_CHUNKS);
    let buckets = bounds.len().saturating_sub(1);
    let mut cuts: Vec<&String> = (1..count)
        .map(|i| i * buckets / count)
        .filter(|&i| i > 0 && i < buckets)
        .map(|i| &bounds[i])
        .collect();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut lo = None;
    for cut in cuts {
        out.push(Range {
            lo: lo.take(),
            hi: Some(cut.clone()),
        });
        lo = Some(cut.clone());
    }
    out.push(Range { lo, hi: None });
    out
}

/// How to copy `shape`'s table in at most `count` chunks: split by its statistics when it has a
/// primary key, statistics, and an estimated `min_rows` rows or more; else whole. The
/// statistics' values are sorted again here by the column's type and collation, exactly as the
/// ranges' conditions compare.
pub async fn split(
    client: &tokio_postgres::Client,
    shape: &Shape,
    min_rows: u64,
    count: usize,
) -> Result<Split, String> {
    let qualified = shape.table.qualified();
    let fail =
        |e: tokio_postgres::Error| format!("planning the snapshot chunks of {qualified}: {e}");
    if count <= 1 {
        return Ok(Split::whole());
    }
    let row = client
        .query_opt(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), c.reltuples::float8,
                    (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname)
                     FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                     WHERE co.oid = a.attcollation),
                    s.histogram_bounds::text, s.most_common_vals::text
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
             LEFT JOIN LATERAL (
                SELECT histogram_bounds, most_common_vals FROM pg_stats
                WHERE schemaname = n.nspname AND tablename = c.relname AND attname = a.attname
                ORDER BY inherited LIMIT 1) s ON true
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&shape.table.schema, &shape.table.name],
        )
        .await
        .map_err(fail)?;
    let Some(row) = row else {
        return Ok(Split::whole());
    };
    let (column, type_name, estimate): (String, String, f64) = (row.get(0), row.get(1), row.get(2));
    let collate: Option<String> = row.get(3);
    let (histogram, common): (Option<String>, Option<String>) = (row.get(4), row.get(5));
    // A column whose every value is a most common one has no histogram.
    let Some(values) = histogram.or(common) else {
        return Ok(Split::whole());
    };
    if estimate < min_rows as f64 {
        return Ok(Split::whole());
    }
    let mut bounds: Vec<String> = client
        .query(
            &format!(
                "SELECT u.b::text FROM unnest($1::text::{type_name}[]) u(b) ORDER BY u.b{}",
                collate.unwrap_or_default()
            ),
            &[&values],
        )
        .await
        .map_err(fail)?
        .iter()
        .filter_map(|r| r.get::<_, Option<String>>(0))
        .collect();
    bounds.dedup();
    Ok(Split {
        column: Some(column),
        ranges: ranges(&bounds, count),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    /// Checks that `ranges` partition the keys: unbounded at both ends, each range's upper
    /// bound the next one's lower bound (no gap, no overlap), strictly increasing by `less`.
    fn assert_partition(ranges: &[Range], less: impl Fn(&str, &str) -> bool) {
        assert_eq!(ranges.first().unwrap().lo, None, "{ranges:?}");
        assert_eq!(ranges.last().unwrap().hi, None, "{ranges:?}");
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].hi, pair[1].lo, "{ranges:?}");
            let hi = pair[0].hi.as_deref().expect("an inner bound");
            if let Some(lo) = &pair[0].lo {
                assert!(less(lo, hi), "empty range {:?}", pair[0]);
            }
        }
    }

    /// Which range holds `key`, counting every range whose bounds admit it.
    fn holders(ranges: &[Range], key: i64) -> usize {
        let n = |t: &String| t.parse::<i64>().unwrap();
        ranges
            .iter()
            .filter(|r| r.lo.as_ref().is_none_or(|lo| key >= n(lo)))
            .filter(|r| r.hi.as_ref().is_none_or(|hi| key < n(hi)))
            .count()
    }

    #[test]
    fn integer_bounds_give_even_ranges_holding_every_key_once() {
        let bounds: Vec<String> = (0..=100).map(|i| (i * 1000).to_string()).collect();
        let ranges = ranges(&bounds, 16);
        assert_eq!(ranges.len(), 16);
        assert_partition(&ranges, |a, b| {
            a.parse::<i64>().unwrap() < b.parse().unwrap()
        });
        for key in [-5, 0, 1, 6_000, 6_249, 50_000, 99_999, 100_000, 1 << 40] {
            assert_eq!(holders(&ranges, key), 1, "key {key} in {ranges:?}");
        }
        assert_eq!(ranges[1].lo.as_deref(), Some("6000"));
    }

    #[test]
    fn text_bounds_keep_their_order_and_quote_safely() {
        let bounds = texts(&["a", "b's", "c", "d", "e", "f", "g", "h", "i"]);
        let ranges = ranges(&bounds, 4);
        assert_eq!(ranges.len(), 4);
        assert_partition(&ranges, |a, b| a < b);
        assert_eq!(
            ranges[1].condition("name"),
            " WHERE \"name\" >= 'c' AND \"name\" < 'e'"
        );
        let quoted = Range {
            lo: Some("b's".into()),
            hi: None,
        };
        assert_eq!(quoted.condition("k\"ey"), " WHERE \"k\"\"ey\" >= 'b''s'");
    }

    #[test]
    fn few_or_repeated_bounds_give_fewer_ranges_never_empty_ones() {
        // Many chunks over few buckets: each inner bound cut once.
        let few = ranges(&texts(&["1", "2", "3", "4"]), 16);
        assert_eq!(few.len(), 3);
        assert_partition(&few, |a, b| a < b);
        // A composite key's leading column repeats across the histogram.
        let repeated = ranges(&texts(&["a", "a", "a", "a", "b", "b", "b", "b", "c"]), 8);
        assert_partition(&repeated, |a, b| a < b);
        assert_eq!(repeated.len(), 3);
    }

    #[test]
    fn missing_or_tiny_statistics_and_one_chunk_copy_the_whole_table() {
        for (bounds, count) in [
            (texts(&[]), 8),
            (texts(&["7"]), 8),
            (texts(&["1", "9"]), 8),
            (texts(&["1", "2", "3", "4", "5"]), 1),
            (texts(&["1", "2", "3", "4", "5"]), 0),
        ] {
            assert_eq!(ranges(&bounds, count), vec![Range::all()], "{bounds:?}");
        }
        assert_eq!(Range::all().condition("id"), "");
        assert_eq!(Range::all().predicate("id"), "TRUE");
        assert_eq!(Split::whole().ranges, vec![Range::all()]);
    }

    #[test]
    fn ordinals_put_the_chunk_above_the_row_and_stay_exact_in_json() {
        assert_eq!(ordinal(0, 41), 41);
        assert_eq!(ordinal(1, 0), 1 << 40);
        assert!(ordinal(2, 5) > ordinal(1, (1 << 40) - 1));
        assert!(ordinal(MAX_CHUNKS - 1, (1 << 40) - 1) < 1 << 53);
    }
}
