-- One row per campaign and day; a platform that re-exports a day replaces its earlier figures.
with ranked as (
    select
        *,
        row_number() over (
            partition by spend_date, campaign_id order by export_date desc
        ) as version_rank
    from campaign_spend
)
select spend_date, channel, campaign_id, campaign_name, spend, currency, impressions, clicks
from ranked
where version_rank = 1
