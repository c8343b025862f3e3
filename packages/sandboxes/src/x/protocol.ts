/** X's answer shapes (v2 problems, v1.1 errors) and the request readers every handler uses. */
import type { FastifyRequest } from 'fastify';
import type { Answer } from './model.ts';
import { formPairs } from './oauth1.ts';

const INVALID_REQUEST_TYPE = 'https://api.x.com/2/problems/invalid-request';

// X documents and accepts `tweet.fields`; its OpenAPI document calls the same parameter
// `post.fields`. Both are read.
export const POST_FIELDS = ['tweet.fields', 'post.fields'];

export function isV2(path: string): boolean {
  return path.startsWith('/2/');
}

/** An RFC 7807 problem as X sends for most refusals (type "about:blank"). */
export function problem(
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): Answer {
  return {
    status,
    body: { title, detail, type: 'about:blank', status, ...extra },
    headers: { 'content-type': 'application/problem+json' },
  };
}

/** X's "invalid request" problem, naming the parameters at fault. */
export function invalidRequest(message: string, parameters: Record<string, string[]> = {}): Answer {
  return {
    status: 400,
    body: {
      errors: [{ parameters, message }],
      title: 'Invalid Request',
      detail: 'One or more parameters to your request was invalid.',
      type: INVALID_REQUEST_TYPE,
    },
    headers: { 'content-type': 'application/problem+json' },
  };
}

/** The v1.1 error shape. */
export function v1Error(status: number, code: number, message: string): Answer {
  return { status, body: { errors: [{ code, message }] } };
}

export function codePoints(text: string): number {
  return [...text].length;
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

export function formBody(req: FastifyRequest): Map<string, string> {
  return typeof req.body === 'string' ? new Map(formPairs(req.body)) : new Map();
}

export function fieldList(query: unknown, ...names: string[]): Set<string> {
  const out = new Set<string>();
  for (const name of names) {
    const value = asRecord(query)?.[name];
    if (typeof value === 'string') for (const field of value.split(',')) if (field) out.add(field);
  }
  return out;
}
