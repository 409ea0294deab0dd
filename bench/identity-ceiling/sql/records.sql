-- The truth records `parcours eval identity` scores, named like the graph's record nodes.
select case "table" when 'crm_contacts' then 'contact_id' when 'orders' then 'order_id'
           when 'pos_transactions' then 'transaction_id'
           when 'purchase_registrations' then 'registration_id'
           when 'cookies' then 'anonymous_id' end || ':' || record_id as record,
       person_id
from truth
where identifiable and person_id not like 'bot-%' and person_id not like 'public-%'
