-- The same event can be exported twice (in two files or two days): keep its first copy.
with ranked as (
    select
        *,
        row_number() over (partition by event_id order by export_date) as copy_rank
    from stg_web_events_all
)
select
    event_id,
    event_ts,
    cast(event_ts as date) as event_date,
    anonymous_id,
    session_id,
    user_id,
    email_sha256,
    event_type,
    utm_source,
    utm_medium,
    utm_campaign,
    device_type,
    order_id,
    revenue,
    is_bot
from ranked
where copy_rank = 1
