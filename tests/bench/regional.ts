/**
 * Regional scale: one deployment for a whole département. ORGS (300) organisations on one Redis
 * prefix and one PostgreSQL store, each with its own applied plan (crisis on X and Mastodon, and
 * Bluesky for the first BSKY_ORGS) and its own accounts on the sandboxes (an X app and account, a
 * Mastodon account and token per organisation; for the first BSKY_ORGS (100) a Bluesky account
 * and app password on the real PDS too), their credentials in the worker's environment under each
 * organisation's own prefix (VILLE_001__…), as an operator sets them. One worker process at
 * concurrency 64 (crisis slots at their default) and one API process, spawned from their entry
 * points; limits raised out of the way (SUNSET_LIMITS); the sandboxes answer at once.
 *
 *  1. One CAP alert relayed by all of them: every organisation's duty officer POSTs the same CAP
 *     1.2 alert to /v1/crisis (application/cap+xml, with that organisation's own crisis token),
 *     all at once; each becomes a crisis post on X and Mastodon (2 deliveries per organisation),
 *     and on Bluesky for those that have it (a third).
 *     Figures at N = 30, 100 and 300 organisations: time from the last 202 to the last landing on
 *     X or Mastodon (the sandboxes' own record, on this process's clock), and per organisation,
 *     from its 202 to its last landing there, p50 and p99 (the same figures as before Bluesky came
 *     in, now with the Bluesky deliveries running alongside). With Bluesky, as figures of their
 *     own ("with Bluesky (real PDS)", the PDS being no instant server): last 202 → last landing on
 *     any network, last 202 → the last Bluesky delivery published, and per organisation with
 *     Bluesky its 202 → its last landing on any network, p50 and p99. Landed on Bluesky = the
 *     delivery's publishedAt in the store (the PDS had answered; the worker's clock). A warm-up at
 *     N = 300 first (every organisation's plan read, connectors built and Bluesky sessions
 *     opened for the first time): not counted, its fan-out reported as cold. Before each round
 *     the store and this process are settled (lib.ts, settleRound), as in the crisis benchmark.
 *  2. SCHEDULED (10,000) plan posts due within the same minute across the 300 organisations
 *     (each organisation's plan applied again with its ~33 posts, one network each; plans give
 *     times to the second, so about 167 fall due on each second of the minute), applied LEAD_MS
 *     ahead: lag = the part's publishedAt in the store − the delivery's due time; p50, p99
 *     and max. One run per `pnpm bench` (it lasts a minute and more; the worker is warm from part 1).
 *  3. Memory. Redis: the bytes of this run's keys (MEMORY USAGE over its prefix) and INFO's
 *     used_memory, before and after those 10,000 deliveries were queued (all still delayed),
 *     divided by 10,000. PostgreSQL: the size of the store's tables with their indexes and TOAST
 *     before the 10,000 and after they are all published, divided by 10,000 = bytes per delivery
 *     with its post, audit entries and share of the plan versions; an organisation-year is taken as 3 posts a day on 3
 *     networks (3,285 deliveries; each delivery measured here carries its own post, so this is
 *     an upper bound). Worker RSS: just started, and after each N = 300 round (every
 *     organisation has posted on each of its networks: 600 connectors loaded).
 *
 * Bluesky on the first 100 organisations only: each PDS account is a real signup (password
 * hashing, a repository), 300 of them took 63 s at 8 at once on this 2-core machine under load
 * (100: 14–20 s), and the warm-up's first post per organisation opens a session (another
 * password hash): at 100 that warm-up took 40 s. The scheduled minute stays on X and Mastodon.
 *
 * Checked: every organisation's alert answered 202 and on each of its networks exactly once
 * (X and Mastodon by account and ref; Bluesky by reading each repository past the proxy: one post
 * with the alert's ref), every scheduled post exactly once, and the store says every one of those
 * deliveries published (Bluesky: once per organisation, its URI in that organisation's repo).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { envPrefix, hashToken, mintToken } from '@sunset/core';
import { applyPlan } from '@sunset/engine';
import type { BlueskySandboxAccount } from '@sunset/sandboxes';
import type { Delivery, Store } from '@sunset/store';
import { Redis } from 'ioredis';
import {
  check,
  cpuMedians,
  cpuMeter,
  cpuText,
  fmt,
  pidsNamed,
  iso,
  percentile,
  pg,
  pool,
  preciseNow,
  refOf,
  settleRound,
  sleep,
  startApi,
  startExit,
  startWorker,
  waitFor,
  type BenchContext,
  type Benchmark,
  type Exit,
  type PlanPost,
  type Service,
} from './lib.ts';

const ORGS = 300;
/** Organisations with a Bluesky account too (the first ones): each is a real signup on the PDS. */
const BSKY_ORGS = 100;
/** Signups at once: the PDS hashes passwords and creates repositories on the machine's 2 cores. */
const BSKY_SIGNUPS_AT_ONCE = 8;
const SIZES = [30, 100, 300] as const;
const SCHEDULED = 10_000;
const MINUTE_MS = 60_000;
const LEAD_MS = 30_000;
/** An organisation-year of posting: posts a day × days × networks (see the top). */
const YEAR_DELIVERIES = 3 * 365 * 3;

