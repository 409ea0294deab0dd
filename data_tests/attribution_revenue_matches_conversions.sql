-- Attributed revenue adds up to the conversion's revenue, per conversion and model. Each row's
-- share is rounded to the micro-unit (decimal(18, 6)), so the sum may be off by half a
-- micro-unit per row, never more.
with attributed as (
    select conversion_id, model, sum(attributed_revenue) as attributed_revenue, count(*) as rows_
    from fct_attribution
    where conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
    group by conversion_id, model
)
select a.conversion_id, a.model, a.attributed_revenue, c.revenue
from attributed a
join fct_conversion c on c.conversion_id = a.conversion_id
where abs(cast(a.attributed_revenue as double) - cast(c.revenue as double))
      > 5e-7 * a.rows_ + 1e-9
