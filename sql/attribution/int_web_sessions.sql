-- One row per human web session: its landing (first event), the channel the channel grouping
-- gives that landing, and the identifiers it carries. Read from the raw export because the
-- landing's referrer is not in stg_web_events; a duplicated export of an event does not change
-- the landing.
with sessions as (
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
),
landings as (
    select distinct
        coalesce(utm_medium, '') as utm_medium,
        coalesce(utm_source, '') as utm_source,
        coalesce(referrer, '') as referrer
    from sessions
    where not is_bot
),
-- the first matching rule of the channel grouping, per distinct landing (there are few)
classified as (
    select
        l.utm_medium, l.utm_source, l.referrer,
        first_value(g.channel order by g.rule_order) as channel,
        first_value(g.campaign_id order by g.rule_order) as default_campaign_id
    from landings l
    join channel_grouping g
      on (g.utm_medium_pattern is null or regexp_like(l.utm_medium, g.utm_medium_pattern))
     and (g.utm_source_pattern is null or regexp_like(l.utm_source, g.utm_source_pattern))
     and (g.referrer_pattern is null or regexp_like(l.referrer, g.referrer_pattern))
    group by l.utm_medium, l.utm_source, l.referrer
)
select
    s.session_id,
    s.landing_ts,
    cast(s.landing_ts as date) as landing_date,
    c.channel,
    -- a tracked link names its campaign; untagged traffic gets the grouping's pseudo-campaign
    coalesce(nullif(s.utm_campaign, ''), c.default_campaign_id) as campaign_id,
    s.anonymous_id,
    s.user_id,
    s.email_sha256
from sessions s
join classified c
  on c.utm_medium = coalesce(s.utm_medium, '')
 and c.utm_source = coalesce(s.utm_source, '')
 and c.referrer = coalesce(s.referrer, '')
where not s.is_bot
