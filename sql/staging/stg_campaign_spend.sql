-- One row per campaign and day; a platform that re-exports a day replaces its earlier figures.
-- Two versions of a campaign-day in one export (a late day arriving with its own correction)
-- are not ordered by the contract: the higher spend wins, then the more impressions and
-- clicks, so that the same exports always give the same figures.
-- The channel is in the curated vocabulary (channel_aliases: seo -> organic_search,
-- social_organic -> organic_social), so spend lines up with touches and credits.
with ranked as (
    select
        *,
        row_number() over (
            partition by spend_date, campaign_id
            order by export_date desc, spend desc, impressions desc nulls last,
                     clicks desc nulls last, channel, campaign_name, currency
        ) as version_rank
    from campaign_spend
)
select
    r.spend_date,
    coalesce(al.channel, lower(trim(r.channel))) as channel,
    r.campaign_id,
    r.campaign_name,
    r.spend,
    r.currency,
    r.impressions,
    r.clicks
from ranked r
left join channel_aliases al on al.platform_channel = lower(trim(r.channel))
where r.version_rank = 1
