-- The over-merge guard's decisions for review: identifiers and cookies that link nobody, with
-- the reason and how many records carry them (hashed values only; see int_shared_identifiers
-- for the rules). Identifiers carried by an erased person's records are left out.
with erased_nodes as (
    select distinct e.node
    from int_identity_edges e
    join int_identity_components c on c.node = e.record
    join int_person_ids p on p.component = c.component
    where p.suppressed and e.node is not null
    union
    select c.node
    from int_identity_components c
    join int_person_ids p on p.component = c.component
    where p.suppressed
)
select
    arrow_cast(s.identifier_type, 'Utf8') as identifier_type,
    arrow_cast(s.identifier_value, 'Utf8') as identifier_value,
    arrow_cast(s.node, 'Utf8') as node,
    s.records, s.reason
from int_shared_identifiers s
left join erased_nodes x on x.node = s.node
where x.node is null
