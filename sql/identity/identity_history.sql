-- What changed in person ids, one row per event, one partition per run date, so a BI tool can
-- follow an id through merges and splits:
--   new     a person seen for the first time;
--   merged  previous_person_id joined person_id and is retired (rows that named it can be
--           re-pointed);
--   split   person_id broke away from previous_person_id, which lives on.
-- Each night adds its events to the rows already logged.
-- Erased persons leave no trace: tonight's suppressed persons are dropped from every night's
-- rows, with the ids retired into them or split from them.
with erased as (
    select person_id from int_person_ids where suppressed
),
erased_ids as (
    select person_id from erased
    union
    select h.previous_person_id
    from previous_identity_history h
    join erased e on e.person_id = h.person_id
    where h.previous_person_id is not null
    union
    select h.person_id
    from previous_identity_history h
    join erased e on e.person_id = h.previous_person_id
),
earlier as (
    select h.run_date, h.run_id, h.person_id, h.event, h.previous_person_id
    from previous_identity_history h
    left join erased_ids p on p.person_id = h.person_id
    left join erased_ids q on q.person_id = h.previous_person_id
    where p.person_id is null and q.person_id is null
),
tonight as (
    select person_id, 'new' as event, arrow_cast(null, 'Utf8') as previous_person_id
    from int_person_ids
    where status = 'new' and not suppressed
    union all
    select person_id, 'split', split_from
    from int_person_ids
    where status = 'split' and not suppressed
    union all
    select person_id, 'merged', merged
    from (select person_id, unnest(merged_ids) as merged from int_person_ids where merged_ids is not null and not suppressed)
),
added as (
    -- a re-run of a night finds its persons already known: the events it logged the first time
    -- stay, and only events it has not logged yet are added
    select t.*
    from tonight t
    left join earlier e
      on e.run_date = {{ run_date }} and e.person_id = t.person_id and e.event = t.event
     and coalesce(e.previous_person_id, '') = coalesce(t.previous_person_id, '')
    where e.person_id is null
)
select run_date, run_id, person_id, event, previous_person_id from earlier
union all
select {{ run_date }}, {{ run_id }}, person_id, event, previous_person_id from added
