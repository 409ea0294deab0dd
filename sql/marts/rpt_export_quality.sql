-- Rows received per raw export and day, and how many repeat an id already in that export:
-- a sudden jump means a source system re-sent its history. Counted per id first (a
-- spillable aggregation) rather than with count(distinct), which holds every id in memory.
with web as (
    select export_date, count(*) as copies from web_events group by export_date, event_id
),
orders_ as (
    select export_date, count(*) as copies from orders group by export_date, order_id
),
tills as (
    select export_date, count(*) as copies from pos_transactions group by export_date, transaction_id
),
crm as (
    select export_date, count(*) as copies from crm_contacts group by export_date, contact_id
)
select 'web_events' as source_table, export_date,
       sum(copies) as rows_received, sum(copies - 1) as duplicate_rows
from web group by export_date
union all
select 'orders', export_date, sum(copies), sum(copies - 1) from orders_ group by export_date
union all
select 'pos_transactions', export_date, sum(copies), sum(copies - 1) from tills group by export_date
union all
select 'crm_contacts', export_date, sum(copies), sum(copies - 1) from crm group by export_date
