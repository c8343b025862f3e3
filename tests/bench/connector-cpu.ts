/**
 * Client CPU per post: what one `publish` of the X and the Mastodon connector (the ones the worker
 * builds, with their client libraries: twitter-api-v2 over https with OAuth 1.0a, masto) costs the
 * calling process, with the sandboxes in a process of their own (sandbox-process.ts) so that
 * their work is not counted. Each run: POSTS posts per network, 32 at a time, text of a usual
 * length, no images; CPU is process.cpuUsage() (user + system) over the run, divided by the posts.
 * Before the runs, WARM posts per network (connections open, code optimised). Checked: every post
 * answered with an id, the ids all different.
 *
 * Also what building a Bluesky connector costs (an AtpAgent and its lexicon collections, made
 * again whenever an organisation's connector was closed as idle): BUILT connectors in a row, none
 * logging in, after WARM_BUILT unmeasured; CPU per connector, and the heap each keeps (after a full
 * collection, with all of them still open).
 */
import { fork } from 'node:child_process';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Secret } from '@sunset/core';
import { loadConnector, type Connector } from '@sunset/networks';
import { check, fmt, pool, type Benchmark } from './lib.ts';
import { MASTODON_ACCOUNT, X_ACCOUNT } from '../support/accounts.ts';
import type { SandboxProcessInfo } from './sandbox-process.ts';

const POSTS = 1_000;
const WARM = 500;
const AT_ONCE = 32;
const BUILT = 100;
const WARM_BUILT = 10;

/** V8's full collection, reachable without starting the process with --expose-gc. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** BUILT Bluesky connectors (not logged in): CPU per connector (µs) and heap kept per connector (KB). */
async function buildBluesky(): Promise<{ cpu: number; heap: number }> {
  const gc = collector();
  const secret = (value: string) => new Secret(value, 'bench');
  const build = () =>
    loadConnector({
      network: 'bluesky',
      handle: 'bench.pds.test',
      // Never called: building a connector does not log in.
      service: 'https://pds.example',
      identifier: secret('bench.pds.test'),
      appPassword: secret('bench-app-password'),
    });
  const warm = await Promise.all(Array.from({ length: WARM_BUILT }, build));
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const before = process.cpuUsage();
  const built: Connector[] = [];
  for (let i = 0; i < BUILT; i++) built.push(await build());
  const used = process.cpuUsage(before);
  gc();
  const heap = (process.memoryUsage().heapUsed - heapBefore) / BUILT / 1024;
  check(built.length === BUILT, `${built.length} Bluesky connectors built`);
  for (const c of [...warm, ...built]) await c.close();
  return { cpu: (used.user + used.system) / BUILT, heap };
}

let serial = 0;

async function publishMany(connector: Connector, count: number, ids: Set<string>): Promise<void> {
  const refs = Array.from({ length: count }, () => (serial++).toString(36));
  await pool(refs, AT_ONCE, async (ref) => {
    const published = await connector.publish(
      { text: `Message ordinaire ref=${ref} : la médiathèque ouvre à 10 h.`, language: 'fr-FR' },
      { idempotencyKey: `cpu-${ref}` },
    );
    check(!ids.has(published.remoteId), `${connector.network}: the id ${published.remoteId} came twice`);
    ids.add(published.remoteId);
  });
}

export const connectorCpu: Benchmark = {
  name: 'connectors',
  title: 'Client CPU per post (connectors alone)',
  figures: [
    { key: 'x', label: 'X: CPU per post (twitter-api-v2, https, OAuth 1.0a)', unit: 'µs' },
    { key: 'mastodon', label: 'Mastodon: CPU per post (masto)', unit: 'µs' },
    { key: 'bluesky-build', label: 'Bluesky: CPU to build a connector (@atproto/api agent)', unit: 'µs' },
    { key: 'bluesky-heap', label: 'Bluesky: heap kept per connector built', unit: 'KB' },
  ],
  async run(ctx) {
    const child = fork(new URL('./sandbox-process.ts', import.meta.url), {
      execArgv: ['--conditions=development', '--no-warnings=ExperimentalWarning'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const connectors: Connector[] = [];
    try {
      const info = await new Promise<SandboxProcessInfo>((resolve, reject) => {
        child.once('message', (m) => resolve(m as SandboxProcessInfo));
        child.once('exit', (code) =>
          reject(new Error(`the sandbox process exited (${code}) before it listened`)),
        );
      });
      const secret = (value: string) => new Secret(value, 'bench');
      connectors.push(
        await loadConnector({
          network: 'x',
          account: X_ACCOUNT.username,
          appKey: secret(X_ACCOUNT.appKey),
          appSecret: secret(X_ACCOUNT.appSecret),
          accessToken: secret(X_ACCOUNT.accessToken),
          accessSecret: secret(X_ACCOUNT.accessSecret),
          apiBase: info.x,
          ca: info.xCa,
        }),
        await loadConnector({
          network: 'mastodon',
          instance: info.mastodon,
          account: `@${MASTODON_ACCOUNT.username}@social.ville.test`,
          accessToken: secret(MASTODON_ACCOUNT.token),
        }),
      );
      for (const connector of connectors) {
        const ids = new Set<string>();
        await publishMany(connector, WARM, ids);
        for (let run = 1; run <= ctx.runs; run++) {
          const before = process.cpuUsage();
          await publishMany(connector, POSTS, ids);
          const used = process.cpuUsage(before);
          const perPost = (used.user + used.system) / POSTS;
          ctx.record(connector.network, perPost);
          ctx.progress(`${connector.network} run ${run}: ${fmt(perPost)} µs of CPU per post`);
        }
        check(ids.size === WARM + POSTS * ctx.runs, `${connector.network}: ${ids.size} ids`);
      }
      for (let run = 1; run <= ctx.runs; run++) {
        const { cpu, heap } = await buildBluesky();
        ctx.record('bluesky-build', cpu);
        ctx.record('bluesky-heap', heap);
        ctx.progress(
          `bluesky run ${run}: ${fmt(cpu)} µs of CPU and ${fmt(heap)} KB of heap per connector built`,
        );
      }
    } finally {
      for (const c of connectors) await c.close();
      child.send('stop');
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
    }
  },
};
