/**
 * Credential references ("env:NAME", "file:/path") are resolved to secrets only where they are
 * used, at run time. The environment is passed in (the caller's config module owns process.env).
 */
import { readFileSync } from 'node:fs';
import { InputError } from './errors.ts';

export class CredentialError extends InputError {}

/** A secret with its origin; its toString and JSON never show the value. */
export class Secret {
  readonly #value: string;
  readonly source: string;
  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return `[secret from ${this.source}]`;
  }
  toJSON(): string {
    return this.toString();
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

export function resolveCredential(
  reference: string,
  env: Readonly<Record<string, string | undefined>>,
  where = 'credential',
): Secret {
  if (reference.startsWith('env:')) {
    const name = reference.slice(4);
    const value = env[name];
    if (value === undefined || value === '') {
      throw new CredentialError(`${where}: the environment variable ${name} is not set`);
    }
    return new Secret(value, reference);
  }
  if (reference.startsWith('file:')) {
    const file = reference.slice(5);
    let value: string;
    try {
      value = readFileSync(file, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CredentialError(
        `${where}: cannot read ${file} (${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')})`,
      );
    }
    if (value === '') throw new CredentialError(`${where}: ${file} is empty`);
    return new Secret(value, reference);
  }
  throw new CredentialError(`${where}: write env:VARIABLE or file:/path, not the secret itself`);
}
