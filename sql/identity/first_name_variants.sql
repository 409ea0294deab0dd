-- Seed: first names one person goes by that share no beginning, or too little of it for the
-- short-form and initials rules of int_shared_identifiers (a prefix of five letters or less, at
-- least two letters shorter; JF for Jean-François). Normalised like normalize_name (lower
-- case, no accents, spaces for hyphens); each pair is stored in sorted order so a lookup needs no second try.
select least(name, variant) as name_low, greatest(name, variant) as name_high
from (values
    ('thomas', 'tom'), ('thomas', 'tommy'),
    ('guillaume', 'will'), ('guillaume', 'guigui'), ('william', 'will'), ('william', 'bill'),
    ('margaux', 'margot'), ('marguerite', 'margot'), ('marguerite', 'maguy'),
    ('elisabeth', 'babeth'), ('elisabeth', 'lisa'), ('elizabeth', 'liz'), ('elizabeth', 'betty'),
    ('robert', 'bob'), ('emmanuel', 'manu'), ('emmanuelle', 'manue'),
    ('francois', 'francky'), ('jacques', 'jacky'), ('jacqueline', 'jackie'),
    ('joseph', 'jojo'), ('josephine', 'josy'), ('antoine', 'toine'), ('anthony', 'tony'),
    ('charles', 'charlie'), ('charlotte', 'charlie'), ('victoria', 'vicky'),
    ('alexandra', 'sandra'), ('alexandre', 'sacha'), ('daniel', 'dany'), ('gabriel', 'gaby'),
    ('gabrielle', 'gaby'), ('laurence', 'lolo'), ('laurent', 'lolo'), ('amelie', 'meli'),
    ('julien', 'juju'), ('juliette', 'juju'), ('mohamed', 'momo'), ('pierre', 'pierrot'),
    ('dominique', 'domi'), ('christine', 'kiki'), ('frederique', 'fredo'),
    ('stephanie', 'fanny'), ('anne sophie', 'anso'), ('marie christine', 'marie'),
    ('marie laure', 'marie'), ('marie claire', 'marie'), ('anne marie', 'anne')
) as variants(name, variant)
