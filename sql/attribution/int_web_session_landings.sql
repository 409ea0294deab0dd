-- Every web session's landing (its first event) and the identifiers it carries, over the days
-- attribution reads. Read from the raw export because the landing's referrer is not in
-- stg_web_events; a duplicated export of an event does not change the landing. Its own model
-- because int_web_sessions reads it twice (to classify its few distinct landings, then every
-- session): as a CTE it would be aggregated twice.
select
    session_id,
    min(event_ts) as landing_ts,
    first_value(anonymous_id order by event_ts, event_id) as anonymous_id,
    first_value(utm_source order by event_ts, event_id) as utm_source,
    first_value(utm_medium order by event_ts, event_id) as utm_medium,
    first_value(utm_campaign order by event_ts, event_id) as utm_campaign,
    first_value(referrer order by event_ts, event_id) as referrer,
    -- a logged-in session carries its account on every event, its e-mail hash on the first
    max(user_id) as user_id,
    max(email_sha256) as email_sha256,
    -- bots never count: one bot event disqualifies the session
    bool_or(coalesce(regexp_like(user_agent, {{ var("bot_pattern") }}), false)) as is_bot
from web_events
-- the oldest day attribution reads: non-converting journeys reach two attribution windows
-- before the reporting window, engagement velocity five weeks
where event_ts >= {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }} + 35)
group by session_id
