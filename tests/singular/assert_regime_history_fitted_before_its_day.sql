-- The stored regime history is point in time: every label was made by a model version whose fit ended
-- before the labelled day. Any row returned here is a label that saw its own day (or later) when fitted.
select scope, date, model_version, fit_end
from {{ ref('stg_ml__regime_history') }}
where fit_end >= date
