-- Per day of the reporting window: store and third-party (registered) revenue, and the part of
-- it whose buyer had an online touch (an ad engagement or a web visit) within the attribution
-- window before the purchase — how much offline selling online marketing reaches.
with offline as (
    select
        conversion_id,
        max(conversion_date) as date,
        max(revenue) as revenue,
        max(touches) > 0 as touched
    from int_attribution_touches
    where is_offline
      and conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
    group by conversion_id
)
select
    date,
    count(*) as offline_conversions,
    count(*) filter (where touched) as offline_conversions_with_online_touch,
    sum(revenue) as offline_revenue,
    sum(case when touched then revenue else 0 end) as offline_revenue_with_online_touch,
    cast(sum(case when touched then revenue else 0 end) as double)
        / nullif(cast(sum(revenue) as double), 0) as share
from offline
group by date
