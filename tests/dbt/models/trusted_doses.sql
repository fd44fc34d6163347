-- The same, by the most authoritative source.
select subject as drug, object as max_dose, source, tier
from {{ source('stemedb', 'authority') }}
where predicate = 'max_dose'
