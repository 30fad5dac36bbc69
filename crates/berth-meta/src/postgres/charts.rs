//! Chart versions on PostgreSQL (written by `put_manifest`, see artifacts.rs).

use async_trait::async_trait;

use super::PostgresMetaStore;
use crate::rows::{CHART_COLUMNS, ChartDbRow};
use crate::{ChartChanges, ChartGeneration, ChartRow, ChartStore, Result, changed_charts};

#[async_trait]
impl ChartStore for PostgresMetaStore {
    async fn chart_generation(&self, namespace: &str) -> Result<Option<ChartGeneration>> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT id, chart_generation FROM namespaces WHERE name = $1")
                .bind(namespace)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(namespace_id, generation)| ChartGeneration {
            namespace_id,
            generation,
        }))
    }

    async fn list_charts(&self, namespace_id: i64, name: Option<&str>) -> Result<Vec<ChartRow>> {
        let sql = format!(
            "SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = $1 AND ($2::text IS NULL OR name = $2)
             ORDER BY name, version"
        );
        let rows: Vec<ChartDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(namespace_id)
            .bind(name)
            .fetch_all(&self.pool)
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
            "SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = $1 AND name = $2 AND version = $3"
        );
        let row: Option<ChartDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(namespace_id)
            .bind(name)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ChartDbRow::into_row).transpose()
    }

    async fn chart_changes(
        &self,
        namespace_id: i64,
        since: Option<i64>,
    ) -> Result<Option<ChartChanges>> {
        // One snapshot for the generation, the log and the rows: what is read is exactly the
        // charts as of the generation read, whatever other replicas commit meanwhile.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let at: Option<(i64, i64)> = sqlx::query_as(
            "SELECT chart_generation, chart_changed_at FROM namespaces WHERE id = $1",
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
                     WHERE namespace_id = $1 AND generation > $2 AND generation <= $3",
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
                    "SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = $1 AND name = ANY($2)"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(namespace_id)
                    .bind(names)
                    .fetch_all(&mut *tx)
                    .await?
            }
            None => {
                let sql = format!("SELECT {CHART_COLUMNS} FROM charts WHERE namespace_id = $1");
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
