-- Every conversion with the touches of its person in the attribution window before it
-- (attribution_window_days; an impression only attribution_view_through_days), ranked in
-- time, or one row without touch when there is none. A touch at the very instant of its
-- conversion counts; one after it never does. Ties in time are ordered by touchpoint_id, so the
-- models that pick one touch pick the same one from run to run.
-- Conversions since two windows before the reporting window are kept: a touch followed by any
-- of them is part of a converting journey (int_attribution_paths); fct_attribution credits the
-- reporting window's.
with pairs as (
    select
        c.conversion_id, c.person_id, c.conversion_ts, cast(c.conversion_ts as date) as conversion_date,
        c.conversion_type, c.revenue, c.is_offline,
        t.touchpoint_id, t.touch_ts, t.channel, t.campaign_id, t.is_view_through
    from int_conversions c
    left join fct_touchpoint t
      on t.person_id = c.person_id
     and t.touch_ts <= c.conversion_ts
     and t.touch_ts >= c.conversion_ts - cast(
             case when t.is_view_through then {{ var("attribution_view_through_days") }}
                  else {{ var("attribution_window_days") }} end || ' days' as interval)
     and t.touch_date > {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }})
    where cast(c.conversion_ts as date) > {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }})
      and cast(c.conversion_ts as date) <= {{ run_date }}
)
select
    *,
    row_number() over (partition by conversion_id order by touch_ts, touchpoint_id) as touch_rank,
    count(touchpoint_id) over (partition by conversion_id) as touches,
    date_part('epoch', conversion_ts) - date_part('epoch', touch_ts) as seconds_before
from pairs
