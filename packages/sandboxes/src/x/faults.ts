/** Injected faults: which request they hit, and the answers X gives for 5xx and 429. */
import type { Answer, XSandboxFault, XSandboxInjectOptions } from './model.ts';
import { isV2, problem, v1Error } from './protocol.ts';

interface Fault {
  fault: XSandboxFault;
  remaining: number;
  path: string | RegExp | undefined;
  method: string | undefined;
}

export class FaultQueue {
  readonly #faults: Fault[] = [];

  inject(fault: XSandboxFault, options: XSandboxInjectOptions = {}): void {
    this.#faults.push({
      fault,
      remaining: options.times ?? 1,
      path: options.path,
      method: options.method?.toUpperCase(),
    });
  }

  clear(): void {
    this.#faults.length = 0;
  }

  /** The first fault matching the request, counted as used. */
  take(method: string, path: string): XSandboxFault | undefined {
    const index = this.#faults.findIndex(
      (f) =>
        (f.method === undefined || f.method === method) &&
        (f.path === undefined || (typeof f.path === 'string' ? f.path === path : f.path.test(path))),
    );
    const entry = this.#faults[index];
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.#faults.splice(index, 1);
    return entry.fault;
  }
}

export function serverError(path: string, status: 500 | 502 | 503): Answer {
  const titles = { 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' } as const;
  if (isV2(path)) return problem(status, titles[status], titles[status]);
  return status === 503 ? v1Error(503, 130, 'Over capacity') : v1Error(status, 131, 'Internal error');
}

export function rateLimited(path: string, resetInSeconds: number): Answer {
  const answer = isV2(path)
    ? problem(429, 'Too Many Requests', 'Too Many Requests')
    : v1Error(429, 88, 'Rate limit exceeded');
  return {
    ...answer,
    headers: {
      ...answer.headers,
      'x-rate-limit-limit': '100',
      'x-rate-limit-remaining': '0',
      'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds),
    },
  };
}
