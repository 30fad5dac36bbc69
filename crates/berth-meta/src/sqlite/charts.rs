//! Chart versions on SQLite (written by `put_manifest`, see artifacts.rs).

use async_trait::async_trait;

use super::SqliteMetaStore;
use crate::rows::{CHART_COLUMNS, ChartDbRow};
use crate::{ChartGeneration, ChartRow, ChartStore, Result};

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
}
