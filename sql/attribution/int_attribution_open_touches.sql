-- Step 1 of the non-converting journeys (int_attribution_paths): each person's touches that no
-- conversion of theirs follows within the touch's window ("open" touches). A model of its own:
-- chained window functions hand each other slices of one growing buffer, which a later sort
-- must reserve whole; written to Parquet between steps, each sort gets compact batches.
-- `touch_first` orders a touch after a conversion at the same instant; a column of its own
-- rather than an expression over conversion_ts, whose null literal in the touch branch made
-- DataFusion 55 plan an invalid sort over the union with one target partition.
with timeline as (
    select
        person_id, touch_ts as ts, touchpoint_id as id, channel, is_view_through,
        arrow_cast(null, 'Timestamp(Microsecond, Some("UTC"))') as conversion_ts,
        1 as touch_first
    from fct_touchpoint
    where touch_date > {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }})
      and touch_date <= {{ run_date }}
    union all
    select person_id, conversion_ts as ts, conversion_id, cast(null as varchar),
           cast(null as boolean), conversion_ts, 0
    from int_conversions
    where cast(conversion_ts as date) > {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }})
      and cast(conversion_ts as date) <= {{ run_date }}
),
next_conversion as (
    select
        *,
        -- walking back in time, the latest conversion seen is the next one after a touch (a
        -- conversion at the same instant included)
        last_value(conversion_ts) ignore nulls over (
            partition by person_id
            order by ts desc, touch_first, id desc
            rows between unbounded preceding and current row
        ) as next_conversion_ts
    from timeline
),
open_touches as (
    select person_id, ts as touch_ts, id as touchpoint_id, channel
    from next_conversion
    where conversion_ts is null
      and not coalesce(next_conversion_ts <= ts + cast(
              case when is_view_through then {{ var("attribution_view_through_days") }}
                   else {{ var("attribution_window_days") }} end || ' days' as interval), false)
)
select person_id, touch_ts, touchpoint_id, channel from open_touches
