-- Keel schema v2: user feedback on responses, evaluation datasets/runs/results, and the index that
-- keeps the dashboard's stats queries cheap on millions of traces. Same SQL on PGlite and PostgreSQL.

-- One rating per response (trace id = response id); rating again replaces it. No foreign key to
-- traces: traces are written in batches off the request path, so feedback can arrive first.
create table feedback (
  id text primary key,
  trace_id text not null unique,
  tenant_id text not null,
  key_id text,
  user_label text not null default '',
  app text,
  rating text not null check (rating in ('up', 'down')),
  comment text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index feedback_created on feedback (created_at);
create index feedback_tenant_created on feedback (tenant_id, created_at);
create index feedback_down on feedback (created_at) where rating = 'down';

-- A dataset version is immutable: importing changed cases creates version n+1 with its own rows.
create table eval_datasets (
  id text primary key,
  tenant_id text not null references tenants(id),
  name text not null,
  version integer not null,
  description text not null default '',
  -- SHA-256 of the canonical case list: an identical re-import finds its version instead of adding one
  content_hash text not null,
  case_count integer not null,
  created_at timestamptz not null default now(),
  unique (tenant_id, name, version)
);

create table eval_cases (
  id text primary key,
  dataset_id text not null references eval_datasets(id) on delete cascade,
  position integer not null,
  external_id text,
  input text not null,
  reference text,
  -- ordered gold document ids (null: no retrieval judgement); grades for graded relevance (nDCG)
  gold_ids jsonb,
  gold_grades jsonb,
  tags jsonb not null default '[]'::jsonb,
  source_trace_id text,
  metadata jsonb not null default '{}'::jsonb,
  unique (dataset_id, position)
);
create index eval_cases_source_trace on eval_cases (source_trace_id) where source_trace_id is not null;

create table eval_runs (
  id text primary key,
  tenant_id text not null,
  dataset_id text references eval_datasets(id) on delete set null,
  dataset_name text not null,
  dataset_version integer not null,
  app text not null,
  -- what the run was configured with (app config, k, judge model, variations), for reproducing it
  config jsonb not null default '{}'::jsonb,
  status text not null check (status in ('running', 'completed', 'failed', 'cancelled')),
  case_count integer not null default 0,
  completed_cases integer not null default 0,
  metrics jsonb not null default '{}'::jsonb,
  error text,
  started_at timestamptz not null default now(),
  finished_at timestamptz
);
create index eval_runs_tenant_started on eval_runs (tenant_id, started_at);
create index eval_runs_dataset on eval_runs (dataset_name, started_at);

create table eval_results (
  run_id text not null references eval_runs(id) on delete cascade,
  position integer not null,
  case_id text,
  input text not null,
  output text,
  retrieved_ids jsonb not null default '[]'::jsonb,
  metrics jsonb not null default '{}'::jsonb,
  judge_prompt text,
  judge_verdict jsonb,
  -- per-variation outputs and agreement, when the run measured consistency
  variations jsonb,
  latency_ms double precision,
  cost_usd double precision,
  error text,
  created_at timestamptz not null default now(),
  primary key (run_id, position)
);

-- Stats over a time range (dashboard overview, /v1/stats) read only this index: rows come in ts
-- order with every column the aggregates need, so a million-trace range never touches the wide
-- trace rows (spans, attributes). It replaces the plain ts index, which it serves as well.
create index traces_ts_stats on traces (ts)
  include (tenant_id, app, model, status, latency_ms, ttft_ms, cost_usd, prompt_tokens, completion_tokens);
drop index traces_ts;
