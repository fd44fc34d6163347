-- What we believe now about each drug's maximum dose: the newest claim.
select subject as drug, object as max_dose, source, asserted_at
from {{ source('stemedb', 'recency') }}
where predicate = 'max_dose'
