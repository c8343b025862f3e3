// CAP feeds watched by the worker, end to end: the API and the worker started from their entry
// points, the sandbox networks (a real PDS for Bluesky), Redis, a SQLite store, and a feed
// server on loopback serving a MeteoAlarm-style Atom feed (one alert in three languages and two
// areas, then its Update, its AllClear and its Cancel), a plain CAP address read in mode post,
// a feed that answers 500 and one that never answers. Kept alerts wait for a person's approval
// and thread under the original on the three networks; filtered ones are listed with why.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashToken, mintToken } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import { freePort } from '@sunset/queue/testing';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_ENTRY,
  iso,
  ORG,
  PlanFolder,
  startSandboxes,
  startService,
  testRedis,
  waitFor,
  WORKER_ENTRY,
  type Sandboxes,
  type TestRedis,
} from '../support/exit-harness.ts';
import {
  atomFeed,
  capDocument,
  capTime,
  startFeedServer,
  type AlertSpec,
  type FeedServer,
  type InfoSpec,
} from '../support/meteoalarm.ts';

let sandboxes: Sandboxes;
let t: TestStore;
let redis: TestRedis;
let plans: PlanFolder;
let feeds: FeedServer;
let base: string;
let officer: string;
let approver: string;
const children: ChildProcess[] = [];

const HOUR = 3_600_000;
const SENT = capTime(-10 * 60_000);

const storm = (over: Partial<InfoSpec> = {}): InfoSpec[] => [
  {
    language: 'de-DE',
    event: 'Mäßige Gewitterwarnung',
    headline: 'Gewitterwarnung für Indre-et-Loire',
    description: 'Gewitter mit Hagel.',
    severity: 'Moderate',
    level: '2; yellow; Moderate',
    type: '3; Thunderstorm',
    ...over,
  },
  {
    language: 'en-GB',
    event: 'Moderate thunderstorm warning',
    headline: 'Thunderstorm warning for Indre-et-Loire',
    description: 'Thunderstorms with hail.',
    severity: 'Moderate',
    level: '2; yellow; Moderate',
    type: '3; Thunderstorm',
    ...over,
  },
  {
    language: 'fr-FR',
    event: 'Vigilance jaune orages',
    headline: 'Vigilance jaune aux orages en Indre-et-Loire',
    description: 'Orages avec grêle attendus en soirée.',
    instruction: 'Évitez les déplacements.',
    severity: 'Moderate',
    level: '2; yellow; Moderate',
    type: '3; Thunderstorm',
    ...over,
  },
];

const AREAS = { FR372: 'Indre-et-Loire', FR373: 'Loir-et-Cher' };
const ALERT: AlertSpec = {
  identifier: '2.49.0.0.250.0.FR.20261201.ORAGE1',
  sent: SENT,
  expires: capTime(12 * HOUR),
  areas: AREAS,
  infos: storm(),
};
const UPDATE: AlertSpec = {
  identifier: '2.49.0.0.250.0.FR.20261201.ORAGE2',
  sent: capTime(-5 * 60_000),
  expires: capTime(12 * HOUR),
  msgType: 'Update',
  references: [{ identifier: ALERT.identifier, sent: ALERT.sent }],
  areas: AREAS,
  infos: storm({
    headline: 'Vigilance orange aux orages en Indre-et-Loire',
    description: 'Orages violents, rafales à 100 km/h.',
    severity: 'Severe',
    level: '3; orange; Severe',
  }).map((i) => (i.language === 'fr-FR' ? i : { ...i, headline: `${i.headline} (orange)` })),
};
const ALL_CLEAR: AlertSpec = {
  identifier: '2.49.0.0.250.0.FR.20261201.ORAGE3',
  sent: capTime(-2 * 60_000),
  expires: capTime(12 * HOUR),
  msgType: 'Update',
  references: [
    { identifier: ALERT.identifier, sent: ALERT.sent },
    { identifier: UPDATE.identifier, sent: UPDATE.sent },
  ],
  areas: AREAS,
  infos: storm({
    headline: 'Fin de la vigilance orages',
    description: 'Les orages ont quitté le département.',
    instruction: undefined,
    severity: 'Minor',
    level: '1; green; Minor',
    allClear: true,
  }),
};
const CANCEL_XML = `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>2.49.0.0.250.0.FR.20261201.ORAGE4</identifier>
  <sender>vigilance@meteo.example</sender>
  <sent>${capTime(-60_000)}</sent>
  <status>Actual</status>
  <msgType>Cancel</msgType>
  <scope>Public</scope>
  <references>vigilance@meteo.example,${ALL_CLEAR.identifier},${ALL_CLEAR.sent}</references>
</alert>`;
/** In FR371 only: not an area watched. */
const ELSEWHERE: AlertSpec = {
  ...ALERT,
  identifier: '2.49.0.0.250.0.FR.20261201.VENT1',
  areas: { FR371: 'Indre' },
  infos: storm({ event: 'Vent violent', type: '1; Wind' }),
};
/** Minor: below min_severity. */
const MINOR: AlertSpec = {
  ...ALERT,
  identifier: '2.49.0.0.250.0.FR.20261201.PLUIE1',
  infos: storm({ event: 'Pluie', severity: 'Minor', level: '1; green; Minor', type: '10; Rain' }),
};
/** Expired an hour ago: recorded, never posted. */
const EXPIRED: AlertSpec = {
  ...ALERT,
  identifier: '2.49.0.0.250.0.FR.20261130.ORAGE0',
  sent: capTime(-20 * HOUR),
  expires: capTime(-HOUR),
};
/** Read from a plain CAP address in mode post with post_at orange: posted at once. */
const HEATWAVE: AlertSpec = {
  identifier: '2.49.0.0.250.0.FR.20261201.CANICULE1',
  sent: SENT,
  expires: capTime(12 * HOUR),
  areas: { FR372: 'Indre-et-Loire' },
  infos: storm({
    event: 'Vigilance orange canicule',
    headline: 'Vigilance orange canicule',
    description: 'Fortes chaleurs jusqu’à 40 °C.',
    severity: 'Severe',
    level: '3; orange; Severe',
    type: '5; high-temperature',
  }).filter((i) => i.language === 'fr-FR'),
};

