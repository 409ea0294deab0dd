-- GDPR article 17: no identifier on the suppression list may resolve to a published person.
select b.identifier_type, b.identifier_value, b.person_id
from bridge_identity b
join suppression_list s
  on s.identifier_type = b.identifier_type and s.identifier_value = b.identifier_value
