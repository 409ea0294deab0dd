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
-- Everything is computed with running windows over each person's timeline, never a window over
-- a whole partition, so that it streams; the first two steps are int_attribution_open_touches
-- and int_attribution_open_journeys.
with with_end as (
    select
        *,
        first_value(touch_ts) over from_end as end_ts,
        row_number() over from_end as position_from_end
    from int_attribution_open_journeys
    window from_end as (
        partition by person_id, journey_from_last order by touch_ts desc, touchpoint_id desc
        rows between unbounded preceding and current row
    )
),
not_converting as (
    select
        'open:' || person_id || ':' || cast(journey_from_last as varchar) as journey_id,
        person_id,
        false as converted,
        -- channels in time order (see converting)
        string_to_array(regexp_replace(array_to_string(array_reverse(array_sort(array_agg(
            lpad(cast(position_from_end as varchar), 10, '0') || channel
        ))), ','), '(^|,)[0-9]{10}', '\1', 'g'), ',') as path
    from with_end
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
        -- channels in time order: an ordered array_agg keeps a costly state per journey, so the
        -- rank is written before each channel, the list sorted, and the ranks removed
        string_to_array(regexp_replace(array_to_string(array_sort(array_agg(
            lpad(cast(touch_rank as varchar), 10, '0') || channel
        )), ','), '(^|,)[0-9]{10}', '\1', 'g'), ',') as path
    from int_attribution_touches
    group by conversion_id
)
select journey_id, person_id, converted, path,
       array_to_string(array_sort(array_distinct(path)), ',') as channel_set
from converting
union all
select journey_id, person_id, converted, path,
       array_to_string(array_sort(array_distinct(path)), ',')
from not_converting
