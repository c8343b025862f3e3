/**
 * Reading a service's settings from its environment: every problem is collected, so a bad
 * configuration stops start-up with one message that names each variable and what is wrong.
 * The environment is passed in; only a service's config module hands process.env over.
 */
import { readFileSync } from 'node:fs';
import { SunsetError } from './errors.ts';

export class ConfigError extends SunsetError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('config', `configuration is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export class EnvReader {
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #problems: string[] = [];

  constructor(env: Readonly<Record<string, string | undefined>>) {
    this.#env = env;
  }

  #raw(name: string): string | undefined {
    const v = this.#env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  }

  /** Records a problem found while combining settings. */
  problem(message: string): void {
    this.#problems.push(message);
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    return this.#raw(name) ?? fallback;
  }

  int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
    if (!Number.isInteger(n) || n < min || n > max) {
      this.#problems.push(`${name}="${raw}": expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    if (!(choices as readonly string[]).includes(raw)) {
      this.#problems.push(`${name}="${raw}": expected one of ${choices.join(', ')}`);
      return fallback;
    }
    return raw as T;
  }

  /** A comma-separated list whose items must each be one of `choices`. */
  list<T extends string>(name: string, choices: readonly T[], fallback: readonly T[]): readonly T[] {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((i) => !(choices as readonly string[]).includes(i));
    if (bad.length > 0 || items.length === 0) {
      this.#problems.push(`${name}="${raw}": expected a comma-separated list of ${choices.join(', ')}`);
      return fallback;
    }
    return [...new Set(items)] as T[];
  }

  /** A URL with one of the given protocols ("redis:", "postgres:"…). */
  url(name: string, fallback: string, protocols: readonly string[]): string {
    const raw = this.#raw(name) ?? fallback;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) {
        this.#problems.push(
          `${name}: the URL must start with ${protocols.map((p) => `${p}//`).join(' or ')}`,
        );
      }
    } catch {
      this.#problems.push(`${name}: not a URL`);
    }
    return raw;
  }

  /** The contents of the file named by `name` (a secret mounted as a file), trimmed. */
  fileContents(name: string): string | undefined {
    const file = this.#raw(name);
    if (file === undefined) return undefined;
    try {
      const value = readFileSync(file, 'utf8').trim();
      if (value === '') this.#problems.push(`${name}: ${file} is empty`);
      return value;
    } catch (err) {
      this.#problems.push(
        `${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
      return undefined;
    }
  }

  /**
   * DATABASE_URL, with the password from DATABASE_PASSWORD_FILE when that is set (so the URL in
   * the environment never carries the secret), or the SQLite file under `dataDir` by default.
   */
  databaseUrl(defaultUrl: string): string {
    const url = this.string('DATABASE_URL', defaultUrl);
    const password = this.fileContents('DATABASE_PASSWORD_FILE');
    if (password === undefined) return url;
    if (!/^postgres(ql)?:\/\//i.test(url)) {
      this.#problems.push('DATABASE_PASSWORD_FILE: only a postgres:// DATABASE_URL takes a password');
      return url;
    }
    const u = new URL(url);
    u.password = password;
    return u.toString();
  }

  /** The problems found so far. */
  get problems(): readonly string[] {
    return this.#problems;
  }

  /** Throws one ConfigError naming every problem found. */
  done(): void {
    if (this.#problems.length > 0) throw new ConfigError(this.#problems);
  }
}

/**
 * A service's configuration as `read` returns it; when it is not valid, the service's one
 * message (each problem, then the variables it reads) on stderr and exit code 78 (EX_CONFIG).
 */
export function configOrExit<T>(read: () => T, service: string, variables: string): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${service}: ${err.message}\nVariables:${variables}\n`);
      process.exit(78);
    }
    throw err;
  }
}
