/**
 * Applying a plan: compile it, compare with what the store holds for the organisation, and in
 * one transaction add, replace or cancel deliveries and record the new version with its audit
 * entry. Redis is told afterwards; if it is away, the store stays right and the worker's
 * reconciler enqueues what is missing when it next runs.
 *
 * Over 500 lines on purpose: the wanted deliveries, the diff and the write share one set of rules
 * for what may still change (queued only, a started thread only by appending), read best together.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Network } from '@sunset/core';
import {
  compile,
  isPlanSettings,
  PlanSource,
  type Action,
  type Diagnostic,
  type CompiledImageSpec,
  type Plan,
  type PlanDocument,
  type PostAction,
} from '@sunset/plan';
import {
  jobIdFor,
  laneOf,
  nextJobId,
  PRIORITY,
  type DeliveryJobSpec,
  type Lane,
  type Queues,
} from '@sunset/queue';
import type {
  DeliveryHead,
  DeliveryKind,
  DeliveryPart,
  DeliveryStatus,
  NewDelivery,
  Repositories,
  Store,
} from '@sunset/store';

export type DiffMark = '+' | '~' | '-' | '=' | '✓';

export interface DiffEntry {
  mark: DiffMark;
  deliveryId: string;
  actionKey: string;
  kind: DeliveryKind;
  network: Network;
  postId?: string;
  /** ISO 8601 UTC. */
  dueAt: string;
  parts: number;
  /** The delivery's status in the store (for ✓ and =). */
  status?: DeliveryStatus;
  /** Why, where the mark alone does not say (✓ of a changed post, ~ of a failed one). */
  reason?: string;
}

export type DiffCounts = Record<DiffMark, number>;

export interface ApplyResult {
  organisationId: string;
  /** The version recorded, or undefined when nothing changed (or on a dry run). */
  version?: number;
  /** The YAML differs from the last applied version. */
  planChanged: boolean;
  dryRun: boolean;
  diff: DiffEntry[];
  counts: DiffCounts;
  /** Set when the store was updated but Redis could not be told (the reconciler will). */
  queueError?: string;
  /** What the change does beyond its deliveries, for a person to know before it happens. */
  warnings?: Diagnostic[];
}

export interface ApplyOptions {
  store: Store;
  /** Without queues (or on a dry run) only the store changes; the worker's reconciler enqueues. */
  queues?: Queues;
  plan: Plan;
  /** `cli:<user>`, `token:<name>`. */
  actor: string;
  requestId?: string;
  dryRun?: boolean;
}

/** A delivery as the plan wants it, before it meets the store. */
interface Wanted {
  delivery: Omit<NewDelivery, 'jobId'>;
  images: { sha256: string; file: string; mediaType: string }[];
}

const MARKS: DiffMark[] = ['+', '~', '-', '=', '✓'];

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The plan's image specs without local paths: the worker reads bytes from the store's blobs. */
function portableImage(spec: CompiledImageSpec): unknown {
  return spec.kind === 'file' ? { kind: 'file', sha256: spec.sha256, mediaType: spec.mediaType } : spec;
}

