/** The demo's settings: the environment and the command line, read once here. */
import path from 'node:path';

export interface DemoConfig {
  redisUrl: string;
  /** Where the demo keeps its SQLite file, plan and manual checklists (wiped at each run). */
  dataDir: string;
  /** Preferred port of the API (another is taken when it is busy). */
  port: number;
  /** Keep everything running after the summary, for the dashboard, until Ctrl-C. */
  keep: boolean;
  colour: boolean;
  /**
   * Print the demo's admin token: only on a terminal, so that a token never lands in a CI log or
   * a file the output was piped to.
   */
  showTokens: boolean;
  /** Handed to the API and worker processes (PATH and the like). */
  env: Readonly<Record<string, string | undefined>>;
}

export const DEMO_HELP = `pnpm demo [--keep | --exit]

Runs a whole exit from X in about two minutes on this machine: sandbox networks, the API, the
worker, the Tours example plan squeezed into seconds, then a summary and the dashboard's address.

  --keep   keep the dashboard running after the summary until Ctrl-C (default on a terminal)
  --exit   stop after the summary (default in CI and when the output is not a terminal)

Environment: REDIS_URL (default redis://127.0.0.1:6379), SUNSET_API_PORT (default 8080),
SUNSET_DEMO_DIR (default ./data/demo), NO_COLOR.`;

export function readDemoConfig(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): DemoConfig {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${DEMO_HELP}\n`);
    process.exit(0);
  }
  const unknown = argv.filter((a) => a !== '--keep' && a !== '--exit');
  if (unknown.length > 0) {
    process.stderr.write(`pnpm demo: unknown option ${unknown.join(' ')}\n\n${DEMO_HELP}\n`);
    process.exit(2);
  }
  const interactive = Boolean(process.stdout.isTTY) && !env['CI'];
  const port = Number(env['SUNSET_API_PORT'] ?? 8080);
  return {
    redisUrl: env['REDIS_URL'] || 'redis://127.0.0.1:6379',
    dataDir: path.resolve(env['SUNSET_DEMO_DIR'] || 'data/demo'),
    port: Number.isInteger(port) && port >= 0 && port < 65_536 ? port : 8080,
    keep: argv.includes('--keep') || (interactive && !argv.includes('--exit')),
    colour: Boolean(process.stdout.isTTY) && !env['NO_COLOR'],
    showTokens: Boolean(process.stdout.isTTY),
    env: { ...env },
  };
}
