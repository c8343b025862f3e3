/**
 * The watch: what the worker looks at on its own, per organisation with an applied plan. Each
 * account's follower count on each network, at its interval (X only while the month's budget
 * keeps its crisis reserve: a user read is billed), kept as history; and the identity checks,
 * daily: the Bluesky handle's domain proof, the Mastodon profile's verified links and the
 * dormant X profile read against what the plan set. A failed check is told to the team. Each
 * task has a lease in the store, so one worker at a time runs it however many run.
 */
import { createHash } from 'node:crypto';
import type { Resolver as DnsResolver } from 'node:dns/promises';
import { NETWORKS, type Logger, type Network } from '@sunset/core';
import {
  checkIdentity,
  type Connector,
  type GuardedClient,
  type IdentityResult,
  type NetworkRead,
  type Profile,
} from '@sunset/networks';
import type { Queues } from '@sunset/queue';
import type { Store } from '@sunset/store';
import { costOf, DEFAULT_X_PRICES, formatUsd, usdToMicros, type XPriceTable } from '@sunset/text';
import { notify } from '../outbox/notifications.ts';
import { NoPlanError, type OrgSettings, type OrgSettingsCache } from '../outbox/org-settings.ts';
import { monthStart, xPauseOf } from '../outbox/x-economy.ts';
import type { ConnectorRegistry } from './connectors.ts';

/** How often follower counts are read by default: X's reads are billed, the others' are not. */
export const DEFAULT_FOLLOWER_INTERVALS_MS: Readonly<Record<Network, number>> = {
  x: 24 * 3600_000,
  bluesky: 3600_000,
  mastodon: 3600_000,
};
export const DEFAULT_IDENTITY_INTERVAL_MS = 24 * 3600_000;

export interface WatchOptions {
  store: Store;
  settings: OrgSettingsCache;
  connectors: ConnectorRegistry;
  /** Where failed identity checks are told (the notifications' queue). */
  queues?: Queues;
  logger: Logger;
  /** This worker's name in the tasks' leases. */
  owner: string;
  /** How often the organisations are looked at for tasks that are due (default 60 s). */
  tickMs?: number;
  followerIntervalsMs?: Partial<Record<Network, number>>;
  /** The identity checks' resolver and client, or false: this worker runs none. */
  identity:
    | false
    | {
        intervalMs?: number;
        dns: Pick<DnsResolver, 'resolveTxt'>;
        client: GuardedClient;
      };
  xPrices?: XPriceTable;
  /**
   * Awaited before each task is claimed: the worker makes its tasks wait there while crisis jobs
   * run (a new organisation's identity check builds its connectors and reads its pages).
   */
  giveWay?: () => Promise<void>;
}

export interface Watch {
  /** Looks once for due tasks and runs them (the timer does this every tickMs). */
  tick(): Promise<void>;
  close(): Promise<void>;
}

/** A task's lease: longer than any run, which is bounded by the connectors' time limits. */
const LEASE_MS = 5 * 60_000;
/** After an error a task is tried again after this long at most. */
const RETRY_MS = 15 * 60_000;
const IMAGES_KEY = 'identity.x-images';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

class SkippedError extends Error {}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}

/**
 * Why a billed X user read must not be made now, or undefined: X paused, or the read would dip
 * into the month's crisis reserve (the same rule as an ordinary post's).
 */
export async function xReadRefusal(
  store: Store,
  settings: OrgSettings,
  prices: XPriceTable,
  now: Date,
): Promise<string | undefined> {
  const organisationId = settings.organisationId;
  const pause = await xPauseOf(store, organisationId);
  if (pause) return `X is paused since ${pause.since}: ${pause.reason}`;
  const budget = settings.document.networks.x?.budget;
  if (!budget) return undefined;
  const cost = costOf({ kind: 'read_user' }, prices);
  const spent = await store.xSpend.spentSince(organisationId, monthStart(now));
  const monthly = usdToMicros(budget.monthly);
  const reserve = usdToMicros(budget.crisis_reserve);
  if (spent + cost > monthly - reserve) {
    return (
      `not read: a user read costs ${formatUsd(cost)} and would dip into the crisis reserve ` +
      `(${formatUsd(spent)} of the ${formatUsd(monthly)} monthly budget spent, ${formatUsd(reserve)} kept for crises)`
    );
  }
  return undefined;
}

/** Records what X billed for the reads a call made. */
async function chargeReads(store: Store, organisationId: string, reads: NetworkRead[], prices: XPriceTable) {
  for (const read of reads) {
    await store.xSpend.record({
      organisationId,
      kind: read.kind,
      count: read.count,
      costMicros: costOf(
        read.kind === 'read_user'
          ? { kind: 'read_user', count: read.count }
          : { kind: 'read_post', count: read.count },
        prices,
      ),
      crisis: false,
    });
  }
}

type Texts = Partial<Record<'name' | 'bio' | 'url' | 'location', string>>;

