-- Records outside their person's largest evidence component: what kind of record, which
-- rules its own edges use ('-': none), and the pairs with that component they cost.
with sizes as (
    select person_id, component, count(*) as n from evidence_components group by 1, 2
),
ranked as (
    select *, row_number() over (partition by person_id order by n desc, component) as rk
    from sizes
),
main as (select person_id, component, n as n_main from ranked where rk = 1),
off as (
    select l.record, m.n_main
    from evidence_components l
    join main m on m.person_id = l.person_id
    where l.component <> m.component
),
rules as (
    select o.record, o.n_main,
           coalesce(string_agg(distinct e.rule, ',' order by e.rule), '-') as rules
    from off o
    left join edges e on e.record = o.record and e.node is not null
    group by 1, 2
)
select split_part(record, ':', 1) as kind,
       case when record like 'contact_id:%' then split_part(split_part(record, ':', 2), '-', 1) end
           as system,
       rules, count(*) as records, sum(n_main) as pairs_lost
from rules
group by 1, 2, 3
order by 5 desc
