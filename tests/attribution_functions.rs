//! SQL-level tests of the attribution aggregates `markov_removal_effects`
//! and `shapley_channel_weights`: literal inputs, GROUP BY, a four-partition
//! table (so partial states are built and merged), argument checks, and the
//! documented join from Shapley weights back to journeys. Expected values
//! are the hand-derived ones of the unit tests in `src/functions/`.

mod common;

use std::sync::Arc;

use common::sql::{context, rows};
use datafusion::arrow::array::{
    BooleanArray, Int64Array, ListBuilder, RecordBatch, StringArray, StringViewBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

/// Asserts that `got` has the text columns and, in its last column, the
/// numbers of `expected`, the numbers within 1e-9.
fn assert_rows(got: &[Vec<Option<String>>], expected: &[(&[&str], f64)]) {
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (row, (texts, number)) in got.iter().zip(expected) {
        let Some((last, first)) = row.split_last() else {
            panic!("empty row in {got:?}");
        };
        let first: Vec<&str> = first
            .iter()
            .map(|c| c.as_deref().unwrap_or("NULL"))
            .collect();
        assert_eq!(first, *texts, "{got:?}");
        let value: f64 = last
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("not a number in {row:?}"));
        assert!(
            (value - number).abs() < 1e-9,
            "{row:?} != {number} in {got:?}"
        );
    }
}

/// One customer journey: id, group, channels in time order, converted.
type Journey = (i64, &'static str, &'static [&'static str], Option<bool>);

fn journeys() -> Vec<Journey> {
    let mut j: Vec<Journey> = vec![
        // Group m: C1→C2→conv, C1→null, C2→conv (effects C1 0.5, C2 1).
        (1, "m", &["C1", "C2"], Some(true)),
        (2, "m", &["C1"], None),
        (3, "m", &["C2"], Some(true)),
        // Group m2: one channel (effect 1), a journey without channel.
        (4, "m2", &["A"], Some(true)),
        (5, "m2", &["A", "A"], Some(false)),
        (6, "m2", &[], Some(true)),
    ];
    // Group s: {A} 1/5, {B} 1/10, {A,B} 2/5 (orders and repeats vary),
    // giving Shapley weights 0.625/0.375 on {A,B}.
    let mut id = 100;
    let mut push = |channels: &'static [&'static str], converted: bool, times: usize| {
        for _ in 0..times {
            j.push((id, "s", channels, Some(converted)));
            id += 1;
        }
    };
    push(&["A"], true, 1);
    push(&["A", "A"], false, 4);
    push(&["B"], true, 1);
    push(&["B"], false, 9);
    push(&["B", "A"], true, 1);
    push(&["A", "B", "A"], true, 1);
    push(&["A", "B"], false, 3);
    // Group k: byte order puts upper case first ("Email" < "direct").
    j.extend([
        (200, "k", &["direct", "Email"][..], Some(true)),
        (201, "k", &["Email"][..], Some(true)),
        (202, "k", &["direct"][..], Some(false)),
        (203, "k", &["Email", "direct", "Email"][..], Some(false)),
        (204, "k", &["direct"][..], Some(true)),
    ]);
    j
}

/// Registers `journeys(id, grp, channels List<Utf8View>, converted)` over
/// four partitions, rows dealt round-robin.
fn register_journeys(ctx: &SessionContext) -> Result<()> {
    let channels_type = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8View, true)));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("grp", DataType::Utf8, false),
        Field::new("channels", channels_type, true),
        Field::new("converted", DataType::Boolean, true),
    ]));
    let all = journeys();
    let mut partitions = Vec::new();
    for p in 0..4 {
        let part: Vec<&Journey> = all.iter().skip(p).step_by(4).collect();
        let ids: Int64Array = part.iter().map(|j| Some(j.0)).collect();
        let groups: StringArray = part.iter().map(|j| Some(j.1)).collect();
        let mut channels = ListBuilder::new(StringViewBuilder::new());
        for j in &part {
            for c in j.2 {
                channels.values().append_value(c);
            }
            channels.append(true);
        }
        let converted: BooleanArray = part.iter().map(|j| j.3).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(ids),
                Arc::new(groups),
                Arc::new(channels.finish()),
                Arc::new(converted),
            ],
        )?;
        partitions.push(vec![batch]);
    }
    ctx.register_table("journeys", Arc::new(MemTable::try_new(schema, partitions)?))?;
    Ok(())
}