/**
 * The dormant X profile against what the plan's dormant_profile set, once its step has run:
 * texts as the plan has them, images by hash against those read by the first check after the
 * step (X re-encodes what it is sent, so the uploaded file's hash never matches what it serves).
 * Undefined while the step has not run: there is nothing to compare yet.
 */
export async function xProfileCheck(
  store: Store,
  settings: OrgSettings,
  connector: Connector,
  prices: XPriceTable,
): Promise<IdentityResult | undefined> {
  const organisationId = settings.organisationId;
  const handle = settings.document.networks.x?.account ?? 'X';
  const subject = handle.startsWith('@') ? handle : `@${handle}`;
  const step = (await store.deliveries.list({ organisationId }))
    .filter((d) => d.kind === 'profile' && d.network === 'x' && d.status === 'published')
    .sort((a, b) => b.dueAt.getTime() - a.dueAt.getTime())[0];
  if (!step || step.kind !== 'profile') return undefined;
  const result = (status: IdentityResult['status'], message: string): IdentityResult => ({
    check: 'x-profile',
    subject,
    status,
    message,
  });
  const refusal = await xReadRefusal(store, settings, prices, new Date());
  if (refusal) return result('unknown', `the dormant X profile was ${refusal}`);
  let profile: Profile;
  try {
    profile = await connector.getProfile();
  } catch (err) {
    return result('unknown', `the X profile cannot be read (${describe(err)})`);
  } finally {
    // The read is billed once X has answered, whether or not an image download failed after it.
    await chargeReads(store, organisationId, [{ kind: 'read_user', count: 1 }], prices);
  }
  const spec = step.payload.profile;
  const expected: Texts = {
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    ...(spec.bio !== undefined ? { bio: spec.bio } : {}),
    ...(spec.url !== undefined ? { url: spec.url } : {}),
    ...(spec.location !== undefined ? { location: spec.location } : {}),
  };
  const drift: string[] = [];
  for (const [field, want] of Object.entries(expected) as [keyof Texts, string][]) {
    const have = profile[field] ?? '';
    if (have.trim() !== want.trim()) drift.push(`${field} reads "${have}", the plan set "${want}"`);
  }
  const images: Record<'avatar' | 'banner', string | undefined> = {
    avatar: profile.avatar?.data ? sha256(profile.avatar.data) : undefined,
    banner: profile.banner?.data ? sha256(profile.banner.data) : undefined,
  };
  const raw = await store.kv.get(organisationId, IMAGES_KEY);
  const known = raw ? (JSON.parse(raw) as { step: string; avatar?: string; banner?: string }) : undefined;
  if (known && known.step === step.id) {
    for (const slot of ['avatar', 'banner'] as const) {
      if (known[slot] !== images[slot]) {
        drift.push(
          `the ${slot === 'avatar' ? 'profile picture' : 'banner'} is not the one read after the dormant profile was set` +
            ` (sha256 ${images[slot]?.slice(0, 12) ?? 'none'}…, was ${known[slot]?.slice(0, 12) ?? 'none'}…)`,
        );
      }
    }
  }
  if (drift.length > 0) {
    return result(
      'failed',
      `the dormant X profile has changed since the plan set it: ${drift.join('; ')}. Someone else may control the account: check its password and sessions`,
    );
  }
  if (!known || known.step !== step.id) {
    await store.kv.set(organisationId, IMAGES_KEY, JSON.stringify({ step: step.id, ...images }));
    return result(
      'ok',
      'the dormant X profile reads as the plan set it; its images are kept to compare from now on',
    );
  }
  return result('ok', 'the dormant X profile reads as the plan set it, images included');
}

