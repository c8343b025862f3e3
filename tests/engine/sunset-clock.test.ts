// The sunset policy judged when a post leaves, not when it was due, through the HTTP API and the
// worker: a post dated in the past is sent now or refused (never let through on X by its old
// date), a post held past the sunset (a 429, a worker that was down) is skipped on X then, and a
// worker whose own clock is hours early still refuses, since the instant comes from the store
// (PostgreSQL; with SQLite the host clock is the store's clock).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '@sunset/api';
import { hashToken, mintToken, silentLogger } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import type { Delivery } from '@sunset/store';
import { testDialects } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  startEngine,
  sandboxesForFile,
  startWorkerProcess,
  waitFor,
  ORG,
  type TestEngine,
} from '../support/exit-harness.ts';

type App = Awaited<ReturnType<typeof buildApp>>;

const sandboxes = sandboxesForFile();

type XAfter = 'crisis-only' | 'frozen' | 'leave';
const NETS = ['x', 'bluesky', 'mastodon'] as const;
const WHY: Record<XAfter, RegExp> = {
  'crisis-only': /X takes crisis posts only after the sunset .*crisis-only/,
  frozen: /X is frozen after the sunset .*frozen/,
  leave: /the X account is being closed after the sunset .*leave/,
};

const BIN = path.join(fileURLToPath(new URL('../../', import.meta.url)), 'packages/cli/src/bin.ts');

/** The real CLI in a child process (this process serves the API meanwhile). */
function sunsetCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=development', '--no-warnings=ExperimentalWarning', BIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** An API over the engine's store and queues, with an editor token. */
async function apiOver(engine: TestEngine): Promise<{ app: App; token: string }> {
  const token = mintToken();
  await engine.t.store.organisations.ensure({ id: ORG, name: 'Ville de Test' });
  await engine.t.store.tokens.create({
    id: `editor-${token.slice(-8)}`,
    organisationId: ORG,
    name: `editor-${token.slice(-8)}`,
    role: 'editor',
    hash: hashToken(token),
    createdBy: 'cli:test',
  });
  const app = await buildApp({
    store: engine.t.store,
    queues: engine.queues,
    logger: silentLogger(),
    plansDir: engine.plans.dir,
  });
  return { app, token };
}

async function applyWith(engine: TestEngine, sunsetMs: number, xAfter: XAfter, name: string) {
  const doc = engine.plans.document({ sunset: iso(sunsetMs), xAfter, posts: [] });
  doc['crisis'] = { on: [...NETS] };
  doc['mirror'] = { before_sunset: [...NETS], after_sunset: ['bluesky', 'mastodon'] };
  await applyPlan({
    store: engine.t.store,
    queues: engine.queues,
    plan: engine.plans.writeDocument(doc, name),
    actor: 'cli:test',
  });
}

async function deliveriesOf(engine: TestEngine, postId: string): Promise<Record<string, Delivery>> {
  const list = await engine.t.store.deliveries.list({ organisationId: ORG, postId });
  return Object.fromEntries(list.map((d) => [d.network, d]));
}

async function settled(engine: TestEngine, postId: string, networks: readonly string[]) {
  await waitFor(
    `post ${postId} to be settled on ${networks.join(', ')}`,
    async () => {
      const ds = await deliveriesOf(engine, postId);
      return networks.every((n) => ds[n] && !['queued', 'sending'].includes(ds[n].status));
    },
    45_000,
  );
  return deliveriesOf(engine, postId);
}

/** Requests that carried this text to X (none means X was never even tried). */
const carriedToX = (text: string) =>
  sandboxes.x.received.filter((r) => r.method === 'POST' && JSON.stringify(r.body ?? '').includes(text));

async function expectSkippedOnX(engine: TestEngine, d: Delivery, why: RegExp) {
  expect(d.status).toBe('skipped');
  expect(d.lastError).toMatch(why);
  const audit = await engine.t.store.audit.list({
    organisationId: ORG,
    action: 'delivery.skipped',
    network: 'x',
  });
  const entry = audit.find((a) => a.deliveryId === d.id);
  expect(entry?.outcome).toBe('skipped');
  expect((entry?.details as { reason?: string } | undefined)?.reason).toMatch(why);
}

