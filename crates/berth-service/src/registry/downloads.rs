//! Manifest pulls, counted in memory and written in batches, so that counting costs the pull
//! path one uncontended lock and no database trip.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_core::{Digest, Tag};
use berth_meta::{ArtifactStore, DownloadCount, RepoId, now_ms};

use crate::Result;

/// What was pulled: from which repository, which manifest, by which tag if any.
type Pulled = (RepoId, Digest, Option<Tag>);

#[derive(Default)]
pub struct DownloadCounter {
    /// Pulls and the time of the last one, per what was pulled.
    pending: Mutex<HashMap<Pulled, (u64, i64)>>,
}

impl DownloadCounter {
    /// Counts one pull of `digest` from `repo`, by `tag` if it was pulled by tag.
    pub fn record(&self, repo: RepoId, digest: &Digest, tag: Option<&Tag>) {
        let now = now_ms();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pending
            .entry((repo, digest.clone(), tag.cloned()))
            .or_insert((0, now));
        entry.0 += 1;
        entry.1 = now;
    }

    /// Writes what was counted since the last flush; on failure the counts are kept for
    /// the next one. Returns how many pulls were written.
    pub async fn flush(&self, store: &dyn ArtifactStore) -> Result<u64> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return Ok(0);
        }
        let counts: Vec<DownloadCount> = taken
            .iter()
            .map(
                |((repository, digest, tag), (count, last_at))| DownloadCount {
                    repository: *repository,
                    digest: digest.clone(),
                    tag: tag.clone(),
                    count: *count,
                    last_at: *last_at,
                },
            )
            .collect();
        let total = counts.iter().map(|c| c.count).sum();
        if let Err(e) = store.record_downloads(&counts).await {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (key, (count, last_at)) in taken {
                let entry = pending.entry(key).or_insert((0, last_at));
                entry.0 += count;
                entry.1 = entry.1.max(last_at);
            }
            return Err(e.into());
        }
        Ok(total)
    }
}
