//! Chart versions on SQLite (written by `put_manifest`, see artifacts.rs).

use async_trait::async_trait;

use super::SqliteMetaStore;
use crate::rows::{CHART_COLUMNS, CHART_KEY_COLUMNS, ChartDbRow, ChartKeyDbRow, chart_key};
use crate::{ChartGeneration, ChartKey, ChartRow, ChartStore, RepoId, Result};

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

    async fn list_chart_keys(&self, namespace_id: i64) -> Result<Vec<ChartKey>> {
        let sql = format!("SELECT {CHART_KEY_COLUMNS} FROM charts WHERE namespace_id = ?");
        let rows: Vec<ChartKeyDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(namespace_id)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(chart_key).collect())
    }

    async fn get_charts(
        &self,
        namespace_id: i64,
        keys: &[(RepoId, String)],
    ) -> Result<Vec<ChartRow>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<(i64, &str)> = keys.iter().map(|(r, t)| (r.0, t.as_str())).collect();
        let sql = format!(
            "SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = ?
             AND (repository_id, tag) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))"
        );
        let rows: Vec<ChartDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(namespace_id)
            .bind(serde_json::to_string(&wanted).expect("pairs serialize"))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(ChartDbRow::into_row).collect()
    }
}
