//! Periodic background jobs. Each run takes a lease in the metadata store first, so with
//! several replicas on one database a job runs once per period, not once per replica.

use std::sync::Arc;
use std::time::Duration;

use berth_meta::LeaseStore;
use tokio::sync::watch;

/// Runs `job` every `period` while the lease is ours, until `shutdown` flips to true.
pub async fn run_periodic<F, Fut>(
    name: &'static str,
    leases: Arc<dyn LeaseStore>,
    holder: String,
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
    job: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crate::Result<u64>>,
{
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        // The lease outlives the period a little so a slow run is not taken over.
        match leases.try_lease(name, &holder, period + period / 2).await {
            Ok(true) => match job().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(job = name, items = n, "background job done"),
                Err(e) => tracing::warn!(job = name, error = %e, "background job failed"),
            },
            Ok(false) => tracing::debug!(job = name, "another replica holds the lease"),
            Err(e) => tracing::warn!(job = name, error = %e, "could not take job lease"),
        }
    }
}
