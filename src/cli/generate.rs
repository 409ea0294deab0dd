//! `parcours generate` (raw exports with their ground truth) and `parcours eval` (scores a
//! warehouse against that truth): the commands that work on storage locations given on the
//! command line rather than on a project.

use super::{EvalArgs, EvalKind, GenerateArgs, OutputFormat};
use crate::error::{Error, Result, exit};

/// A storage URL or path given on the command line, relative to the current folder.
fn location(name: &str, url: &str) -> Result<crate::storage::StorageRoot> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::Usage(format!("no current folder: {e}")))?;
    let spec = crate::config::StorageSpec {
        url: url.to_string(),
        ..Default::default()
    };
    crate::storage::StorageRoot::resolve(name, &spec, &cwd)
}

fn generator_params(a: &GenerateArgs) -> Result<crate::generator::GeneratorParams> {
    let base = serde_json::to_value(a.profile.profile().params())
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut value = match &a.params {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::Usage(format!("--params {}: {e}", file.display())))?;
            let v: serde_json::Value = serde_norway::from_str(&text)
                .map_err(|e| Error::config(file, e.location().map(|l| l.line()), e.to_string()))?;
            // the file's values over the profile's
            let mut merged = base.clone();
            if let (Some(m), Some(o)) = (merged.as_object_mut(), v.as_object()) {
                for (k, x) in o {
                    m.insert(k.clone(), x.clone());
                }
                merged
            } else {
                v
            }
        }
        None => base,
    };
    let defaults = serde_json::to_value(crate::generator::GeneratorParams::default())
        .map_err(|e| Error::Internal(e.to_string()))?;
    for (k, v) in &a.param {
        if defaults.get(k).is_none() {
            let known: Vec<&String> = defaults
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            return Err(Error::Usage(format!(
                "--param {k}: unknown parameter{}",
                crate::graph::suggest(k, known.into_iter())
            )));
        }
        let parsed: serde_json::Value = serde_json::from_str(v).map_err(|_| {
            Error::Usage(format!(
                "--param {k}={v}: the value must be a number, a boolean or a [list]"
            ))
        })?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert(k.clone(), parsed);
        }
    }
    serde_json::from_value(value).map_err(|e| Error::Usage(format!("generator parameters: {e}")))
}

pub(super) async fn generate(a: GenerateArgs) -> Result<u8> {
    let root = location("out", &a.out)?;
    let end_date = a
        .end_date
        .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Days::new(1));
    let mut opts = crate::generator::GenerateOptions::new(a.scale, a.seed, a.days, end_date);
    opts.params = generator_params(&a)?;
    opts.profile = a.profile.profile();
    let started = std::time::Instant::now();
    tracing::info!(event = "generate_start", out = %root.url, profile = ?a.profile, scale = a.scale, seed = a.seed, days = a.days, end_date = %end_date, "generating");
    let report = crate::generator::generate(&opts, root.store.clone(), &root.prefix)
        .await
        .map_err(|e| match e {
            crate::generator::GenerateError::InvalidOptions(m) => Error::Usage(m),
            other => Error::storage("out", other),
        })?;
    let elapsed = started.elapsed().as_secs_f64();
    tracing::info!(
        event = "generate_end",
        rows = report.total_rows(),
        bytes = report.total_bytes(),
        seconds = elapsed,
        rows_per_s = (report.total_rows() as f64 / elapsed.max(1e-9)) as u64,
        "generated"
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&report.to_json())
            .map_err(|e| Error::Internal(e.to_string()))?
    );
    Ok(exit::SUCCESS)
}

pub(super) async fn eval(a: EvalArgs) -> Result<u8> {
    let truth = location("truth", &a.truth)?;
    let wh = location("warehouse", &a.warehouse)?;
    let pair = |r: &crate::storage::StorageRoot| (r.store.clone(), r.prefix.clone());
    let fail = |e: crate::eval::EvalError| Error::source_data("eval", e.to_string());
    let (json, text) = match a.kind {
        EvalKind::Identity => {
            let s = crate::eval::eval_identity(pair(&truth), pair(&wh))
                .await
                .map_err(fail)?;
            let text = format!(
                "identity: {} records ({} missing from the bridge; {} erased persons left out), {} true pairs, {} predicted pairs\nprecision {:.4}  recall {:.4}  F1 {:.4}\nlargest predicted cluster {} (largest true {})\n",
                s.records,
                s.missing_records,
                s.erased_persons,
                s.true_pairs,
                s.predicted_pairs,
                s.precision,
                s.recall,
                s.f1,
                s.largest_predicted_cluster,
                s.largest_true_cluster
            );
            (s.to_json(), text)
        }
        EvalKind::Attribution => {
            let s = crate::eval::eval_attribution(pair(&truth), pair(&wh))
                .await
                .map_err(fail)?;
            let mut text = String::from(
                "model               spearman vs planted lift: of the share  per touch\n",
            );
            for m in &s.per_model {
                text.push_str(&format!(
                    "{:<20}{:>35.3}{:>11.3}\n",
                    m.model, m.spearman, m.spearman_per_touch
                ));
            }
            (s.to_json(), text)
        }
    };
    match a.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json).map_err(|e| Error::Internal(e.to_string()))?
        ),
        OutputFormat::Text => print!("{text}"),
    }
    Ok(exit::SUCCESS)
}
