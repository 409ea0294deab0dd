-- An audience sent to an ad platform holds consented persons only.
select a.destination, a.segment, a.person_id
from audience_export a
left join dim_person p on p.person_id = a.person_id
where not coalesce(p.consent_marketing, false)
