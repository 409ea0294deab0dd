-- Credit per channel and attribution model over the reporting window: conversions credited
-- (fractional), revenue attributed, and the channel's share of the model's conversions. `parcours
-- eval attribution` ranks channels by this share against the generator's planted lifts.
with by_channel as (
    select model, channel, sum(credit) as conversions, sum(attributed_revenue) as revenue
    from fct_attribution
    where conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
    group by model, channel
)
select
    channel,
    model,
    conversions,
    cast(revenue as decimal(18, 6)) as revenue,
    conversions / sum(conversions) over (partition by model) as share
from by_channel
