-- One row per customer journey that ended in the reporting window, converting or not, with the
-- channels of its touches in time order: the input of the markov and shapley models.
-- Converting: a conversion of the reporting window and its touches (int_attribution_touches);
-- a conversion without touch is no journey.
-- Not converting: a touch is "open" when no conversion of its person follows it within its
-- window. A person's open touches less than a window apart form one journey, which ends when a
-- window passes after its last touch with no conversion and no further touch; like a converting
-- journey it keeps the touches of the window before its end. Journeys ending in the reporting
-- window count. One still running at the run date (last touch less than a window ago) is not
-- counted yet: it may still convert.
with open_touches as (
    select t.touchpoint_id, t.person_id, t.touch_ts, t.channel
    from fct_touchpoint t
    left anti join int_attribution_touches c on c.touchpoint_id = t.touchpoint_id
    where t.touch_date > {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }})
      and t.touch_date <= {{ run_date }}
),
ends as (
    select
        *,
        coalesce(
            lead(touch_ts) over (partition by person_id order by touch_ts, touchpoint_id)
                > touch_ts + cast({{ var("attribution_window_days") }} || ' days' as interval),
            true
        ) as is_end
    from open_touches
),
grouped as (
    select
        *,
        -- journeys numbered from the person's last one: the ends at or after a touch
        sum(case when is_end then 1 else 0 end) over (
            partition by person_id order by touch_ts desc, touchpoint_id desc
            rows between unbounded preceding and current row
        ) as journey_from_last
    from ends
),
windowed as (
    select *, max(touch_ts) over (partition by person_id, journey_from_last) as end_ts
    from grouped
),
not_converting as (
    select
        'open:' || person_id || ':' || cast(journey_from_last as varchar) as journey_id,
        person_id,
        false as converted,
        array_agg(channel order by touch_ts, touchpoint_id) as path
    from windowed
    where touch_ts >= end_ts - cast({{ var("attribution_window_days") }} || ' days' as interval)
      -- ended in the reporting window: a window after the last touch, by the run date
      and cast(end_ts as date) > {{ run_date }} - ({{ var("lookback_days") }} + {{ var("attribution_window_days") }})
      and cast(end_ts as date) <= {{ run_date }} - {{ var("attribution_window_days") }}
    group by person_id, journey_from_last
),
converting as (
    select
        conversion_id as journey_id,
        max(person_id) as person_id,
        true as converted,
        array_agg(channel order by touch_rank) as path
    from int_attribution_touches
    where touchpoint_id is not null
      and conversion_date > {{ run_date }} - {{ var("lookback_days") }}
    group by conversion_id
),
journeys as (
    select * from converting
    union all
    select * from not_converting
)
select *, array_to_string(array_sort(array_distinct(path)), ',') as channel_set
from journeys
