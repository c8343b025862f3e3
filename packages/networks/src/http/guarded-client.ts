/**
 * The one HTTP client for addresses that come from content (link cards, their images, profile
 * images a remote server names, later CAP feeds): http and https only, connections made only to
 * public unicast addresses unless the operator allows an internal one, redirects followed by hand
 * and checked again at every hop, every read bounded in time and size.
 *
 * The address checked is the address connected to: names are resolved inside the connection's
 * own `lookup`, which refuses the whole answer if any address in it is internal, so a second DNS
 * answer (rebinding) cannot slip in between a check and the connection. IP literals skip
 * `lookup` in node:net, so they are checked before the request.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { InputError } from '@sunset/core';
import ipaddr from 'ipaddr.js';

/** The address is not one this client may reach, or the URL is not one it may read. */
export class FetchRefusedError extends Error {
  override readonly name = 'FetchRefusedError';
}

/** The answer broke a limit (size) or could not be read. */
export class FetchFailedError extends Error {
  override readonly name = 'FetchFailedError';
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Name → addresses; the system resolver by default, injectable (tests resolve names to 10.x). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface GuardedClientOptions {
  /**
   * Internal destinations the operator allows (SUNSET_FETCH_ALLOW): "host:port" (that port
   * only; an IP literal matches the address connected to, a name the URL's host) or a CIDR
   * range (any port).
   */
  allow?: readonly string[];
  resolve?: Resolver;
  /** Extra CA certificate (PEM) to trust beside the public roots (a sandbox's). */
  ca?: string;
  /** Redirects followed at most (default 3). */
  maxRedirects?: number;
}

export interface GuardedGetOptions {
  accept?: string;
  /** A conditional read (a feed's validators): an unchanged resource answers 304, with no body. */
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  timeoutMs: number;
  maxBytes: number;
  /** true: a longer body is cut at maxBytes; false: it is an error. */
  truncate?: boolean;
  signal?: AbortSignal;
}

export interface GuardedResponse {
  /** The URL that answered, after redirects. */
  url: string;
  status: number;
  headers: Headers;
  /** The (decoded) body of a 2xx answer; empty for any other status. */
  body: Uint8Array;
}

export interface GuardedPostOptions {
  body: string;
  contentType: string;
  /** More request headers (a signature); never logged here. */
  headers?: Record<string, string>;
  timeoutMs: number;
  /** The answer's body is read up to this many bytes, the rest cut. */
  maxBytes: number;
  signal?: AbortSignal;
}

export interface GuardedClient {
  get(url: string, options: GuardedGetOptions): Promise<GuardedResponse>;
  /**
   * One POST, no redirect followed (a redirect comes back as its status): a signed body is
   * never sent on to an address the operator did not name.
   */
  post(url: string, options: GuardedPostOptions): Promise<GuardedResponse>;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];
type AllowEntry = { kind: 'cidr'; range: Range } | { kind: 'host'; host: string; ip: boolean; port: number };

const DEFAULT_MAX_REDIRECTS = 3;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/** The address as one family: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes the IPv4 it names. */
function normalise(address: string): ipaddr.IPv4 | ipaddr.IPv6 {
  return ipaddr.process(address);
}

/** The IPv4 address that a NAT64 or 6to4 IPv6 address carries, if it is one. */
function embeddedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const range = ip.range();
  const bytes = ip.toByteArray();
  if (range === 'rfc6052' && ip.match(ipaddr.parseCIDR('64:ff9b::/96'))) {
    return ipaddr.fromByteArray(bytes.slice(12, 16)) as ipaddr.IPv4;
  }
  if (range === '6to4') return ipaddr.fromByteArray(bytes.slice(2, 6)) as ipaddr.IPv4;
  return undefined;
}

