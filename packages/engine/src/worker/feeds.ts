/**
 * The CAP feed watcher: reads each feed of each organisation's applied plan at its interval,
 * through the guarded client (the feed's address is the plan's, its links the publisher's), with
 * the validators of the last answer, bounded in time and size, backing off after errors. Each
 * alert (sender, identifier) it has not seen is filtered by the feed's settings and, when kept,
 * becomes the very crisis the same CAP sent to the crisis endpoint makes (capAlertSubmission,
 * same key), waiting for approval or posted at once by the feed's mode. What was decided is kept
 * per feed, filtered-out alerts with the reason. A lease in the store lets one worker at a time
 * read a feed, however many run; each feed's read runs on its own, so one that stalls holds up
 * no other.
 */
import {
  awarenessOf,
  awarenessRank,
  capKey,
  capLanguages,
  charsetOf,
  chooseInfo,
  containsPoint,
  FEED_MAX_BYTES,
  parseCap,
  parseCapFeed,
  parsePoint,
  type CapAlert,
  type CapInfoBlock,
  type LatLon,
} from '@sunset/cap';
import type { Logger } from '@sunset/core';
import type { GuardedClient, GuardedResponse } from '@sunset/networks';
import { feedIntervalMs, type FeedDocument } from '@sunset/plan';
import type { Queues } from '@sunset/queue';
import type { CapFeedState, Store } from '@sunset/store';
import { capAlertSubmission, CapReferenceError } from '../outbox/cap.ts';
import { answeredPost } from '../outbox/compose.ts';
import { feedIdOf } from '../outbox/feeds.ts';
import { NoPlanError, type OrgSettingsCache } from '../outbox/org-settings.ts';
import { postIdForKey, submitPost } from '../outbox/posts.ts';

export interface FeedWatcherOptions {
  store: Store;
  queues: Queues;
  settings: OrgSettingsCache;
  client: GuardedClient;
  logger: Logger;
  /** This worker's name in the feeds' leases. */
  owner: string;
  /** How often the plans are looked at for feeds that are due (default 1 s). */
  tickMs?: number;
  /** Time limit of each read, the feed's or a CAP document's it links to (default 15 s). */
  timeoutMs?: number;
  /** The longest wait after errors (default 1 h). */
  maxBackoffMs?: number;
}

export interface FeedWatcher {
  /** Looks once for due feeds and starts reading them (the timer does this every tickMs). */
  tick(): Promise<void>;
  /** Stops looking and waits for the reads under way, each bounded by its time limit. */
  close(): Promise<void>;
}

/** CAP documents a feed's entries link to, read at most per poll: the rest wait for the next one. */
const MAX_LINKED_PER_POLL = 50;
const CAP_MAX_BYTES = 256 * 1024;
const SEVERITY_RANK: Record<string, number> = { Unknown: 0, Minor: 1, Moderate: 2, Severe: 3, Extreme: 4 };
const MSG_ORDER: Record<string, number> = { Alert: 0, Update: 1, Cancel: 2, Ack: 3, Error: 4 };
/** A validator a server sent, kept only when it can be sent back as a header as it is. */
const HEADER_VALUE = /^[\x20-\x7e]{1,256}$/;

class FeedReadError extends Error {}

/** A short message safe for the store and the API: never a body, never a stack. */
function describe(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer within the time limit';
    return err.message.slice(0, 500);
  }
  return String(err).slice(0, 500);
}

/** "Moderate thunderstorm warning" holds "thunderstorm"; case and punctuation do not count. */
function wordsOf(text: string): string {
  return ` ${text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()} `;
}

interface Decision {
  kept: boolean;
  reason: string;
  /** Kept as the follow-up of a crisis made from this feed or the endpoint. */
  followUp?: boolean;
  /** That crisis has not gone out: it awaits approval (the follow-up is then judged as an alert). */
  originalWaiting?: boolean;
}

