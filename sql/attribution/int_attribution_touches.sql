-- The converting journeys: one row per conversion of the reporting window and touch of its
-- person in the attribution window before it (attribution_window_days; an impression only
-- attribution_view_through_days). A touch at the very instant of its conversion counts; one
-- after it never does. Touches are ranked in time, ties ordered by touchpoint_id, so the models
-- that pick one touch pick the same one from run to run.
-- Journey-wide values (number of touches, the time-decay total, the last non-direct touch) come
-- from a forward then a backward running window: a window over a whole partition would hold
-- every journey in memory at once.
with pairs as (
    select
        c.conversion_id, c.person_id, c.conversion_ts, c.conversion_date, c.conversion_type,
        c.revenue, c.is_offline,
        t.touchpoint_id, t.touch_ts, t.channel, t.campaign_id, t.is_view_through,
        -- time_decay: a touch's weight halves every time_decay_half_life_days before the conversion
        power(0.5, (date_part('epoch', c.conversion_ts) - date_part('epoch', t.touch_ts))
                   / (86400.0 * {{ var("time_decay_half_life_days") }})) as decay
    from fct_conversion c
    join fct_touchpoint t
      on t.person_id = c.person_id
     and t.touch_ts <= c.conversion_ts
     and t.touch_ts >= c.conversion_ts - cast(
             case when t.is_view_through then {{ var("attribution_view_through_days") }}
                  else {{ var("attribution_window_days") }} end || ' days' as interval)
    where c.conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and c.conversion_date <= {{ run_date }}
      and t.touch_date > {{ run_date }} - ({{ var("lookback_days") }} + {{ var("attribution_window_days") }} + 1)
),
forward as (
    select
        *,
        row_number() over so_far as touch_rank,
        sum(decay) over so_far as decay_so_far,
        max(case when channel <> 'direct' then 1 else 0 end) over so_far as non_direct_so_far
    from pairs
    window so_far as (
        partition by conversion_id order by touch_ts, touchpoint_id
        rows between unbounded preceding and current row
    )
),
backward as (
    select
        *,
        row_number() over from_end as reverse_rank,
        -- the forward totals of the journey's last touch, which comes first here
        first_value(decay_so_far) over from_end as total_decay,
        first_value(non_direct_so_far) over from_end = 1 as has_non_direct,
        sum(case when channel <> 'direct' then 1 else 0 end) over from_end as non_direct_from_here
    from forward
    window from_end as (
        partition by conversion_id order by touch_ts desc, touchpoint_id desc
        rows between unbounded preceding and current row
    )
)
select
    conversion_id, person_id, conversion_ts, conversion_date, conversion_type, revenue,
    is_offline, touchpoint_id, touch_ts, channel, campaign_id, is_view_through,
    touch_rank,
    touch_rank + reverse_rank - 1 as touches,
    decay,
    total_decay,
    -- the last touch not from the direct channel, or the last touch when all are direct
    case when has_non_direct then channel <> 'direct' and non_direct_from_here = 1
         else reverse_rank = 1 end as is_last_non_direct
from backward
