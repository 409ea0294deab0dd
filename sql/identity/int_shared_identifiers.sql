-- The over-merge guard. An e-mail or phone seen with several strong anchors of one kind —
-- several contact records of one source system, several e-commerce accounts, several loyalty
-- cards — is a family phone or a contact@ company inbox: it belongs to no single person. A
-- cookie that several accounts or e-mails log in from is a public computer. Contact records
-- that share an e-mail or phone but disagree on the person (first names far apart, even
-- allowing for typos, short forms, initials and swapped first/last names, or different birth
-- dates)
-- make it shared too: a household's landline, a colleague's inbox. Such identifiers create
-- no link; they are listed here (hashed values only) so the decision can be reviewed.
with shared_identifiers as (
    select node, records, reason from int_identifier_anchors
),
carriers as (
    -- only identifiers not already shared: a contact@ inbox on thousands of records would
    -- otherwise be compared pair by pair (millions of pairs for one address)
    select e.node, n.record, n.first_name, n.last_name, n.birth_date, n.first_initials,
           n.first_as_initials
    from int_identity_edges e
    join stg_contact_names n on n.record = e.record
    left join shared_identifiers s on s.node = e.node
    where (e.node like 'email_sha256:%' or e.node like 'phone_sha256:%')
      and e.rule <> 'role_address' and s.node is null
),
disagreeing_pairs as (
    -- pairs of carriers of one identifier that look like two people on first name alone
    select a.node, a.first_name as first_a, b.first_name as first_b,
           a.birth_date <> b.birth_date as other_birth_date
    from carriers a
    join carriers b on a.node = b.node and a.record < b.record
    where a.birth_date <> b.birth_date
       or not (
           jaro_winkler(a.first_name, b.first_name) >= {{ var("same_first_name_similarity") }}
           or (jaro_winkler(a.first_name, b.last_name) >= {{ var("same_first_name_similarity") }}
               and jaro_winkler(a.last_name, b.first_name) >= {{ var("same_first_name_similarity") }})
           -- a short form is the same person: seb/sebastien, max/maxime, cathy/catherine,
           -- matt/mathieu (five letters at most, at least two fewer, and the same first three
           -- letters; julie/julien stays two people)
           or (least(length(a.first_name), length(b.first_name)) between 3 and 5
               and greatest(length(a.first_name), length(b.first_name))
                   >= least(length(a.first_name), length(b.first_name)) + 2
               and left(a.first_name, 3) = left(b.first_name, 3))
           -- initials are the same person: jf/jean francois, jl/jean luc, j f/jean francois
           -- (stg_contact_names)
           or coalesce(a.first_as_initials = b.first_initials, false)
           or coalesce(b.first_as_initials = a.first_initials, false)
       )
),
name_conflicts as (
    -- a known variant (tom/thomas, will/guillaume: first_name_variants) is the same person
    -- too; looked up only for the few disagreeing pairs
    select p.node, count(*) as records, 'different_persons' as reason
    from disagreeing_pairs p
    left join first_name_variants v
        on v.name_low = least(p.first_a, p.first_b) and v.name_high = greatest(p.first_a, p.first_b)
    where p.other_birth_date or v.name_low is null
    group by p.node
),
cookie_fanout as (
    select
        record as node,
        count(case when node like 'customer_id:%' then 1 end) as accounts,
        count(case when node like 'email_sha256:%' then 1 end) as emails
    from (
        select distinct record, node from int_identity_edges
        where record like 'anonymous_id:%' and node is not null
    )
    group by record
),
shared_cookies as (
    select node, greatest(accounts, emails) as records, 'identities_per_cookie' as reason
    from cookie_fanout
    where accounts > {{ var("max_identities_per_cookie") }}
       or emails > {{ var("max_identities_per_cookie") }}
),
role_addresses as (
    select node, count(*) as records, 'role_address' as reason
    from (select distinct node, record from int_identity_edges where rule = 'role_address')
    group by node
)
select
    split_part(node, ':', 1) as identifier_type,
    substr(node, strpos(node, ':') + 1) as identifier_value,
    node,
    records,
    reason
from (
    select * from shared_identifiers
    union all select * from name_conflicts
    union all select * from shared_cookies
    union all select * from role_addresses
)
