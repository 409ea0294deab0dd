-- Stable person ids. Components are re-found from scratch every run, so their labels move as
-- records arrive; BI tools join on person_id, so a person keeps the id it had in the previous
-- run's bridge_identity (the source previous_bridge_identity):
--   * a previous id goes to the component now holding most of its nodes (ties: the smaller
--     component label);
--   * a component that wins several previous ids (two persons merged) keeps the one with the
--     most nodes (ties: the smaller id); the others are retired, listed in merged_ids;
--   * a component that wins none is new, or split from the person it shares most nodes with:
--     it gets a fresh id, a hash of its label, salted with the run date if that hash was
--     ever used, so that no id is ever reused.
with components as (
    select node, component from int_identity_components
),
previous as (
    select identifier_type || ':' || identifier_value as node, person_id
    from previous_bridge_identity
),
overlap as (
    select c.component, p.person_id, count(*) as shared
    from components c
    join previous p on p.node = c.node
    group by c.component, p.person_id
),
claims as (
    select component, person_id, shared,
           row_number() over (partition by person_id order by shared desc, component) as claim_rank,
           row_number() over (partition by component order by shared desc, person_id) as overlap_rank
    from overlap
),
won as (
    select component, person_id, shared,
           row_number() over (partition by component order by shared desc, person_id) as keep_rank
    from claims
    where claim_rank = 1
),
per_component as (
    select
        c.component,
        max(case when w.keep_rank = 1 then w.person_id end) as kept_id,
        array_agg(case when w.keep_rank > 1 then w.person_id end) filter (where w.keep_rank > 1) as merged_ids
    from (select distinct component from components) c
    left join won w on w.component = c.component
    group by c.component
),
fresh as (
    select p.*, 'P' || substr(sha256_hex(p.component), 1, 15) as hashed_id
    from per_component p
),
used as (
    select distinct person_id from previous
),
-- erasure: a person any of whose records carries a suppressed identifier leaves every output
suppressed as (
    select distinct c.component
    from int_identity_edges o
    join components c on c.node = o.record
    join suppression_list s on s.identifier_type || ':' || s.identifier_value = o.node
    union
    select distinct c.component
    from components c
    join suppression_list s on s.identifier_type || ':' || s.identifier_value = c.node
)
select
    f.component,
    coalesce(f.kept_id,
             case when u.person_id is null then f.hashed_id
                  else 'P' || substr(sha256_hex(f.component || '|' || cast({{ run_date }} as varchar)), 1, 15)
             end) as person_id,
    case when f.kept_id is not null then 'kept'
         when s.person_id is not null then 'split'
         else 'new' end as status,
    case when f.kept_id is null then s.person_id end as split_from,
    f.merged_ids,
    x.component is not null as suppressed
from fresh f
left join used u on u.person_id = f.hashed_id
left join claims s on s.component = f.component and s.overlap_rank = 1
left join suppressed x on x.component = f.component