interface Org {
  id: string;
  xAccountId: string;
  mastodonAccountId: string;
  /** Its Bluesky account's DID, for the first BSKY_ORGS organisations. */
  blueskyDid?: string;
  token: string;
  /** Its plan without posts, to apply again with some. */
  document: Record<string, unknown>;
}

let serial = 0;

const capAlert = (ref: string, sent: string) => `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>prefecture-crue-${ref}</identifier>
  <sender>alerte@indre-et-loire.gouv.fr</sender>
  <sent>${sent}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>fr-FR</language>
    <category>Met</category>
    <event>Crue</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <headline>Vigilance rouge crue ref=${ref}</headline>
    <description>Montée rapide des eaux : éloignez-vous des berges.</description>
    <web>https://www.indre-et-loire.gouv.fr/crue</web>
  </info>
</alert>`;

/** The organisations' accounts on the sandboxes, their plans applied, their crisis tokens. */
async function setUp(exit: Exit, ctx: BenchContext): Promise<{ orgs: Org[]; env: Record<string, string> }> {
  const signups = Date.now();
  const bluesky = new Map<number, BlueskySandboxAccount>();
  await pool(
    Array.from({ length: BSKY_ORGS }, (_, i) => i + 1),
    BSKY_SIGNUPS_AT_ONCE,
    async (i) => {
      bluesky.set(i, await exit.sandboxes.bluesky.createAccount(`ville${String(i).padStart(3, '0')}`));
    },
  );
  const signupSeconds = (Date.now() - signups) / 1000;
  ctx.fact(
    `${BSKY_ORGS} Bluesky accounts created on the PDS (signup and app password, ${BSKY_SIGNUPS_AT_ONCE} at once) in ${fmt(signupSeconds)} s`,
  );
  ctx.progress(`${BSKY_ORGS} Bluesky accounts in ${fmt(signupSeconds)} s`);
  const started = Date.now();
  const env: Record<string, string> = {};
  const orgs: Org[] = [];
  const sunset = iso(Date.now() + 30 * 24 * 3600_000);
  for (let i = 1; i <= ORGS; i++) {
    const n = String(i).padStart(3, '0');
    const id = `ville-${n}`;
    const x = {
      id: `16000000000000${String(i).padStart(5, '0')}`,
      username: `Ville${n}`,
      name: `Ville ${n}`,
      appKey: `x-app-key-${n}`,
      appSecret: `x-app-secret-${n}`,
      accessToken: `16000000000000${String(i).padStart(5, '0')}-x-access`,
      accessSecret: `x-access-secret-${n}`,
    };
    exit.sandboxes.x.addAccount(x);
    const mastodon = exit.sandboxes.mastodon.addAccount({
      username: `ville${n}`,
      token: `mastodon-token-${n}`,
      displayName: `Ville ${n}`,
    });
    const prefix = envPrefix(id);
    Object.assign(env, {
      [`${prefix}X_APP_KEY`]: x.appKey,
      [`${prefix}X_APP_SECRET`]: x.appSecret,
      [`${prefix}X_ACCESS_TOKEN`]: x.accessToken,
      [`${prefix}X_ACCESS_SECRET`]: x.accessSecret,
      [`${prefix}MASTODON_TOKEN`]: mastodon.token,
    });
    const bsky = bluesky.get(i);
    if (bsky) {
      env[`${prefix}BSKY_IDENTIFIER`] = bsky.handle;
      env[`${prefix}BSKY_APP_PASSWORD`] = bsky.password;
    }
    const doc = exit.plans.document({ sunset, posts: [] });
    const organisation = doc['organisation'] as Record<string, unknown>;
    organisation['id'] = id;
    organisation['name'] = `Ville ${n}`;
    doc['networks'] = {
      x: {
        account: `@${x.username}`,
        api_base: exit.sandboxes.x.url,
        credentials: {
          app_key: `env:${prefix}X_APP_KEY`,
          app_secret: `env:${prefix}X_APP_SECRET`,
          access_token: `env:${prefix}X_ACCESS_TOKEN`,
          access_secret: `env:${prefix}X_ACCESS_SECRET`,
        },
      },
      mastodon: {
        instance: exit.sandboxes.mastodon.url,
        account: `@ville${n}@social.ville.test`,
        credentials: { access_token: `env:${prefix}MASTODON_TOKEN` },
      },
      ...(bsky
        ? {
            bluesky: {
              handle: bsky.handle,
              service: exit.sandboxes.bluesky.url,
              credentials: {
                identifier: `env:${prefix}BSKY_IDENTIFIER`,
                app_password: `env:${prefix}BSKY_APP_PASSWORD`,
              },
            },
          }
        : {}),
    };
    doc['crisis'] = {
      on: bsky ? ['x', 'bluesky', 'mastodon'] : ['x', 'mastodon'],
      label: '🔴 ALERTE',
      hashtags: ['#Crue37'],
    };
    const token = mintToken();
    orgs.push({
      id,
      xAccountId: x.id,
      mastodonAccountId: mastodon.id,
      ...(bsky ? { blueskyDid: bsky.did } : {}),
      token,
      document: doc,
    });
    await applyPlan({
      store: exit.store,
      queues: exit.queues,
      plan: exit.plans.writeDocument(doc, `${id}.yaml`),
      actor: 'cli:bench',
    });
    await exit.store.tokens.create({
      id: `bench-crisis-${n}`,
      organisationId: id,
      name: `permanence ${n}`,
      role: 'crisis',
      hash: hashToken(token),
      createdBy: 'cli:bench',
    });
  }
  ctx.progress(
    `${ORGS} organisations: accounts, plans and tokens in ${fmt((Date.now() - started) / 1000)} s`,
  );
  return { orgs, env };
}

