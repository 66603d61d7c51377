-- Keel schema v4: known prompt-injection attacks for the guard's similarity signal. Rows are the
-- curated list (src/guard/injection/attacks.ts, source 'builtin') and keel.yaml's `guard.attacks`
-- (source 'config'), upserted at start-up. The embedding is the injection scanner's own hashing
-- embedding: stemmed words and word pairs hashed into a sparse vector (src/guard/attack-store.ts),
-- so a team's corpus can grow without a model. Same SQL on PGlite and PostgreSQL.
create table guard_attacks (
  id text primary key,
  text text not null,
  source text not null default 'builtin',
  embedding sparsevec(1000000) not null,
  -- The embedding function's version: rows from an older one are re-embedded at start-up.
  embed_version integer not null,
  created_at timestamptz not null default now()
);
create index guard_attacks_embedding on guard_attacks using hnsw (embedding sparsevec_cosine_ops);