function start(entry: string, env: Record<string, string>): ChildProcess {
  const service = startService(entry, env);
  service.child.on('exit', (code, signal) => {
    if (signal === null && code !== 0) {
      process.stderr.write(
        `${path.basename(entry)} exited with ${code}:\n${service.output().slice(-4000)}\n`,
      );
    }
  });
  children.push(service.child);
  return service.child;
}

beforeAll(async () => {
  [sandboxes, feeds] = await Promise.all([startSandboxes(), startFeedServer()]);
  feeds.serve(
    '/meteoalarm',
    atomFeed(
      [
        // Embedded in one alert's entries, linked in the others'.
        { spec: ALERT, embed: true },
        { spec: ELSEWHERE },
        { spec: MINOR },
        { spec: EXPIRED },
      ],
      (id) => `/cap/${id}.xml`,
    ),
  );
  for (const spec of [ELSEWHERE, MINOR, EXPIRED]) {
    feeds.serve(`/cap/${spec.identifier}.xml`, capDocument(spec), 'application/cap+xml');
  }
  feeds.serve('/canicule.xml', capDocument(HEATWAVE), 'application/cap+xml');
  feeds.fail('/broken');
  feeds.stall('/stalled');
  t = await openTestStore('sqlite');
  redis = testRedis();
  plans = new PlanFolder(sandboxes);
  const doc = plans.document({ sunset: iso(Date.now() - HOUR), posts: [] });
  doc['crisis'] = {
    on: ['x', 'bluesky', 'mastodon'],
    feeds: [
      {
        url: `${feeds.url}/meteoalarm`,
        areas: ['FR372'],
        min_severity: 'Moderate',
        events: ['Thunderstorm', 'Wind', 'Rain'],
        interval: '1s',
      },
      { url: `${feeds.url}/canicule.xml`, mode: 'post', post_at: 'orange', interval: '1s' },
      { url: `${feeds.url}/broken`, interval: '1s' },
      { url: `${feeds.url}/stalled`, interval: '1s' },
    ],
  };
  await applyPlan({ store: t.store, plan: plans.writeDocument(doc), actor: 'cli:test' });
  officer = mintToken();
  approver = mintToken();
  for (const [id, token, person] of [
    ['officer', officer, 'astreinte'],
    ['approver', approver, 'directrice'],
  ] as const) {
    await t.store.tokens.create({
      id,
      organisationId: ORG,
      name: person,
      person,
      role: 'crisis',
      hash: hashToken(token),
      createdBy: 'cli:test',
    });
  }
  const caFile = path.join(plans.dir, 'x-ca.pem');
  writeFileSync(caFile, sandboxes.x.ca);
  const port = await freePort();
  const common = {
    DATABASE_URL: t.url,
    REDIS_URL: redis.url,
    SUNSET_QUEUE_PREFIX: redis.prefix,
    SUNSET_DATA_DIR: plans.dir,
    LOG_LEVEL: 'warn',
  };
  start(API_ENTRY, { ...common, SUNSET_API_PORT: String(port), SUNSET_PLANS_DIR: plans.dir });
  start(WORKER_ENTRY, {
    ...common,
    ...sandboxes.env,
    SUNSET_X_CA_FILE: caFile,
    SUNSET_LIMITS: 'x=1000/1s,bluesky=1000/1s,mastodon=1000/1s',
    SUNSET_FETCH_ALLOW: feeds.host,
    SUNSET_FEED_TIMEOUT_MS: '1000',
  });
  base = `http://127.0.0.1:${port}`;
  await waitFor(
    'the API to be ready',
    async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
    // A hang detector: on a loaded 2-core machine the API's start has taken over 30 s.
    90_000,
    200,
  );
});
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
  await feeds?.close();
  await redis?.cleanup();
  await t?.cleanup();
  plans?.remove();
  await sandboxes?.stop();
});

