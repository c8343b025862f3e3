// What a duty officer reads while a crisis is on its way: over HTTP (GET /v1/crisis/:id) and
// through the `sunset crisis status` command, a network whose part is on the wire says "sending,
// outcome being checked" rather than a bare status, and the link of a thread's first part shows
// as soon as that part is recorded, before the rest of the thread has landed.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '@sunset/api';
import { hashToken, mintToken, silentLogger } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import { testDialects } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  startEngine,
  sandboxesForFile,
  waitFor,
  ORG,
  type TestEngine,
} from '../support/exit-harness.ts';

type App = Awaited<ReturnType<typeof buildApp>>;
interface NetworkAnswer {
  status: string;
  url?: string;
  urls: string[];
  parts: number;
  published: number;
  outcomeUnknown?: boolean;
  note?: string;
}

const BIN = path.join(fileURLToPath(new URL('../../', import.meta.url)), 'packages/cli/src/bin.ts');

/** The real CLI in a child process (this process serves the API meanwhile). */
function sunset(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=development', '--no-warnings=ExperimentalWarning', BIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout }));
  });
}

const sandboxes = sandboxesForFile();

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(
    `the crisis status while X has not answered, on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      let engine: TestEngine;
      let app: App;
      let token: string;
      let base: string;

      beforeAll(async () => {
        engine = await startEngine(sandboxes, { dialect, runtime: { crisisConcurrency: 2 } });
        const doc = engine.plans.document({ sunset: iso(Date.now() + 30 * 24 * 3600_000), posts: [] });
        doc['crisis'] = { on: ['x'] };
        await applyPlan({
          store: engine.t.store,
          queues: engine.queues,
          plan: engine.plans.writeDocument(doc, `status-${dialect}.yaml`),
          actor: 'cli:test',
        });
        token = mintToken();
        await engine.t.store.tokens.create({
          id: `duty-${dialect}`,
          organisationId: ORG,
          name: `duty-${dialect}`,
          role: 'crisis',
          hash: hashToken(token),
          createdBy: 'cli:test',
        });
        app = await buildApp({
          store: engine.t.store,
          queues: engine.queues,
          logger: silentLogger(),
          plansDir: engine.plans.dir,
        });
        await app.listen({ host: '127.0.0.1', port: 0 });
        const address = app.server.address();
        base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      });
      afterAll(async () => {
        sandboxes.x.clearFaults();
        await app?.close();
        await engine?.close();
      });

      it('says "sending, outcome being checked", then shows the first part\'s link before the thread ends', async () => {
        const tag = `status-${dialect}`;
        // Each of the thread's two parts stays on the wire at X until the test has looked.
        const release = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
        for (const hold of release)
          sandboxes.x.inject({ kind: 'hold', until: hold.promise }, { path: '/2/tweets', method: 'POST' });
        const text =
          `Alerte (${tag}) : la crue de la Loire atteint le quai Nord. ` +
          // Each part names the run: X refuses a text it already has (the other dialect's thread).
          `Les habitants des rues basses (${tag}) sont invités à rejoindre le gymnase Jean-Moulin, ouvert toute la nuit. `.repeat(
            3,
          );
        const sent = await app.inject({
          method: 'POST',
          url: '/v1/crisis',
          headers: { authorization: `Bearer ${token}` },
          payload: { text },
        });
        expect(sent.statusCode).toBe(202);
        const { id, deliveries } = sent.json() as { id: string; deliveries: { parts: number }[] };
        expect(deliveries[0]?.parts).toBe(2);

        const x = async (): Promise<NetworkAnswer> => {
          const r = await app.inject({
            method: 'GET',
            url: `/v1/crisis/${id}`,
            headers: { authorization: `Bearer ${token}` },
          });
          expect(r.statusCode).toBe(200);
          return (r.json() as { networks: { x: NetworkAnswer } }).networks.x;
        };
        const cli = () => sunset(['crisis', 'status', id], { SUNSET_API_URL: base, SUNSET_TOKEN: token });

        // The first part is on the wire: nothing landed, and the status says it is being checked.
        await waitFor(
          'the first part to be on the wire',
          async () =>
            sandboxes.x.received.some(
              (r) => r.method === 'POST' && JSON.stringify(r.body ?? '').includes(tag),
            ),
          15_000,
        );
        const first = await x();
        expect(first).toMatchObject({ status: 'sending', published: 0, outcomeUnknown: true });
        expect(first.note).toBe('sending, outcome being checked');
        expect(first.url).toBeUndefined();
        const firstCli = await cli();
        expect(firstCli.status).toBe(0);
        expect(firstCli.stdout).toMatch(/^ {2}X +sending, outcome being checked 0\/2$/m);
        release[0]!.resolve();

        // The first part landed, the second is on the wire: its link is there already.
        await waitFor('the first part to be recorded', async () => (await x()).published === 1, 15_000);
        const landed = sandboxes.x.posts.find((p) => p.text.includes(tag));
        expect(landed).toBeDefined();
        const middle = await x();
        expect(middle.status).toBe('sending');
        expect(middle.url).toBeDefined();
        expect(middle.url).toContain(landed!.id);
        expect(middle.urls).toEqual([middle.url]);
        expect(middle.note).toBe('sending, outcome being checked');
        const middleCli = await cli();
        expect(middleCli.stdout).toContain(middle.url!);
        expect(middleCli.stdout).toMatch(/sending, outcome being checked 1\/2/);
        release[1]!.resolve();

        await waitFor('the thread to be published', async () => (await x()).status === 'published', 20_000);
        const done = await x();
        expect(done.note).toBeUndefined();
        expect(done.outcomeUnknown).toBeUndefined();
        expect(done.urls).toHaveLength(2);
        expect((await cli()).stdout).toMatch(/^ {2}X +published 2\/2 /m);
      });
    },
  );
}