#[tokio::test]
async fn markov_on_literal_values() -> Result<()> {
    let ctx = context(1);
    let got = rows(
        &ctx,
        "select e['channel'], e['removal_effect'] from (
           select unnest(markov_removal_effects(path, converted)) as e
           from (values (make_array('C1', 'C2'), true),
                        (make_array('C1'), false),
                        (make_array('C2'), true)) t(path, converted))",
    )
    .await?;
    assert_rows(&got, &[(&["C1"], 0.5), (&["C2"], 1.0)]);

    // Order 2 separates "A then B" from "C then B" (see the unit test
    // `second_order_separates_contexts`); a constant expression is a literal
    // once simplified.
    for order in ["2", "1 + 1"] {
        let got = rows(
            &ctx,
            &format!(
                "select e['channel'], e['removal_effect'] from (
                   select unnest(markov_removal_effects(path, converted, {order})) as e
                   from (values (make_array('A', 'B'), true),
                                (make_array('C', 'B'), false)) t(path, converted))"
            ),
        )
        .await?;
        assert_rows(&got, &[(&["A"], 1.0), (&["B"], 1.0), (&["C"], 0.0)]);
    }
    Ok(())
}

#[tokio::test]
async fn markov_per_group_on_four_partitions() -> Result<()> {
    let sql = "select grp, e['channel'], e['removal_effect'] from (
                 select grp, unnest(effects) as e from (
                   select grp, markov_removal_effects(channels, converted) as effects
                   from journeys where grp in ('m', 'm2') group by grp))
               order by grp, e['channel']";
    let mut results = Vec::new();
    for partitions in [1, 4] {
        let ctx = context(partitions);
        register_journeys(&ctx)?;
        let got = rows(&ctx, sql).await?;
        assert_rows(
            &got,
            &[
                (&["m", "C1"], 0.5),
                (&["m", "C2"], 1.0),
                (&["m2", "A"], 1.0),
            ],
        );
        results.push(got);
        // Four input partitions: partial states are built and merged.
        let plan = format!("{:?}", rows(&ctx, &format!("explain {sql}")).await?);
        assert!(plan.contains("mode=Partial"), "{plan}");
    }
    // The list value itself (order included) does not depend on the plan.
    let mut whole = Vec::new();
    for partitions in [1, 2, 3, 4, 8] {
        let ctx = context(partitions);
        register_journeys(&ctx)?;
        whole.push(
            rows(
                &ctx,
                "select markov_removal_effects(channels, converted, 3) from journeys",
            )
            .await?,
        );
    }
    assert!(whole.windows(2).all(|w| w[0] == w[1]), "{whole:?}");
    Ok(())
}

#[tokio::test]
async fn markov_argument_errors_and_empty_input() -> Result<()> {
    let ctx = context(2);
    register_journeys(&ctx)?;
    for (call, message) in [
        (
            "markov_removal_effects(channels, converted, 5)",
            "between 1 and 4",
        ),
        (
            "markov_removal_effects(channels, converted, 0)",
            "between 1 and 4",
        ),
        (
            "markov_removal_effects(channels, converted, id)",
            "must be an integer literal",
        ),
        (
            "markov_removal_effects(channels, converted, 'x')",
            "must be an integer",
        ),
        (
            "markov_removal_effects(grp, converted)",
            "list of channel names",
        ),
        (
            "shapley_channel_weights(channels, converted, 21)",
            "between 0 and 20",
        ),
        // a count where the flag is expected would read every count above 0 as "converted"
        (
            "markov_removal_effects(channels, id)",
            "`converted` must be a Boolean",
        ),
        (
            "shapley_channel_weights(channels, id)",
            "`converted` must be a Boolean",
        ),
        (
            "logistic_touch_effects(channels, id)",
            "`converted` must be a Boolean",
        ),
        (
            "shapley_channel_weights(channels, converted, 12, 'exact')",
            "variant must be one of the string literals 'rate', 'simplified'",
        ),
        (
            "shapley_channel_weights(channels, converted, 12, grp)",
            "variant must be one of",
        ),
        (
            "markov_removal_effects(channels, converted, 1, grp)",
            "the weight must be a number",
        ),
        (
            "markov_removal_effects(channels, converted, 1, 1, 1, 1)",
            "expects 2 to 5 arguments",
        ),
        (
            "logistic_touch_effects(channels, converted, 1, 1)",
            "`stratum` (argument 4) must be a string",
        ),
        (
            "logistic_touch_effects(channels, converted, 1, grp, grp)",
            "expects 2 to 4 arguments",
        ),
    ] {
        let result = rows(&ctx, &format!("select {call} from journeys")).await;
        let Err(e) = result else {
            panic!("{call}: expected an error, got {result:?}");
        };
        assert!(e.to_string().contains(message), "{call}: {e}");
    }
    let empty = rows(
        &ctx,
        "select count(*) from (select unnest(markov_removal_effects(channels, converted)) from journeys where grp = 'none')",
    )
    .await?;
    assert_eq!(empty, vec![vec![Some("0".to_string())]]);
    Ok(())
}

