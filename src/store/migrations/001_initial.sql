-- Keel schema v1: tenants, keys, RAG (collections, documents, chunks, BM25 term statistics),
-- the usage ledger and traces. The same SQL runs on PGlite and PostgreSQL.
create extension if not exists vector;

create table tenants (
  id text primary key,
  name text not null unique,
  created_at timestamptz not null default now()
);
-- Tenant `default` exists from the start: keys and collections created without a tenant land here.
insert into tenants (id, name) values ('ten_default', 'default');

create table api_keys (
  id text primary key,
  tenant_id text not null references tenants(id),
  name text not null default '',
  user_label text not null default '',
  role text not null check (role in ('admin', 'member')),
  hash text not null unique,
  prefix text not null,
  allowed_models text[],
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  last_used_at timestamptz
);
create index api_keys_tenant on api_keys (tenant_id);

create table collections (
  id text primary key,
  tenant_id text not null references tenants(id),
  name text not null,
  embedder text not null,
  dimensions integer not null,
  text_config text not null default 'english',
  chunk_count bigint not null default 0,
  total_length bigint not null default 0,
  created_at timestamptz not null default now(),
  unique (tenant_id, name)
);

create table documents (
  id text primary key,
  collection_id text not null references collections(id) on delete cascade,
  external_id text not null,
  title text not null default '',
  uri text not null default '',
  content_hash text not null,
  metadata jsonb not null default '{}'::jsonb,
  chunk_count integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (collection_id, external_id)
);

create table chunks (
  id text primary key,
  document_id text not null references documents(id) on delete cascade,
  collection_id text not null references collections(id) on delete cascade,
  position integer not null,
  heading text not null default '',
  text text not null,
  token_count integer not null,
  tsv tsvector not null,
  -- number of lexeme occurrences in tsv: the BM25 document length
  length integer not null,
  embedding vector,
  metadata jsonb not null default '{}'::jsonb
);
create index chunks_document on chunks (document_id, position);
create index chunks_collection on chunks (collection_id);
create index chunks_tsv on chunks using gin (tsv);
create index chunks_metadata on chunks using gin (metadata jsonb_path_ops);
-- Embeddings stay in the row, uncompressed (text and tsvector move out of line first): exact
-- scans, relevance feedback and index builds then read a vector without decompressing it (hashing
-- vectors are sparse and would otherwise be pglz-compressed). HNSW caps dimensions at 2000, which fits a row.
alter table chunks alter column embedding set storage plain;
alter table chunks set (toast_tuple_target = 8160);
-- HNSW indexes are per collection (partial, on embedding::vector(dimensions)); created with the collection.

-- BM25 statistics: document frequency of each lexeme per collection, kept in step with chunks.
create table term_stats (
  collection_id text not null references collections(id) on delete cascade,
  lexeme text not null,
  df integer not null,
  primary key (collection_id, lexeme)
);

create table usage_ledger (
  id text primary key,
  ts timestamptz not null default now(),
  tenant_id text not null,
  key_id text,
  user_label text not null default '',
  app text,
  model text not null,
  provider text,
  prompt_tokens integer not null default 0,
  completion_tokens integer not null default 0,
  cost_usd double precision not null default 0,
  estimated boolean not null default false,
  status text not null,
  cache_hit boolean not null default false
);
create index usage_ledger_ts on usage_ledger (ts);
create index usage_ledger_key_ts on usage_ledger (key_id, ts);
create index usage_ledger_tenant_ts on usage_ledger (tenant_id, ts);

create table traces (
  id text primary key,
  ts timestamptz not null default now(),
  tenant_id text,
  key_id text,
  user_label text,
  app text,
  model text,
  status text not null,
  http_status integer,
  error_code text,
  latency_ms double precision not null,
  ttft_ms double precision,
  prompt_tokens integer,
  completion_tokens integer,
  cost_usd double precision,
  stream boolean not null default false,
  spans jsonb not null default '[]'::jsonb,
  attributes jsonb not null default '{}'::jsonb
);
create index traces_ts on traces (ts);
create index traces_app_ts on traces (app, ts);
create index traces_tenant_ts on traces (tenant_id, ts);
