-- Every exported copy of every web event, bots flagged. For consumers a repeated copy cannot
-- change (distinct identifier sets, first and last seen): they skip the de-duplication of
-- stg_web_events, a sort of every event that dominates at scale.
select
    event_id,
    event_ts,
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
    export_date,
    -- bots must never count as people
    coalesce(regexp_like(user_agent, {{ var("bot_pattern") }}), false) as is_bot
from web_events
