-- Where sources disagree about a dose.
select subject as drug, claims, distinct_objects
from {{ source('stemedb', 'conflicts') }}
where predicate = 'max_dose' and distinct_objects > 1