interface FanOut {
  /** Last 202 → last landing on X or Mastodon, ms. */
  tail: number;
  /** Per organisation: its 202 → its last landing on X or Mastodon, ms. */
  perOrg: number[];
  /** The same with Bluesky counted, when some organisations have it. */
  bluesky?: {
    /** Organisations with Bluesky in this round. */
    orgs: number;
    /** Last 202 → last landing on any of the three networks. */
    tail: number;
    /** Per organisation with Bluesky: its 202 → its last landing on any network. */
    perOrg: number[];
    /** Last 202 → the last Bluesky delivery published. */
    last: number;
    /** createRecord requests the PDS proxy saw beyond one per organisation (retries). */
    retried: number;
  };
  /** First request sent → last 202, ms. */
  accepted: number;
  /** CPU per delivery by process group, µs (first request → a moment after the last landing). */
  cpu: Record<string, number>;
}

/** The same alert from `orgs` at once; waits for every landing and checks them. */
async function fanOut(
  exit: Exit,
  base: string,
  orgs: readonly Org[],
  tag: string,
  groups: Parameters<typeof cpuMeter>[0],
): Promise<FanOut> {
  const ref = `${tag}${(serial++).toString(36)}`;
  const body = capAlert(ref, new Date().toISOString().replace(/\.\d{3}Z$/, '+00:00'));
  const from = {
    x: exit.sandboxes.x.posts.length,
    mastodon: exit.sandboxes.mastodon.statuses.length,
    bluesky: exit.sandboxes.bluesky.received.length,
  };
  const withBluesky = orgs.filter((o) => o.blueskyDid !== undefined);
  const deliveries = 2 * orgs.length + withBluesky.length;
  const answered = new Map<string, number>();
  const postIds = new Set<string>();
  const meter = cpuMeter(groups);
  const sent = preciseNow();
  await Promise.all(
    orgs.map(async (org) => {
      const r = await fetch(`${base}/v1/crisis`, {
        method: 'POST',
        headers: { authorization: `Bearer ${org.token}`, 'content-type': 'application/cap+xml' },
        body,
      });
      const at = preciseNow();
      const text = await r.text();
      check(r.status === 202, `${tag}: ${org.id}'s alert answered ${r.status}: ${text}`);
      const reply = JSON.parse(text) as { id: string; deliveries: unknown[] };
      const networks = org.blueskyDid === undefined ? 2 : 3;
      check(
        reply.deliveries.length === networks,
        `${tag}: ${org.id}'s alert has ${reply.deliveries.length} deliveries, not ${networks}`,
      );
      answered.set(org.id, at);
      postIds.add(reply.id);
    }),
  );
  const last202 = Math.max(...answered.values());
  const want = orgs.length;
  // Bluesky's first round logs every organisation in on the PDS (a password hash each).
  const wait = withBluesky.length > 0 ? 120_000 : 60_000;
  const deadline = Date.now() + wait;
  const mine = () => ({
    x: exit.sandboxes.x.posts.slice(from.x).filter((p) => refOf(p.text) === ref),
    mastodon: exit.sandboxes.mastodon.statuses.slice(from.mastodon).filter((s) => refOf(s.text) === ref),
  });
  // The PDS proxy sees the text of no request: a createRecord is counted, the store says whose.
  const createRecords = () =>
    exit.sandboxes.bluesky.received
      .slice(from.bluesky)
      .filter((r) => r.method === 'POST' && r.path.startsWith('/xrpc/com.atproto.repo.createRecord')).length;
  let xmLanded = false;
  for (;;) {
    if (
      !xmLanded &&
      exit.sandboxes.x.posts.length - from.x >= want &&
      exit.sandboxes.mastodon.statuses.length - from.mastodon >= want
    ) {
      const m = mine();
      xmLanded = m.x.length >= want && m.mastodon.length >= want;
    }
    if (xmLanded && createRecords() >= withBluesky.length) break;
    if (Date.now() >= deadline) {
      const statuses = new Map<string, number>();
      for (const d of await exit.store.deliveries.listHeads({ source: 'crisis' }))
        if (postIds.has(d.postId ?? ''))
          statuses.set(`${d.network} ${d.status}`, (statuses.get(`${d.network} ${d.status}`) ?? 0) + 1);
      const m = mine();
      check(
        false,
        `${tag}: the alert has not landed everywhere after ${wait / 1000} s: ${m.x.length} on X, ${m.mastodon.length} on Mastodon, ${createRecords()} createRecord at the PDS for ${withBluesky.length}; the store: ${JSON.stringify(Object.fromEntries(statuses))}`,
      );
    }
    await sleep(10);
  }
  // A moment for a second copy to show, should there be one.
  await sleep(200);
  const m = mine();
  const byAccount = (items: readonly { accountId: string; createdAtMs: number }[]) => {
    const out = new Map<string, number[]>();
    for (const item of items) out.set(item.accountId, [...(out.get(item.accountId) ?? []), item.createdAtMs]);
    return out;
  };
  const x = byAccount(m.x);
  const mastodon = byAccount(m.mastodon);
  const problems: string[] = [];
  if (m.x.length !== want) problems.push(`${m.x.length} posts on X for ${want} organisations`);
  if (m.mastodon.length !== want) problems.push(`${m.mastodon.length} on Mastodon for ${want}`);
  const perOrg: number[] = [];
  let lastLanding = -Infinity;
  for (const org of orgs) {
    const onX = x.get(org.xAccountId) ?? [];
    const onM = mastodon.get(org.mastodonAccountId) ?? [];
    if (onX.length !== 1) problems.push(`${org.id} is on X ${onX.length} times`);
    if (onM.length !== 1) problems.push(`${org.id} is on Mastodon ${onM.length} times`);
    const landed = Math.max(...onX, ...onM);
    lastLanding = Math.max(lastLanding, landed);
    perOrg.push(landed - (answered.get(org.id) ?? Number.NaN));
  }
  const cpu = meter.stop(deliveries);
  check(problems.length === 0, `${tag}: not exactly once:\n  ${problems.slice(0, 20).join('\n  ')}`);
  await checkPublished(exit.store, postIds, 'crisis', tag, 'postId');
  const result: FanOut = { tail: lastLanding - last202, perOrg, accepted: last202 - sent, cpu };
  if (withBluesky.length === 0) return result;
  // Landed on Bluesky = published in the store (the PDS had answered), on the worker's clock.
  const published = new Map<string, Delivery[]>();
  for (const d of await exit.store.deliveries.list({
    source: 'crisis',
    network: 'bluesky',
    status: 'published',
  }))
    if (postIds.has(d.postId ?? ''))
      published.set(d.organisationId, [...(published.get(d.organisationId) ?? []), d]);
  // Exactly once on Bluesky = one post with this ref in each repository, read past the proxy (a
  // createRecord retried after a timeout or a 5xx is reconciled by its record key, not a repeat).
  await pool(withBluesky, 8, async (org) => {
    const page = await exit.sandboxes.pds.com.atproto.repo.listRecords({
      repo: org.blueskyDid ?? '',
      collection: 'app.bsky.feed.post',
      limit: 100,
    });
    if (page.data.records.length === 100) problems.push(`${org.id}: over 100 posts, not all read`);
    const copies = page.data.records.filter(
      (r) => refOf(String((r.value as { text?: unknown }).text)) === ref,
    );
    if (copies.length !== 1) problems.push(`${org.id}'s repository holds the alert ${copies.length} times`);
  });
  const bskyPerOrg: number[] = [];
  let lastBsky = -Infinity;
  let lastAny = -Infinity;
  for (const org of withBluesky) {
    const ds = published.get(org.id) ?? [];
    const uri = ds[0]?.parts[0]?.remoteId ?? '';
    if (ds.length !== 1) problems.push(`${org.id} is published on Bluesky ${ds.length} times`);
    else if (!uri.startsWith(`at://${org.blueskyDid}/`)) problems.push(`${org.id}'s Bluesky post is ${uri}`);
    const at = Math.max(...ds.map((d) => d.parts.at(-1)?.publishedAt?.getTime() ?? Number.NaN));
    lastBsky = Math.max(lastBsky, at);
    const landed = Math.max(
      at,
      ...(x.get(org.xAccountId) ?? []),
      ...(mastodon.get(org.mastodonAccountId) ?? []),
    );
    lastAny = Math.max(lastAny, landed);
    bskyPerOrg.push(landed - (answered.get(org.id) ?? Number.NaN));
  }
  check(problems.length === 0, `${tag}: Bluesky not exactly once:\n  ${problems.slice(0, 20).join('\n  ')}`);
  return {
    ...result,
    bluesky: {
      orgs: withBluesky.length,
      tail: Math.max(lastAny, lastLanding) - last202,
      perOrg: bskyPerOrg,
      last: lastBsky - last202,
      retried: createRecords() - withBluesky.length,
    },
  };
}