export function startWatch(options: WatchOptions): Watch {
  const { store, settings, connectors } = options;
  const log = options.logger.child({ subsystem: 'watch' });
  const prices = options.xPrices ?? DEFAULT_X_PRICES;
  const tickMs = options.tickMs ?? 60_000;
  const intervals = { ...DEFAULT_FOLLOWER_INTERVALS_MS, ...options.followerIntervalsMs };
  const running = new Map<string, Promise<void>>();
  /** When this process last saw each task due next: no claim asked of the store before then. */
  const notBefore = new Map<string, number>();

  const finish = async (org: string, task: string, status: string, nextAt: Date, message?: string) => {
    notBefore.set(`${org}/${task}`, nextAt.getTime());
    await store.watch.finish(org, task, options.owner, {
      status,
      nextAt,
      ...(message ? { message } : {}),
    });
  };

  const readFollowers = async (org: OrgSettings, network: Network) => {
    const organisationId = org.organisationId;
    const task = `followers:${network}`;
    const interval = intervals[network];
    try {
      if (network === 'x') {
        const refusal = await xReadRefusal(store, org, prices, new Date());
        if (refusal) throw new SkippedError(refusal);
      }
      const connector = await connectors.get(org, network);
      const reads: NetworkRead[] = [];
      let count: number;
      try {
        count = await connector.followers({ onRead: (r) => reads.push(r) });
      } finally {
        await chargeReads(store, organisationId, reads, prices);
      }
      await store.watch.recordFollowers({ organisationId, network, count });
      log.debug({ organisationId, network, count }, 'follower count read');
      await finish(organisationId, task, 'ok', new Date(Date.now() + interval));
    } catch (err) {
      const skipped = err instanceof SkippedError;
      if (!skipped) log.warn({ organisationId, network, err: describe(err) }, 'follower count not read');
      await finish(
        organisationId,
        task,
        skipped ? 'skipped' : 'error',
        new Date(Date.now() + (skipped ? interval : Math.min(interval, RETRY_MS))),
        describe(err),
      ).catch((e: unknown) => log.error({ err: describe(e) }, 'watch task outcome not recorded'));
    }
  };

  const runIdentity = async (org: OrgSettings) => {
    const identity = options.identity;
    if (!identity) return;
    const organisationId = org.organisationId;
    const interval = identity.intervalMs ?? DEFAULT_IDENTITY_INTERVAL_MS;
    try {
      const results = await checkIdentity(org.document, { dns: identity.dns, client: identity.client });
      if (org.document.networks.x) {
        const x = await xProfileCheck(store, org, await connectors.get(org, 'x'), prices).catch(
          (err: unknown): IdentityResult => ({
            check: 'x-profile',
            subject: org.document.networks.x?.account ?? 'X',
            status: 'unknown',
            message: `the X profile cannot be checked (${describe(err)})`,
          }),
        );
        if (x) results.push(x);
      }
      const failed = results.filter((r) => r.status === 'failed');
      const run = await store.watch.recordIdentityCheck({
        organisationId,
        failed: failed.length,
        results: results.map((r) => ({ ...r })),
      });
      await store.audit.append({
        organisationId,
        actor: 'system',
        action: 'identity.checked',
        outcome: failed.length > 0 ? 'error' : 'ok',
        details: {
          checks: results.length,
          failed: failed.map((r) => ({ check: r.check, subject: r.subject, message: r.message })),
        },
      });
      if (failed.length > 0) {
        log.warn({ organisationId, failed: failed.length }, 'identity checks failed');
        await notify(
          options.queues,
          { organisationId, event: 'identity.check-failed', key: String(run.at.getTime()) },
          log,
        );
      }
      await finish(
        organisationId,
        'identity',
        failed.length > 0 ? 'failed' : 'ok',
        new Date(Date.now() + interval),
        failed.length > 0 ? `${failed.length} of ${results.length} checks failed` : undefined,
      );
    } catch (err) {
      log.warn({ organisationId, err: describe(err) }, 'identity checks not run');
      await finish(
        organisationId,
        'identity',
        'error',
        new Date(Date.now() + Math.min(interval, RETRY_MS)),
        describe(err),
      ).catch((e: unknown) => log.error({ err: describe(e) }, 'watch task outcome not recorded'));
    }
  };

  const start = async (org: OrgSettings, task: string, run: () => Promise<void>) => {
    const key = `${org.organisationId}/${task}`;
    if (running.has(key) || (notBefore.get(key) ?? 0) > Date.now()) return;
    await options.giveWay?.();
    if (closing) return;
    const claimed = await store.watch.claim({
      organisationId: org.organisationId,
      task,
      owner: options.owner,
      leaseMs: LEASE_MS,
    });
    if (!claimed) {
      // Another worker holds it or it is not due: look again after a while, not every tick.
      notBefore.set(key, Date.now() + Math.min(LEASE_MS, 5 * tickMs));
      return;
    }
    const job = run().finally(() => running.delete(key));
    running.set(key, job);
  };

  const tick = async () => {
    for (const { id } of await store.organisations.list()) {
      if (closing) return;
      let org: OrgSettings;
      try {
        org = await settings.get(id);
      } catch (err) {
        if (err instanceof NoPlanError) continue;
        throw err;
      }
      for (const network of NETWORKS) {
        if (!org.document.networks[network]) continue;
        await start(org, `followers:${network}`, () => readFollowers(org, network));
      }
      if (options.identity) await start(org, 'identity', () => runIdentity(org));
    }
  };

  let ticking = false;
  // Set by close: a tick waiting to give way starts nothing after it.
  let closing = false;
  const look = () => {
    if (ticking) return;
    ticking = true;
    tick()
      .catch((err: unknown) =>
        log.warn({ err: describe(err) }, 'watch look-up failed; next one at the next tick'),
      )
      .finally(() => {
        ticking = false;
      });
  };
  const timer = setInterval(look, tickMs);
  timer.unref();
  // The first look at start, not a tick later.
  const first = setTimeout(look, 0);

  return {
    tick,
    async close() {
      closing = true;
      clearInterval(timer);
      clearTimeout(first);
      await Promise.allSettled([...running.values()]);
    },
  };
}
