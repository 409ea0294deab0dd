//! The runner against a real S3-compatible server (moto on loopback): sources read from a
//! bucket, tables published to a bucket, through the same object_store code path as local
//! folders.

mod common;
#[path = "common/s3.rs"]
mod s3;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

/// Uploads every file under `dir` to `prefix` in the store.
async fn upload(
    store: &std::sync::Arc<dyn object_store::ObjectStore>,
    dir: &std::path::Path,
    prefix: &str,
) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("rel")
                    .to_string_lossy()
                    .to_string();
                let bytes = std::fs::read(&p).expect("read");
                store
                    .put(&Path::from(format!("{prefix}/{rel}")), bytes.into())
                    .await
                    .expect("put");
            }
        }
    }
}

async fn list(store: &std::sync::Arc<dyn object_store::ObjectStore>, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = store
        .list(Some(&Path::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    v.sort();
    v
}

#[test]
fn pipeline_reads_from_and_publishes_to_s3() {
    let moto = s3::Moto::start();
    moto.create_bucket("lake");
    let p = common::fixture("shop");
    p.write_shop_raw();
    let store = moto.store("lake");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(upload(&store, &p.path().join("raw"), "exports"));

    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = [
        "--storage",
        "raw=s3://lake/exports",
        "--storage",
        "warehouse=s3://lake/curated",
    ];
    for date in ["2026-11-20", "2026-11-21"] {
        let mut a = vec!["run", "--date", date];
        a.extend_from_slice(&args);
        let out = p.run_env(&a, &env);
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(
            !out.all().contains(s3::SECRET_KEY),
            "the secret key leaked into the output"
        );
    }
    assert!(
        !p.path().join("warehouse").exists(),
        "nothing is written locally"
    );

    rt.block_on(async {
        let dim = list(&store, "curated/dim_customer").await;
        assert_eq!(dim.len(), 2, "{dim:?}");
        assert!(dim.iter().any(|f| f.ends_with("_parcours_commit.json")));
        let record: serde_json::Value = serde_json::from_slice(
            &store
                .get(&Path::from("curated/dim_customer/_parcours_commit.json"))
                .await
                .expect("get")
                .bytes()
                .await
                .expect("bytes"),
        )
        .expect("json");
        assert_eq!(record["rows"], 2);

        // Read the published file back with the parquet reader: the rows are there.
        let file = dim
            .iter()
            .find(|f| f.ends_with(".parquet"))
            .expect("parquet file");
        let bytes = store
            .get(&Path::from(file.as_str()))
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet")
            .build()
            .expect("reader");
        let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
        assert_eq!(rows, 2);

        // Two runs, two partitions of the partitioned table; nothing left in staging.
        let fct = list(&store, "curated/fct_orders").await;
        let parts: Vec<&String> = fct.iter().filter(|f| f.ends_with(".parquet")).collect();
        assert_eq!(parts.len(), 2, "{fct:?}");
        assert!(
            parts[0].contains("order_date=2026-11-20/")
                && parts[1].contains("order_date=2026-11-21/"),
            "{fct:?}"
        );
        assert_eq!(
            list(&store, "curated/_parcours/staging").await,
            Vec::<String>::new()
        );
    });

    // A test run reads the published tables from S3 too.
    let mut a = vec!["test", "--date", "2026-11-21"];
    a.extend_from_slice(&args);
    let out = p.run_env(&a, &env);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn unreachable_bucket_is_a_storage_error() {
    let moto = s3::Moto::start();
    moto.create_bucket("lake");
    let p = common::fixture("shop");
    p.write_shop_raw();
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The raw data is local, the warehouse bucket does not exist.
    let out = p.run_env(
        &["run", "--storage", "warehouse=s3://no-such-bucket/wh"],
        &env,
    );
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(
        out.stderr.contains("storage `warehouse`") && out.stderr.contains("is not writable"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(s3::SECRET_KEY));
}