interface FeedAlert {
  identifier: string;
  msgType: string;
  kept: boolean;
  reason: string;
  postId?: string;
  crisis?: string;
  awarenessLevel?: string;
  awarenessType?: string;
  geocodes: string[];
}
interface Feed {
  url: string;
  state?: { status?: string; errors: number; lastError?: string; polledAt?: string; nextPollAt?: string };
  alerts: FeedAlert[];
}

async function listing(token = officer): Promise<Feed[]> {
  const r = await fetch(`${base}/v1/crisis/feeds`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return ((await r.json()) as { feeds: Feed[] }).feeds;
}

async function feedOf(suffix: string): Promise<Feed> {
  return (await listing()).find((f) => f.url.endsWith(suffix))!;
}

async function alertSeen(identifier: string): Promise<FeedAlert | undefined> {
  return (await feedOf('/meteoalarm')).alerts.find((a) => a.identifier === identifier);
}

async function crisis(id: string) {
  const r = await fetch(`${base}/v1/crisis/${id}`, { headers: { authorization: `Bearer ${officer}` } });
  return (await r.json()) as { state?: string; networks: Record<string, { status: string }> };
}

async function approve(id: string): Promise<void> {
  const r = await fetch(`${base}/v1/crisis/${id}/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${approver}` },
  });
  expect(r.status, await r.clone().text()).toBe(202);
}

const published = async (id: string) => {
  const body = await crisis(id);
  return ['x', 'bluesky', 'mastodon'].every((n) => body.networks[n]?.status === 'published');
};

async function parts(id: string) {
  const first = async (network: 'x' | 'bluesky' | 'mastodon') =>
    (await t.store.deliveries.list({ organisationId: ORG, postId: id, network }))[0]?.parts ?? [];
  return { x: await first('x'), bluesky: await first('bluesky'), mastodon: await first('mastodon') };
}

/** The post `id` answers `parentId` on the three networks (its first part under the parent's last). */
async function expectThreaded(id: string, parentId: string): Promise<void> {
  const child = await parts(id);
  const parent = await parts(parentId);
  const xPost = sandboxes.x.posts.find((p) => p.id === child.x[0]?.remoteId);
  expect(xPost?.inReplyToId).toBe(parent.x.at(-1)?.remoteId);
  const status = sandboxes.mastodon.statuses.find((s) => s.id === child.mastodon[0]?.remoteId);
  expect(status?.inReplyToId).toBe(parent.mastodon.at(-1)?.remoteId);
  const record = await sandboxes.pds.com.atproto.repo.getRecord({
    repo: sandboxes.blueskyDid,
    collection: 'app.bsky.feed.post',
    rkey: child.bluesky[0]?.remoteId?.split('/').pop() ?? '',
  });
  const reply = (record.data.value as { reply?: { parent: { uri: string } } }).reply;
  expect(reply?.parent.uri).toBe(parent.bluesky.at(-1)?.remoteId);
}

async function mastodonText(id: string): Promise<string> {
  const remoteId = (await parts(id)).mastodon[0]?.remoteId;
  return sandboxes.mastodon.statuses.find((s) => s.id === remoteId)?.text ?? '';
}

