-- One row per human web session: its landing (int_web_session_landings), the channel the
-- channel grouping gives that landing, and the identifiers it carries.
with sessions as (
    select * from int_web_session_landings
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