/** Makes Date run `skewMs` off in the worker process (its clock only, not the store's). */
function skewedClock(skewMs: number): string {
  const source = `
    const Real = globalThis.Date; const realNow = Real.now.bind(Real); const skew = ${skewMs};
    class Skewed extends Real {
      constructor(...a) { if (a.length === 0) super(realNow() + skew); else super(...a); }
      static now() { return realNow() + skew; }
    }
    globalThis.Date = Skewed;
    process.stderr.write('skewed clock: ' + new Date().toISOString() + '\\n');
  `;
  return `--import=data:text/javascript,${encodeURIComponent(source)}`;
}

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(
    `the sunset judged when a post leaves, on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      let engine: TestEngine;
      let app: App;
      let token: string;
      let version = 0;

      beforeAll(async () => {
        engine = await startEngine(sandboxes, { dialect });
        ({ app, token } = await apiOver(engine));
      });
      afterAll(async () => {
        sandboxes.x.clearFaults();
        await app?.close();
        await engine?.close();
      });

      const post = (body: Record<string, unknown>) =>
        app.inject({
          method: 'POST',
          url: '/v1/posts',
          headers: { authorization: `Bearer ${token}` },
          payload: body,
        });

      it.each(['crisis-only', 'frozen', 'leave'] as const)(
        'x_after: %s — a post dated 2020 after the sunset is refused; one a minute late goes now, not on X',
        async (xAfter) => {
          const tag = `${xAfter}-${dialect}`;
          // The sunset passed 30 s ago: a post dated a minute back would have been "before" it.
          await applyWith(engine, Date.now() - 30_000, xAfter, `past-${tag}-${++version}.yaml`);

          const old = `Daté de 2020 (${tag}).`;
          const refused = await post({ text: old, networks: [...NETS], at: '2020-01-01T00:00:00Z' });
          expect(refused.statusCode).toBe(422);
          expect(refused.json().error.message).toMatch(/^at: 2020-01-01T00:00:00\.000Z is .* in the past/);

          const late = `Une minute de retard (${tag}).`;
          const accepted = await post({ text: late, networks: [...NETS], at: iso(Date.now() - 60_000) });
          expect(accepted.statusCode).toBe(202);
          const reply = accepted.json() as { id: string; notes: string[] };
          expect(reply.notes).toContainEqual(expect.stringMatching(/^at: .* is in the past: sent now/));
          expect(reply.notes).toContainEqual(expect.stringMatching(WHY[xAfter]));

          const ds = await settled(engine, reply.id, NETS);
          await expectSkippedOnX(engine, ds['x']!, WHY[xAfter]);
          expect(ds['bluesky']?.status).toBe('published');
          expect(ds['mastodon']?.status).toBe('published');
          expect(carriedToX(old)).toEqual([]);
          expect(carriedToX(late)).toEqual([]);
          expect(await engine.t.store.posts.list(ORG, { limit: 200 })).not.toContainEqual(
            expect.objectContaining({ content: expect.objectContaining({ text: old }) }),
          );
        },
      );

      it('post send --at: a time in 2020 is refused, one a minute back is sent now, not on X', async () => {
        const tag = `cli-${dialect}`;
        await applyWith(engine, Date.now() - 30_000, 'crisis-only', `cli-${tag}-${++version}.yaml`);
        await app.listen({ host: '127.0.0.1', port: 0 });
        const address = app.server.address();
        const env = {
          SUNSET_API_URL: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
          SUNSET_TOKEN: token,
        };
        const old = `Daté de 2020 par la CLI (${tag}).`;
        const refused = await sunsetCli(
          ['post', 'send', '--text', old, '--networks', 'x,mastodon', '--at', '2020-01-01T00:00:00Z'],
          env,
        );
        expect(refused.status).toBe(1);
        expect(refused.stderr).toMatch(/at: 2020-01-01T00:00:00\.000Z is .* minutes in the past/);

        const late = `Une minute de retard par la CLI (${tag}).`;
        const sent = await sunsetCli(
          ['post', 'send', '--text', late, '--networks', 'x,mastodon', '--at', iso(Date.now() - 60_000)],
          env,
        );
        expect(sent.status).toBe(0);
        expect(sent.stdout).toMatch(/note: at: .* is in the past: sent now/);
        expect(sent.stdout).toMatch(/note: X: X takes crisis posts only after the sunset/);
        const id = /post (\S+) accepted/.exec(sent.stdout)?.[1];
        expect(id).toBeDefined();
        const ds = await settled(engine, id!, ['x', 'mastodon']);
        await expectSkippedOnX(engine, ds['x']!, WHY['crisis-only']);
        expect(ds['mastodon']?.status).toBe('published');
        expect(carriedToX(old)).toEqual([]);
        expect(carriedToX(late)).toEqual([]);
      });

      it('skips on X a post due before the sunset but held by a 429 until after it', async () => {
        const tag = `held-${dialect}`;
        const sunset = Date.now() + 3_000;
        await applyWith(engine, sunset, 'crisis-only', `held-${tag}-${++version}.yaml`);
        sandboxes.x.inject(
          { kind: 'rate-limit', resetInSeconds: 6 },
          { path: '/2/tweets', method: 'POST', times: 1 },
        );
        const text = `Retenu par X jusqu'après le départ (${tag}).`;
        const accepted = await post({ text });
        expect(accepted.statusCode).toBe(202);
        const reply = accepted.json() as { id: string; deliveries: { network: string }[] };
        // Due before the sunset: X was one of its networks.
        expect(reply.deliveries.map((d) => d.network)).toEqual([...NETS]);

        const ds = await settled(engine, reply.id, NETS);
        expect(Date.now()).toBeGreaterThan(sunset);
        await expectSkippedOnX(engine, ds['x']!, WHY['crisis-only']);
        expect(ds['bluesky']?.status).toBe('published');
        expect(ds['mastodon']?.status).toBe('published');
        // The one request X saw was the refused one; nothing landed.
        expect(carriedToX(text).length).toBe(1);
        expect(sandboxes.x.posts.filter((p) => p.text === text)).toEqual([]);
      });
    },
  );

  describe.skipIf(skip !== undefined)(
    `a worker started after the sunset, on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      let engine: TestEngine;
      let app: App;
      let token: string;

      beforeAll(async () => {
        engine = await startEngine(sandboxes, { dialect, start: false });
        ({ app, token } = await apiOver(engine));
      });
      afterAll(async () => {
        await app?.close();
        await engine?.close();
      });

      it(`skips on X a post due before the sunset${dialect === 'postgres' ? ', though its clock is 3 hours early' : ''}`, async () => {
        const tag = `late-worker-${dialect}`;
        const sunset = Date.now() + 2_000;
        await applyWith(engine, sunset, 'crisis-only', `${tag}.yaml`);
        const text = `Envoyé avant le départ, parti après (${tag}).`;
        const accepted = await app.inject({
          method: 'POST',
          url: '/v1/posts',
          headers: { authorization: `Bearer ${token}` },
          payload: { text },
        });
        expect(accepted.statusCode).toBe(202);
        const reply = accepted.json() as { id: string; deliveries: { network: string }[] };
        expect(reply.deliveries.map((d) => d.network)).toEqual([...NETS]);
        await waitFor('the sunset to pass', () => Date.now() > sunset + 500, 10_000);

        // PostgreSQL has a clock of its own: the worker's may be wrong. SQLite shares the host's.
        const skewMs = dialect === 'postgres' ? -3 * 3600_000 : 0;
        const worker = startWorkerProcess(
          sandboxes,
          {
            storeUrl: engine.t.url,
            ...(engine.t.schema ? { schema: engine.t.schema } : {}),
            redis: engine.redis,
            dir: engine.plans.dir,
          },
          skewMs ? { NODE_OPTIONS: skewedClock(skewMs) } : {},
        );
        try {
          if (skewMs) {
            await waitFor(
              'the worker to say its clock',
              () => /skewed clock: (\S+)/.test(worker.output()),
              30_000,
            );
            const shown = new Date(/skewed clock: (\S+)/.exec(worker.output())![1]!).getTime();
            expect(shown).toBeLessThan(sunset - 3600_000);
          }
          const ds = await settled(engine, reply.id, NETS);
          await expectSkippedOnX(engine, ds['x']!, WHY['crisis-only']);
          expect(ds['bluesky']?.status).toBe('published');
          expect(ds['mastodon']?.status).toBe('published');
          expect(carriedToX(text)).toEqual([]);
        } finally {
          worker.child.kill('SIGTERM');
          await worker.exited();
        }
      });
    },
  );
}
