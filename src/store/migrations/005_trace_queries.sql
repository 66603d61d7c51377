-- Keel schema v5: indexes for the trace query API (GET /v1/traces) and feedback on pass-through
-- responses. Same SQL on PGlite and PostgreSQL.

-- A member lists only its own key's traces, newest first.
create index traces_key_ts on traces (key_id, ts);
-- "has guard findings": few traces have any, so a partial index keeps the filter cheap.
create index traces_guard_ts on traces (ts) where attributes ? 'guard_findings';
-- A pass-through answers with the upstream's id; feedback quoting it finds its trace through this.
create index traces_response_id on traces ((attributes ->> 'response_id')) where attributes ? 'response_id';
