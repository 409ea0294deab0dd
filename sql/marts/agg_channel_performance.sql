-- Cost and return per day, channel, campaign and attribution model over the reporting window.
-- Spend, impressions and clicks are the platforms' (campaign_spend) on the day they were spent;
-- leads, conversions (purchases of every kind) and revenue are the credits fct_attribution gives
-- the campaign's touches, on the day of the conversion. Ratios whose denominator is zero are
-- null, never infinite: cpc = spend / clicks, cpl = spend / leads, cpa = spend / conversions,
-- roas = revenue / spend. Every sum is exact (decimals), so a rerun gives the same bits.
with models as (
    select model
    from (values ('first_touch'), ('last_touch'), ('last_non_direct'), ('linear'),
                 ('time_decay'), ('position_based'), ('markov'), ('shapley'),
                 ('data_driven')) as m(model)
),
spend as (
    select
        s.spend_date as date,
        s.channel,
        s.campaign_id,
        sum(s.spend) as spend,
        sum(s.impressions) as impressions,
        sum(s.clicks) as clicks
    from stg_campaign_spend s
    where s.spend_date > {{ run_date }} - {{ var("lookback_days") }}
      and s.spend_date <= {{ run_date }}
    group by s.spend_date, s.channel, s.campaign_id
),
spend_by_model as (
    select s.*, m.model from spend s cross join models m
),
returns as (
    select
        conversion_date as date, channel, campaign_id, model,
        -- credits (doubles) summed exactly, as decimal(38, 15): the same in any order
        cast(coalesce(sum(cast(credit as decimal(38, 15))) filter (where conversion_type = 'lead'), 0) as double) as leads,
        cast(coalesce(sum(cast(credit as decimal(38, 15))) filter (where conversion_type <> 'lead'), 0) as double) as conversions,
        sum(attributed_revenue) as revenue
    from fct_attribution
    where conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
    group by conversion_date, channel, campaign_id, model
),
joined as (
    select
        coalesce(r.date, s.date) as date,
        coalesce(r.channel, s.channel) as channel,
        coalesce(r.campaign_id, s.campaign_id) as campaign_id,
        coalesce(r.model, s.model) as model,
        coalesce(cast(s.spend as double), 0) as spend,
        coalesce(s.impressions, 0) as impressions,
        coalesce(s.clicks, 0) as clicks,
        coalesce(r.leads, 0) as leads,
        coalesce(r.conversions, 0) as conversions,
        coalesce(r.revenue, 0) as revenue
    from returns r
    full outer join spend_by_model s
      on s.date = r.date and s.channel = r.channel and s.campaign_id = r.campaign_id
     and s.model = r.model
)
select
    date, channel, campaign_id, model,
    cast(spend as decimal(18, 2)) as spend,
    impressions, clicks, leads, conversions,
    cast(revenue as decimal(18, 6)) as revenue,
    spend / nullif(clicks, 0) as cpc,
    spend / nullif(leads, 0) as cpl,
    spend / nullif(conversions, 0) as cpa,
    cast(revenue as double) / nullif(spend, 0) as roas
from joined
