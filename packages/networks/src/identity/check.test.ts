// The Bluesky domain proof's second way, https://<domain>/.well-known/atproto-did, read when DNS
// has no _atproto record: a real PDS says which account the handle is, a DNS server of the
// test's own answers NXDOMAIN, and the handle's domain is served over HTTPS on port 443 of a
// loopback address (the guarded client resolves the name there and trusts the test's CA; the
// operator's SUNSET_FETCH_ALLOW lets it in). Port 443 needs root or a low unprivileged-port
// start: without it the suite is skipped and says why.
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { PlanDocument } from '@sunset/plan';
import { startBlueskySandbox, type BlueskySandbox } from '@sunset/sandboxes';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuardedClient } from '../http/guarded-client.ts';
import { checkIdentity } from './check.ts';

/** A loopback address of this process's own (all of 127/8 is loopback), so parallel runs do not meet on 443. */
const ADDRESS = `127.44.${(process.pid >> 8) % 250}.${(process.pid % 250) + 1}`;

async function canListen443(): Promise<string | undefined> {
  const probe = net.createServer();
  return new Promise((resolve) => {
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    probe.listen(443, ADDRESS, () => probe.close(() => resolve(undefined)));
  });
}

const refusal = await canListen443();
if (refusal) {
  console.warn(`check.test.ts skipped: cannot listen on ${ADDRESS}:443 (${refusal}); run as root`);
}

/** A DNS server that knows no name: every question is answered NXDOMAIN (RFC 1035). */
function startNxDns(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => {
    const answer = Buffer.from(msg);
    answer.writeUInt16BE(0x8183, 2);
    answer.writeUInt32BE(0, 6);
    answer.writeUInt16BE(0, 10);
    socket.send(answer, from.port, from.address);
  });
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
}

describe.skipIf(refusal !== undefined)('the Bluesky domain proof through the well-known file', () => {
  let bsky: BlueskySandbox;
  let dnsServer: dgram.Socket;
  let site: https.Server;
  let account: { did: string; handle: string };
  let ca: string;
  /** What the domain's well-known file answers: a status and a body. */
  let wellKnown: { status: number; body: string };
  const asked: string[] = [];

  beforeAll(async () => {
    bsky = await startBlueskySandbox();
    account = await bsky.createAccount('ville');
    dnsServer = await startNxDns();
    const pems = await generate([{ name: 'commonName', value: account.handle }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: account.handle }] }],
    });
    ca = pems.cert;
    site = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
      asked.push(`${req.headers.host}${req.url}`);
      if (req.url !== '/.well-known/atproto-did') return void res.writeHead(404).end();
      res.writeHead(wellKnown.status, { 'content-type': 'text/plain' }).end(wellKnown.body);
    });
    await new Promise<void>((r) => site.listen(443, ADDRESS, r));
  }, 120_000);

  afterAll(async () => {
    dnsServer?.close();
    await new Promise((r) => (site ? site.close(r) : r(undefined)));
    await bsky?.stop();
  });

  async function check() {
    const dns = new Resolver({ timeout: 2_000, tries: 1 });
    dns.setServers([`127.0.0.1:${(dnsServer.address() as AddressInfo).port}`]);
    const client = createGuardedClient({
      allow: [`${ADDRESS}:443`],
      // The handle's name resolves to this test's loopback address, as a public name would to its host.
      resolve: async (hostname) => (hostname === account.handle ? [{ address: ADDRESS, family: 4 }] : []),
      ca,
    });
    const doc = {
      version: 1,
      organisation: { id: 'ville-test', name: 'Ville de Test', timezone: 'Europe/Paris', locale: 'fr-FR' },
      networks: { bluesky: { handle: account.handle, service: bsky.pdsUrl } },
    } as unknown as PlanDocument;
    return checkIdentity(doc, { dns, client, timeoutMs: 5_000 });
  }

  it('passes when the well-known file names the account, DNS having no record', async () => {
    wellKnown = { status: 200, body: `${account.did}\n` };
    const [result] = await check();
    expect(result).toEqual({
      check: 'bluesky-domain',
      subject: `@${account.handle}`,
      status: 'ok',
      message: `https://${account.handle}/.well-known/atproto-did names ${account.did}, the account on ${bsky.pdsUrl}`,
    });
    expect(asked.at(-1)).toBe(`${account.handle}/.well-known/atproto-did`);
  }, 60_000);

  it('fails when the file names another DID, or is not there', async () => {
    wellKnown = { status: 200, body: 'did:plc:someoneelse0000000000000' };
    const [other] = await check();
    expect(other?.status).toBe('failed');
    expect(other?.message).toBe(
      `https://${account.handle}/.well-known/atproto-did names did:plc:someoneelse0000000000000, but the account is ` +
        `${account.did}: someone else may hold the domain's proof`,
    );

    wellKnown = { status: 404, body: '' };
    const [missing] = await check();
    expect(missing?.status).toBe('failed');
    expect(missing?.message).toBe(
      `no _atproto TXT record, and https://${account.handle}/.well-known/atproto-did answers 404: the handle is not proved`,
    );
  }, 60_000);
});
