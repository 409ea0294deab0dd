-- Rows received per raw export and day, and how many were duplicates of an id already seen:
-- a sudden jump means a source system re-sent its history.
select 'web_events' as source_table, export_date,
       count(*) as rows_received,
       count(*) - count(distinct event_id) as duplicate_rows
from web_events group by export_date
union all
select 'orders', export_date, count(*), count(*) - count(distinct order_id)
from orders group by export_date
union all
select 'pos_transactions', export_date, count(*), count(*) - count(distinct transaction_id)
from pos_transactions group by export_date
union all
select 'crm_contacts', export_date, count(*), count(*) - count(distinct contact_id)
from crm_contacts group by export_date
