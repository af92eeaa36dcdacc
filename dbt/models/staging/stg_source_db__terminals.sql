-- Terminals per daily snapshot.
with source as (
    select * from {{ source('lake', 'raw_terminals') }}
    where {{ in_run_window() }}
)

select
    cast(terminal_id as bigint) as terminal_id,
    cast(x as double) as terminal_x,
    cast(y as double) as terminal_y,
    partition_date
from source
