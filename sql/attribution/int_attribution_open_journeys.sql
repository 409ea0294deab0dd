-- Step 3 of the non-converting journeys: journeys numbered from the person's last one, by
-- counting the journey ends at or after each touch. (A model of its own: see
-- int_attribution_open_touches.)
with numbered as (
    select
        *,
        -- journeys numbered from the person's last one: the ends at or after a touch
        sum(case when is_end then 1 else 0 end) over (
            partition by person_id order by touch_ts desc, touchpoint_id desc
            rows between unbounded preceding and current row
        ) as journey_from_last
    from int_attribution_journey_ends
)
select person_id, touch_ts, touchpoint_id, channel, journey_from_last from numbered