/**
 * Whether `address` is a public unicast address: anything ipaddr.js classifies otherwise
 * (loopback, private, link-local, CGNAT, unique-local, multicast, unspecified, broadcast,
 * reserved, documentation, Teredo…) is internal, IPv6 only in the global unicast 2000::/3, and
 * an IPv4 embedded in IPv6 (mapped, NAT64, 6to4) judged as that IPv4.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const ip = normalise(address);
  if (ip.kind() === 'ipv4') return ip.range() === 'unicast';
  const v6 = ip as ipaddr.IPv6;
  const inner = embeddedIPv4(v6);
  if (inner) return inner.range() === 'unicast';
  return v6.range() === 'unicast' && v6.match(GLOBAL_UNICAST_V6);
}

/** Reads SUNSET_FETCH_ALLOW's entries; throws InputError naming the first bad one. */
export function parseFetchAllow(entries: readonly string[]): AllowEntry[] {
  return entries.map((raw) => {
    const entry = raw.trim();
    if (entry.includes('/')) {
      try {
        const [ip, bits] = ipaddr.parseCIDR(entry);
        return { kind: 'cidr', range: [ip.kind() === 'ipv6' ? normalise(ip.toString()) : ip, bits] };
      } catch {
        throw new InputError(`"${entry}" is not a CIDR range (e.g. 10.1.0.0/16)`);
      }
    }
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[3]);
    const host = (match?.[1] ?? match?.[2] ?? '').toLowerCase().replace(/\.$/, '');
    if (!match || !host || port < 1 || port > 65_535) {
      throw new InputError(`"${entry}" is neither host:port (e.g. 127.0.0.1:8080) nor a CIDR range`);
    }
    if (match[1] !== undefined && !ipaddr.IPv6.isValid(host)) {
      throw new InputError(`"${entry}": ${host} in brackets is not an IPv6 address`);
    }
    if (ipaddr.isValid(host)) return { kind: 'host', host: normalise(host).toString(), ip: true, port };
    return { kind: 'host', host, ip: false, port };
  });
}

function allowedInternal(entries: AllowEntry[], hostname: string, port: number, address: string): boolean {
  const ip = normalise(address);
  return entries.some((entry) => {
    if (entry.kind === 'cidr') {
      const [base, bits] = entry.range;
      return base.kind() === ip.kind() && ip.match(base, bits);
    }
    if (entry.port !== port) return false;
    return entry.ip ? entry.host === ip.toString() : entry.host === hostname;
  });
}

