/** Everything the CLI reads from its environment, read once at start-up. */
export interface CliConfig {
  /** Colours on stdout: only on a terminal, unless NO_COLOR or FORCE_COLOR say otherwise. */
  colour: boolean;
  /** Width to wrap long texts at in human output. */
  width: number;
  /** The environment, where credential references (env:NAME) are resolved. */
  env: Readonly<Record<string, string | undefined>>;
}

export function readCliConfig(
  env: NodeJS.ProcessEnv = process.env,
  stdout: { isTTY?: boolean; columns?: number } = process.stdout,
): CliConfig {
  const force = env['FORCE_COLOR'];
  let colour = Boolean(stdout.isTTY) && env['TERM'] !== 'dumb';
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') colour = false;
  if (force !== undefined) colour = force !== '0' && force !== 'false';
  return { colour, width: Math.max(60, Math.min(stdout.columns ?? 100, 120)), env: { ...env } };
}
