import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load.ts';
import { formatConfig } from '../../config/mask.ts';
import { info, out } from '../util.ts';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('Inspect the configuration');
  config
    .command('check')
    .description('Validate keel.yaml and the environment; print the effective config with secrets masked')
    .action((_opts: unknown, cmd: Command) => {
      const file = cmd.optsWithGlobals<{ config?: string }>().config;
      const path = resolveConfigPath({ file });
      const effective = loadConfig({ file });
      out(formatConfig(effective));
      info(`config OK (${path ? `file ${path}` : 'no config file'} + environment)`);
    });
}
