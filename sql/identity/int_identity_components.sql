-- Records joined through the identifiers they share (the guarded ones left out) and through
-- the probabilistic matcher's links, grouped into connected components (union-find in the
-- connected_components aggregate). A component's
-- label is its smallest node, so it stays put while new, larger ids join it.
with edges as (
    select o.record, o.node
    from int_identity_edges o
    left join int_shared_identifiers s on s.node = o.node
    left join int_shared_identifiers c on c.node = o.record
    -- a guarded identifier links nothing; a guarded cookie is still a record of its own
    where s.node is null and (c.node is null or o.node is null)
    union all
    select left_record, right_record from int_identity_probabilistic_links
),
components as (
    select unnest(connected_components(record, node)) as c from edges
)
select c['node'] as node, c['component'] as component
from components
