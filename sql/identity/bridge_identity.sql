-- One row per record and identifier seen, with the person it resolved to and the strongest
-- rule that tied it there (a record alone in its component is a 'singleton'). person_id comes
-- from int_person_ids, which keeps it stable from run to run.
with nodes as (
    -- erased persons (int_person_ids.suppressed) leave every output
    select c.node, i.person_id
    from int_identity_components c
    join int_person_ids i on i.component = c.component
    where not i.suppressed
),
rules as (
    select record as node, rule, confidence from int_identity_edges where node is not null
    union all
    select node, rule, confidence from int_identity_edges where node is not null
    union all
    select left_record, 'probabilistic', match_probability from int_identity_probabilistic_links
    union all
    select right_record, 'probabilistic', match_probability from int_identity_probabilistic_links
),
-- the strongest rule that touches each node (ties: the first rule name); aggregates, not a
-- window, so that it spills instead of sorting the whole edge list in memory
strongest as (
    select node, max(confidence) as confidence from rules group by node
),
best as (
    select r.node, min(r.rule) as rule, s.confidence
    from rules r
    join strongest s on s.node = r.node and s.confidence = r.confidence
    group by r.node, s.confidence
)
select
    split_part(n.node, ':', 1) as identifier_type,
    substr(n.node, strpos(n.node, ':') + 1) as identifier_value,
    n.person_id,
    coalesce(b.rule, 'singleton') as match_rule,
    coalesce(b.confidence, 1.0) as match_confidence
from nodes n
left join best b on b.node = n.node
