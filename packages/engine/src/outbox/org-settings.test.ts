import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { PlanDocument } from '@sunset/plan';
import { StoreUnavailableError, type Store } from '@sunset/store';
import { openTestStore, type TestStore } from '@sunset/store/testing';
import { isPlanUnusable, OrgSettingsCache, planDocumentOf } from './org-settings.ts';

const yaml = readFileSync(new URL('../../../../config/plans/ville-de-tours.yaml', import.meta.url), 'utf8');
const document = parse(yaml) as PlanDocument;
const org = document.organisation.id;

describe('the organisation settings cache', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('sqlite');
    await t.store.organisations.ensure({ id: org, name: document.organisation.name });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const insert = (settings: unknown, hash: string) =>
    t.store.plans.insert({
      organisationId: org,
      hash,
      yaml,
      sourceName: 'ville-de-tours.yaml',
      appliedBy: 'cli:test',
      diff: [],
      ...(settings !== undefined ? { settings } : {}),
    });

  it('reads a plan applied before the settings were kept from its YAML', async () => {
    await insert(undefined, 'h1');
    const s = await new OrgSettingsCache(t.store).get(org);
    expect(s.version).toBe(1);
    expect(s.document).toEqual(document);
    expect(s.organisationName).toBe(document.organisation.name);
  });

  it('reads the kept settings of a newer plan, the same as the YAML but for the posts', async () => {
    const cache = new OrgSettingsCache(t.store);
    expect((await cache.get(org)).version).toBe(1);
    const { posts: _posts, ...settings } = document;
    await insert({ ...settings, sunset: { ...settings.sunset, x_after: 'frozen' } }, 'h2');
    // Many callers at once after the change: one read, every one of them on version 2.
    const all = await Promise.all(Array.from({ length: 20 }, () => cache.get(org)));
    for (const s of all) {
      expect(s.version).toBe(2);
      expect(s.xAfter).toBe('frozen');
      expect(s.document.posts).toEqual([]);
      expect(s.document.networks).toEqual(document.networks);
    }
    expect(new Set(all).size).toBe(1);
  });

  it('takes the version a caller read as the latest, and loads it when it is not cached yet', async () => {
    const cache = new OrgSettingsCache(t.store);
    const v2 = await cache.get(org);
    expect(v2.version).toBe(2);
    const { posts: _posts, ...settings } = document;
    await insert({ ...settings, sunset: { ...settings.sunset, x_after: 'leave' } }, 'h3');
    // The caller read version 2 before version 3 was applied: judged by version 2, as read.
    expect(await cache.ofLatest(org, 2)).toBe(v2);
    // A caller that read version 3 gets it, though the cache held only version 2.
    const v3 = await cache.ofLatest(org, 3);
    expect([v3.version, v3.xAfter]).toEqual([3, 'leave']);
    // Without a version read, the latest is read as by get.
    expect(await cache.ofLatest(org, undefined)).toBe(v3);
  });

  it("shares what one cache read with another lane's, whose reads go through its own store", async () => {
    const reads: string[] = [];
    const counting = (name: string): Store => ({
      ...t.store,
      plans: {
        ...t.store.plans,
        latestVersion: (o) => (reads.push(`${name}.latestVersion`), t.store.plans.latestVersion(o)),
        latestVersions: () => (reads.push(`${name}.latestVersions`), t.store.plans.latestVersions()),
        latest: (o) => (reads.push(`${name}.latest`), t.store.plans.latest(o)),
      },
    });
    const ordinary = new OrgSettingsCache(counting('ordinary'));
    const crisis = new OrgSettingsCache(counting('crisis'), ordinary);
    const { versions } = await ordinary.latestOfAll();
    expect(versions.get(org)).toBe(3);
    // The version read for every organisation at once is fresh: the plan is read once, by the
    // first lane that needs it, and the other lane reads nothing.
    const first = await crisis.get(org, 2_000);
    expect(await ordinary.get(org, 2_000)).toBe(first);
    expect(reads).toEqual(['ordinary.latestVersions', 'crisis.latestVersion', 'crisis.latest']);
    // Without an answer that old allowed, each lane asks its own store.
    await ordinary.get(org);
    await crisis.get(org);
    expect(reads.slice(3)).toEqual(['ordinary.latestVersion', 'crisis.latestVersion']);
  });

  it('refuses a plan whose kept settings or YAML do not match the schema, naming the plan and the field', () => {
    const { posts: _posts, ...settings } = document;
    const row = { organisationId: org, version: 3, yaml };
    expect(planDocumentOf({ ...row, settings })).toEqual({ ...settings, posts: [] });
    expect(planDocumentOf({ ...row, settings: undefined })).toEqual(document);
    const bad = { ...settings, sunset: { ...settings.sunset, x_after: 'sometimes' } };
    expect(() => planDocumentOf({ ...row, settings: bad })).toThrow(
      new RegExp(`plan ${org} v3: settings/sunset/x_after does not match the plan schema`),
    );
    expect(() => planDocumentOf({ ...row, settings: undefined, yaml: 'version: 2' })).toThrow(
      new RegExp(`plan ${org} v3: yaml does not match the plan schema: .*organisation, networks, sunset`),
    );
  });

  it('tells a plan that cannot be read from a store that does not answer', async () => {
    const { version } = await t.store.plans.insert({
      organisationId: org,
      hash: 'broken-yaml',
      yaml: 'organisation: [unclosed',
      sourceName: 'ville-de-tours.yaml',
      appliedBy: 'cli:test',
      diff: [],
    });
    const unreadable = await new OrgSettingsCache(t.store).get(org).catch((err: unknown) => err);
    expect(String(unreadable)).toMatch(new RegExp(`plan ${org} v${version}: yaml cannot be read`));
    expect(isPlanUnusable(unreadable)).toBe(true);
    expect(
      isPlanUnusable(await new OrgSettingsCache(t.store).get('ville-sans-plan').catch((e: unknown) => e)),
    ).toBe(true);
    // The store's own failure, as its guard reports a pool with no connection to give.
    const down = {
      ...t.store,
      plans: {
        ...t.store.plans,
        latestVersion: () =>
          Promise.reject(new StoreUnavailableError(new Error('timeout exceeded when trying to connect'))),
      },
    } as Store;
    const outage = await new OrgSettingsCache(down).get(org).catch((err: unknown) => err);
    expect(outage).toBeInstanceOf(StoreUnavailableError);
    expect(isPlanUnusable(outage)).toBe(false);
  });
});
