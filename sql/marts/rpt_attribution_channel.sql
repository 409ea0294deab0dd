-- Credit per channel and attribution model over the reporting window: conversions credited
-- (fractional), revenue attributed, and the channel's share of the model's conversions. `parcours
-- eval attribution` ranks channels by this share against the generator's planted lifts.
-- Credits (doubles) are summed as decimal(38, 15): exact, so the totals are the same bit for
-- bit whatever order the engine adds them in (a rerun, another thread count).
with by_channel as (
    select model, channel, sum(cast(credit as decimal(38, 15))) as conversions,
           sum(attributed_revenue) as revenue
    from fct_attribution
    where conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
    group by model, channel
)
select
    channel,
    model,
    cast(conversions as double) as conversions,
    cast(revenue as decimal(18, 6)) as revenue,
    cast(conversions as double) / cast(sum(conversions) over (partition by model) as double) as share
from by_channel
