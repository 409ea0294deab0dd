-- Attributed revenue adds up to the conversion's revenue, per conversion and model.
with attributed as (
    select conversion_id, model, sum(attributed_revenue) as attributed_revenue
    from fct_attribution
    where conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
    group by conversion_id, model
)
select a.conversion_id, a.model, a.attributed_revenue, c.revenue
from attributed a
join fct_conversion c on c.conversion_id = a.conversion_id
where abs(a.attributed_revenue - cast(c.revenue as double))
      > 1e-6 * greatest(1.0, abs(cast(c.revenue as double)))
