import type { Command } from 'commander';
import { connect, expectOk } from '../client.ts';
import { configFor, formatTable, info, out } from '../util.ts';

/** A key as the admin API lists it: never the secret, only its display prefix. */
export interface KeyInfo {
  id: string;
  prefix: string;
  tenant?: string;
  user?: string;
  name?: string;
  role: string;
  allowed_models?: string[] | null;
  created_at?: string;
  revoked_at?: string | null;
  last_used_at?: string | null;
}

interface CreateOptions {
  tenant?: string;
  user?: string;
  name?: string;
  role: string;
  models?: string;
  json?: boolean;
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('Create, list and revoke API keys');

  keys
    .command('create')
    .description('Create an API key (printed once: store it now)')
    .option('-t, --tenant <name>', 'tenant the key belongs to (created if new)', 'default')
    .option('-u, --user <label>', 'user label recorded with usage and traces')
    .option('-n, --name <name>', 'a name to recognise the key by')
    .option('-r, --role <role>', 'admin or member', 'member')
    .option('-m, --models <list>', 'comma-separated apps/models the key may use (default: any)')
    .option('--json', 'print the created key as JSON')
    .action(async (opts: CreateOptions, cmd: Command) => {
      const client = await connect(configFor(cmd), info, 'keys');
      try {
        const body = {
          tenant: opts.tenant,
          role: opts.role,
          ...(opts.user ? { user: opts.user } : {}),
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.models ? { allowed_models: splitList(opts.models) } : {}),
        };
        const created = await expectOk<KeyInfo & { key: string }>(
          await client.request('POST', '/v1/admin/keys', body),
        );
        if (opts.json) {
          out(`${JSON.stringify(created, null, 2)}\n`);
          return;
        }
        // The key alone on stdout, so `KEY=$(keel keys create)` works; the rest is for the human.
        out(`${created.key}\n`);
        info(
          `created ${created.role} key ${created.id} (prefix ${created.prefix}) for tenant ${created.tenant ?? opts.tenant}` +
            (created.allowed_models?.length ? `, models: ${created.allowed_models.join(', ')}` : ''),
        );
        info('this is the only time the key is shown: store it now (Keel keeps only its hash)');
      } finally {
        await client.close();
      }
    });

  keys
    .command('list')
    .description('List API keys (prefixes only; secrets are never stored)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = await connect(configFor(cmd), info, 'keys');
      try {
        const res = await expectOk<{ data: KeyInfo[] } | KeyInfo[]>(
          await client.request('GET', '/v1/admin/keys'),
        );
        const list = Array.isArray(res) ? res : res.data;
        out(opts.json ? `${JSON.stringify(list, null, 2)}\n` : formatKeyTable(list));
      } finally {
        await client.close();
      }
    });

  keys
    .command('revoke')
    .description('Revoke an API key by id')
    .argument('<id>', 'key id (see keel keys list)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const client = await connect(configFor(cmd), info, 'keys');
      try {
        await expectOk(await client.request('DELETE', `/v1/admin/keys/${encodeURIComponent(id)}`));
        out(`revoked ${id}\n`);
      } finally {
        await client.close();
      }
    });
}

function splitList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

export function formatKeyTable(keys: KeyInfo[]): string {
  if (keys.length === 0) return 'no API keys yet: create one with `keel keys create`\n';
  const header = ['ID', 'PREFIX', 'TENANT', 'USER', 'NAME', 'ROLE', 'MODELS', 'CREATED', 'STATUS'];
  const rows = keys.map((k) => [
    k.id,
    `${k.prefix}…`,
    k.tenant ?? '',
    k.user ?? '',
    k.name ?? '',
    k.role,
    k.allowed_models?.length ? k.allowed_models.join(',') : 'any',
    k.created_at ? k.created_at.slice(0, 19).replace('T', ' ') : '',
    k.revoked_at ? `revoked ${k.revoked_at.slice(0, 10)}` : 'active',
  ]);
  return formatTable(header, rows);
}
