-- Sales per day. Online: completed orders only (cancelled and returned orders earn nothing).
-- Store: tickets net of refunds. Incremental: a night recomputes the days rows can still arrive
-- for (window_start = run date - execution.late_arrival_days); older days are final.
select order_date as date, 'online' as sales_channel,
       count(*) as transactions, sum(amount) as revenue
from stg_orders
where status = 'completed'
  and order_date >= {{ window_start }}
  and order_date <= {{ run_date }}
group by order_date
union all
select transaction_date as date, 'store' as sales_channel,
       sum(case when is_refund then 0 else 1 end) as transactions, sum(amount) as revenue
from stg_pos_transactions
where transaction_date >= {{ window_start }}
  and transaction_date <= {{ run_date }}
group by transaction_date