/** Waits until these posts' deliveries have ended, then checks that every one was published. */
async function checkPublished(
  store: Store,
  ids: ReadonlySet<string>,
  source: 'crisis' | 'plan',
  what: string,
  by: 'id' | 'postId' = 'id',
): Promise<void> {
  const mine = async () =>
    (
      await store.deliveries.listHeads({
        source,
        status: ['queued', 'sending', 'failed', 'needs-attention', 'skipped', 'cancelled'],
      })
    ).filter((d) => ids.has((by === 'id' ? d.id : d.postId) ?? ''));
  await waitFor(
    `${what}: every delivery to end`,
    async () => (await mine()).every((d) => d.status !== 'queued' && d.status !== 'sending'),
    60_000,
    250,
  );
  const others = await mine();
  // The first few by name, network, attempts and last error: enough to tell a timeout from a refusal.
  const which = (await Promise.all(others.slice(0, 5).map((d) => store.deliveries.get(d.id))))
    .filter((d) => d !== undefined)
    .map(
      (d) =>
        `${d.id} (${d.network}, ${d.status} after ${d.attempts} attempt(s): ${d.lastError ?? 'no error recorded'})`,
    )
    .join('; ');
  check(
    others.length === 0,
    `${what}: ${others.length} deliveries ended ${[...new Set(others.map((d) => d.status))].join(', ')}, not published: ${which}`,
  );
}

