-- Keel schema v7: find a trace by the x-request-id a client sent. An id Keel generated is the
-- trace's own id (the primary key finds it), so only the ids clients chose are indexed.
create index traces_client_request_id on traces ((attributes ->> 'request_id'))
  where attributes ->> 'request_id' <> id;