/// The data-driven fit within strata over four partitions: every group with both outcomes is a
/// stratum (m, m2, s and k; 30 journeys with channels), partial states merge into the same
/// fit; with every stratum NULL no stratum informs it, and the pooled fit comes back.
#[tokio::test]
async fn logistic_within_strata_on_four_partitions() -> Result<()> {
    let ctx = context(4);
    register_journeys(&ctx)?;
    let fit = |stratum: &str| {
        format!(
            "select f['channel'], f['strata'], f['n_journeys'], f['converged'], f['coefficient']
             from (select unnest(logistic_touch_effects(channels, converted, 1, {stratum})) as f
                   from journeys) order by 1"
        )
    };
    let within = rows(&ctx, &fit("grp")).await?;
    assert_eq!(within.len(), 6, "{within:?}");
    for r in &within {
        assert_eq!(
            r[1..4],
            [Some("4".into()), Some("30".into()), Some("true".into())],
            "{r:?}"
        );
    }
    let pooled = rows(
        &ctx,
        "select f['channel'], f['strata'], f['n_journeys'], f['converged'], f['coefficient']
         from (select unnest(logistic_touch_effects(channels, converted)) as f from journeys)
         order by 1",
    )
    .await?;
    assert_eq!(rows(&ctx, &fit("cast(null as varchar)")).await?, pooled);
    assert_ne!(within, pooled);
    // the same bits on one partition
    let one = context(1);
    register_journeys(&one)?;
    assert_eq!(rows(&one, &fit("grp")).await?, within);
    Ok(())
}

#[tokio::test]
async fn shapley_on_literal_values() -> Result<()> {
    let ctx = context(1);
    // v(A) = 1/2, v(B) = 0, v(A,B) = 1/2: φ_A = ½·½ + ½·½ = ½, φ_B = 0.
    let got = rows(
        &ctx,
        "select e['channel_set'], e['channel'], e['weight'] from (
           select unnest(shapley_channel_weights(channels, converted)) as e
           from (values (make_array('A'), true), (make_array('A'), false),
                        (make_array('B'), false),
                        (make_array('B', 'A', 'B'), true), (make_array('A', 'B'), false)
                ) t(channels, converted))",
    )
    .await?;
    assert_rows(
        &got,
        &[
            (&["A", "A"], 1.0),
            (&["A,B", "A"], 1.0),
            (&["A,B", "B"], 0.0),
        ],
    );
    Ok(())
}

#[tokio::test]
async fn shapley_per_group_on_four_partitions() -> Result<()> {
    let sql = "select grp, e['channel_set'], e['channel'], e['weight'] from (
                 select grp, unnest(weights) as e from (
                   select grp, shapley_channel_weights(channels, converted) as weights
                   from journeys group by grp))
               where grp in ('s', 'k')
               order by grp, e['channel_set'], e['channel']";
    for partitions in [1, 4] {
        let ctx = context(partitions);
        register_journeys(&ctx)?;
        let got = rows(&ctx, sql).await?;
        // Group k: v(direct) = 1/2, v(Email) = 1, v(Email,direct) = 1/2:
        // φ_Email = ½·1 + ½(½ − ½) = ½, φ_direct = ½·½ + ½(½ − 1) = 0.
        assert_rows(
            &got,
            &[
                (&["k", "Email", "Email"], 1.0),
                (&["k", "Email,direct", "Email"], 1.0),
                (&["k", "Email,direct", "direct"], 0.0),
                (&["k", "direct", "direct"], 1.0),
                (&["s", "A", "A"], 1.0),
                (&["s", "A,B", "A"], 0.625),
                (&["s", "A,B", "B"], 0.375),
                (&["s", "B", "B"], 1.0),
            ],
        );
        let plan = format!("{:?}", rows(&ctx, &format!("explain {sql}")).await?);
        assert!(plan.contains("mode=Partial"), "{plan}");
    }

    // max_channels 0 samples every set: still normalised, and close to
    // exact on this two-channel game.
    let ctx = context(4);
    register_journeys(&ctx)?;
    let got = rows(
        &ctx,
        "select e['channel_set'], sum(e['weight']) from (
           select unnest(shapley_channel_weights(channels, converted, 0)) as e
           from journeys where grp = 's')
         group by e['channel_set'] order by 1",
    )
    .await?;
    assert_rows(&got, &[(&["A"], 1.0), (&["A,B"], 1.0), (&["B"], 1.0)]);
    let sampled = rows(
        &ctx,
        "select e['weight'] from (
           select unnest(shapley_channel_weights(channels, converted, 0)) as e
           from journeys where grp = 's')
         where e['channel_set'] = 'A,B' and e['channel'] = 'A'",
    )
    .await?;
    let a: f64 = sampled[0][0]
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0);
    assert!((a - 0.625).abs() < 0.02, "{a}");
    Ok(())
}

