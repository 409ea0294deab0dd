-- What each campaign cost and what the platforms and our own touch logs say it delivered.
-- Incremental: a night recomputes the days a late export can still change (window_start =
-- run date - execution.late_arrival_days); a platform re-exporting an older day is not seen.
-- Channels are the curated ones (stg_campaign_spend: seo is organic_search).
with observed as (
    select
        cast(interaction_ts as date) as date,
        campaign_id,
        count(*) filter (where interaction_type = 'impression') as observed_impressions,
        count(*) filter (where interaction_type = 'click') as observed_clicks
    from stg_ad_interactions
    where cast(interaction_ts as date) >= {{ window_start }}
      -- a touch is exported on its day or later: only the window's exports are read
      and export_date >= {{ window_start }}
    group by cast(interaction_ts as date), campaign_id
)
select
    s.spend_date as date,
    s.channel,
    s.campaign_id,
    s.campaign_name,
    s.spend,
    s.impressions as reported_impressions,
    s.clicks as reported_clicks,
    coalesce(o.observed_impressions, 0) as observed_impressions,
    coalesce(o.observed_clicks, 0) as observed_clicks
from stg_campaign_spend s
left join observed o on o.date = s.spend_date and o.campaign_id = s.campaign_id
where s.spend_date >= {{ window_start }}
  and s.spend_date <= {{ run_date }}
