-- One row per record and identifier seen, with the person it resolved to and the strongest
-- rule that tied it there (a record alone in its component is a 'singleton'). person_id is a
-- hash of the component's smallest node, so it does not churn when new records join.
with nodes as (
    select node, 'P' || substr(sha256_hex(component), 1, 15) as person_id
    from int_identity_components
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
best as (
    select node, rule, confidence,
           row_number() over (partition by node order by confidence desc, rule) as rank
    from rules
),
-- erasure: a person any of whose records carries a suppressed identifier leaves every output
suppressed as (
    select distinct n.person_id
    from int_identity_edges o
    join nodes n on n.node = o.record
    join suppression_list s
      on s.identifier_type || ':' || s.identifier_value in (o.node, o.record)
)
select
    split_part(n.node, ':', 1) as identifier_type,
    substr(n.node, strpos(n.node, ':') + 1) as identifier_value,
    n.person_id,
    coalesce(b.rule, 'singleton') as match_rule,
    coalesce(b.confidence, 1.0) as match_confidence
from nodes n
left join best b on b.node = n.node and b.rank = 1
where n.person_id not in (select person_id from suppressed)