/** Bytes of the keys under this prefix (MEMORY USAGE each) and Redis's used_memory. */
async function redisBytes(
  redis: Redis,
  prefix: string,
): Promise<{ keys: number; used: number; count: number }> {
  let cursor = '0';
  let keys = 0;
  let count = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (batch.length > 0) {
      const pipe = redis.pipeline();
      for (const k of batch) pipe.memory('USAGE', k, 'SAMPLES', '0');
      for (const [, v] of (await pipe.exec()) ?? []) keys += Number(v ?? 0);
      count += batch.length;
    }
  } while (cursor !== '0');
  const info = await redis.info('memory');
  const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
  return { keys, used, count };
}

/** The store's tables with their indexes and TOAST, in bytes. */
async function storeBytes(exit: Exit): Promise<number> {
  const client = new pg.Client({ connectionString: exit.t.url });
  await client.connect();
  try {
    const r = (await client.query(
      `select coalesce(sum(pg_total_relation_size(c.oid)), 0)::text as bytes
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relkind = 'r'`,
      [exit.t.schema ?? 'public'],
    )) as { rows: { bytes: string }[] };
    return Number(r.rows[0]?.bytes ?? Number.NaN);
  } finally {
    await client.end();
  }
}

/** Processes whose parent is `parent` (from /proc/<pid>/stat). */
function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fourth field after the command name in parentheses (which may hold spaces).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const mb = (bytes: number) => bytes / 1024 ** 2;
const gb = (bytes: number) => bytes / 1024 ** 3;