/** What the list shows of an alert: from the block in the office's language, areas from all. */
function detailsOf(alert: CapAlert, info: CapInfoBlock | undefined): Record<string, unknown> {
  const awareness = info ? awarenessOf(info) : {};
  const geocodes = [...new Set(alert.infos.flatMap((i) => i.geocodes.map((g) => g.value)))];
  const areas = [...new Set(alert.infos.flatMap((i) => i.areas))];
  return {
    status: alert.status,
    ...(info
      ? {
          event: info.event,
          severity: info.severity,
          language: info.language,
          ...(info.headline ? { headline: info.headline } : {}),
          ...(info.expires ? { expires: info.expires } : {}),
        }
      : {}),
    ...(awareness.level ? { awarenessLevel: awareness.level.colour } : {}),
    ...(awareness.type ? { awarenessType: awareness.type.name } : {}),
    areas: areas.slice(0, 50),
    geocodes: geocodes.slice(0, 50),
  };
}

function listed(values: readonly string[]): string {
  return values.length > 8 ? `${values.slice(0, 8).join(', ')}…` : values.join(', ');
}

/** An area's name as compared: case, spacing and Unicode composition aside. */
function areaName(text: string): string {
  return text.normalize('NFC').trim().replace(/\s+/g, ' ').toLocaleLowerCase('und');
}

/**
 * Why an alert is outside the areas a feed watches, or undefined when one of its areas is
 * watched: an entry names one of its geocode values, or its areaDesc (case aside), or is a point
 * ("47.39,0.69") inside one of its polygons or circles.
 */
function outsideAreas(watched: readonly string[], infos: readonly CapInfoBlock[]): string | undefined {
  const codes = new Set(infos.flatMap((i) => i.geocodes.map((g) => g.value)));
  const names = [...new Set(infos.flatMap((i) => i.areas))];
  const shapes = infos.flatMap((i) => i.shapes);
  const points = watched.map(parsePoint).filter((p): p is LatLon => typeof p !== 'string');
  const named = new Set(names.map(areaName));
  if (watched.some((a) => codes.has(a) || named.has(areaName(a)))) return undefined;
  if (points.some((p) => shapes.some((shape) => containsPoint(shape, p)))) return undefined;
  const said = [
    ...(codes.size > 0 ? [`its geocodes: ${listed([...codes])}`] : []),
    ...(codes.size === 0 && names.length > 0 ? [`its areas: ${listed(names)}`] : []),
    ...(points.length > 0
      ? [
          shapes.length > 0
            ? 'none of its polygons and circles covers a point watched'
            : 'it draws no polygon or circle',
        ]
      : []),
  ];
  return said.length > 0
    ? `not in the areas watched (${said.join('; ')})`
    : 'the alert names no area: none of the areas watched';
}

/** Whether the feed's filters keep a new alert, and if not, why. */
function filter(feed: FeedDocument, alert: CapAlert): Decision {
  const infos = alert.infos;
  if (feed.areas) {
    const outside = outsideAreas(feed.areas, infos);
    if (outside !== undefined) return { kept: false, reason: outside };
  }
  if (feed.min_severity) {
    const top = Math.max(0, ...infos.map((i) => SEVERITY_RANK[i.severity] ?? 0));
    if (top < (SEVERITY_RANK[feed.min_severity] ?? 0)) {
      const severity = Object.keys(SEVERITY_RANK).find((k) => SEVERITY_RANK[k] === top) ?? 'Unknown';
      return { kept: false, reason: `severity ${severity}, below ${feed.min_severity}` };
    }
  }
  const awareness = infos.map((i) => awarenessOf(i));
  if (feed.awareness_levels) {
    const colours = [...new Set(awareness.flatMap((a) => (a.level ? [a.level.colour] : [])))];
    if (colours.length === 0) return { kept: false, reason: 'no MeteoAlarm awareness level' };
    if (!colours.some((c) => (feed.awareness_levels as readonly string[]).includes(c))) {
      return {
        kept: false,
        reason: `awareness level ${colours.join(', ')}, not one watched (${feed.awareness_levels.join(', ')})`,
      };
    }
  }
  if (feed.events) {
    const names = [
      ...infos.map((i) => i.event),
      ...awareness.flatMap((a) => (a.type ? [a.type.name] : [])),
    ].map(wordsOf);
    const wanted = feed.events.map(wordsOf);
    if (!names.some((name) => wanted.some((w) => name.includes(w)))) {
      return {
        kept: false,
        reason: `event ${listed([...new Set(infos.map((i) => i.event))])} is not one watched`,
      };
    }
  }
  return { kept: true, reason: 'kept' };
}

