//! Chart versions: recorded with their manifest, listed by namespace, gone with their tag,
//! manifest or repository, and every change bumps the namespace's generation.

use berth_core::{Digest, Reference};

use super::{manifest, repo, repo_id, tag};
use crate::{ChartExpect, ManifestRef, Meta, MetaError, NewChart};

pub(super) async fn run(meta: &Meta) {
    lifecycle(meta).await;
    change_log_is_bounded(meta).await;
}

/// The log keeps the last generations only: a generation older than that reads everything.
async fn change_log_is_bounded(meta: &Meta) {
    let store = &*meta.artifacts;
    let r = repo_id(meta, "chartlog/app").await;
    let ns = meta
        .charts
        .chart_generation("chartlog")
        .await
        .unwrap()
        .unwrap();
    let layer = Digest::sha256(b"chartlog-tgz");
    store.link_blob(r, &layer, 11).await.unwrap();
    let mut m = manifest("chartlog-1", &[(&layer, 11)], None);
    m.chart = Some(chart("1.0.0", &layer));
    let rounds = crate::CHART_LOG_GENERATIONS / 2 + 1;
    for _ in 0..rounds {
        // Moving the tag off the chart and back: two generations.
        store.put_manifest(r, &m, &[tag("1.0.0")]).await.unwrap();
        store.delete_tag(r, &tag("1.0.0")).await.unwrap();
    }
    store.put_manifest(r, &m, &[tag("1.0.0")]).await.unwrap();
    let at = generation(meta, "chartlog").await;
    assert!(at > crate::CHART_LOG_GENERATIONS, "generation {at}");
    let recent = meta
        .charts
        .chart_changes(ns.namespace_id, Some(at - 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recent.changed, Some(vec!["app".to_owned()]));
    assert_eq!(recent.rows.len(), 1);
    let edge = at - crate::CHART_LOG_GENERATIONS;
    let kept = meta
        .charts
        .chart_changes(ns.namespace_id, Some(edge))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.changed, Some(vec!["app".to_owned()]));
    let old = meta
        .charts
        .chart_changes(ns.namespace_id, Some(edge - 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((old.changed, old.rows.len()), (None, 1));
    let from_start = meta
        .charts
        .chart_changes(ns.namespace_id, Some(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from_start.changed, None);
}

fn chart(version: &str, archive: &Digest) -> NewChart {
    NewChart {
        tag: tag(&version.replace('+', "_")),
        name: "app".into(),
        version: version.into(),
        archive: ManifestRef {
            digest: archive.clone(),
            size: 11,
        },
        provenance: None,
        metadata: format!(r#"{{"name":"app","version":"{version}"}}"#),
        created: "2026-01-02T03:04:05Z".into(),
        expect: ChartExpect::Any,
    }
}

async fn generation(meta: &Meta, ns: &str) -> i64 {
    meta.charts
        .chart_generation(ns)
        .await
        .unwrap()
        .expect("namespace exists")
        .generation
}

async fn lifecycle(meta: &Meta) {
    let store = &*meta.artifacts;
    let r = repo_id(meta, "charty/app").await;
    let other = repo_id(meta, "charty/other").await;
    let ns = meta
        .charts
        .chart_generation("charty")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ns.generation, 0);
    assert_eq!(meta.charts.chart_generation("nope").await.unwrap(), None);
    let (config, layer) = (
        Digest::sha256(b"chart-config"),
        Digest::sha256(b"chart-tgz"),
    );
    for (d, size) in [(&config, 12u64), (&layer, 11)] {
        store.link_blob(r, d, size).await.unwrap();
        store.link_blob(other, d, size).await.unwrap();
    }

    // A chart version goes in with its manifest and tag.
    let mut one = manifest("chart-1.0.0", &[(&config, 12), (&layer, 11)], None);
    one.chart = Some(chart("1.0.0", &layer));
    store.put_manifest(r, &one, &[tag("1.0.0")]).await.unwrap();
    let mut two = manifest("chart-1.1.0+b", &[(&config, 12), (&layer, 11)], None);
    two.chart = Some(NewChart {
        provenance: Some(ManifestRef {
            digest: config.clone(),
            size: 12,
        }),
        ..chart("1.1.0+b", &layer)
    });
    store
        .put_manifest(r, &two, &[tag("1.1.0_b"), tag("latest")])
        .await
        .unwrap();
    // A plain artifact elsewhere in the namespace is no chart.
    store
        .put_manifest(
            other,
            &manifest("plain", &[(&config, 12)], None),
            &[tag("v1")],
        )
        .await
        .unwrap();
    let after_two = generation(meta, "charty").await;
    assert!(after_two >= 2, "generation {after_two}");

    let all = meta
        .charts
        .list_charts(ns.namespace_id, None)
        .await
        .unwrap();
    let versions: Vec<&str> = all.iter().map(|c| c.version.as_str()).collect();
    assert_eq!(versions, ["1.0.0", "1.1.0+b"]);
    assert_eq!(all[0].manifest, one.digest);
    assert_eq!(all[0].archive.digest, layer);
    assert_eq!(all[0].archive.size, 11);
    assert_eq!(all[0].provenance, None);
    assert_eq!(all[0].created, "2026-01-02T03:04:05Z");
    assert_eq!(all[1].tag, "1.1.0_b");
    assert_eq!(all[1].provenance.as_ref().unwrap().digest, config);
    assert_eq!(
        meta.charts
            .list_charts(ns.namespace_id, Some("other"))
            .await
            .unwrap(),
        []
    );
    let got = meta
        .charts
        .get_chart(ns.namespace_id, "app", "1.1.0+b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, all[1]);
    assert_eq!(
        meta.charts
            .get_chart(ns.namespace_id, "app", "9.9.9")
            .await
            .unwrap(),
        None
    );

    // What changed since a generation: the charts the log names, with all their versions.
    let full = meta
        .charts
        .chart_changes(ns.namespace_id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(full.at.generation, after_two);
    assert_eq!(full.changed, None);
    assert_eq!(full.rows.len(), 2);
    // When the charts last changed: now-ish, by the database's clock.
    assert!(
        (full.changed_at - crate::now_ms()).abs() < 600_000,
        "{}",
        full.changed_at
    );
    let none = meta
        .charts
        .chart_changes(ns.namespace_id, Some(after_two))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((none.changed, none.rows), (Some(Vec::new()), Vec::new()));
    let since_one = meta
        .charts
        .chart_changes(ns.namespace_id, Some(after_two - 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(since_one.changed, Some(vec!["app".to_owned()]));
    let mut rows = since_one.rows;
    rows.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(rows, all);
    // A generation ahead of the namespace's (another namespace's, say) gets everything.
    let ahead = meta
        .charts
        .chart_changes(ns.namespace_id, Some(after_two + 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ahead.changed, ahead.rows.len()), (None, 2));
    assert_eq!(meta.charts.chart_changes(-1, None).await.unwrap(), None);

    // A write that expects no version refuses one that exists; one that expects the stored
    // manifest refuses another; nothing is written either way.
    let mut again = manifest("chart-1.0.0-again", &[(&config, 12), (&layer, 11)], None);
    again.chart = Some(NewChart {
        expect: ChartExpect::Absent,
        ..chart("1.0.0", &layer)
    });
    let before = generation(meta, "charty").await;
    assert!(matches!(
        store.put_manifest(r, &again, &[tag("1.0.0")]).await,
        Err(MetaError::AlreadyExists {
            entity: "chart",
            ..
        })
    ));
    again.chart = Some(NewChart {
        expect: ChartExpect::Manifest(two.digest.clone()),
        ..chart("1.0.0", &layer)
    });
    assert!(matches!(
        store.put_manifest(r, &again, &[tag("1.0.0")]).await,
        Err(MetaError::AlreadyExists {
            entity: "chart",
            ..
        })
    ));
    assert_eq!(generation(meta, "charty").await, before);
    assert_eq!(
        meta.charts
            .get_chart(ns.namespace_id, "app", "1.0.0")
            .await
            .unwrap()
            .unwrap()
            .manifest,
        one.digest
    );
    again.chart = Some(NewChart {
        expect: ChartExpect::Manifest(one.digest.clone()),
        ..chart("1.0.0", &layer)
    });
    store
        .put_manifest(r, &again, &[tag("1.0.0")])
        .await
        .unwrap();
    let changes = meta
        .charts
        .chart_changes(ns.namespace_id, Some(before))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changes.changed, Some(vec!["app".to_owned()]));
    assert!(changes.rows.iter().any(|c| c.manifest == again.digest));
    let mut three = manifest("chart-2.0.0", &[(&config, 12), (&layer, 11)], None);
    three.chart = Some(NewChart {
        expect: ChartExpect::Absent,
        ..chart("2.0.0", &layer)
    });
    store
        .put_manifest(r, &three, &[tag("2.0.0")])
        .await
        .unwrap();
    store.put_manifest(r, &one, &[tag("1.0.0")]).await.unwrap();
    store.delete_tag(r, &tag("2.0.0")).await.unwrap();

    // The same push again changes nothing but the generation.
    store.put_manifest(r, &one, &[tag("1.0.0")]).await.unwrap();
    assert_eq!(
        meta.charts
            .list_charts(ns.namespace_id, None)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(generation(meta, "charty").await > after_two);

    // Deleting another tag of the manifest keeps the chart; deleting its tag removes it.
    assert!(store.delete_tag(r, &tag("latest")).await.unwrap());
    assert_eq!(
        meta.charts
            .list_charts(ns.namespace_id, None)
            .await
            .unwrap()
            .len(),
        2
    );
    let before = generation(meta, "charty").await;
    assert!(store.delete_tag(r, &tag("1.1.0_b")).await.unwrap());
    let left = meta
        .charts
        .list_charts(ns.namespace_id, None)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert!(generation(meta, "charty").await > before);

    // Moving the version's tag to a manifest that is no chart drops the version.
    let plain = manifest("not-a-chart", &[(&config, 12)], None);
    store
        .put_manifest(r, &plain, &[tag("1.0.0")])
        .await
        .unwrap();
    assert_eq!(
        meta.charts
            .list_charts(ns.namespace_id, None)
            .await
            .unwrap(),
        []
    );

    // Deleting the manifest takes the chart with it.
    store.put_manifest(r, &one, &[tag("1.0.0")]).await.unwrap();
    assert_eq!(
        meta.charts
            .list_charts(ns.namespace_id, None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.delete_manifest(r, &one.digest).await.unwrap());
    assert_eq!(
        meta.charts
            .list_charts(ns.namespace_id, None)
            .await
            .unwrap(),
        []
    );
    assert!(
        store
            .get_manifest(r, &Reference::Digest(plain.digest.clone()))
            .await
            .unwrap()
            .is_some()
    );

    // And deleting the repository too.
    store
        .put_manifest(r, &two, &[tag("1.1.0_b")])
        .await
        .unwrap();
    assert_eq!(
        meta.charts
            .list_charts(ns.namespace_id, None)
            .await
            .unwrap()
            .len(),
        1
    );
    let before = generation(meta, "charty").await;
    assert!(
        meta.repositories
            .delete_repository(&repo("charty/app"))
            .await
            .unwrap()
    );
    assert_eq!(
        meta.charts
            .list_charts(ns.namespace_id, None)
            .await
            .unwrap(),
        []
    );
    assert!(generation(meta, "charty").await > before);
}
