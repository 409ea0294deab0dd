-- The same event can be exported twice (in two files or two days): keep its first copy. The
-- contract's copies are identical, so which of two copies in one export is kept changes
-- nothing (the sort key stays short: this sort of every event dominates at scale).
with ranked as (
    select
        *,
        row_number() over (partition by event_id order by export_date) as copy_rank
    from stg_web_events_all
)
select * exclude (export_date, copy_rank), cast(event_ts as date) as event_date
from ranked
where copy_rank = 1
