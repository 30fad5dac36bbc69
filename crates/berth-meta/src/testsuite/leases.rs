//! Job leases and the health probe.

use std::time::Duration;

use super::join_all;
use crate::Meta;

pub(super) async fn run(meta: &Meta) {
    let store = &*meta.leases;
    store.ping().await.unwrap();
    let ttl = Duration::from_secs(60);
    assert!(
        store
            .try_lease("suite-job", "replica-a", ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lease("suite-job", "replica-b", ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease("suite-job", "replica-a", ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease("suite-short", "replica-a", Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        store
            .try_lease("suite-short", "replica-b", ttl)
            .await
            .unwrap()
    );
    replicas(std::slice::from_ref(meta)).await;
}

/// Holders on every replica racing for a new job, then for one whose lease has run out:
/// one wins each time.
pub(super) async fn replicas(metas: &[Meta]) {
    let ttl = Duration::from_secs(60);
    let holders: Vec<String> = (0..8).map(|i| format!("racer-{i}")).collect();
    for job in ["suite-race", "suite-race-expired"] {
        if job == "suite-race-expired" {
            assert!(
                metas[0]
                    .leases
                    .try_lease(job, "old", Duration::from_millis(1))
                    .await
                    .unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let won = join_all(
            holders
                .iter()
                .enumerate()
                .map(|(i, h)| metas[i % metas.len()].leases.try_lease(job, h, ttl))
                .collect(),
        )
        .await
        .into_iter()
        .filter(|got| *got.as_ref().unwrap())
        .count();
        assert_eq!(won, 1, "{job}");
    }
}
