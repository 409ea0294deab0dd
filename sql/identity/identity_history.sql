-- What changed in person ids this run, one row per event, kept run after run (one partition
-- per run date) so a BI tool can follow an id through merges and splits (erased persons
-- leave no trace here either):
--   new     a person seen for the first time;
--   merged  previous_person_id joined person_id and is retired (rows that named it can be
--           re-pointed);
--   split   person_id broke away from previous_person_id, which lives on.
select {{ run_date }} as run_date, {{ run_id }} as run_id, person_id, 'new' as event,
       arrow_cast(null, 'Utf8') as previous_person_id
from int_person_ids
where status = 'new' and not suppressed
union all
select {{ run_date }}, {{ run_id }}, person_id, 'split', split_from
from int_person_ids
where status = 'split' and not suppressed
union all
select {{ run_date }}, {{ run_id }}, person_id, 'merged', merged
from (select person_id, unnest(merged_ids) as merged from int_person_ids where merged_ids is not null and not suppressed)
