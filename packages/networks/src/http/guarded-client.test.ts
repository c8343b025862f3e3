// The guarded client against real servers on loopback: one "internal" server counts every request
// it receives, so a refusal is checked both by the error and by that server never being reached.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createGuardedClient,
  FetchRefusedError,
  isPublicAddress,
  parseFetchAllow,
  type Resolver,
} from './guarded-client.ts';

const LIMITS = { timeoutMs: 5_000, maxBytes: 100_000 };

let internal: http.Server;
let internalPort: number;
let internalHits: string[] = [];
let site: http.Server;
let sitePort: number;
let secure: https.Server;
let securePort: number;
let ca: string;

async function listen(server: http.Server | https.Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

async function stop(server: http.Server | https.Server | undefined) {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

beforeAll(async () => {
  // Dual-stack, so that an IPv6 form of loopback (::1, ::ffff:127.0.0.1) would reach it too.
  internal = http.createServer((req, res) => {
    internalHits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<head><title>Admin</title></head>');
  });
  internalPort = await listen(internal, '::');
  site = http.createServer((req, res) => {
    const hops = /^\/hops\/(\d+)$/.exec(req.url ?? '');
    if (hops) {
      const left = Number(hops[1]);
      res.writeHead(left > 0 ? 302 : 200, left > 0 ? { location: `/hops/${left - 1}` } : {});
      res.end(left > 0 ? '' : 'arrived');
    } else if (req.url === '/to-internal') {
      res.writeHead(302, { location: `http://127.0.0.1:${internalPort}/admin` });
      res.end();
    } else if (req.url?.startsWith('/to-scheme/')) {
      res.writeHead(301, { location: decodeURIComponent(req.url.slice('/to-scheme/'.length)) });
      res.end();
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('public page');
    }
  });
  sitePort = await listen(site, '127.0.0.1');
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  ca = pems.cert;
  secure = https.createServer({ key: pems.private, cert: pems.cert }, (_req, res) => {
    res.writeHead(302, { location: `http://127.0.0.1:${internalPort}/admin` });
    res.end();
  });
  securePort = await listen(secure, '127.0.0.1');
});

afterAll(async () => {
  await Promise.all([stop(internal), stop(site), stop(secure)]);
});

beforeEach(() => {
  internalHits = [];
});

describe('addresses', () => {
  it('classifies public unicast apart from every internal, special or embedded internal form', () => {
    for (const address of [
      '8.8.8.8',
      '93.184.215.14',
      '2606:4700::1111',
      '64:ff9b::808:808',
      '2002:808:808::1',
    ]) {
      expect(isPublicAddress(address), address).toBe(true);
    }
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '255.255.255.255',
      '224.0.0.1',
      '240.0.0.1',
      '192.0.2.1',
      '::',
      '::1',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '::7f00:1',
      '64:ff9b::7f00:1',
      '64:ff9b::a00:1',
      '2002:7f00:1::1',
      '2002:c0a8:101::1',
      '2001:db8::1',
      'not an address',
    ]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
  });

  it('reads allow entries, and names the first bad one', () => {
    expect(parseFetchAllow(['127.0.0.1:8080', '[::1]:443', 'Sandbox.local:3000', '10.0.0.0/8'])).toHaveLength(
      4,
    );
    expect(() => parseFetchAllow(['127.0.0.1'])).toThrow(/"127.0.0.1" is neither host:port/);
    expect(() => parseFetchAllow(['10.0.0.0/40'])).toThrow(/"10.0.0.0\/40" is not a CIDR/);
    expect(() => parseFetchAllow(['host:70000'])).toThrow(/"host:70000"/);
    expect(() => parseFetchAllow(['[nope]:80'])).toThrow(/not an IPv6 address/);
  });
});

describe('refused destinations', () => {
  const client = createGuardedClient();

  it('refuses a name that resolves to loopback (localhost)', async () => {
    await expect(client.get(`http://localhost:${internalPort}/admin`, LIMITS)).rejects.toThrow(
      FetchRefusedError,
    );
    expect(internalHits).toEqual([]);
  });

  it('refuses names resolving to private addresses, or to a mix of public and private', async () => {
    const answers: Record<string, string[]> = {
      'ten.test': ['10.0.0.5'],
      'home.test': ['192.168.1.20'],
      'mixed.test': ['93.184.215.14', '127.0.0.1'],
      'mapped.test': ['::ffff:127.0.0.1'],
    };
    const asked: string[] = [];
    const resolve: Resolver = async (name) => {
      asked.push(name);
      return (answers[name] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    const injected = createGuardedClient({ resolve });
    for (const name of Object.keys(answers)) {
      await expect(injected.get(`http://${name}:${internalPort}/admin`, LIMITS), name).rejects.toThrow(
        /internal address/,
      );
    }
    expect(asked).toEqual(Object.keys(answers));
    expect(internalHits).toEqual([]);
  });

  it('refuses IPv6 literals of loopback, link-local and unique-local, mapped forms included', async () => {
    for (const host of ['[::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[fe80::1]', '[fc00::1]', '[::]']) {
      await expect(client.get(`http://${host}:${internalPort}/admin`, LIMITS), host).rejects.toThrow(
        FetchRefusedError,
      );
    }
    expect(internalHits).toEqual([]);
  });

  it('refuses the numeric forms the URL parser turns into 127.0.0.1', async () => {
    for (const host of [
      '2130706433',
      '0x7f000001',
      '127.1',
      '0177.0.0.1',
      '127.0.0.1.',
      '%31%32%37.0.0.1',
      '0.0.0.0',
    ]) {
      await expect(client.get(`http://${host}:${internalPort}/admin`, LIMITS), host).rejects.toThrow(
        FetchRefusedError,
      );
    }
    expect(internalHits).toEqual([]);
  });

  it('refuses what is not http or https', async () => {
    for (const url of [
      'file:///etc/passwd',
      'ftp://127.0.0.1/',
      'data:text/html,<title>x</title>',
      'gopher://a/',
    ]) {
      await expect(client.get(url, LIMITS), url).rejects.toThrow(/only http and https/);
    }
  });
});

describe('redirects and the allow-list', () => {
  it('follows up to 3 redirects, refuses a 4th', async () => {
    const client = createGuardedClient({ allow: [`127.0.0.1:${sitePort}`] });
    const three = await client.get(`http://127.0.0.1:${sitePort}/hops/3`, LIMITS);
    expect(three).toMatchObject({ status: 200, url: `http://127.0.0.1:${sitePort}/hops/0` });
    expect(Buffer.from(three.body).toString()).toBe('arrived');
    await expect(client.get(`http://127.0.0.1:${sitePort}/hops/4`, LIMITS)).rejects.toThrow(
      /more than 3 redirects/,
    );
  });

  it('checks every hop: an allowed page redirecting to an internal one is refused', async () => {
    const client = createGuardedClient({ allow: [`127.0.0.1:${sitePort}`] });
    await expect(client.get(`http://127.0.0.1:${sitePort}/to-internal`, LIMITS)).rejects.toThrow(
      FetchRefusedError,
    );
    for (const target of ['file:///etc/passwd', 'ftp://example.com/', 'data:,x']) {
      await expect(
        client.get(`http://127.0.0.1:${sitePort}/to-scheme/${encodeURIComponent(target)}`, LIMITS),
      ).rejects.toThrow(/only http and https/);
    }
    expect(internalHits).toEqual([]);
  });

  it('refuses a redirect from https to an internal http address', async () => {
    const client = createGuardedClient({ allow: [`127.0.0.1:${securePort}`], ca });
    await expect(client.get(`https://127.0.0.1:${securePort}/`, LIMITS)).rejects.toThrow(
      /127.0.0.1 is an internal address/,
    );
    expect(internalHits).toEqual([]);
  });

  it('allows exactly the listed port, not the rest of loopback; a CIDR entry allows its range', async () => {
    const client = createGuardedClient({ allow: [`127.0.0.1:${sitePort}`] });
    expect((await client.get(`http://127.0.0.1:${sitePort}/`, LIMITS)).status).toBe(200);
    await expect(client.get(`http://127.0.0.1:${internalPort}/admin`, LIMITS)).rejects.toThrow(
      FetchRefusedError,
    );
    // The entry names 127.0.0.1: the name localhost on that port is another destination.
    await expect(client.get(`http://[::1]:${sitePort}/`, LIMITS)).rejects.toThrow(FetchRefusedError);
    expect(internalHits).toEqual([]);

    const named = createGuardedClient({
      allow: [`site.test:${sitePort}`],
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    expect((await named.get(`http://site.test:${sitePort}/`, LIMITS)).status).toBe(200);
    await expect(named.get(`http://site.test:${internalPort}/`, LIMITS)).rejects.toThrow(FetchRefusedError);
    await expect(named.get(`http://other.test:${sitePort}/`, LIMITS)).rejects.toThrow(FetchRefusedError);

    const range = createGuardedClient({ allow: ['127.0.0.0/8'] });
    expect((await range.get(`http://127.0.0.1:${internalPort}/admin`, LIMITS)).status).toBe(200);
    expect(internalHits).toEqual(['/admin']);
  });
});
