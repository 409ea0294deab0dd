-- One row per known person and week (starting Monday) with any engagement, for the weeks of the
-- reporting window: e-mail opens, views (a video, story or post seen), ad clicks, attention
-- (dwell seconds the platforms report), social reactions (likes, shares, comments) and web
-- sessions (bots excluded). Impressions are deliveries, not engagement, and are not read.
-- Return on engagement: engagement_score = opens + views + 3 × clicks + 2 × (likes + shares +
--   comments) + 2 × sessions + dwell_seconds / 30. A click or a visit shows more intent than an
--   open; a view is worth an open whether or not the platform reports its dwell time (the
--   contract gives dwell only "when the platform reports it", on any channel), and 30 seconds of
--   attention count as much as an open. A negative dwell, which no platform means, counts 0.
--   So every row (at least one engagement) scores 1 or more.
-- velocity = this week's score − the person's average score over the 4 weeks before (a week
--   without a row counts as 0): positive when interest grows.
with activity as (
    select
        'interaction' as record_type, interaction_id as record_id, interaction_ts as ts,
        interaction_type as kind, greatest(dwell_seconds, 0) as dwell_seconds
    from stg_ad_interactions
    where interaction_type in ('open', 'view', 'click', 'like', 'share', 'comment')
    union all
    select 'session', session_id, landing_ts, 'session', cast(null as int)
    from int_web_sessions
),
weekly as (
    select
        p.person_id,
        cast(date_trunc('week', a.ts) as date) as week,
        count(*) filter (where a.kind = 'open') as opens,
        count(*) filter (where a.kind = 'view') as views,
        count(*) filter (where a.kind = 'click') as clicks,
        coalesce(sum(a.dwell_seconds), 0) as dwell_seconds,
        count(*) filter (where a.kind in ('like', 'share', 'comment')) as likes_shares_comments,
        count(*) filter (where a.kind = 'session') as sessions
    from activity a
    join int_attribution_persons p on p.record_type = a.record_type and p.record_id = a.record_id
    -- the reporting window's weeks and the 4 weeks before them
    where a.ts >= cast(date_trunc('week', {{ run_date }} - ({{ var("lookback_days") }} - 1)) as date) - 28
      and cast(a.ts as date) <= {{ run_date }}
    group by p.person_id, cast(date_trunc('week', a.ts) as date)
),
scored as (
    select
        *,
        opens + views + 3 * clicks + 2 * likes_shares_comments + 2 * sessions + dwell_seconds / 30.0
            as engagement_score,
        -- weeks since 1970-01-05 (a Monday)
        cast(date_part('epoch', week) as bigint) / 604800 as week_number
    from weekly
),
with_velocity as (
    select
        *,
        engagement_score - coalesce(sum(engagement_score) over (
            partition by person_id order by week_number range between 4 preceding and 1 preceding
        ), 0) / 4 as velocity
    from scored
)
select
    person_id, week, opens, views, clicks, dwell_seconds, likes_shares_comments, sessions,
    engagement_score, velocity
from with_velocity
where week >= cast(date_trunc('week', {{ run_date }} - ({{ var("lookback_days") }} - 1)) as date)
