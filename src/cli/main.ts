import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAsk } from './commands/ask.ts';
import { registerConfig } from './commands/config.ts';
import { registerDocs } from './commands/docs.ts';
import { registerEval } from './commands/eval.ts';
import { registerGuard } from './commands/guard.ts';
import { registerIngest } from './commands/ingest.ts';
import { registerKeys } from './commands/keys.ts';
import { registerServe } from './commands/serve.ts';
import { registerUsage } from './commands/usage.ts';
import { reportError } from './util.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('keel')
  .description('Keel: an OpenAI-compatible AI gateway with API keys, RAG and cited answers')
  .version(pkg.version)
  .option('-c, --config <file>', 'config file (default: $KEEL_CONFIG, else ./keel.yaml when present)')
  .showHelpAfterError();

registerServe(program);
registerIngest(program);
registerDocs(program);
registerAsk(program);
registerKeys(program);
registerConfig(program);
registerEval(program);
registerGuard(program);
registerUsage(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = reportError(e);
}
// Commands (`serve` included: its action returns once shut down) end here, even if a library left a timer behind.
process.exit(process.exitCode ?? 0);