/** Part 2 and the memory per delivery: 10,000 posts due within one minute across the organisations. */
async function minute(
  exit: Exit,
  orgs: readonly Org[],
  worker: Service,
  ctx: BenchContext,
  groups: Parameters<typeof cpuMeter>[0],
): Promise<void> {
  const redis = new Redis(exit.redis.url, { lazyConnect: true });
  await redis.connect();
  try {
    const start = Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000;
    const redisBefore = await redisBytes(redis, exit.redis.prefix);
    const pgBefore = await storeBytes(exit);
    const from = { x: exit.sandboxes.x.posts.length, mastodon: exit.sandboxes.mastodon.statuses.length };
    const items = Array.from({ length: SCHEDULED }, (_, i) => ({
      org: orgs[i % orgs.length] as Org,
      // Each organisation gets both networks, alternating by its own count.
      network: Math.floor(i / orgs.length) % 2 ? ('mastodon' as const) : ('x' as const),
      // Plans give times to the second: about SCHEDULED / 60 posts fall due on each second.
      due: start + Math.floor((i * MINUTE_MS) / SCHEDULED / 1000) * 1000,
      ref: `m${(serial++).toString(36)}`,
    }));
    const submitted = Date.now();
    await pool(orgs, 4, async (org) => {
      const posts: PlanPost[] = items
        .filter((i) => i.org === org)
        .map((i) => ({
          id: i.ref,
          at: iso(i.due),
          on: [i.network],
          text: `Conseil municipal ce soir ref=${i.ref} : ordre du jour en mairie.`,
        }));
      const result = await applyPlan({
        store: exit.store,
        queues: exit.queues,
        plan: exit.plans.writeDocument({ ...org.document, posts }, `${org.id}-minute.yaml`),
        actor: 'cli:bench',
      });
      check(
        !result.queueError && result.counts['+'] === posts.length,
        `${org.id}: the minute's plan applied ${JSON.stringify(result.counts)}`,
      );
    });
    const took = Date.now() - submitted;
    check(
      Date.now() < start - 500,
      `the ${SCHEDULED} posts' plans took until ${Date.now() - start} ms after the first was due`,
    );
    const ids = new Set<string>();
    for (const org of orgs) {
      // Only this minute's: each plan has a delivery of its own at the sunset, a month away.
      for (const d of await exit.store.deliveries.listHeads({ organisationId: org.id, source: 'plan' }))
        if (d.dueAt.getTime() >= start && d.dueAt.getTime() < start + MINUTE_MS) ids.add(d.id);
    }
    check(ids.size === SCHEDULED, `the minute: ${ids.size} deliveries in the store`);
    const redisAfter = await redisBytes(redis, exit.redis.prefix);
    const keysPer = (redisAfter.keys - redisBefore.keys) / SCHEDULED;
    const usedPer = (redisAfter.used - redisBefore.used) / SCHEDULED;
    ctx.record('redis-per-delivery', keysPer);
    ctx.record('redis-used-per-delivery', usedPer);
    ctx.progress(
      `${SCHEDULED} posts submitted in ${fmt(took / 1000)} s, first due in ${fmt((start - Date.now()) / 1000)} s; Redis ${fmt(keysPer)} B per delivery (keys, ${redisAfter.count - redisBefore.count} more), ${fmt(usedPer)} B (used_memory)`,
    );
    const meter = cpuMeter(groups);
    // Watched in memory until all have landed; the store is read only then.
    const deadline = start + MINUTE_MS + 120_000;
    for (;;) {
      const x = exit.sandboxes.x.posts.length - from.x;
      const m = exit.sandboxes.mastodon.statuses.length - from.mastodon;
      if (x + m >= SCHEDULED) break;
      check(Date.now() < deadline, `the minute: only ${x + m} of ${SCHEDULED} landed`);
      await sleep(100);
    }
    const cpu = meter.stop(SCHEDULED);
    await sleep(200);
    const counts = new Map<string, number>();
    for (const p of exit.sandboxes.x.posts.slice(from.x))
      counts.set(`x/${refOf(p.text)}`, (counts.get(`x/${refOf(p.text)}`) ?? 0) + 1);
    for (const s of exit.sandboxes.mastodon.statuses.slice(from.mastodon))
      counts.set(`mastodon/${refOf(s.text)}`, (counts.get(`mastodon/${refOf(s.text)}`) ?? 0) + 1);
    const wrong = items.filter((i) => counts.get(`${i.network}/${i.ref}`) !== 1);
    check(
      wrong.length === 0 && counts.size === SCHEDULED,
      `the minute: ${wrong.length} posts not exactly once (${wrong
        .slice(0, 5)
        .map((i) => `${i.ref} on ${i.network} ${counts.get(`${i.network}/${i.ref}`) ?? 0} times`)
        .join(', ')}), ${counts.size} distinct posts landed`,
    );
    await checkPublished(exit.store, ids, 'plan', 'the minute');
    const lags: number[] = [];
    const lagOf = new Map<string, number>();
    const dueOf = new Map<string, number>();
    for (const org of orgs) {
      const rows = await exit.store.deliveries.list({
        organisationId: org.id,
        source: 'plan',
        status: 'published',
      });
      for (const d of rows) {
        if (!ids.has(d.id)) continue;
        const lag = (d.parts[d.parts.length - 1]?.publishedAt?.getTime() ?? Number.NaN) - d.dueAt.getTime();
        dueOf.set(d.id, d.dueAt.getTime());
        lags.push(lag);
        lagOf.set(d.id, lag);
      }
    }
    check(lags.length === ids.size, `the minute: ${lags.length} of ${ids.size} published in the store`);
    const windows = Array.from({ length: 6 }, () => [] as number[]);
    for (const [id, dueAt] of dueOf) {
      const lag = lagOf.get(id);
      if (lag !== undefined) windows[Math.min(5, Math.floor((dueAt - start) / 10_000))]?.push(lag);
    }
    ctx.fact(`the minute: CPU per delivery (/proc) ${cpuText(cpu)}`);
    ctx.fact(
      `the minute's lag p99 by ten seconds of due time: ${windows.map((w, i) => `${i * 10}–${i * 10 + 10} s ${fmt(percentile(w, 99))} ms`).join(', ')}`,
    );
    ctx.record('minute-p50', percentile(lags, 50));
    ctx.record('minute-p99', percentile(lags, 99));
    ctx.record('minute-max', Math.max(...lags));
    ctx.progress(
      `the minute: lag p50 ${fmt(percentile(lags, 50))} ms, p99 ${fmt(percentile(lags, 99))} ms, max ${fmt(Math.max(...lags))} ms; worker RSS ${fmt(worker.rssMb())} MB`,
    );
    ctx.fact(
      `${SCHEDULED.toLocaleString('en-GB')} plan posts (one network each, half X, half Mastodon) across ${orgs.length} organisations, about ${Math.round(SCHEDULED / 60)} due on each second of one minute, their plans applied ${LEAD_MS / 1000} s ahead (in ${fmt(took / 1000)} s, 4 at a time): one run, after part 1 (worker warm); worker RSS after it ${fmt(worker.rssMb())} MB`,
    );
    const pgAfter = await storeBytes(exit);
    const perDelivery = (pgAfter - pgBefore) / SCHEDULED;
    const year = perDelivery * YEAR_DELIVERIES;
    ctx.record('pg-org-year', year / 1024 ** 2);
    ctx.fact(
      `Redis: ${fmt(keysPer)} bytes per delayed delivery (MEMORY USAGE of this run's keys, ${(
        redisAfter.count - redisBefore.count
      ).toLocaleString('en-GB')} keys more for ${SCHEDULED.toLocaleString('en-GB')} deliveries), ${fmt(
        usedPer,
      )} by INFO used_memory (the whole server, which other work shares). At 3,000 organisations each with a month of posts scheduled ahead (3 a day on 3 networks: 270 delayed deliveries each, 810,000 in all): ${fmt(
        mb(keysPer * 810_000),
      )} MB of Redis`,
    );
    ctx.fact(
      `PostgreSQL: ${fmt(perDelivery)} bytes per published delivery with its post, audit entries and share of the plan versions stored (tables, indexes and TOAST of the store's schema before and after the ${SCHEDULED.toLocaleString(
        'en-GB',
      )}, no vacuum between). An organisation-year taken as 3 posts a day on 3 networks = ${YEAR_DELIVERIES.toLocaleString(
        'en-GB',
      )} deliveries (each measured delivery is a post of its own, where a post on 3 networks shares one: an upper bound): ${fmt(
        mb(year),
      )} MB; 3,000 organisations: ${fmt(gb(year * 3000))} GB a year`,
    );
  } finally {
    redis.disconnect();
  }
}

