-- Every link the probabilistic matcher made, with its match weight and the bits each
-- comparison added, so that a merge can be explained (record ids only; erased persons' records
-- are left out).
select l.*
from int_identity_probabilistic_links l
join int_identity_components c on c.node = l.left_record
join int_person_ids p on p.component = c.component
where not p.suppressed
