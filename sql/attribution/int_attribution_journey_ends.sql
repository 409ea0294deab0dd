-- Step 2 of the non-converting journeys: a person's open touches less than a window apart form
-- one journey, which ends when a window passes after its last touch (no next touch within a
-- window). (A model of its own: see int_attribution_open_touches.)
with ends as (
    select
        *,
        coalesce(
            lead(touch_ts) over (partition by person_id order by touch_ts, touchpoint_id)
                > touch_ts + cast({{ var("attribution_window_days") }} || ' days' as interval),
            true
        ) as is_end
    from int_attribution_open_touches
)
select person_id, touch_ts, touchpoint_id, channel, is_end from ends