/** Whether an alert reaches the feed's post_at threshold (a severity or an awareness colour). */
function meetsThreshold(feed: FeedDocument, alert: CapAlert): boolean {
  const threshold = feed.post_at;
  if (threshold === undefined) return true;
  const colourRank = awarenessRank(threshold);
  if (colourRank > 0) {
    return alert.infos.some((i) => (awarenessOf(i).level?.rank ?? 0) >= colourRank);
  }
  return alert.infos.some((i) => (SEVERITY_RANK[i.severity] ?? 0) >= (SEVERITY_RANK[threshold] ?? 0));
}

export function startFeedWatcher(options: FeedWatcherOptions): FeedWatcher {
  const { store, settings, client } = options;
  const log = options.logger.child({ subsystem: 'feeds' });
  const tickMs = options.tickMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const maxBackoffMs = options.maxBackoffMs ?? 3_600_000;
  // A read is bounded as a whole (the feed and the documents it links to): the lease outlasts it.
  const pollLimitMs = timeoutMs * 3;
  const leaseMs = pollLimitMs + 5_000;
  const running = new Map<string, Promise<void>>();
  /** When this process last saw each feed due next: no claim asked of the store before then. */
  const notBefore = new Map<string, number>();
  const stopping = new AbortController();

  const read = (url: string, accept: string, maxBytes: number, signal: AbortSignal, state?: CapFeedState) =>
    client.get(url, {
      accept,
      timeoutMs,
      maxBytes,
      signal,
      ...(state?.etag ? { ifNoneMatch: state.etag } : {}),
      ...(state?.lastModified ? { ifModifiedSince: state.lastModified } : {}),
    });

  /**
   * Linked CAP documents already read and decided, per feed, by address and the entry's date: an
   * entry that does not name its alert (RSS items, Atom entries without cap: elements) is not read
   * again at each poll, so that a feed of more than MAX_LINKED_PER_POLL such entries gets through
   * all of them. Only entries still in the feed are kept.
   */
  const linksRead = new Map<string, Set<string>>();

  /**
   * The alerts of a feed's answer (read by its Content-Type's charset when it declares no
   * encoding, its links resolved against the address that answered), by (sender, identifier),
   * linked documents read as needed.
   */
  const alertsOf = async (
    organisationId: string,
    feedId: string,
    res: GuardedResponse,
    signal: AbortSignal,
    problems: string[],
    links: { known: ReadonlySet<string>; listed: Set<string>; read: string[]; unread: boolean; cut: boolean },
  ): Promise<CapAlert[]> => {
    const feed = parseCapFeed(res.body, {
      base: res.url,
      charset: charsetOf(res.headers.get('content-type')),
    });
    if (feed.kind === 'cap') return [feed.alert];
    const alerts = new Map<string, CapAlert>();
    const add = (alert: CapAlert) => alerts.set(`${alert.sender}\n${alert.identifier}`, alert);
    const linked = new Set<string>();
    for (const entry of feed.entries) {
      if (entry.alert) add(entry.alert);
      else if (entry.capUrl) {
        // An entry that names an alert already decided needs no read of its document.
        if (entry.sender && entry.identifier) {
          if (alerts.has(`${entry.sender}\n${entry.identifier}`)) continue;
          if (await store.feeds.alert(organisationId, feedId, entry.sender, entry.identifier)) continue;
        }
        const link = `${entry.capUrl}\n${entry.updated ?? ''}`;
        links.listed.add(link);
        if (links.known.has(link) || linked.has(entry.capUrl)) continue;
        if (linked.size >= MAX_LINKED_PER_POLL) {
          problems.push(`more than ${MAX_LINKED_PER_POLL} CAP documents linked: the rest at the next read`);
          links.unread = true;
          links.cut = true;
          break;
        }
        linked.add(entry.capUrl);
        try {
          const res = await read(entry.capUrl, 'application/cap+xml, application/xml', CAP_MAX_BYTES, signal);
          if (res.status < 200 || res.status > 299) throw new FeedReadError(`HTTP ${res.status}`);
          add(parseCap(res.body, { charset: charsetOf(res.headers.get('content-type')) }));
          links.read.push(link);
        } catch (err) {
          if (signal.aborted) throw err;
          problems.push(`${entry.id ?? entry.capUrl}: ${describe(err)}`);
          links.unread = true;
        }
      } else if (entry.problem) {
        problems.push(`${entry.id ?? 'an entry'}: ${entry.problem}`);
      }
    }
    return [...alerts.values()].sort(
      (a, b) =>
        Date.parse(a.sent) - Date.parse(b.sent) || (MSG_ORDER[a.msgType] ?? 9) - (MSG_ORDER[b.msgType] ?? 9),
    );
  };

  /** Decides one new alert, makes its crisis when kept, and records it. */
  const handle = async (organisationId: string, feedId: string, feed: FeedDocument, alert: CapAlert) => {
    const org = await settings.get(organisationId);
    const document = org.document;
    const languages = capLanguages(document.organisation.locale, document.crisis?.cap?.languages);
    const info = chooseInfo(alert, languages)?.info;
    const details = detailsOf(alert, info);
    const record = (decision: Decision, postId?: string) =>
      store.feeds.recordAlert({
        organisationId,
        feedId,
        sender: alert.sender,
        identifier: alert.identifier,
        sent: alert.sent,
        msgType: alert.msgType,
        details,
        kept: decision.kept,
        reason: decision.reason,
        ...(postId ? { postId } : {}),
      });
    const actor = `feed:${feedId}`;
    const refused = async (reason: string) => {
      await record({ kept: false, reason });
      await store.audit.append({
        organisationId,
        actor,
        action: 'crisis.feed-filtered',
        outcome: 'ok',
        details: { feed: feed.url, cap: capKey(alert), msgType: alert.msgType, reason },
      });
    };

    if (alert.status !== 'Actual') return refused(`status ${alert.status}: not for the public`);
    if (alert.msgType === 'Ack' || alert.msgType === 'Error') {
      return refused(`a CAP ${alert.msgType}: meant for the alerting system, not the public`);
    }
    const expires = info?.expires;
    if (expires !== undefined && Date.parse(expires) <= Date.now()) {
      return refused(`expired at ${expires}: recorded, not posted`);
    }
    // A follow-up of an alert already made a crisis ends or changes that crisis: it is kept
    // whatever the filters say (an all-clear is often less severe than its alert).
    // The newest one it references, as capAlertSubmission threads it.
    const original = await (async () => {
      for (const ref of [...alert.references].reverse()) {
        const id = postIdForKey('cap', organisationId, `cap:${capKey(ref)}`);
        const answered = await answeredPost(store, organisationId, id);
        if (answered) return { ref, waiting: answered.awaitingApproval };
      }
      return undefined;
    })();
    let decision: Decision;
    if (original) {
      decision = {
        kept: true,
        reason: `follows up ${original.ref.identifier}`,
        followUp: true,
        originalWaiting: original.waiting,
      };
    } else if (alert.msgType === 'Cancel') return refused('cancels an alert that was not kept here');
    else decision = filter(feed, alert);
    if (!decision.kept) return refused(decision.reason);

    const mode = feed.mode ?? 'approve';
    // A follow-up goes out with the crisis it follows; one whose crisis still awaits approval
    // replaces it, and is posted at once only as a new alert would be.
    const posted =
      mode === 'post' &&
      ((decision.followUp === true && decision.originalWaiting !== true) || meetsThreshold(feed, alert));
    let input;
    try {
      input = await capAlertSubmission(store, alert, document, {
        organisationId,
        actor,
        person: `CAP feed ${new URL(feed.url).host}`,
      });
    } catch (err) {
      if (err instanceof CapReferenceError) return refused(err.message);
      throw err;
    }
    const result = await submitPost(
      { store, queues: options.queues, settings },
      { ...input, ...(posted ? {} : { awaitApproval: true }) },
    );
    const state =
      result.state === 'awaiting-approval'
        ? 'awaiting approval'
        : result.state === 'recorded'
          ? 'recorded, not posted'
          : 'posted';
    await record({ kept: true, reason: `${decision.reason}: ${state}` }, result.postId);
  };

  const poll = async (organisationId: string, feed: FeedDocument, state: CapFeedState) => {
    const feedId = state.feedId;
    const interval = feedIntervalMs(feed.interval) ?? 300_000;
    const feedLog = log.child({ organisationId, feedId });
    const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(pollLimitMs)]);
    const finish = async (outcome: Parameters<Store['feeds']['finish']>[3]) => {
      notBefore.set(`${organisationId}/${feedId}`, outcome.nextPollAt.getTime());
      await store.feeds.finish(organisationId, feedId, options.owner, outcome);
    };
    try {
      const res = await read(
        feed.url,
        'application/atom+xml, application/rss+xml, application/cap+xml, application/xml;q=0.9, */*;q=0.1',
        FEED_MAX_BYTES,
        signal,
        state,
      );
      if (res.status === 304) {
        await finish({ status: 'not-modified', errors: 0, nextPollAt: new Date(Date.now() + interval) });
        return;
      }
      if (res.status < 200 || res.status > 299) throw new FeedReadError(`HTTP ${res.status}`);
      const problems: string[] = [];
      const feedKey = `${organisationId}/${feedId}`;
      const links = {
        known: linksRead.get(feedKey) ?? new Set<string>(),
        listed: new Set<string>(),
        read: [] as string[],
        unread: false,
        cut: false,
      };
      const alerts = await alertsOf(organisationId, feedId, res, signal, problems, links);
      for (const alert of alerts) {
        if (await store.feeds.alert(organisationId, feedId, alert.sender, alert.identifier)) continue;
        await handle(organisationId, feedId, feed, alert);
      }
      // Every alert read is decided and recorded: its document need not be read again.
      // Entries past a cut were not looked at: what is known of them stays.
      const kept = links.cut ? [...links.known] : [...links.known].filter((l) => links.listed.has(l));
      linksRead.set(feedKey, new Set(kept.concat(links.read)));
      if (problems.length > 0) feedLog.warn({ problems: problems.slice(0, 5) }, 'feed entries left out');
      // A linked document left unread (the cut, a failed read) is read at the next poll: the feed
      // is then asked for in full, not answered 304 until it changes.
      const etag = links.unread ? undefined : (res.headers.get('etag') ?? undefined);
      const lastModified = links.unread ? undefined : (res.headers.get('last-modified') ?? undefined);
      await finish({
        status: 'ok',
        ...(etag && HEADER_VALUE.test(etag) ? { etag } : {}),
        ...(lastModified && HEADER_VALUE.test(lastModified) ? { lastModified } : {}),
        ...(problems.length > 0
          ? { error: `${problems.length} entries left out: ${problems.slice(0, 3).join('; ')}` }
          : {}),
        errors: 0,
        nextPollAt: new Date(Date.now() + interval),
      });
    } catch (err) {
      const errors = state.errors + 1;
      const waitMs = Math.min(maxBackoffMs, interval * 2 ** Math.min(errors, 20));
      const message = describe(err);
      feedLog.warn({ err: message, errors, waitMs }, 'feed read failed; backing off');
      await finish({
        status: 'error',
        error: message,
        errors,
        nextPollAt: new Date(Date.now() + waitMs),
      }).catch((e: unknown) => feedLog.error({ err: describe(e) }, 'feed state not recorded'));
    }
  };

  const tick = async () => {
    // Every organisation's latest plan version in one statement (not one per organisation each
    // tick); only a version not parsed yet costs a read of its own.
    const { versions, at } = await settings.latestOfAll();
    for (const [organisationId, version] of versions) {
      let feeds: readonly FeedDocument[];
      try {
        feeds = (await settings.ofLatest(organisationId, version, at)).document.crisis?.feeds ?? [];
      } catch (err) {
        if (err instanceof NoPlanError) continue;
        throw err;
      }
      for (const feed of feeds) {
        const feedId = feedIdOf(feed.url);
        const key = `${organisationId}/${feedId}`;
        if (running.has(key) || (notBefore.get(key) ?? 0) > Date.now()) continue;
        const state = await store.feeds.claim({
          organisationId,
          feedId,
          url: feed.url,
          owner: options.owner,
          leaseMs,
        });
        if (!state) {
          // Another worker holds it or it is not due: look again after a while, not every tick.
          notBefore.set(key, Date.now() + Math.min(leaseMs, 5 * tickMs));
          continue;
        }
        const reading = poll(organisationId, feed, state)
          .catch((err: unknown) => log.error({ err: describe(err), feedId }, 'feed read failed'))
          .finally(() => running.delete(key));
        running.set(key, reading);
      }
    }
  };

  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    tick()
      .catch((err: unknown) =>
        log.warn({ err: describe(err) }, 'feed look-up failed; next one at the next tick'),
      )
      .finally(() => {
        ticking = false;
      });
  }, tickMs);
  timer.unref();

  return {
    tick,
    async close() {
      clearInterval(timer);
      stopping.abort();
      await Promise.allSettled([...running.values()]);
    },
  };
}
