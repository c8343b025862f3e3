import pc from 'picocolors';
import { readCliConfig, type CliConfig } from './config.ts';

/** Where a command writes, and how: kept apart from process.* so commands can be run in tests. */
export interface Io {
  out(line?: string): void;
  err(line?: string): void;
  colours: ReturnType<typeof pc.createColors>;
  config: CliConfig;
}

export function processIo(config: CliConfig): Io {
  return {
    out: (line = '') => process.stdout.write(`${line}\n`),
    err: (line = '') => process.stderr.write(`${line}\n`),
    colours: pc.createColors(config.colour),
    config,
  };
}

export function bufferIo(
  config: CliConfig = { ...readCliConfig({}, {}), colour: false, width: 100 },
): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (line = '') => void stdout.push(line),
    err: (line = '') => void stderr.push(line),
    colours: pc.createColors(config.colour),
    config,
  };
}