function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** Reads the body, decoded, up to `maxBytes`. */
async function readBody(res: IncomingMessage, maxBytes: number, truncate: boolean): Promise<Uint8Array> {
  const declared = Number(res.headers['content-length']);
  const encoding = (res.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (!truncate && encoding === 'identity' && Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    throw new FetchFailedError(`${declared} bytes, more than ${maxBytes}`);
  }
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? createGunzip()
      : encoding === 'deflate'
        ? createInflate()
        : encoding === 'br'
          ? createBrotliDecompress()
          : undefined;
  if (!decoder && encoding !== 'identity') {
    res.destroy();
    throw new FetchFailedError(`unknown content-encoding ${encoding}`);
  }
  const source: NodeJS.ReadableStream = decoder ? res.pipe(decoder) : res;
  if (decoder) res.on('error', (err) => decoder.destroy(err));
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      const room = maxBytes - total;
      if (chunk.byteLength > room) {
        if (!truncate) throw new FetchFailedError(`more than ${maxBytes} bytes`);
        chunks.push(chunk.subarray(0, room));
        total += room;
        break;
      }
      chunks.push(chunk);
      total += chunk.byteLength;
    }
  } finally {
    res.destroy();
    decoder?.destroy();
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

export function createGuardedClient(options: GuardedClientOptions = {}): GuardedClient {
  const allow = parseFetchAllow(options.allow ?? []);
  const resolve = options.resolve ?? systemResolver;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const ca = options.ca ? [...rootCertificates, options.ca] : undefined;

  const check = (hostname: string, port: number, address: string) => {
    if (isPublicAddress(address) || allowedInternal(allow, hostname, port, address)) return;
    throw new FetchRefusedError(`${hostname} is an internal address (${address}), not allowed`);
  };

  /** node:net's lookup for one request: every address of the answer is checked before any is used. */
  const guardedLookup =
    (port: number): LookupFunction =>
    (hostname, lookupOptions, callback) => {
      const name = hostname.toLowerCase().replace(/\.$/, '');
      resolve(name).then(
        (found) => {
          const wanted = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : 0;
          const usable = found.filter((a) => wanted === 0 || a.family === wanted);
          try {
            if (usable.length === 0) throw new FetchFailedError(`${name} has no address`);
            for (const a of usable) check(name, port, a.address);
          } catch (err) {
            callback(err as NodeJS.ErrnoException, '', 4);
            return;
          }
          if (lookupOptions.all) {
            (callback as unknown as (e: null, all: ResolvedAddress[]) => void)(null, usable);
          } else {
            const first = usable[0]!;
            callback(null, first.address, first.family);
          }
        },
        (err: unknown) => callback(err as NodeJS.ErrnoException, '', 4),
      );
    };

  /** One request, no redirect followed. */
  const once = (
    url: URL,
    accept: string,
    conditional: Record<string, string>,
    signal: AbortSignal,
    send?: { body: string; headers: Record<string, string> },
  ) =>
    new Promise<IncomingMessage>((resolveResponse, reject) => {
      const port = defaultPort(url);
      const hostname = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(hostname)) {
        try {
          check(hostname, port, hostname);
        } catch (err) {
          reject(err as Error);
          return;
        }
      }
      const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = request(
        url,
        {
          method: send ? 'POST' : 'GET',
          // A fresh agent per request: no pooled socket is reused for another host's name.
          agent: false,
          lookup: guardedLookup(port),
          signal,
          headers: {
            accept,
            'accept-encoding': 'gzip, deflate, br',
            'user-agent': 'sunset',
            ...conditional,
            ...(send ? { ...send.headers, 'content-length': String(Buffer.byteLength(send.body)) } : {}),
          },
          ...(ca && url.protocol === 'https:' ? { ca } : {}),
        },
        resolveResponse,
      );
      req.on('error', reject);
      req.end(send?.body);
    });

  const follow = async (address: string, getOptions: GuardedGetOptions, signal: AbortSignal) => {
    const accept = getOptions.accept ?? '*/*';
    const conditional: Record<string, string> = {
      ...(getOptions.ifNoneMatch ? { 'if-none-match': getOptions.ifNoneMatch } : {}),
      ...(getOptions.ifModifiedSince ? { 'if-modified-since': getOptions.ifModifiedSince } : {}),
    };
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw new FetchRefusedError('not a URL');
    }
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new FetchRefusedError(`${url.protocol} addresses are not fetched, only http and https`);
      }
      if (url.username || url.password) throw new FetchRefusedError('an address with credentials');
      const res = await once(url, accept, conditional, signal);
      const status = res.statusCode ?? 0;
      const headers = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
      }
      const location = headers.get('location');
      if (REDIRECTS.has(status) && location) {
        res.destroy();
        if (hop >= maxRedirects) throw new FetchRefusedError(`more than ${maxRedirects} redirects`);
        try {
          url = new URL(location, url);
        } catch {
          throw new FetchRefusedError('a redirect to an address that is not a URL');
        }
        continue;
      }
      if (status < 200 || status > 299) {
        res.destroy();
        return { url: url.href, status, headers, body: new Uint8Array() };
      }
      const body = await readBody(res, getOptions.maxBytes, getOptions.truncate ?? false);
      return { url: url.href, status, headers, body };
    }
  };

  const postOnce = async (address: string, options: GuardedPostOptions, signal: AbortSignal) => {
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw new FetchRefusedError('not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new FetchRefusedError(`${url.protocol} addresses are not fetched, only http and https`);
    }
    if (url.username || url.password) throw new FetchRefusedError('an address with credentials');
    const res = await once(url, 'application/json, */*;q=0.5', {}, signal, {
      body: options.body,
      headers: { 'content-type': options.contentType, ...options.headers },
    });
    const status = res.statusCode ?? 0;
    const headers = new Headers();
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
      headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
    const body =
      status >= 200 && status <= 299 ? await readBody(res, options.maxBytes, true) : new Uint8Array();
    res.destroy();
    return { url: url.href, status, headers, body };
  };

  return {
    async post(address, postOptions) {
      const timeout = AbortSignal.timeout(postOptions.timeoutMs);
      const signal = postOptions.signal ? AbortSignal.any([postOptions.signal, timeout]) : timeout;
      try {
        return await postOnce(address, postOptions, signal);
      } catch (err) {
        if (signal.aborted && !(err instanceof FetchRefusedError)) throw signal.reason ?? err;
        throw err;
      }
    },
    async get(address, getOptions) {
      const timeout = AbortSignal.timeout(getOptions.timeoutMs);
      const signal = getOptions.signal ? AbortSignal.any([getOptions.signal, timeout]) : timeout;
      try {
        return await follow(address, getOptions, signal);
      } catch (err) {
        // As fetch does: an abort ends with its reason (a TimeoutError for the time cap).
        if (signal.aborted && !(err instanceof FetchRefusedError)) throw signal.reason ?? err;
        throw err;
      }
    },
  };
}
