/**
 * Credential references ("env:NAME", "file:name") are resolved to secrets only where they are
 * used, at run time, and only inside the namespace of the organisation whose plan names them:
 * variables whose name starts with its prefix (ville-de-tours: VILLE_DE_TOURS__), files inside
 * its folder of the secrets folder (SUNSET_SECRETS_DIR/ville-de-tours/). The operator sets both;
 * a plan cannot reach another organisation's secrets or the deployment's own. The environment
 * and the folder are passed in (the caller's config module owns process.env).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from './errors.ts';
import { resolveInside } from './inside-folder.ts';

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

/** Where an organisation's secrets may be read from. */
export interface SecretScope {
  /** The organisation the plan belongs to, as the store (not the plan) knows it. */
  organisationId: string;
  /** The environment; only the variables starting with the organisation's prefix are read. */
  env: Readonly<Record<string, string | undefined>>;
  /** SUNSET_SECRETS_DIR; the organisation's files are in `<secretsDir>/<organisationId>/`. */
  secretsDir: string;
}

/** The organisation id rule of plans; no `--`, so the first `__` of a variable ends its prefix. */
const ORGANISATION_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The prefix of an organisation's variables: ville-de-tours → VILLE_DE_TOURS__. */
export function envPrefix(organisationId: string): string {
  return `${organisationId.toUpperCase().replaceAll('-', '_')}__`;
}

/** The message for a variable outside the namespace; it names the namespace, nothing else. */
function envOutside(organisationId: string): string {
  const prefix = envPrefix(organisationId);
  return `${organisationId}'s plan may only name environment variables starting with ${prefix}, e.g. env:${prefix}X_APP_KEY`;
}

/** The message for a file outside the namespace, the same whatever and wherever the target is. */
function fileOutside(organisationId: string): string {
  return (
    `${organisationId}'s plan may only name files inside its own secrets folder ` +
    `(SUNSET_SECRETS_DIR/${organisationId}/): write file:<name>, a path relative to that folder, e.g. file:x_access_token`
  );
}

/**
 * Why a reference lies outside the organisation's namespace, or undefined when it does not. Without
 * `secretsDir` only the text is checked; with it, symbolic links in the organisation's folder too.
 * A reference that is neither env: nor file: is not judged here.
 */
export function credentialScopeProblem(
  reference: string,
  organisationId: string,
  secretsDir?: string,
): string | undefined {
  if (!ORGANISATION_ID.test(organisationId))
    return `"${organisationId}" is not an organisation id: it can have no secrets`;
  if (reference.startsWith('env:')) {
    const name = reference.slice(4);
    const prefix = envPrefix(organisationId);
    return name.startsWith(prefix) && name.length > prefix.length && VARIABLE.test(name)
      ? undefined
      : envOutside(organisationId);
  }
  if (reference.startsWith('file:')) {
    const name = reference.slice(5);
    if (name === '' || path.isAbsolute(name) || name.split('/').includes('..'))
      return fileOutside(organisationId);
    if (
      secretsDir !== undefined &&
      resolveInside(orgFolder(secretsDir, organisationId), name).kind === 'outside'
    )
      return fileOutside(organisationId);
  }
  return undefined;
}

function orgFolder(secretsDir: string, organisationId: string): string {
  return path.join(path.resolve(secretsDir), organisationId);
}

export function resolveCredential(reference: string, scope: SecretScope, where = 'credential'): Secret {
  const org = scope.organisationId;
  const problem = credentialScopeProblem(reference, org, scope.secretsDir);
  if (problem) throw new CredentialError(`${where}: ${problem}`);
  if (reference.startsWith('env:')) {
    const name = reference.slice(4);
    const value = scope.env[name];
    if (value === undefined || value === '') {
      throw new CredentialError(`${where}: the environment variable ${name} is not set`);
    }
    return new Secret(value, reference);
  }
  if (reference.startsWith('file:')) {
    const name = reference.slice(5);
    const found = resolveInside(orgFolder(scope.secretsDir, org), name);
    if (found.kind === 'outside') throw new CredentialError(`${where}: ${fileOutside(org)}`);
    const inFolder = `${name} in SUNSET_SECRETS_DIR/${org}/`;
    if (found.kind === 'missing')
      throw new CredentialError(`${where}: cannot read ${inFolder} (no such file)`);
    let value: string;
    try {
      value = readFileSync(found.file, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CredentialError(`${where}: cannot read ${inFolder} (${code ?? 'unreadable'})`);
    }
    if (value === '') throw new CredentialError(`${where}: ${inFolder} is empty`);
    return new Secret(value, reference);
  }
  throw new CredentialError(`${where}: write env:VARIABLE or file:name, not the secret itself`);
}
