// `sunset identity check` against a real PDS (which says which account a handle is), a DNS
// server of the test's own on 127.0.0.1 (SUNSET_DNS_SERVERS) and a web page on loopback
// (SUNSET_FETCH_ALLOW): the checks pass, then fail when the proof names another DID or the
// page drops its rel="me" link.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBlueskySandbox, type BlueskySandbox } from '@sunset/sandboxes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

function sunset(args: string[], env: Record<string, string>) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--conditions=development', bin, ...args], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** TXT records by name; a name without any is NXDOMAIN. */
const txt = new Map<string, string[]>();

/** A DNS server that answers TXT questions from `txt` (RFC 1035 messages, one question each). */
function startDns(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => {
    let offset = 12;
    const labels: string[] = [];
    while (msg[offset]) {
      const len = msg[offset]!;
      labels.push(msg.subarray(offset + 1, offset + 1 + len).toString('ascii'));
      offset += len + 1;
    }
    const question = msg.subarray(12, offset + 5);
    const qtype = msg.readUInt16BE(offset + 1);
    const records = qtype === 16 ? txt.get(labels.join('.').toLowerCase()) : undefined;
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(records ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records?.length ?? 0, 6);
    const answers = (records ?? []).map((value) => {
      const data = Buffer.from(value, 'utf8');
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(16, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(data.length + 1, 10);
      return Buffer.concat([rr, Buffer.from([data.length]), data]);
    });
    socket.send(Buffer.concat([header, question, ...answers]), from.port, from.address);
  });
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
}

let page = '';
let bsky: BlueskySandbox;
let dns: dgram.Socket;
let web: http.Server;
let dir: string;
let env: Record<string, string>;
let account: { did: string; handle: string };
let website: string;

beforeAll(async () => {
  bsky = await startBlueskySandbox();
  account = await bsky.createAccount('ville');
  dns = await startDns();
  web = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const webPort = (web.address() as AddressInfo).port;
  website = `http://127.0.0.1:${webPort}/`;
  dir = mkdtempSync(path.join(tmpdir(), 'sunset-identity-'));
  writeFileSync(
    path.join(dir, 'plan.yaml'),
    `version: 1
organisation: { id: ville-test, name: Ville de Test, timezone: Europe/Paris, locale: fr-FR, website: "${website}" }
networks:
  bluesky:
    handle: ${account.handle}
    service: ${bsky.pdsUrl}
    credentials: { identifier: env:VILLE_TEST__BSKY_ID, app_password: env:VILLE_TEST__BSKY_PASSWORD }
  mastodon:
    instance: https://social.ville.test
    account: "@ville@social.ville.test"
    credentials: { access_token: env:VILLE_TEST__MASTODON }
sunset: { at: 2099-01-20T09:00, x_after: leave }
`,
  );
  env = {
    SUNSET_DNS_SERVERS: `127.0.0.1:${(dns.address() as AddressInfo).port}`,
    SUNSET_FETCH_ALLOW: `127.0.0.1:${webPort}`,
    SUNSET_SECRETS_DIR: dir,
  };
}, 120_000);

afterAll(async () => {
  dns?.close();
  web?.close();
  await bsky?.stop();
});

describe('sunset identity check', () => {
  it('passes when the domain names the account and the website links back with rel="me"', async () => {
    txt.set(`_atproto.${account.handle}`, [`did=${account.did}`]);
    page =
      '<html><body><a rel="me noopener" href="https://social.ville.test/@ville">Mastodon</a></body></html>';
    const r = await sunset(['identity', 'check', path.join(dir, 'plan.yaml')], env);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(
      `✓ bluesky-domain  @${account.handle}  DNS TXT _atproto.${account.handle} names ${account.did}`,
    );
    expect(r.stdout).toContain(
      `✓ mastodon-link  ${website}  ${website} links back to https://social.ville.test/@ville`,
    );
    expect(r.status).toBe(0);
  }, 60_000);

  it('fails when the proof names another DID, or the page has no rel="me" back-link', async () => {
    txt.set(`_atproto.${account.handle}`, ['did=did:plc:someoneelse0000000000000']);
    page = '<html><body><a href="https://social.ville.test/@ville">Mastodon</a></body></html>';
    const r = await sunset(['identity', 'check', path.join(dir, 'plan.yaml'), '--json'], env);
    expect(r.status).toBe(1);
    const { results } = JSON.parse(r.stdout) as {
      results: { check: string; status: string; message: string }[];
    };
    expect(results.map((x) => [x.check, x.status])).toEqual([
      ['bluesky-domain', 'failed'],
      ['mastodon-link', 'failed'],
    ]);
    expect(results[0]?.message).toMatch(/names did:plc:someoneelse.*but the account is did:plc:/);
    expect(results[1]?.message).toMatch(/has no rel="me" link to https:\/\/social\.ville\.test\/@ville/);
  }, 60_000);
});
