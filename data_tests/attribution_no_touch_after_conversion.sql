-- No conversion is credited to a touch that came after it, or to another person's touch.
with credited as (
    select distinct conversion_id, touchpoint_id
    from fct_attribution
    where touchpoint_id is not null
      and conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
)
select a.conversion_id, a.touchpoint_id, c.conversion_ts, t.touch_ts, c.person_id, t.person_id as touch_person_id
from credited a
join fct_conversion c on c.conversion_id = a.conversion_id
left join fct_touchpoint t on t.touchpoint_id = a.touchpoint_id
where t.touchpoint_id is null
   or t.touch_ts > c.conversion_ts
   or t.person_id <> c.person_id