/** Groups the compiled actions into deliveries: one per post per network, one per profile, one for the policy. */
export function wantedDeliveries(plan: Plan): Wanted[] {
  const compiled = compile(plan);
  const org = compiled.organisationId;
  const out: Wanted[] = [];
  const posts = new Map<string, PostAction[]>();
  for (const action of compiled.actions) {
    if (action.kind === 'post') {
      const key = `post.${action.postId}.${action.network}`;
      const list = posts.get(key) ?? [];
      list.push(action);
      posts.set(key, list);
    }
  }
  const seen = new Set<string>();
  for (const action of compiled.actions) {
    const base = (actionKey: string, kind: DeliveryKind, network: Network, a: Action) => ({
      id: `${org}.${actionKey}`,
      organisationId: org,
      actionKey,
      kind,
      source: 'plan' as const,
      network,
      dueAt: a.at,
      priority: PRIORITY.plan,
    });
    if (action.kind === 'post') {
      const key = `post.${action.postId}.${action.network}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const parts = (posts.get(key) ?? []).sort((a, b) => a.part - b.part);
      out.push({
        delivery: {
          ...base(key, 'post', action.network, action),
          postId: action.postId,
          // canonicalJson of a list of strings is its JSON.
          contentHash: sha256(JSON.stringify(parts.map((p) => p.contentHash))),
          parts: parts.map((p) => ({
            part: p.part,
            text: p.text,
            language: p.language,
            images: p.images.map((im) => ({ sha256: im.sha256, mediaType: im.mediaType, alt: im.alt })),
          })),
        },
        images: parts.flatMap((p) =>
          p.images.map((im) => ({ sha256: im.sha256, file: im.file, mediaType: im.mediaType })),
        ),
      });
    } else if (action.kind === 'profile') {
      const files = [action.profile.banner, action.profile.avatar].flatMap((s) =>
        s.kind === 'file' ? [{ sha256: s.sha256, file: s.file, mediaType: s.mediaType }] : [],
      );
      out.push({
        delivery: {
          ...base(action.id, 'profile', action.network, action),
          contentHash: action.contentHash,
          payload: {
            profile: {
              ...action.profile,
              banner: portableImage(action.profile.banner),
              avatar: portableImage(action.profile.avatar),
            },
          },
          parts: [],
        },
        images: files,
      });
    } else if (action.kind === 'audience') {
      out.push({
        delivery: {
          ...base(action.id, 'audience', action.network, action),
          contentHash: action.contentHash,
          payload: action.audience,
          parts: [],
        },
        images: [],
      });
    } else {
      out.push({
        delivery: {
          ...base(action.id, 'policy', action.network, action),
          contentHash: action.contentHash,
          payload: { mode: action.mode, checklist: action.checklist },
          parts: [],
        },
        images: [],
      });
    }
  }
  return out;
}

type EntrySubject = Pick<DeliveryHead, 'id' | 'actionKey' | 'kind' | 'network' | 'postId' | 'dueAt'>;

/** A diff entry of what the plan wants (its parts as compiled). */
function wantedEntry(mark: DiffMark, w: Wanted, extra: Partial<DiffEntry> = {}): DiffEntry {
  return entry(mark, w.delivery, w.delivery.parts.length, extra);
}

/** A diff entry of what the store holds. */
function storedEntry(mark: DiffMark, d: DeliveryHead, extra: Partial<DiffEntry> = {}): DiffEntry {
  return entry(mark, d, d.partCount, extra);
}

function entry(mark: DiffMark, d: EntrySubject, parts: number, extra: Partial<DiffEntry>): DiffEntry {
  return {
    mark,
    deliveryId: d.id,
    actionKey: d.actionKey,
    kind: d.kind,
    network: d.network,
    ...(d.postId !== undefined ? { postId: d.postId } : {}),
    dueAt: d.dueAt.toISOString(),
    parts,
    ...extra,
  };
}

interface Plan2Store {
  diff: DiffEntry[];
  add: Wanted[];
  /** Existing rows to bring back or replace, with the wanted content. */
  replace: { current: DeliveryHead; wanted: Wanted }[];
  cancel: DeliveryHead[];
}

/** The statuses whose deliveries a re-apply rewrites (`sending` ones are left to their worker). */
export const REWRITTEN: readonly DeliveryStatus[] = ['queued', 'failed', 'cancelled'];

/** A post a re-apply may rewrite that has parts on the network, or maybe on X (outcome unknown). */
export function started(d: DeliveryHead): boolean {
  return d.kind === 'post' && REWRITTEN.includes(d.status) && d.landedParts + d.unknownParts > 0;
}

/**
 * The parts of the deliveries that `planDiff` needs to compare part by part (those `started`),
 * read in the caller's transaction.
 */
export async function startedParts(
  repos: Pick<Repositories, 'deliveries'>,
  existing: readonly DeliveryHead[],
): Promise<Map<string, DeliveryPart[]>> {
  const out = new Map<string, DeliveryPart[]>();
  for (const d of existing.filter(started)) {
    const full = await repos.deliveries.get(d.id);
    if (full) out.set(d.id, full.parts);
  }
  return out;
}

function sameImages(
  a: readonly { sha256: string; alt?: string }[],
  b: readonly { sha256: string; alt?: string }[],
) {
  return (
    a.length === b.length &&
    a.every((im, i) => im.sha256 === b[i]?.sha256 && (im.alt ?? '') === (b[i]?.alt ?? ''))
  );
}

/**
 * Why a changed thread is left as it began, or undefined when the change may go ahead. Parts on
 * the network (or maybe on X: outcome unknown) cannot be taken back, so a thread takes the new
 * content only when it begins with exactly those parts; otherwise X would show "1/3, 2/3" then
 * "3/4". A single post whose outcome is unknown may change: the store keeps the text that was
 * sent, and the next attempt searches X for it before sending the new one.
 */
export function tooLateForThread(
  current: DeliveryHead,
  next: readonly Pick<DeliveryPart, 'part' | 'text' | 'images'>[],
  parts: readonly DeliveryPart[] | undefined,
): string | undefined {
  if (!started(current)) return undefined;
  if (current.partCount <= 1 && next.length <= 1 && current.landedParts === 0) return undefined;
  const sent = parts?.filter((p) => p.remoteId !== undefined || p.outcomeUnknown);
  const unchanged =
    sent !== undefined &&
    sent.length === current.landedParts + current.unknownParts &&
    sent.every((p) => {
      const n = next.find((q) => q.part === p.part);
      return n !== undefined && n.text === (p.unknownText ?? p.text) && sameImages(n.images, p.images);
    });
  if (unchanged) return undefined;
  const total = current.partCount;
  const landed = current.landedParts;
  const unknown = parts?.find((p) => p.remoteId === undefined && p.outcomeUnknown)?.part;
  const checked = unknown === undefined ? '' : `part ${unknown}'s outcome on X is being checked`;
  const head =
    landed > 0
      ? `too late: ${landed} of ${total} ${total === 1 ? 'part is' : 'parts are'} published` +
        (checked ? ` and ${checked}` : '')
      : `too late: part ${unknown ?? 1} of ${total} may be published (its outcome on X is being checked)`;
  return `${head}; this thread is sent on as it began, the change is not applied to it`;
}

/**
 * Compares what the plan wants with what the store has (a delivery's parts count, not their
 * content: the content hash says whether it changed); pure. `parts` holds the stored parts of
 * the posts already begun on their network (`startedParts`): a thread is compared part by part.
 */
export function planDiff(
  wanted: readonly Wanted[],
  existing: readonly DeliveryHead[],
  parts: ReadonlyMap<string, readonly DeliveryPart[]> = new Map(),
): Plan2Store {
  const byId = new Map(existing.map((d) => [d.id, d]));
  const result: Plan2Store = { diff: [], add: [], replace: [], cancel: [] };
  const wantedIds = new Set<string>();
  for (const w of wanted) {
    const d = w.delivery;
    wantedIds.add(d.id);
    const current = byId.get(d.id);
    const same =
      current !== undefined &&
      current.contentHash === d.contentHash &&
      current.dueAt.getTime() === d.dueAt.getTime();
    const late =
      current && !same ? tooLateForThread(current, w.delivery.parts, parts.get(current.id)) : undefined;
    if (current && late) {
      result.diff.push(storedEntry('✓', current, { status: current.status, reason: late }));
    } else if (!current) {
      result.add.push(w);
      result.diff.push(wantedEntry('+', w));
    } else if (current.status === 'cancelled') {
      result.replace.push({ current, wanted: w });
      result.diff.push(wantedEntry('+', w, { reason: 'back in the plan' }));
    } else if (current.status === 'sending' && !same) {
      result.diff.push(
        storedEntry('✓', current, {
          status: 'sending',
          reason: 'being sent right now: the change comes too late',
        }),
      );
    } else if (current.status === 'queued' || current.status === 'sending') {
      if (same) {
        result.diff.push(storedEntry('=', current, { status: current.status }));
      } else {
        result.replace.push({ current, wanted: w });
        const what = current.contentHash !== d.contentHash ? 'content' : 'time';
        result.diff.push(
          wantedEntry('~', w, {
            reason: `${what} changed${unknownNote(current, what)}`,
            status: current.status,
          }),
        );
      }
    } else if (current.status === 'failed' && !same) {
      result.replace.push({ current, wanted: w });
      result.diff.push(
        wantedEntry('~', w, { reason: 'failed before; changed, so it is tried again', status: 'failed' }),
      );
    } else {
      result.diff.push(
        storedEntry('✓', current, {
          status: current.status,
          ...(same ? {} : { reason: `already ${current.status}: the change is not sent again` }),
        }),
      );
    }
  }
  for (const d of existing) {
    if (wantedIds.has(d.id) || d.status === 'cancelled') continue;
    if (d.status === 'queued') {
      result.cancel.push(d);
      result.diff.push(storedEntry('-', d, { status: d.status }));
    } else if (d.status === 'sending') {
      result.diff.push(
        storedEntry('✓', d, {
          status: d.status,
          reason: 'no longer in the plan, but being sent right now: too late to cancel',
        }),
      );
    } else {
      result.diff.push(
        storedEntry('✓', d, { status: d.status, reason: 'no longer in the plan; already done' }),
      );
    }
  }
  result.diff.sort((a, b) =>
    a.dueAt < b.dueAt ? -1 : a.dueAt > b.dueAt ? 1 : a.deliveryId < b.deliveryId ? -1 : 1,
  );
  return result;
}

/** What a change to a post whose outcome on X is unknown does (the store keeps what was sent). */
function unknownNote(current: DeliveryHead, what: 'content' | 'time'): string {
  if (current.kind !== 'post' || current.unknownParts === 0) return '';
  return what === 'content'
    ? "; the earlier text's outcome on X is unknown: X is searched for it first, and if it landed it stays and the new text is not sent"
    : '; the outcome on X is unknown: X is searched first';
}

export function countMarks(diff: readonly DiffEntry[]): DiffCounts {
  const counts = Object.fromEntries(MARKS.map((m) => [m, 0])) as DiffCounts;
  for (const e of diff) counts[e.mark] += 1;
  return counts;
}

/** The plan without its posts: what a worker or the API reads of it (see OrgSettingsCache). */
function settingsOf(document: PlanDocument): Omit<PlanDocument, 'posts'> {
  const { posts: _posts, ...settings } = document;
  return settings;
}

/**
 * Bluesky's blue check lapses when a verified account changes its handle or display name: a plan
 * that changes either (the handle, or the dormant profile's name) says so.
 */
export function identityWarnings(before: unknown, plan: Plan): Diagnostic[] {
  const after = plan.document;
  if (!isPlanSettings(before)) return [];
  const source = new PlanSource(plan.source);
  const warnings: Diagnostic[] = [];
  const warn = (path: string[], message: string) =>
    warnings.push({
      severity: 'warning',
      file: plan.file,
      ...source.locate(path),
      path: path.join('.'),
      message,
    });
  const bare = (h: string | undefined) => h?.replace(/^@/, '').toLowerCase();
  const oldHandle = bare(before.networks.bluesky?.handle);
  const newHandle = bare(after.networks.bluesky?.handle);
  if (oldHandle && newHandle && oldHandle !== newHandle) {
    warn(
      ['networks', 'bluesky', 'handle'],
      `the Bluesky handle changes from @${oldHandle} to @${newHandle}: a verified account loses its blue check until Bluesky verifies it again`,
    );
  }
  const oldName = before.dormant_profile?.bluesky?.name;
  const newName = after.dormant_profile?.bluesky?.name;
  if (newName !== undefined && newName !== oldName) {
    warn(
      ['dormant_profile', 'bluesky', 'name'],
      `the Bluesky display name becomes "${newName}" with the dormant profile: a verified account loses its blue check until Bluesky verifies it again`,
    );
  }
  return warnings;
}

export async function applyPlan(options: ApplyOptions): Promise<ApplyResult> {
  // Read before: the version this apply records is not the one to compare with.
  const before = await options.store.plans.latest(options.plan.document.organisation.id);
  const result = await applyPlanSteps(options);
  const warnings = before ? identityWarnings(before.settings, options.plan) : [];
  return warnings.length > 0 ? { ...result, warnings } : result;
}

async function applyPlanSteps(options: ApplyOptions): Promise<ApplyResult> {
  const { store, plan, actor } = options;
  const doc = plan.document;
  const org = doc.organisation.id;
  const dryRun = options.dryRun ?? false;
  const wanted = wantedDeliveries(plan);

  // Image bytes are read before the transaction: the store keeps them so the worker never
  // depends on the plan's folder.
  const imageFiles = new Map<string, { file: string; mediaType: string }>();
  for (const w of wanted) for (const im of w.images) imageFiles.set(im.sha256, im);

  if (dryRun) {
    const existing = await store.deliveries.listHeads({ organisationId: org, source: 'plan' });
    const { diff } = planDiff(wanted, existing, await startedParts(store, existing));
    const latest = await store.plans.latestHead(org);
    return {
      organisationId: org,
      planChanged: latest?.hash !== plan.sourceHash,
      dryRun,
      diff,
      counts: countMarks(diff),
    };
  }
  const blobs = [...imageFiles.entries()].map(([sha, im]) => ({
    sha256: sha,
    mediaType: im.mediaType,
    data: new Uint8Array(readFileSync(im.file)),
  }));

  const toEnqueue: DeliveryJobSpec[] = [];
  const toRemove: { network: Network; jobId: string; lane: Lane }[] = [];
  const result = await store.transaction(async (tx: Repositories) => {
    await tx.organisations.ensure({ id: org, name: doc.organisation.name });
    await tx.organisations.lock(org);
    for (const b of blobs) await tx.blobs.put(b);
    const existing = await tx.deliveries.listHeads({ organisationId: org, source: 'plan' });
    const latest = await tx.plans.latestHead(org);
    const change = planDiff(wanted, existing, await startedParts(tx, existing));
    let counts = countMarks(change.diff);
    const planChanged = latest?.hash !== plan.sourceHash;
    const deliveriesChanged = counts['+'] + counts['~'] + counts['-'] > 0;
    if (!planChanged && !deliveriesChanged) {
      await tx.audit.append({
        organisationId: org,
        actor,
        action: 'plan.reapplied',
        outcome: 'ok',
        ...(options.requestId ? { requestId: options.requestId } : {}),
        details: { version: latest?.version, hash: plan.sourceHash, counts },
      });
      return { organisationId: org, planChanged, dryRun, diff: change.diff, counts } satisfies ApplyResult;
    }
    const applied = await tx.plans.insert({
      organisationId: org,
      hash: plan.sourceHash,
      yaml: plan.source,
      sourceName: plan.file,
      appliedBy: actor,
      diff: change.diff,
      settings: settingsOf(plan.document),
    });
    toEnqueue.push(
      ...(await tx.deliveries.insertMany(
        change.add.map((w) => ({
          ...w.delivery,
          planVersion: applied.version,
          jobId: jobIdFor(w.delivery.id),
        })),
      )),
    );
    // A worker may take a delivery between the read above and the writes below: then it is too
    // late to change or cancel it, and the diff says so instead.
    const tooLate = new Set<string>();
    const replacements = change.replace.map(({ current, wanted: w }) => ({
      current,
      change: {
        dueAt: w.delivery.dueAt,
        priority: w.delivery.priority,
        contentHash: w.delivery.contentHash,
        payload: w.delivery.payload,
        parts: w.delivery.parts,
        jobId: nextJobId(current.jobId),
        planVersion: applied.version,
      },
    }));
    const replaced = new Set(
      await tx.deliveries.replaceMany(
        replacements.map((r) => ({ id: r.current.id, expected: r.current.status, change: r.change })),
      ),
    );
    for (const { current, change: c } of replacements) {
      if (!replaced.has(current.id)) {
        tooLate.add(current.id);
        continue;
      }
      toEnqueue.push({
        id: current.id,
        organisationId: current.organisationId,
        network: current.network,
        dueAt: c.dueAt,
        priority: c.priority,
        jobId: c.jobId,
      });
      toRemove.push({ network: current.network, jobId: current.jobId, lane: laneOf(current.priority) });
    }
    const cancelled = new Set(await tx.deliveries.cancelMany(change.cancel.map((d) => d.id)));
    for (const d of change.cancel) {
      if (!cancelled.has(d.id)) {
        tooLate.add(d.id);
        continue;
      }
      toRemove.push({ network: d.network, jobId: d.jobId, lane: laneOf(d.priority) });
    }
    for (const e of change.diff) {
      if (!tooLate.has(e.deliveryId)) continue;
      e.mark = '✓';
      e.reason = 'a worker took it while the plan was being applied: too late to change or cancel';
    }
    if (tooLate.size > 0) {
      counts = countMarks(change.diff);
      await tx.plans.setDiff(org, applied.version, change.diff);
    }
    await tx.audit.append({
      organisationId: org,
      actor,
      action: 'plan.applied',
      outcome: 'ok',
      ...(options.requestId ? { requestId: options.requestId } : {}),
      ...(latest ? { before: { version: latest.version, hash: latest.hash } } : {}),
      after: { version: applied.version, hash: plan.sourceHash },
      details: {
        source: plan.file,
        counts,
        changes: change.diff
          .filter((e) => e.mark !== '=')
          .map((e) => ({
            mark: e.mark,
            delivery: e.deliveryId,
            dueAt: e.dueAt,
            ...(e.reason ? { reason: e.reason } : {}),
          })),
      },
    });
    return {
      organisationId: org,
      version: applied.version,
      planChanged,
      dryRun,
      diff: change.diff,
      counts,
    } satisfies ApplyResult;
  });

  if (options.queues && (toEnqueue.length > 0 || toRemove.length > 0)) {
    try {
      await options.queues.removeMany(toRemove);
      await options.queues.enqueueMany(toEnqueue);
    } catch (err) {
      return { ...result, queueError: (err as Error).message };
    }
  } else if (!options.queues && toEnqueue.length > 0) {
    return { ...result, queueError: 'no queue connection: the worker will enqueue the jobs when it starts' };
  }
  return result;
}
