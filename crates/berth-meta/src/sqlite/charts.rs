//! Chart versions on SQLite (written by `put_manifest`, see artifacts.rs).

use async_trait::async_trait;

use super::SqliteMetaStore;
use crate::rows::{CHART_COLUMNS, ChartDbRow};
use crate::{ChartChanges, ChartGeneration, ChartRow, ChartStore, Result, changed_charts};

#[async_trait]
impl ChartStore for SqliteMetaStore {
    async fn chart_generation(&self, namespace: &str) -> Result<Option<ChartGeneration>> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT id, chart_generation FROM namespaces WHERE name = ?")
                .bind(namespace)
                .fetch_optional(&self.reader)
                .await?;
        Ok(row.map(|(namespace_id, generation)| ChartGeneration {
            namespace_id,
            generation,
        }))
    }

    async fn list_charts(&self, namespace_id: i64, name: Option<&str>) -> Result<Vec<ChartRow>> {
        let sql = format!(
            "SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = ? AND (? IS NULL OR name = ?)
             ORDER BY name, version"
        );
        let rows: Vec<ChartDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(namespace_id)
            .bind(name)
            .bind(name)
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(ChartDbRow::into_row).collect()
    }

    async fn get_chart(
        &self,
        namespace_id: i64,
        name: &str,
        version: &str,
    ) -> Result<Option<ChartRow>> {
        let sql = format!(
            "SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = ? AND name = ? AND version = ?"
        );
        let row: Option<ChartDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(namespace_id)
            .bind(name)
            .bind(version)
            .fetch_optional(&self.reader)
            .await?;
        row.map(ChartDbRow::into_row).transpose()
    }

    async fn chart_changes(
        &self,
        namespace_id: i64,
        since: Option<i64>,
    ) -> Result<Option<ChartChanges>> {
        // One read transaction: one WAL snapshot for the generation, the log and the rows.
        let mut tx = self.reader.begin().await?;
        let at: Option<(i64, i64)> = sqlx::query_as(
            "SELECT chart_generation, chart_changed_at FROM namespaces WHERE id = ?",
        )
        .bind(namespace_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((at, changed_at)) = at else {
            return Ok(None);
        };
        let changed = match since {
            Some(since) if since <= at => {
                let log: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT generation, name FROM chart_changes
                     WHERE namespace_id = ? AND generation > ? AND generation <= ?",
                )
                .bind(namespace_id)
                .bind(since)
                .bind(at)
                .fetch_all(&mut *tx)
                .await?;
                changed_charts(since, at, log)
            }
            _ => None,
        };
        let rows: Vec<ChartDbRow> = match &changed {
            Some(names) if names.is_empty() => Vec::new(),
            Some(names) => {
                let sql = format!(
                    "SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = ?
                     AND name IN (SELECT value FROM json_each(?))"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(namespace_id)
                    .bind(serde_json::to_string(names).expect("names serialize"))
                    .fetch_all(&mut *tx)
                    .await?
            }
            None => {
                let sql = format!("SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = ?");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(namespace_id)
                    .fetch_all(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        ChartChanges::read(namespace_id, at, changed_at, changed, rows).map(Some)
    }
}
