import type { Command } from 'commander';
import { connect, expectOk } from '../client.ts';
import { configFor, formatTable, info, out } from '../util.ts';

interface UsageOptions {
  from?: string;
  to?: string;
  by: string;
  tenant?: string;
  key?: string;
  user?: string;
  app?: string;
  model?: string;
  json?: boolean;
}

interface UsageRow {
  day?: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  [group: string]: unknown;
}

interface UsageResponse {
  from: string;
  to: string;
  group_by: string[];
  totals: UsageRow;
  data: UsageRow[];
}

export function registerUsage(program: Command): void {
  program
    .command('usage')
    .description('Spend and tokens from the usage ledger, by day, key, user, app or model')
    .option('--from <date>', 'first day (YYYY-MM-DD, UTC; default: the 1st of this month)')
    .option('--to <date>', 'day after the last (YYYY-MM-DD, UTC; default: tomorrow)')
    .option(
      '-b, --by <groups>',
      'day, tenant, key, user, app, model, provider or status; or day,<one of them>',
      'model',
    )
    .option('-t, --tenant <name>', 'only this tenant')
    .option('-k, --key <id>', 'only this API key')
    .option('-u, --user <label>', 'only this user label')
    .option('-a, --app <name>', 'only this app')
    .option('-m, --model <name>', 'only this model')
    .option('--json', 'print the API response as JSON')
    .action(async (opts: UsageOptions, cmd: Command) => {
      const params = new URLSearchParams({ group_by: opts.by });
      for (const k of ['from', 'to', 'tenant', 'key', 'user', 'app', 'model'] as const) {
        const v = opts[k];
        if (v !== undefined) params.set(k, v);
      }
      const client = await connect(configFor(cmd), info, 'usage');
      try {
        const res = await expectOk<UsageResponse>(await client.request('GET', `/v1/usage?${params}`));
        out(opts.json ? `${JSON.stringify(res, null, 2)}\n` : formatUsage(res));
      } finally {
        await client.close();
      }
    });
}

const money = (usd: number) => `$${usd.toFixed(6)}`;

export function formatUsage(res: UsageResponse): string {
  const groups = res.group_by;
  const header = [
    ...groups.map((g) => g.toUpperCase()),
    'REQUESTS',
    'PROMPT TOKENS',
    'COMPLETION TOKENS',
    'COST',
  ];
  const row = (r: UsageRow, label?: string) => [
    ...groups.map((g, i) => (label !== undefined ? (i === 0 ? label : '') : String(r[g] ?? '(none)'))),
    String(r.requests),
    String(r.prompt_tokens),
    String(r.completion_tokens),
    money(r.cost_usd),
  ];
  const rows = [...res.data.map((r) => row(r)), row(res.totals, 'total')];
  const span = `usage from ${res.from.slice(0, 10)} to ${res.to.slice(0, 10)} (UTC, end exclusive)`;
  if (res.data.length === 0) return `${span}: no requests\n`;
  return `${span}\n${formatTable(header, rows, (i) => i >= groups.length)}`;
}
