-- The online revenue mart must equal the completed orders it summarises, day by day.
with expected as (
    select order_date as date, sum(amount) as revenue
    from stg_orders where status = 'completed' group by order_date
)
select a.date, a.revenue, e.revenue as expected_revenue
from agg_daily_sales a
join expected e on e.date = a.date
where a.sales_channel = 'online' and a.revenue <> e.revenue
