-- Keel schema v3: limits, budgets, allow-lists and region pins set through the admin API, per
-- subject. Config (keel.yaml) holds the defaults; a stored policy replaces them field by field.
-- Same SQL on PGlite and PostgreSQL.
create table policies (
  -- 'key' (subject: key id), 'user' ('<tenant id>:<user label>'), 'tenant' (tenant id), 'app' (app name)
  scope text not null check (scope in ('key', 'user', 'tenant', 'app')),
  subject text not null,
  -- {limits?, budget?, requestCap?, regions?, allowedModels?}: an absent field inherits the config's,
  -- null means explicitly none.
  policy jsonb not null default '{}'::jsonb,
  updated_at timestamptz not null default now(),
  primary key (scope, subject)
);

-- Budget counters are rebuilt from the ledger per subject and window; keys and tenants already have
-- (key_id, ts) and (tenant_id, ts) indexes.
create index usage_ledger_app_ts on usage_ledger (app, ts) where app is not null;
create index usage_ledger_user_ts on usage_ledger (tenant_id, user_label, ts);
