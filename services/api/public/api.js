// Talks to the API on the same origin (the CSP allows nothing else). The token lives in
// sessionStorage only: it goes when the tab closes, and no other tab or later visit sees it.

import { t } from './i18n.js';

const TOKEN_KEY = 'sunset.token';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A refusal from the API, or no answer at all (status 0), in the API's error shape. */
export class ApiError extends Error {
  constructor(status, code, message, requestId, details, retryAfter) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

/** Query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * One request with the bearer token. Resolves with the Response when it is 2xx; otherwise
 * throws an ApiError carrying the server's message and request id.
 */
export async function request(path, { method = 'GET', body, headers = {}, token = getToken() } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      // The answers carry tokens' uses and live states: never serve them from a cache.
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'network', t('error.noAnswer', { detail: err.message }), undefined);
  }
  if (res.ok) return res;
  let payload;
  try {
    payload = await res.json();
  } catch {
    payload = undefined;
  }
  const e = payload && payload.error ? payload.error : {};
  throw new ApiError(
    res.status,
    e.code ?? 'http',
    e.message ?? `${res.status} ${res.statusText}`,
    payload?.requestId ?? res.headers.get('x-request-id') ?? undefined,
    e.details,
    res.headers.get('retry-after') ?? undefined,
  );
}

export async function getJson(path, options) {
  const res = await request(path, options);
  return res.json();
}

export async function postJson(path, body, options = {}) {
  const res = await request(path, { ...options, method: 'POST', body });
  return res.json();
}
