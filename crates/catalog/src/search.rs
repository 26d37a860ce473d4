//! Full-text search over assets (FTS5: prompt, model, source, project, style, format).

use crate::assets::{ASSET_COLUMNS, RawAsset};
use crate::{AssetRecord, Catalog, Result};

/// Turns free text into an FTS5 query that matches assets containing every word. Each word
/// is quoted, so user input can never be FTS5 syntax (`-`, `:`, `*`, `AND`, quotes …).
fn fts_query(text: &str) -> String {
    text.split_whitespace()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Catalog {
    /// Assets whose prompt, model, source, project, style or format contain every word of
    /// `text` (case- and accent-insensitive), best match first, at most `limit`.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<AssetRecord>> {
        let query = fts_query(text);
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {ASSET_COLUMNS} FROM assets_fts f JOIN assets a ON a.id = f.rowid
             WHERE assets_fts MATCH ?1 ORDER BY f.rank LIMIT ?2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let raws: Vec<RawAsset> = self.read("searching assets", |c| {
            c.prepare_cached(&sql)?
                .query_map(rusqlite::params![query, limit], RawAsset::from_row)?
                .collect()
        })?;
        raws.into_iter().map(|r| self.decode_asset(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn user_text_becomes_quoted_words() {
        assert_eq!(fts_query("  cyberpunk  city "), r#""cyberpunk" "city""#);
        assert_eq!(fts_query(r#"a"b -x NOT"#), r#""a""b" "-x" "NOT""#);
        assert_eq!(fts_query("   "), "");
    }
}
