//! Chart versions: recorded with their manifest, listed by namespace, gone with their tag,
//! manifest or repository, and every change bumps the namespace's generation.

use berth_core::{Digest, Reference};

use super::{manifest, repo, repo_id, tag};
use crate::{ManifestRef, Meta, NewChart};

pub(super) async fn run(meta: &Meta) {
    lifecycle(meta).await;
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

    // Keys without metadata, and full rows for some keys.
    let mut keys = meta.charts.list_chart_keys(ns.namespace_id).await.unwrap();
    keys.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].tag, "1.0.0");
    assert_eq!(keys[0].manifest, one.digest.as_str());
    assert_eq!(keys[1].name, "app");
    assert_eq!(keys[1].created_at, all[1].created_at);
    let some = meta
        .charts
        .get_charts(
            ns.namespace_id,
            &[(r, "1.1.0_b".to_owned()), (r, "9.9.9".to_owned())],
        )
        .await
        .unwrap();
    assert_eq!(some, [all[1].clone()]);
    assert_eq!(
        meta.charts.get_charts(ns.namespace_id, &[]).await.unwrap(),
        []
    );

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
