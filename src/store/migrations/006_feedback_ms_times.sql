-- Keel schema v6: feedback times at millisecond precision, as Keel now writes them. Thumbs-down
-- lists page on (created_at, trace_id) with a cursor that travels as a JavaScript Date (whole
-- milliseconds); a stored time microseconds past its cursor made the next page skip rows rated in
-- the same millisecond. Same SQL on PGlite and PostgreSQL.
update feedback
  set created_at = date_trunc('milliseconds', created_at), updated_at = date_trunc('milliseconds', updated_at)
  where created_at <> date_trunc('milliseconds', created_at) or updated_at <> date_trunc('milliseconds', updated_at);