export const regional: Benchmark = {
  name: 'regional',
  title: `Regional scale (${ORGS} organisations, one Redis, one PostgreSQL)`,
  figures: [
    ...SIZES.flatMap((n) => [
      {
        key: `tail-${n}`,
        label: `one CAP alert relayed by ${n} organisations (${2 * n} deliveries): last 202 → last landing`,
        unit: 'ms',
        ...(n === 300 ? { target: { op: '<=' as const, value: 1000 } } : {}),
      },
      {
        key: `org-p50-${n}`,
        label: `per organisation, its 202 → its last landing, p50, N = ${n}`,
        unit: 'ms',
      },
      {
        key: `org-p99-${n}`,
        label: `per organisation, its 202 → its last landing, p99, N = ${n}`,
        unit: 'ms',
      },
    ]),
    ...SIZES.flatMap((n) => {
      const b = Math.min(n, BSKY_ORGS);
      const d = 2 * n + b;
      return [
        {
          key: `bsky-tail-${n}`,
          label: `with Bluesky (real PDS) on ${b} of them (${d} deliveries): last 202 → last landing, N = ${n}`,
          unit: 'ms',
        },
        {
          key: `bsky-last-${n}`,
          label: `with Bluesky (real PDS): last 202 → last Bluesky delivery published, N = ${n}`,
          unit: 'ms',
        },
        {
          key: `bsky-org-p50-${n}`,
          label: `with Bluesky (real PDS): per organisation on Bluesky, its 202 → its last landing, p50, N = ${n}`,
          unit: 'ms',
        },
        {
          key: `bsky-org-p99-${n}`,
          label: `with Bluesky (real PDS): per organisation on Bluesky, its 202 → its last landing, p99, N = ${n}`,
          unit: 'ms',
        },
      ];
    }),
    {
      key: 'tail-cold',
      label: `last 202 → last landing, N = ${ORGS}, cold (the warm-up: plans read, connectors built; not counted)`,
      unit: 'ms',
    },
    {
      key: 'minute-p50',
      label: `${SCHEDULED.toLocaleString('en-GB')} posts due within one minute across ${ORGS} organisations: lag p50`,
      unit: 'ms',
    },
    { key: 'minute-p99', label: 'those posts: lag p99', unit: 'ms', target: { op: '<=', value: 1000 } },
    { key: 'minute-max', label: 'those posts: lag max', unit: 'ms' },
    { key: 'redis-per-delivery', label: 'Redis per delayed delivery (its keys)', unit: 'bytes' },
    { key: 'redis-used-per-delivery', label: 'Redis per delayed delivery (INFO used_memory)', unit: 'bytes' },
    {
      key: 'pg-org-year',
      label: 'PostgreSQL per organisation-year (3 posts a day × 3 networks)',
      unit: 'MB',
    },
    { key: 'rss-idle', label: 'worker RSS, just started', unit: 'MB' },
    {
      key: 'rss-loaded',
      label: `worker RSS, ${ORGS} organisations' connectors loaded`,
      unit: 'MB',
      target: { op: '<=', value: 200 },
    },
  ],
  async run(ctx) {
    const exit = await startExit('postgres');
    let worker: Service | undefined;
    let api: Awaited<ReturnType<typeof startApi>> | undefined;
    try {
      const { orgs, env } = await setUp(exit, ctx);
      const crisisSlots = process.env['BENCH_CRISIS_CONCURRENCY'];
      worker = await startWorker(exit, {
        concurrency: 64,
        networks: ['x', 'bluesky', 'mastodon'],
        env: { ...env, ...(crisisSlots ? { SUNSET_CRISIS_CONCURRENCY: crisisSlots } : {}) },
      });
      api = await startApi(exit);
      const w = worker;
      const a = api;
      const groups = {
        worker: () => [w.pid],
        api: () => [a.service.pid],
        postgres: () => pidsNamed('postgres'),
        redis: () => pidsNamed('redis-server'),
        // The PDS is this process's other child (its proxy runs in this process, under bench).
        pds: () => childrenOf(process.pid).filter((pid) => pid !== w.pid && pid !== a.service.pid),
        // The sandbox servers (and this loop watching them).
        bench: () => [process.pid],
      };
      await sleep(500);
      ctx.record('rss-idle', worker.rssMb());
      await settleRound(exit);
      const warm = await fanOut(exit, api.base, orgs, 'rw', groups);
      ctx.record('tail-cold', warm.tail);
      ctx.progress(
        `warm-up, N = ${ORGS}: accepted in ${fmt(warm.accepted)} ms, tail ${fmt(warm.tail)} ms, per organisation p50 ${fmt(
          percentile(warm.perOrg, 50),
        )} / p99 ${fmt(percentile(warm.perOrg, 99))} ms; with Bluesky: tail ${fmt(warm.bluesky?.tail ?? Number.NaN)} ms (${warm.bluesky?.retried ?? 0} createRecord retried); worker RSS ${fmt(worker.rssMb())} MB`,
      );
      if (warm.bluesky)
        ctx.fact(
          `warm-up, N = ${ORGS}, with Bluesky (real PDS; each organisation's first Bluesky post logs in): last 202 → last landing ${fmt(warm.bluesky.tail)} ms (cold, not counted)`,
        );
      const accepted = new Map<number, number[]>();
      const cpus = new Map<number, Record<string, number>[]>();
      let retried = 0;
      for (let run = 1; run <= ctx.runs; run++) {
        for (const n of SIZES) {
          await settleRound(exit);
          const r = await fanOut(exit, api.base, orgs.slice(0, n), `r${run}n${n}-`, groups);
          ctx.record(`tail-${n}`, r.tail);
          ctx.record(`org-p50-${n}`, percentile(r.perOrg, 50));
          ctx.record(`org-p99-${n}`, percentile(r.perOrg, 99));
          if (r.bluesky) {
            retried += r.bluesky.retried;
            ctx.record(`bsky-tail-${n}`, r.bluesky.tail);
            ctx.record(`bsky-last-${n}`, r.bluesky.last);
            ctx.record(`bsky-org-p50-${n}`, percentile(r.bluesky.perOrg, 50));
            ctx.record(`bsky-org-p99-${n}`, percentile(r.bluesky.perOrg, 99));
          }
          accepted.set(n, [...(accepted.get(n) ?? []), r.accepted]);
          cpus.set(n, [...(cpus.get(n) ?? []), r.cpu]);
          ctx.progress(
            `run ${run}, N = ${n}: ${n} alerts accepted in ${fmt(r.accepted)} ms, last 202 → last landing ${fmt(r.tail)} ms, per organisation p50 ${fmt(
              percentile(r.perOrg, 50),
            )} / p99 ${fmt(percentile(r.perOrg, 99))} ms${
              r.bluesky
                ? `; with Bluesky on ${r.bluesky.orgs} (${r.bluesky.retried} createRecord retried): tail ${fmt(r.bluesky.tail)} ms (last Bluesky ${fmt(r.bluesky.last)} ms), per organisation p50 ${fmt(
                    percentile(r.bluesky.perOrg, 50),
                  )} / p99 ${fmt(percentile(r.bluesky.perOrg, 99))} ms`
                : ''
            }`,
          );
        }
        ctx.record('rss-loaded', worker.rssMb());
      }
      ctx.fact(
        `first request → last 202 (all organisations POST at once), median of the rounds: ${SIZES.map(
          (n) => `N = ${n} ${fmt(percentile(accepted.get(n) ?? [], 50))} ms`,
        ).join(', ')}`,
      );
      for (const n of SIZES) {
        const c = cpuMedians(cpus.get(n) ?? []);
        ctx.fact(
          `N = ${n}: CPU per delivery (medians of the rounds, /proc, first request to last landing) ${cpuText(c)}; total ${fmt(
            Object.values(c).reduce((x, y) => x + y, 0),
          )} µs`,
        );
      }
      ctx.fact(
        `Bluesky (real PDS) on the first ${BSKY_ORGS} organisations only (a signup each costs the PDS a password hash and a repository: 300 took 63 s on this loaded machine); landing on Bluesky = the delivery's publishedAt in the store (the PDS had answered, on the worker's clock), exactly once = one post with the alert's ref in each repository; createRecord requests retried in the measured rounds: ${retried}`,
      );
      if (crisisSlots) ctx.fact(`SUNSET_CRISIS_CONCURRENCY=${crisisSlots} (BENCH_CRISIS_CONCURRENCY)`);
      await minute(exit, orgs, worker, ctx, groups);
      const verify = await exit.store.verifyAudit();
      check(verify.ok, `the audit chain is broken after the regional runs: ${JSON.stringify(verify)}`);
    } finally {
      await api?.service.stop();
      await worker?.stop();
      await exit.close();
    }
  },
};