#[tokio::test]
async fn shapley_weights_join_back_to_journeys() -> Result<()> {
    let ctx = context(4);
    register_journeys(&ctx)?;
    // Credit per channel over the converting journeys of group s: A earns
    // 1 (its own conversion) + 2 × 0.625, B 1 + 2 × 0.375; together the 4
    // conversions.
    let got = rows(
        &ctx,
        "with w as (
           select grp, unnest(weights) as e from (
             select grp, shapley_channel_weights(channels, converted) as weights
             from journeys group by grp))
         select j.grp, e['channel'], sum(e['weight'])
         from journeys j
         join w on w.grp = j.grp
               and e['channel_set'] = array_to_string(array_sort(array_distinct(j.channels)), ',')
         where j.converted and j.grp in ('s', 'k')
         group by j.grp, e['channel'] order by 1, 2",
    )
    .await?;
    assert_rows(
        &got,
        &[
            (&["k", "Email"], 2.0),
            (&["k", "direct"], 1.0),
            (&["s", "A"], 2.25),
            (&["s", "B"], 1.75),
        ],
    );

    // Every converting journey with channels finds its set, and its
    // weights sum to 1.
    let got = rows(
        &ctx,
        "with w as (
           select grp, unnest(weights) as e from (
             select grp, shapley_channel_weights(channels, converted) as weights
             from journeys group by grp))
         select j.id, sum(e['weight'])
         from journeys j
         left join w on w.grp = j.grp
               and e['channel_set'] = array_to_string(array_sort(array_distinct(j.channels)), ',')
         where j.converted and cardinality(j.channels) > 0
         group by j.id order by j.id",
    )
    .await?;
    let expected_ids = [
        "1", "3", "4", "100", "105", "115", "116", "200", "201", "204",
    ];
    let expected: Vec<(&[&str], f64)> = expected_ids
        .iter()
        .map(|id| (std::slice::from_ref(id), 1.0))
        .collect();
    assert_rows(&got, &expected);
    Ok(())
}

/// A path table in ChannelAttribution's format, read as two weighted rows per path, gives
/// exactly the removal effects and Shapley weights of the same journeys one per row.
#[tokio::test]
async fn weighted_path_table_equals_exploded_journeys() -> Result<()> {
    let ctx = context(4);
    let table = "(values ('a > b', 3, 30.0, 2), ('b', 1, 5.0, 4), ('a > c > a', 2, 40.0, 0), \
                 ('c', 0, 0.0, 5), ('b > a > b > c', 4, 8.0, 1)) \
                 as p(path, total_conversions, total_conversion_value, total_null)";
    let weighted = format!(
        "select string_to_array(path, ' > ') as channels, true as converted, \
                total_conversions as weight, total_conversion_value as value from {table} \
         union all \
         select string_to_array(path, ' > '), false, total_null, 0 from {table}"
    );
    let exploded = format!(
        "select string_to_array(path, ' > ') as channels, true as converted, 1 as weight, \
                total_conversion_value / total_conversions as value, \
                unnest(range(total_conversions)) as k from {table} where total_conversions > 0 \
         union all \
         select string_to_array(path, ' > '), false, 1, 0, unnest(range(total_null)) \
         from {table} where total_null > 0"
    );
    for order in 1..=3 {
        let markov = |from: &str| {
            format!(
                "select e['channel'], e['removal_effect'], e['value_removal_effect'] from \
                 (select unnest(markov_removal_effects(channels, converted, {order}, weight, \
                 value)) as e from ({from})) order by 1"
            )
        };
        let a = rows(&ctx, &markov(&weighted)).await?;
        let b = rows(&ctx, &markov(&exploded)).await?;
        assert_eq!(a.len(), 3);
        assert_eq!(a, b, "order {order}");
    }
    for variant in ["rate", "simplified"] {
        let shapley = |from: &str| {
            format!(
                "select w['channel_set'], w['channel'], w['weight'] from \
                 (select unnest(shapley_channel_weights(channels, converted, 12, '{variant}', \
                 weight, value)) as w from ({from})) order by 1, 2"
            )
        };
        let a = rows(&ctx, &shapley(&weighted)).await?;
        let b = rows(&ctx, &shapley(&exploded)).await?;
        assert!(!a.is_empty());
        assert_eq!(a, b, "{variant}");
    }
    let fit = |from: &str| {
        format!(
            "select f['channel'], f['coefficient'], f['std_error'], f['n_journeys'] from \
             (select unnest(logistic_touch_effects(channels, converted, weight)) as f \
             from ({from})) order by 1"
        )
    };
    let a = rows(&ctx, &fit(&weighted)).await?;
    let b = rows(&ctx, &fit(&exploded)).await?;
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
    assert_eq!(a[0][3].as_deref(), Some("22"));
    Ok(())
}
