//! Azure Blob Storage and Google Cloud Storage on real emulators on loopback (Azurite and
//! fake-gcs-server, installed by `scripts/test.sh`; tests/common/emulators.rs), and Delta
//! tables on S3 (moto): the pipeline test of tests/s3.rs (raw exports read from the bucket,
//! published over two nights, `parcours test`), the warehouse lease's conditional writes, and a
//! missing bucket or container as exit code 4. parcours is configured for each emulator through
//! the environment only.
//!
//! fake-gcs-server takes no object uploads, copies or conditional writes through the GCS XML
//! API, which object_store's GCS client uses for them (it answers `400 invalid uploadType`), so
//! on GCS the tests cover what it serves: listing, ranged reads and deletes. Raw exports and a
//! published warehouse (Parquet and Delta) are read from the bucket; publishing to GCS is not
//! tested here.

mod common;
#[path = "common/delta.rs"]
mod delta;
#[path = "common/emulators.rs"]
mod emulators;
#[path = "common/s3.rs"]
mod s3;

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parcours::run::lease::{LEASE_FILE, Lease, LeaseOptions, LeaseRecord};
use parcours::storage::StorageRoot;

use common::TestProject;
use delta::{Table, block};

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn upload(store: &Arc<dyn ObjectStore>, dir: &std::path::Path, prefix: &str) {
    for (rel, path) in emulators::files_under(dir) {
        store
            .put(
                &Path::from(format!("{prefix}/{rel}")),
                std::fs::read(path).expect("read").into(),
            )
            .await
            .expect("put");
    }
}

