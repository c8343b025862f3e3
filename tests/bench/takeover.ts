/**
 * Takeover: how long a post held by a worker that dies waits before another worker posts it.
 * Measured from outside: from the SIGKILL (the bench's clock, the sandbox's too: both in this
 * process) to the X sandbox recording the post, and to the store saying "published".
 *
 * Setup: a PostgreSQL store, two worker processes spawned from their entry point for X only,
 * with the production defaults (SUNSET_LOCK_DURATION_MS 15 s, SUNSET_CRISIS_LOCK_DURATION_MS
 * 3 s). Each run, for a crisis post and for an ordinary API post in turn: worker A alone takes
 * it, and X holds A's post request without answering (a latency fault of 120 s: the request
 * stays on the wire, unapplied); worker B starts; A is killed with SIGKILL. B takes the job over
 * once BullMQ's stalled check finds A's lock expired and the store's lease has run out, finds the
 * post "outcome unknown", searches X (nothing there yet), and posts it.
 *
 * Checked: the post is on X exactly once when B is done.
 */
import { OrgSettingsCache, submitPost } from '@sunset/engine';
import {
  check,
  median,
  preciseNow,
  sleep,
  startExit,
  startWorker,
  waitFor,
  ORG,
  type Benchmark,
  type Exit,
} from './lib.ts';

const LANES = ['crisis', 'ordinary'] as const;
type Lane = (typeof LANES)[number];

let serial = 0;

async function oneTakeover(exit: Exit, lane: Lane): Promise<{ landedMs: number; storeMs: number }> {
  const { sandboxes } = exit;
  const a = await startWorker(exit, { networks: ['x'] });
  sandboxes.x.inject({ kind: 'latency', ms: 120_000 }, { times: 1, path: '/2/tweets', method: 'POST' });
  const ref = `tk${lane[0]}${(serial++).toString(36)}${Date.now().toString(36)}`;
  const text = `Coupure d'eau ref=${ref} : ne buvez pas l'eau du robinet.`;
  const ctx = { store: exit.store, queues: exit.queues, settings: new OrgSettingsCache(exit.store) };
  const r = await submitPost(ctx, {
    organisationId: ORG,
    source: lane,
    text,
    networks: ['x'],
    actor: 'bench',
  });
  check(r.state === 'accepted', `the ${lane} post was not accepted: ${JSON.stringify(r)}`);
  const deliveryId = r.deliveries[0]!.deliveryId;
  const asked = () =>
    sandboxes.x.received.some(
      (e) => e.method === 'POST' && e.path === '/2/tweets' && JSON.stringify(e.body ?? '').includes(ref),
    );
  await waitFor('worker A to have the post on the wire', asked, 30_000, 5);
  const b = await startWorker(exit, { networks: ['x'] });
  // Measured from the moment the signal is sent.
  const killedAt = preciseNow();
  await a.kill('SIGKILL');
  let storeAt = Number.NaN;
  await waitFor(
    `the ${lane} post to be taken over`,
    async () => {
      if (Number.isNaN(storeAt) && (await exit.store.deliveries.get(deliveryId))?.status === 'published')
        storeAt = preciseNow();
      return !Number.isNaN(storeAt);
    },
    120_000,
    20,
  );
  const landed = sandboxes.x.posts.filter((p) => p.text.includes(ref));
  check(landed.length === 1, `${ref} is on X ${landed.length} times after the takeover`);
  await b.stop();
  return { landedMs: landed[0]!.createdAtMs - killedAt, storeMs: storeAt - killedAt };
}

export const takeover: Benchmark = {
  name: 'takeover',
  title: 'Takeover of a dead worker’s post (SIGKILL → post on X)',
  figures: [
    {
      key: 'crisis-landed',
      label: 'crisis: SIGKILL → on X',
      unit: 'ms',
      target: { op: '<=', value: 10_000 },
      note: 'crisis lock 3 s',
    },
    { key: 'crisis-store', label: 'crisis: SIGKILL → published in the store', unit: 'ms' },
    {
      key: 'ordinary-landed',
      label: 'ordinary: SIGKILL → on X',
      unit: 'ms',
      target: { op: '<=', value: 30_000 },
      note: 'ordinary lock 15 s',
    },
    { key: 'ordinary-store', label: 'ordinary: SIGKILL → published in the store', unit: 'ms' },
  ],
  async run(ctx) {
    const exit = await startExit('postgres');
    try {
      const seen: Record<Lane, number[]> = { crisis: [], ordinary: [] };
      for (let run = 1; run <= ctx.runs; run++) {
        for (const lane of LANES) {
          const { landedMs, storeMs } = await oneTakeover(exit, lane);
          seen[lane].push(landedMs);
          ctx.record(`${lane}-landed`, landedMs);
          ctx.record(`${lane}-store`, storeMs);
          ctx.progress(`run ${run}: ${lane} on X ${Math.round(landedMs)} ms after SIGKILL`);
          await sleep(100);
        }
      }
      ctx.fact(
        `medians: crisis ${Math.round(median(seen.crisis))} ms, ordinary ${Math.round(median(seen.ordinary))} ms after SIGKILL (runs: ${ctx.runs})`,
      );
    } finally {
      await exit.close();
    }
  },
};
