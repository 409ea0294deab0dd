-- No conversion is credited to a touch older than the attribution window (the view-through
-- window for an impression).
with credited as (
    select distinct conversion_id, touchpoint_id
    from fct_attribution
    where touchpoint_id is not null
      and conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
)
select a.conversion_id, a.touchpoint_id, c.conversion_ts, t.touch_ts, t.is_view_through
from credited a
join fct_conversion c on c.conversion_id = a.conversion_id
join fct_touchpoint t on t.touchpoint_id = a.touchpoint_id
where t.touch_ts < c.conversion_ts - cast(
          case when t.is_view_through then {{ var("attribution_view_through_days") }}
               else {{ var("attribution_window_days") }} end || ' days' as interval)