async fn list(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = store
        .list(Some(&Path::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    v.sort();
    v
}

fn with_delta(p: &TestProject) {
    let config = p.read_file("pipelines.yaml").replace(
        "  defaults:\n    materialization: table\n",
        "  defaults:\n    materialization: table\n    format: delta\n",
    );
    p.write_file("pipelines.yaml", &config);
}

/// The pipeline of tests/s3.rs on `bucket_url` (`az://lake/`): raw exports uploaded under
/// `exports/`, two nights published under `curated/`, then `parcours test`; in Delta format
/// when `delta`. `secret` must appear in no output.
fn two_nights(
    store: Arc<dyn ObjectStore>,
    bucket_url: &str,
    env: &[(&'static str, String)],
    secret: Option<&str>,
    delta: bool,
) {
    let p = common::fixture("shop");
    p.write_shop_raw();
    if delta {
        with_delta(&p);
    }
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let prefix = if delta { "delta" } else { "parquet" };
    rt.block_on(upload(
        &store,
        &p.path().join("raw"),
        &format!("{prefix}/exports"),
    ));
    let raw = format!("raw={bucket_url}{prefix}/exports");
    let wh = format!("warehouse={bucket_url}{prefix}/curated");
    let env = env_refs(env);
    for date in ["2026-11-20", "2026-11-21"] {
        let out = p.run_env(
            &["run", "--date", date, "--storage", &raw, "--storage", &wh],
            &env,
        );
        assert_eq!(out.code, 0, "{}", out.all());
        if let Some(secret) = secret {
            assert!(!out.all().contains(secret), "a credential leaked");
        }
    }
    assert!(
        !p.path().join("warehouse").exists(),
        "nothing is written locally"
    );
    rt.block_on(async {
        let curated = format!("{prefix}/curated");
        assert_eq!(
            list(&store, &format!("{curated}/_parcours/staging")).await,
            Vec::<String>::new(),
            "nothing left in staging"
        );
        if delta {
            let fct = Table::in_bucket(store.clone(), bucket_url, &curated, "fct_orders");
            let snap = fct.snapshot(None).await.expect("fct_orders");
            assert_eq!(snap.version, 1);
            let parts: Vec<&str> = snap
                .files
                .iter()
                .filter_map(|f| f.partition.as_deref())
                .collect();
            assert_eq!(parts, ["2026-11-20", "2026-11-21"]);
            let rows = fct.rows(None).await.expect("rows");
            assert_eq!(rows.len(), 3, "{rows:?}");
            let dim = Table::in_bucket(store.clone(), bucket_url, &curated, "dim_customer");
            assert_eq!(dim.rows(None).await.expect("dim_customer").len(), 2);
            assert!(
                list(&store, &format!("{curated}/dim_customer/_delta_log/"))
                    .await
                    .iter()
                    .any(|f| f.ends_with("00000000000000000001.json"))
            );
        } else {
            let dim = list(&store, &format!("{curated}/dim_customer")).await;
            assert_eq!(dim.len(), 2, "{dim:?}");
            let fct = list(&store, &format!("{curated}/fct_orders")).await;
            let parts: Vec<&String> = fct.iter().filter(|f| f.ends_with(".parquet")).collect();
            assert!(
                parts.len() == 2
                    && parts[0].contains("order_date=2026-11-20/")
                    && parts[1].contains("order_date=2026-11-21/"),
                "{fct:?}"
            );
        }
    });
    let out = p.run_env(
        &[
            "test",
            "--date",
            "2026-11-21",
            "--storage",
            &raw,
            "--storage",
            &wh,
        ],
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.all());
}

/// The lease's compare-and-swap on a store: exclusive while held, free once released, and a
/// stale lease taken over by exactly one of two runs (conditional create, then conditional
/// updates on the e-tag).
fn lease_is_exclusive(store: Arc<dyn ObjectStore>, url: &str) {
    let root = StorageRoot {
        name: "warehouse".into(),
        url: url::Url::parse(url).expect("url"),
        prefix: Path::from(url::Url::parse(url).expect("url").path().trim_matches('/')),
        store,
    };
    let opts = LeaseOptions {
        ttl: Duration::from_secs(30),
        wait: Duration::ZERO,
    };
    block(async {
        let a = Lease::acquire(&root, "run-a", opts)
            .await
            .expect("first lease");
        let err = Lease::acquire(&root, "run-b", opts)
            .await
            .err()
            .expect("held");
        assert_eq!(err.exit_code(), 5, "{err}");
        assert!(err.to_string().contains("run run-a"), "{err}");
        assert!(a.check().ensure_held().is_ok());
        assert!(a.release().await.is_none());
        let b = Lease::acquire(&root, "run-b", opts)
            .await
            .expect("released lease");
        assert!(b.release().await.is_none());

        // A run on another machine died holding the lease, which has expired since.
        let dead = LeaseRecord {
            format_version: 1,
            run_id: "run-dead".into(),
            host: "another-machine".into(),
            pid: 1,
            process: None,
            acquired_at: "2026-11-21T02:00:00.000Z".into(),
            renewed_at: "2026-11-21T02:00:00.000Z".into(),
            expires_at: "2026-11-21T02:01:00.000Z".into(),
            released_at: None,
        };
        root.store
            .put(
                &root.path(LEASE_FILE),
                serde_json::to_vec(&dead).expect("json").into(),
            )
            .await
            .expect("plant a stale lease");
        let (c, d) = tokio::join!(
            Lease::acquire(&root, "run-c", opts),
            Lease::acquire(&root, "run-d", opts)
        );
        assert!(
            c.is_ok() != d.is_ok(),
            "exactly one of two runs takes a stale lease over"
        );
        for l in [c, d].into_iter().flatten() {
            assert!(l.release().await.is_none());
        }
    });
}

#[test]
fn azure_pipeline_lease_and_missing_container() {
    let az = emulators::Azurite::start();
    az.create_container("lake");
    two_nights(
        az.store("lake"),
        "az://lake/",
        &az.env(),
        Some(emulators::AZURE_KEY),
        false,
    );
    two_nights(
        az.store("lake"),
        "az://lake/",
        &az.env(),
        Some(emulators::AZURE_KEY),
        true,
    );
    lease_is_exclusive(az.store("lake"), "az://lake/lease-test/");

    let p = common::fixture("shop");
    p.write_shop_raw();
    let env = az.env();
    let out = p.run_env(
        &["run", "--storage", "warehouse=az://no-such-container/wh"],
        &env_refs(&env),
    );
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(
        out.stderr.contains("storage `warehouse`") && out.stderr.contains("is not writable"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(emulators::AZURE_KEY));
}

#[test]
fn delta_pipeline_and_lease_on_s3() {
    let moto = s3::Moto::start();
    moto.create_bucket("lake");
    two_nights(
        moto.store("lake"),
        "s3://lake/",
        &moto.env(),
        Some(s3::SECRET_KEY),
        true,
    );
    lease_is_exclusive(moto.store("lake"), "s3://lake/lease-test/");
}

#[test]
fn gcs_sources_and_published_tables_read_from_the_bucket() {
    // The raw exports, loaded into the bucket `lake` when the server starts.
    let seed = common::fixture("shop");
    seed.write_shop_raw();
    let data = tempfile::tempdir().expect("dir");
    for (rel, path) in emulators::files_under(&seed.path().join("raw")) {
        let dest = data.path().join("lake/exports").join(rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(path, dest).expect("copy");
    }
    let gcs = emulators::FakeGcs::start(Some(data.path()));
    let env = gcs.env();
    let env = env_refs(&env);

    // Sources on GCS, both formats published to a local warehouse over two nights.
    let parquet = common::fixture("shop");
    let delta = common::fixture("shop");
    with_delta(&delta);
    for p in [&parquet, &delta] {
        for date in ["2026-11-20", "2026-11-21"] {
            let out = p.run_env(
                &["run", "--date", date, "--storage", "raw=gs://lake/exports"],
                &env,
            );
            assert_eq!(out.code, 0, "{}", out.all());
        }
    }
    let rows = block(Table::local(&delta.path().join("warehouse/fct_orders")).rows(None))
        .expect("fct_orders");
    assert_eq!(rows.len(), 3, "{rows:?}");

    // Those warehouses copied into the bucket: `parcours test` reads the Parquet commit
    // records and the Delta logs, and the files they list, from GCS.
    for (p, name) in [(&parquet, "parquet"), (&delta, "delta")] {
        gcs.upload_dir(
            "lake",
            &p.path().join("warehouse"),
            &format!("{name}/curated"),
        );
        let wh = format!("warehouse=gs://lake/{name}/curated");
        let out = p.run_env(
            &[
                "test",
                "--date",
                "2026-11-21",
                "--storage",
                "raw=gs://lake/exports",
                "--storage",
                &wh,
            ],
            &env,
        );
        assert_eq!(out.code, 0, "{}", out.all());
    }
    let fct = Table::in_bucket(
        gcs.store("lake"),
        "gs://lake/",
        "delta/curated",
        "fct_orders",
    );
    assert_eq!(block(fct.rows(None)).expect("rows"), rows);

    // A bucket that does not exist: a storage error naming it, exit code 4.
    let out = parquet.run_env(
        &[
            "run",
            "--date",
            "2026-11-21",
            "--storage",
            "raw=gs://no-such-bucket/exports",
        ],
        &env,
    );
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(
        out.stderr.contains("gs://no-such-bucket/exports/"),
        "{}",
        out.stderr
    );
}
