/**
 * What the worker needs to know of an organisation's applied plan: its networks (credential
 * references only), the sunset and what X takes after it. Read from the YAML the store keeps,
 * so the worker never depends on the plan's file.
 */
import { parse } from 'yaml';
import { shareInFlight, SunsetError } from '@sunset/core';
import { isPlanDocument, isPlanSettings, planProblem, sunsetOf, type PlanDocument } from '@sunset/plan';
import type { AppliedPlan, Store } from '@sunset/store';
import { StoredRowError } from './stored-row.ts';

export interface OrgSettings {
  organisationId: string;
  organisationName: string;
  version: number;
  sunset: Date;
  xAfter: PlanDocument['sunset']['x_after'];
  document: PlanDocument;
}

export class NoPlanError extends SunsetError {
  constructor(organisationId: string) {
    super('engine.no-plan', `organisation "${organisationId}" has no applied plan`);
  }
}

/**
 * The plan document of a stored plan, checked against the plan's schema: the settings kept beside
 * the YAML (no posts) when there are, the YAML of older plans. A StoredRowError names the plan
 * version and the field that does not match.
 */
export function planDocumentOf(
  plan: Pick<AppliedPlan, 'organisationId' | 'version' | 'settings' | 'yaml'>,
): PlanDocument {
  const row = `plan ${plan.organisationId} v${plan.version}`;
  if (plan.settings !== undefined) {
    if (isPlanSettings(plan.settings)) return { ...plan.settings, posts: [] };
    const { path, message } = planProblem(plan.settings, false);
    throw new StoredRowError(row, `settings${path}`, `does not match the plan schema: ${message}`);
  }
  const parsed: unknown = parse(plan.yaml);
  if (isPlanDocument(parsed)) return parsed;
  const { path, message } = planProblem(parsed, true);
  throw new StoredRowError(row, `yaml${path}`, `does not match the plan schema: ${message}`);
}

/**
 * The stored plan's document and sunset. Whatever stops that reading (YAML that does not parse, a
 * document the schema refuses) is a StoredRowError: the plan is unusable until a person applies
 * another, whereas an error of the store's own is an outage that may pass.
 */
function readStoredPlan(plan: AppliedPlan): { document: PlanDocument; sunset: Date } {
  try {
    const document = planDocumentOf(plan);
    return { document, sunset: sunsetOf(document) };
  } catch (err) {
    if (err instanceof StoredRowError) throw err;
    throw new StoredRowError(
      `plan ${plan.organisationId} v${plan.version}`,
      'yaml',
      `cannot be read: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** Whether a settings read failed on the plan itself (none applied, or unusable), not on the store. */
export function isPlanUnusable(err: unknown): boolean {
  return err instanceof NoPlanError || err instanceof StoredRowError;
}

/** Caches the parsed plan per organisation and version. */
export class OrgSettingsCache {
  private readonly cache: Map<string, OrgSettings>;
  private readonly latestSeen: Map<string, { version: number; at: number }>;
  /** Plans being read and parsed: callers asking at the same moment share one read. */
  private readonly loadShared: (organisationId: string) => Promise<OrgSettings>;
  /**
   * The latest version, one read shared by the callers that ask while it is under way: a burst of
   * requests costs one query, and each answer comes from a read begun at most one query's time
   * before it asked.
   */
  private readonly latestVersion: (organisationId: string) => Promise<number | undefined>;
  private readonly store: Store;
  /**
   * `sharing`: another cache of the same database (a worker's other lane, on a pool of its own)
   * whose parsed plans and latest versions seen this one shares, reading through its own store.
   */
  constructor(store: Store, sharing?: OrgSettingsCache) {
    this.store = store;
    this.cache = sharing?.cache ?? new Map();
    this.latestSeen = sharing?.latestSeen ?? new Map();
    this.loadShared = shareInFlight((organisationId: string) => this.load(organisationId));
    this.latestVersion = shareInFlight((organisationId: string) => store.plans.latestVersion(organisationId));
  }

  /**
   * The organisation's settings from its latest plan. Which version is latest is looked up on every
   * call (one index lookup, shared by the calls made while it is under way) unless `maxAgeMs` allows an answer that old: the worker passes a couple
   * of seconds, so a new plan reaches it within that time and thousands of deliveries a second cost
   * no query each. The plan itself is read and parsed once per version.
   */
  async get(organisationId: string, maxAgeMs = 0, atLeastVersion = 0): Promise<OrgSettings> {
    const seen = this.latestSeen.get(organisationId);
    // A delivery written by a newer plan than the one seen never gets the older one's settings.
    if (seen && Date.now() - seen.at < maxAgeMs && seen.version >= atLeastVersion) {
      const cached = this.cache.get(`${organisationId}@${seen.version}`);
      if (cached) return cached;
    }
    const version = await this.latestVersion(organisationId);
    if (version === undefined) throw new NoPlanError(organisationId);
    const cached = this.cache.get(`${organisationId}@${version}`);
    if (cached) {
      this.note(organisationId, version);
      return cached;
    }
    const settings = await this.loadShared(organisationId);
    // A read that began before a newer plan was applied: read again.
    return settings.version >= version ? settings : this.get(organisationId, 0, version);
  }

  /**
   * The settings of `version` when a caller has just read that it is the latest (the API reads
   * it with the request's token, in the same statement): no second read when it is cached.
   * Without a version, or when that version is not cached yet, as `get`.
   */
  async ofLatest(
    organisationId: string,
    version: number | undefined,
    /** When the caller's read began (default now). */
    readAt = Date.now(),
  ): Promise<OrgSettings> {
    if (version === undefined) return this.get(organisationId);
    const cached = this.cache.get(`${organisationId}@${version}`);
    if (!cached) return this.get(organisationId, 0, version);
    this.note(organisationId, version, readAt);
    return cached;
  }

  /**
   * Every organisation's latest version, in one read: each counts as seen when the read began, so
   * that `get` within its `maxAgeMs` of that moment asks nothing more of the store for a version
   * it has parsed (the feed watcher does this every second for all of them at once).
   */
  async latestOfAll(): Promise<{ versions: Map<string, number>; at: number }> {
    const at = Date.now();
    const versions = await this.store.plans.latestVersions();
    for (const [organisationId, version] of versions) this.note(organisationId, version, at);
    return { versions, at };
  }

  private note(organisationId: string, version: number, at = Date.now()): void {
    const seen = this.latestSeen.get(organisationId);
    if (!seen || version > seen.version || (version === seen.version && at > seen.at))
      this.latestSeen.set(organisationId, { version, at });
  }

  private async load(organisationId: string): Promise<OrgSettings> {
    const latest = await this.store.plans.latest(organisationId);
    if (!latest) throw new NoPlanError(organisationId);
    const key = `${organisationId}@${latest.version}`;
    let settings = this.cache.get(key);
    if (!settings) {
      const { document, sunset } = readStoredPlan(latest);
      settings = {
        organisationId,
        organisationName: document.organisation.name,
        version: latest.version,
        sunset,
        xAfter: document.sunset.x_after,
        document,
      };
      this.cache.set(key, settings);
      // Older versions of this organisation's plan are no longer asked for.
      for (const k of this.cache.keys()) {
        if (k.startsWith(`${organisationId}@`) && k !== key) this.cache.delete(k);
      }
    }
    this.note(organisationId, latest.version);
    return settings;
  }
}
