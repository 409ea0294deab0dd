-- The best any clustering of this evidence could do: every deterministic edge (over-merge
-- guard ignored) and every candidate pair of the blocking, whatever its match weight, kept
-- only between records of the same true person. An identifier node is made per person, so
-- nothing joins two persons.
with ev as (
    select e.record,
           case when n.record is null then e.node || '#' || r.person_id else e.node end as node
    from edges e
    join records r on r.record = e.record
    left join records n on n.record = e.node
    where e.node is not null and (n.record is null or n.person_id = r.person_id)
    union all
    select c.left_record, c.right_record
    from comparisons c
    join records a on a.record = c.left_record
    join records b on b.record = c.right_record
    where c.kind = 'candidate' and a.person_id = b.person_id
    union all
    select record, record as node from records
),
comp as (select unnest(connected_components(record, node)) as c from ev)
select r.person_id, r.record, c['component'] as component
from comp
join records r on r.record = c['node']
