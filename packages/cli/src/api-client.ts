/**
 * The CLI as a client of the HTTP API (SUNSET_API_URL, SUNSET_TOKEN or SUNSET_TOKEN_FILE): for
 * people who reach a deployment over the network rather than its store. Errors come back as the
 * API wrote them, with the request id to quote to whoever runs the server.
 */
import { readFileSync } from 'node:fs';
import { CliExit } from './exit.ts';
import type { Io } from './io.ts';

export interface ApiError {
  error: { code: string; message: string; details?: unknown };
  requestId?: string;
}

export class ApiClient {
  readonly base: string;
  readonly #token: string;

  constructor(base: string, token: string) {
    this.base = base.replace(/\/+$/, '');
    this.#token = token;
  }

  async request(
    method: string,
    path: string,
    options: {
      json?: unknown;
      body?: string | Uint8Array;
      type?: string;
      accept?: string;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, ...options.headers };
    let body: string | Uint8Array | undefined = options.body;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.type) {
      headers['content-type'] = options.type;
    }
    if (options.accept) headers['accept'] = options.accept;
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw new CliExit(
        69,
        `sunset: cannot reach the API at ${this.base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
      );
    }
  }

  /** The JSON answer of a successful request; an error answer ends the command with its message. */
  async json<T>(method: string, path: string, options: Parameters<ApiClient['request']>[2] = {}): Promise<T> {
    const res = await this.request(method, path, options);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) throw apiFailure(res.status, parsed, text);
    return parsed as T;
  }
}

export function apiFailure(status: number, parsed: unknown, text: string): CliExit {
  const e = parsed as Partial<ApiError> | undefined;
  const message = e?.error?.message ?? (text.slice(0, 200) || `HTTP ${status}`);
  const details = e?.error?.details;
  const lines = [`sunset: the API refused (${status}): ${message}`];
  if (Array.isArray(details)) {
    for (const d of details.slice(0, 50)) {
      const x = d as {
        file?: string;
        line?: number;
        column?: number;
        path?: string;
        message?: string;
        severity?: string;
      };
      lines.push(
        x.message
          ? `  ${x.file ? `${x.file}:${x.line}:${x.column}  ` : ''}${x.path ?? ''}  ${x.severity === 'warning' ? 'warning: ' : ''}${x.message}`
          : `  ${JSON.stringify(d)}`,
      );
    }
  }
  if (e?.requestId) lines.push(`  (request id ${e.requestId})`);
  return new CliExit(status === 503 ? 69 : status >= 500 ? 70 : 1, lines.join('\n'));
}

/** The client when SUNSET_API_URL is set (and a token given), else undefined. */
export function apiClientOf(io: Io, required = false): ApiClient | undefined {
  const { apiUrl, token, tokenFile } = io.config;
  if (!apiUrl) {
    if (required)
      throw new CliExit(
        2,
        'sunset: set SUNSET_API_URL (e.g. http://127.0.0.1:8080) and SUNSET_TOKEN for this command',
      );
    return undefined;
  }
  let secret = token;
  if (!secret && tokenFile) {
    try {
      secret = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new CliExit(
        2,
        `sunset: SUNSET_TOKEN_FILE: cannot read ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
    }
  }
  if (!secret)
    throw new CliExit(
      2,
      'sunset: SUNSET_API_URL is set but no token: set SUNSET_TOKEN or SUNSET_TOKEN_FILE (sunset token create)',
    );
  return new ApiClient(apiUrl, secret);
}
