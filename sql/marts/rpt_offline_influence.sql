-- Per day of the reporting window: store and third-party (registered) revenue, and the part of
-- it whose buyer had an online touch (an ad engagement or a web visit) within the attribution
-- window before the purchase — how much offline selling online marketing reaches. Every model
-- credits every conversion in full: first_touch has one row per conversion, with no
-- touchpoint when no touch reached it.
select
    conversion_date as date,
    count(*) as offline_conversions,
    count(touchpoint_id) as offline_conversions_with_online_touch,
    cast(sum(attributed_revenue) as decimal(18, 6)) as offline_revenue,
    cast(coalesce(sum(attributed_revenue) filter (where touchpoint_id is not null), 0)
        as decimal(18, 6)) as offline_revenue_with_online_touch,
    cast(coalesce(sum(attributed_revenue) filter (where touchpoint_id is not null), 0) as double)
        / nullif(cast(sum(attributed_revenue) as double), 0) as share
from fct_attribution
where model = 'first_touch'
  and is_offline
  and conversion_date > {{ run_date }} - {{ var("lookback_days") }}
  and conversion_date <= {{ run_date }}
group by conversion_date
