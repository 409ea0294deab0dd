//! The example project `examples/channel_attribution` runs as it is shipped, on its committed
//! path table in ChannelAttribution's format (no internet): the weighted path table gives the
//! same Markov removal effects as the same journeys exploded one per row, ChannelAttribution's
//! normalised credit adds up to the table's conversions and value, and the heuristic,
//! Shapley and data-driven models run on it.

mod common;

use std::path::Path;

use common::TestProject;
use common::sql::{context, rows};
use datafusion::prelude::ParquetReadOptions;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read example").flatten() {
        let name = e.file_name();
        if name == "warehouse" || name == "target" {
            continue;
        }
        let dest = to.join(&name);
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

fn number(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

/// Removal effects of the committed path table exploded into one row per journey (each
/// conversion carrying an equal part of its path's value), computed with the functions alone.
fn exploded_effects(data: &Path, order: usize) -> Vec<(String, f64, f64)> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let ctx = context(4);
        ctx.register_parquet(
            "paths",
            data.to_string_lossy().as_ref(),
            ParquetReadOptions::default(),
        )
        .await
        .expect("register");
        let sql = format!(
            "with journeys as (
                 select string_to_array(path, ' > ') as channels, true as converted,
                        total_conversion_value / total_conversions as value,
                        unnest(range(cast(total_conversions as bigint))) as k
                 from paths where total_conversions > 0
                 union all
                 select string_to_array(path, ' > '), false, 0.0,
                        unnest(range(cast(total_null as bigint)))
                 from paths where total_null > 0
             )
             select e['channel'], e['removal_effect'], e['value_removal_effect']
             from (select unnest(markov_removal_effects(channels, converted, {order}, 1, value)) as e
                   from journeys)
             order by 1"
        );
        rows(&ctx, &sql)
            .await
            .expect("exploded")
            .into_iter()
            .map(|r| {
                let cell = |i: usize| r[i].clone().unwrap_or_default();
                (cell(0), number(&cell(1)), number(&cell(2)))
            })
            .collect()
    })
}

#[test]
fn the_example_runs_on_an_aggregated_path_table_without_exploding_it() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/channel_attribution");
    let p = TestProject {
        dir: tempfile::tempdir().expect("temp dir"),
    };
    copy_dir(&example, p.path());
    let out = p.run(&["run", "--date", "2026-01-01"]);
    assert_eq!(out.code, 0, "{}", out.all());

    // Weighted rows = exploded rows, at every order (the value effects to rounding: the
    // exploded rows split each path's value into equal parts).
    for order in 1..=3 {
        let got = p.query_rows(&format!(
            "select channel, removal_effect, value_removal_effect
             from markov_removal_effects_by_order where markov_order = {order} order by channel"
        ));
        let want = exploded_effects(&p.path().join("data/paths"), order);
        assert_eq!(got.len(), want.len(), "order {order}: {got:?} vs {want:?}");
        assert_eq!(got.len(), 5);
        for (g, (channel, effect, value_effect)) in got.iter().zip(&want) {
            assert_eq!(&g[0], channel);
            assert!(
                (number(&g[1]) - effect).abs() < 1e-12,
                "order {order}: {g:?}"
            );
            assert!(
                (number(&g[2]) - value_effect).abs() < 1e-9,
                "order {order}: {g:?}"
            );
        }
        assert!(
            got.iter()
                .any(|g| (number(&g[1]) - number(&g[2])).abs() > 1e-6),
            "the value game differs from the conversion game"
        );
    }

    // ChannelAttribution's credit: all conversions and all value, shared by the channels.
    let totals = p.query_rows(
        "select markov_order, sum(total_conversions), sum(total_conversion_value)
         from markov_credit group by markov_order order by markov_order",
    );
    let heuristics = p.query_rows(
        "select sum(first_touch_conversions), sum(last_touch_conversions),
                sum(linear_touch_conversions), sum(linear_touch_value)
         from heuristic_credit",
    );
    let shapley = p.query_rows(
        "select sum(simplified_conversions), sum(simplified_value), sum(rate_conversions)
         from shapley_credit",
    );
    let conversions = number(&heuristics[0][0]);
    let value = number(&heuristics[0][3]);
    assert!(conversions > 50.0, "{heuristics:?}");
    assert_eq!(totals.len(), 3);
    for t in &totals {
        assert!((number(&t[1]) - conversions).abs() < 1e-9, "{t:?}");
        assert!((number(&t[2]) - value).abs() < 1e-6, "{t:?}");
    }
    for cell in &heuristics[0][..3] {
        assert!((number(cell) - conversions).abs() < 1e-9, "{heuristics:?}");
    }
    for (i, want) in [conversions, value, conversions].iter().enumerate() {
        assert!(
            (number(&shapley[0][i]) - want).abs() < 1e-6,
            "{shapley:?} vs {want}"
        );
    }

    // The data-driven fit converged on the weighted journeys.
    let fit = p.query_rows(
        "select count(*), bool_and(converged), max(n_journeys) from data_driven_effects",
    );
    assert_eq!(fit[0][0], "5", "{fit:?}");
    assert_eq!(fit[0][1], "true", "{fit:?}");
    assert!(number(&fit[0][2]) > conversions, "{fit:?}");
}
