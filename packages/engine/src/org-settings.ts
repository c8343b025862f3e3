/**
 * What the worker needs to know of an organisation's applied plan: its networks (credential
 * references only), the sunset and what X takes after it. Read from the YAML the store keeps,
 * so the worker never depends on the plan's file.
 */
import { parse } from 'yaml';
import { SunsetError } from '@sunset/core';
import type { PlanDocument } from '@sunset/plan';
import { sunsetOf } from '@sunset/plan';
import type { Store } from '@sunset/store';

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

/** Caches the parsed plan per organisation and version. */
export class OrgSettingsCache {
  private readonly cache = new Map<string, OrgSettings>();
  private readonly latestSeen = new Map<string, { version: number; at: number }>();
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  /**
   * The organisation's settings from its latest plan. Which version is latest is looked up on every
   * call unless `maxAgeMs` allows an answer that old: the worker passes a couple of seconds, so a
   * new plan reaches it within that time and thousands of deliveries a second cost no query each.
   */
  async get(organisationId: string, maxAgeMs = 0, atLeastVersion = 0): Promise<OrgSettings> {
    const seen = this.latestSeen.get(organisationId);
    // A delivery written by a newer plan than the one seen never gets the older one's settings.
    if (seen && Date.now() - seen.at < maxAgeMs && seen.version >= atLeastVersion) {
      const cached = this.cache.get(`${organisationId}@${seen.version}`);
      if (cached) return cached;
    }
    const latest = await this.store.plans.latest(organisationId);
    if (!latest) throw new NoPlanError(organisationId);
    this.latestSeen.set(organisationId, { version: latest.version, at: Date.now() });
    const key = `${organisationId}@${latest.version}`;
    let settings = this.cache.get(key);
    if (!settings) {
      const document = parse(latest.yaml) as PlanDocument;
      settings = {
        organisationId,
        organisationName: document.organisation.name,
        version: latest.version,
        sunset: sunsetOf(document),
        xAfter: document.sunset.x_after,
        document,
      };
      this.cache.set(key, settings);
    }
    return settings;
  }
}
