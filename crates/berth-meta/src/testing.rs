//! Test support shared by every crate's tests: a fresh PostgreSQL database from
//! `TEST_DATABASE_URL`. Each use creates `berth_test_<random>` next to the database the URL
//! names (the role needs CREATEDB) and drops it afterwards; `.ci/postgres.sh` provides all of
//! that. Without `TEST_DATABASE_URL` a test reports that it did not run, or fails when
//! `BERTH_REQUIRE_BACKENDS=1` (as in CI).

use std::hash::{BuildHasher, RandomState};
use std::io::Write;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::now_ms;

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// Runs `body` with the URL of a new, empty database, then drops the database, also when
/// `body` panics. Without `TEST_DATABASE_URL` the test reports that it did not run (and
/// fails instead if `BERTH_REQUIRE_BACKENDS=1`).
pub async fn with_fresh_database<F, Fut>(test: &str, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("BERTH_REQUIRE_BACKENDS").as_deref() != Ok("1"),
            "{test}: BERTH_REQUIRE_BACKENDS=1 but TEST_DATABASE_URL is not set"
        );
        // Straight to stderr: the test harness hides println! output of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "postgres::{test} did NOT run: TEST_DATABASE_URL is not set \
             (source .ci/postgres.sh to provide one)"
        );
        return;
    };
    let name = format!(
        "berth_test_{:016x}",
        RandomState::new().hash_one((std::process::id(), now_ms(), test))
    );
    let mut admin = PgConnection::connect(&url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    // An ICU en-US database when the server has ICU: there the default collation sorts
    // "C" after "b", so the schema's COLLATE "C" is what keeps tags/list in byte order.
    let icu = format!(
        "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' \
         LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
    );
    if sqlx::raw_sql(AssertSqlSafe(icu))
        .execute(&mut admin)
        .await
        .is_err()
    {
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE (the role needs CREATEDB)");
    }
    let outcome = tokio::spawn(body(with_database(&url, &name))).await;
    // An autovacuum worker in the database can make the drop fail (ending it needs
    // pg_signal_backend, which .ci/postgres.sh grants): try again a few times, then leave
    // the database behind with a warning rather than fail the test over its cleanup.
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    for attempt in 1..=5 {
        match sqlx::raw_sql(AssertSqlSafe(drop.clone()))
            .execute(&mut admin)
            .await
        {
            Ok(_) => break,
            Err(e) if attempt == 5 => eprintln!("warning: could not drop database {name}: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
    let _ = admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_rewriting() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
