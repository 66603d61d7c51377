import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { type Keel, printGeneratedAdminKey } from '../client.ts';
import {
  findRunningServer,
  removeServerFile,
  tryLockDataDir,
  unlockDataDir,
  writeServerFile,
} from '../server-file.ts';
import { CliError, configFor, info, out } from '../util.ts';

interface ServeOptions {
  host?: string;
  port?: string;
  seed: boolean;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Start the Keel server (OpenAI-compatible API, admin API, RAG)')
    .option('--host <host>', 'interface to listen on (overrides KEEL_HOST)')
    .option('-p, --port <port>', 'port to listen on (overrides KEEL_PORT)')
    .option('--no-seed', 'do not ingest the bundled docs/ into an empty store')
    .action(async (opts: ServeOptions, cmd: Command) => {
      const config = configFor(cmd);
      if (opts.host) config.server.host = opts.host;
      if (opts.port !== undefined) {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65_535)
          throw new CliError(`invalid --port ${opts.port}`);
        config.server.port = port;
      }
      if (!opts.seed) config.seedDocs = false;

      const { dataDir } = config;
      const running = await findRunningServer(dataDir);
      if (running) {
        throw new CliError(
          `a Keel server (pid ${running.pid}) is already running on ${dataDir} at ${running.url}`,
        );
      }
      // The embedded database is single-process: hold the data dir for as long as we run.
      const locks = !config.databaseUrl;
      if (locks) {
        const lock = tryLockDataDir(dataDir, 'serve');
        if (!lock.ok) {
          const { pid, command } = lock.holder;
          throw new CliError(
            command === 'serve'
              ? `a Keel server (pid ${pid}) is already starting on ${dataDir}`
              : `the data dir ${dataDir} is in use by pid ${pid} (keel ${command}); start the server when it has finished`,
          );
        }
      }

      let stopRequested = false;
      let wake: (() => void) | undefined;
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopRequested) {
          info(`${signal} again: exiting without waiting`);
          removeServerFile(dataDir);
          if (locks) unlockDataDir(dataDir);
          process.exit(130);
        }
        stopRequested = true;
        info(`${signal}: shutting down (finishing requests in flight; Ctrl-C again to exit at once)`);
        wake?.();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);

      let keel: Keel | undefined;
      try {
        const localToken = randomBytes(32).toString('base64url');
        const { createKeel } = await import('../../runtime.ts');
        keel = await createKeel(config, { localToken });
        if (config.seedDocs && !stopRequested) await (await import('../seed.ts')).seedDocs(keel, info);
        if (stopRequested) return;
        const address = await keel.listen();
        writeServerFile(dataDir, { pid: process.pid, url: localUrl(address), localToken });
        out(`Keel is running at ${address}\n`);
        if (keel.generatedAdminKey) printGeneratedAdminKey(keel.generatedAdminKey, process.stdout);
        info(`data: ${config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : dataDir}; press Ctrl-C to stop`);
        if (!stopRequested) await new Promise<void>((resolve) => (wake = resolve));
      } finally {
        // Stop advertising first, so no new CLI command picks a server that is going away.
        removeServerFile(dataDir);
        try {
          await keel?.close();
        } finally {
          if (locks) unlockDataDir(dataDir);
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }
      info('stopped');
    });
}

/** The URL local clients use: a wildcard bind address is reached over loopback. */
function localUrl(address: string): string {
  const u = new URL(address);
  if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
  else if (u.hostname === '[::]') u.hostname = '[::1]';
  return u.origin;
}
