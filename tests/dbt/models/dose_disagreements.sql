-- A model on models: the newest and the most trusted dose side by side.
select c.drug, c.max_dose as newest, t.max_dose as most_trusted,
       c.max_dose <> t.max_dose as they_differ
from {{ ref('current_doses') }} c
join {{ ref('trusted_doses') }} t on t.drug = c.drug