describe('CAP feeds watched by the worker process', () => {
  let original = '';

  it('makes one crisis awaiting approval of an alert split over languages and areas; filters the rest, saying why', async () => {
    await waitFor(
      'the feed’s four alerts to be decided',
      async () => (await feedOf('/meteoalarm'))?.alerts.length === 4,
      60_000,
      250,
    );
    const seen = await alertSeen(ALERT.identifier);
    expect(seen).toMatchObject({
      msgType: 'Alert',
      kept: true,
      reason: 'kept: awaiting approval',
      awarenessLevel: 'yellow',
      awarenessType: 'Thunderstorm',
      geocodes: ['FR372', 'FR373'],
    });
    original = seen!.postId!;
    expect(seen!.crisis).toBe(`/v1/crisis/${original}`);
    expect((await crisis(original)).state).toBe('awaiting-approval');
    // The same CAP sent to the crisis endpoint is the same crisis (same key): nothing new.
    const again = await fetch(`${base}/v1/crisis`, {
      method: 'POST',
      headers: { authorization: `Bearer ${officer}`, 'content-type': 'application/cap+xml' },
      body: capDocument(ALERT),
    });
    expect(await again.json()).toMatchObject({ id: original, state: 'awaiting-approval', duplicate: true });

    expect(await alertSeen(ELSEWHERE.identifier)).toMatchObject({
      kept: false,
      reason: 'not in the areas watched (its geocodes: FR371)',
    });
    expect(await alertSeen(MINOR.identifier)).toMatchObject({
      kept: false,
      reason: 'severity Minor, below Moderate',
    });
    expect(await alertSeen(EXPIRED.identifier)).toMatchObject({
      kept: false,
      reason: expect.stringMatching(/^expired at .*: recorded, not posted$/),
    });
    const filtered = (await t.store.audit.list({ organisationId: ORG, action: 'crisis.feed-filtered' }))
      .length;
    expect(filtered).toBe(3);
    // Nothing goes to a network before a person approves.
    expect(await t.store.deliveries.list({ organisationId: ORG, postId: original })).toEqual([]);
  });

  it('reads an unchanged feed with its ETag and gets 304', async () => {
    await waitFor(
      'a 304 to the feed’s ETag',
      () => feeds.requests.some((r) => r.path === '/meteoalarm' && r.status === 304),
      30_000,
    );
    const conditional = feeds.requests.find((r) => r.status === 304)!;
    expect(conditional.headers['if-none-match']).toMatch(/^"v\d+"$/);
    await waitFor(
      'the state to say not-modified',
      async () => (await feedOf('/meteoalarm')).state?.status === 'not-modified',
    );
  });

  it('posts at once an alert from a plain CAP address in mode post above post_at', async () => {
    let seen: FeedAlert | undefined;
    await waitFor(
      'the heatwave alert',
      async () => (seen = (await feedOf('/canicule.xml')).alerts[0]) !== undefined,
    );
    expect(seen).toMatchObject({ kept: true, reason: 'kept: posted', awarenessLevel: 'orange' });
    await waitFor('the heatwave on every network', () => published(seen!.postId!), 60_000, 250);
    expect(await mastodonText(seen!.postId!)).toMatch(/^Vigilance orange canicule/);
  });

  it('backs off a feed that answers 500 and one that never answers, holding up nothing else', async () => {
    await waitFor(
      'two failed reads of each',
      async () => {
        const [broken, stalled] = [await feedOf('/broken'), await feedOf('/stalled')];
        return (broken.state?.errors ?? 0) >= 2 && (stalled.state?.errors ?? 0) >= 2;
      },
      60_000,
      250,
    );
    const broken = (await feedOf('/broken')).state!;
    const stalled = (await feedOf('/stalled')).state!;
    expect(broken).toMatchObject({ status: 'error', lastError: 'HTTP 500' });
    expect(stalled).toMatchObject({ status: 'error', lastError: 'no answer within the time limit' });
    // Each error doubles the wait: 1 s × 2^errors.
    for (const state of [broken, stalled]) {
      const wait = Date.parse(state.nextPollAt!) - Date.parse(state.polledAt!);
      expect(wait).toBeGreaterThanOrEqual(1000 * 2 ** state.errors - 100);
    }
    // Meanwhile the other feeds are read: one such read ends while a read of the stalled feed
    // hangs (each hangs for the 1 s time limit, again after each back-off, so this waits for a
    // state rather than counting reads in a while).
    const readDuringStall = () =>
      feeds.requests.some(
        (stall) =>
          stall.path === '/stalled' &&
          feeds.requests.some(
            (other) =>
              other.path !== '/stalled' &&
              other.path !== '/broken' &&
              other.closedAt !== undefined &&
              other.closedAt > stall.at &&
              other.closedAt < (stall.closedAt ?? Infinity),
          ),
      );
    await waitFor('another feed read while the stalled one hangs', readDuringStall, 60_000, 250);
  });

  it('threads the Update, the AllClear and the Cancel under the original once approved', async () => {
    await approve(original);
    await waitFor('the alert on every network', () => published(original), 60_000, 250);
    expect(await mastodonText(original)).toMatch(/^Vigilance jaune aux orages en Indre-et-Loire/);

    // MeteoAlarm keeps the alert's entries beside its Update: the alert is not made twice.
    feeds.serve(
      '/meteoalarm',
      atomFeed([{ spec: ALERT, embed: true }, { spec: UPDATE }], (id) => `/cap/${id}.xml`),
    );
    feeds.serve(`/cap/${UPDATE.identifier}.xml`, capDocument(UPDATE), 'application/cap+xml');
    let update: FeedAlert | undefined;
    await waitFor(
      'the update',
      async () => (update = await alertSeen(UPDATE.identifier)) !== undefined,
      30_000,
      250,
    );
    expect(update).toMatchObject({
      kept: true,
      reason: `follows up ${ALERT.identifier}: awaiting approval`,
      awarenessLevel: 'orange',
    });
    await approve(update!.postId!);
    await waitFor('the update on every network', () => published(update!.postId!), 60_000, 250);
    await expectThreaded(update!.postId!, original);
    expect(await mastodonText(update!.postId!)).toMatch(/^Mise à jour : Vigilance orange aux orages/);

    // The all-clear is Minor, below min_severity: as a follow-up it is kept all the same.
    feeds.serve(
      '/meteoalarm',
      atomFeed([{ spec: ALL_CLEAR, embed: true }], (id) => `/cap/${id}.xml`),
    );
    let clear: FeedAlert | undefined;
    await waitFor(
      'the all-clear',
      async () => (clear = await alertSeen(ALL_CLEAR.identifier)) !== undefined,
      30_000,
      250,
    );
    expect(clear).toMatchObject({ kept: true, reason: `follows up ${UPDATE.identifier}: awaiting approval` });
    await approve(clear!.postId!);
    await waitFor('the all-clear on every network', () => published(clear!.postId!), 60_000, 250);
    await expectThreaded(clear!.postId!, update!.postId!);
    expect(await mastodonText(clear!.postId!)).toMatch(/^Fin de l'alerte : Fin de la vigilance orages/);

    // A plain CAP Cancel without <info> served at the feed's address: the plan's standard sentence.
    feeds.serve('/meteoalarm', CANCEL_XML, 'application/cap+xml');
    let cancel: FeedAlert | undefined;
    await waitFor(
      'the cancel',
      async () => (cancel = await alertSeen('2.49.0.0.250.0.FR.20261201.ORAGE4')) !== undefined,
      30_000,
      250,
    );
    expect(cancel).toMatchObject({ kept: true, msgType: 'Cancel' });
    await approve(cancel!.postId!);
    await waitFor('the cancel on every network', () => published(cancel!.postId!), 60_000, 250);
    await expectThreaded(cancel!.postId!, clear!.postId!);
    expect(await mastodonText(cancel!.postId!)).toMatch(/^Alerte levée\./);
    // One crisis per alert, however many entries and reads.
    const crises = await t.store.posts.list(ORG, { source: 'crisis' });
    expect(crises.length).toBe(5);
  });

  it('lists the feeds to crisis and auditor tokens only', async () => {
    const auditor = mintToken();
    const editor = mintToken();
    await t.store.tokens.create({
      id: 'aud',
      organisationId: ORG,
      name: 'archives',
      role: 'auditor',
      hash: hashToken(auditor),
      createdBy: 'cli:test',
    });
    await t.store.tokens.create({
      id: 'ed',
      organisationId: ORG,
      name: 'redaction',
      role: 'editor',
      hash: hashToken(editor),
      createdBy: 'cli:test',
    });
    expect((await listing(auditor)).length).toBe(4);
    const refused = await fetch(`${base}/v1/crisis/feeds`, {
      headers: { authorization: `Bearer ${editor}` },
    });
    expect(refused.status).toBe(403);
  });
});
