// The dormant ("flat ECG") profile end to end: a plan applied to a real store and Redis, the
// worker runtime rendering the banner and avatar with the real renderer and changing the
// profiles through the real client libraries, every change read back from the servers (the PDS
// itself for Bluesky). Then `sunset profile restore` (the real CLI, in a child process) puts the
// old profiles back. Last, an X that refuses its profile API: a checklist and image files for a
// person, while Bluesky and Mastodon go on. Runs on SQLite and PostgreSQL.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtpAgent } from '@atproto/api';
import { renderProfileImage } from '@sunset/assets';
import type { Network } from '@sunset/core';
import { applyPlan, ConnectorRegistry, OrgSettingsCache, restoreProfile } from '@sunset/engine';
import type { Queues } from '@sunset/queue';
import { testDialects, type TestStore } from '@sunset/store/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  iso,
  startEngine,
  startSandboxes,
  testLogger as logger,
  waitFor,
  ORG,
  STATE_KEY_HEX,
  type PlanFolder,
  type Sandboxes,
  type TestEngine,
  sandboxFetchAllow,
} from '../support/exit-harness.ts';

const CLI = fileURLToPath(new URL('../../packages/cli/src/bin.ts', import.meta.url));
const NETWORKS: Network[] = ['x', 'bluesky', 'mastodon'];
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let sandboxes: Sandboxes;
/** Logged in to the PDS as the test account, to set the "before" profile the way a person would. */
let owner: AtpAgent;
beforeAll(async () => {
  sandboxes = await startSandboxes();
  owner = new AtpAgent({ service: sandboxes.bluesky.pdsUrl });
  await owner.login({
    identifier: sandboxes.env['VILLE_DE_TEST__TEST_BSKY_IDENTIFIER']!,
    password: sandboxes.env['VILLE_DE_TEST__TEST_BSKY_APP_PASSWORD']!,
  });
});
afterAll(async () => {
  await sandboxes?.stop();
});

const mastodonAccount = () => {
  const account = sandboxes.mastodon.accounts.find((a) => a.username === 'ville');
  if (!account) throw new Error('the Mastodon test account is missing');
  return account;
};

interface BlueskyProfile {
  displayName?: string;
  description?: string;
  banner?: { ref: { toString(): string }; size: number; mimeType: string };
  avatar?: { ref: { toString(): string }; size: number; mimeType: string };
}

/** The app.bsky.actor.profile record, read from the PDS itself. */
async function blueskyProfile(): Promise<BlueskyProfile | undefined> {
  try {
    const r = await sandboxes.pds.com.atproto.repo.getRecord({
      repo: sandboxes.blueskyDid,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
    });
    return r.data.value as BlueskyProfile;
  } catch {
    return undefined;
  }
}

/** Gives each network a known "before" profile, as the comms team had it before the exit. */
async function setProfilesBefore(tag: string): Promise<{ name: string; bio: string }> {
  const before = { name: `Ville de Test ${tag}`, bio: `Compte officiel de la Ville de Test (${tag}).` };
  const x = sandboxes.x.profile!;
  x.name = before.name;
  x.description = before.bio;
  x.url = 'https://www.ville.test/avant';
  const m = mastodonAccount();
  m.displayName = before.name;
  m.note = before.bio;
  await owner.upsertProfile((old) => ({
    ...(old ?? {}),
    displayName: before.name,
    description: before.bio,
  }));
  return before;
}

function dormantProfile(at: string, tag: string) {
  const spec = (network: string) => ({
    name: `Ville (${tag}) en veille`,
    bio: `Compte en veille (${network}). Suivez-nous sur Bluesky {bluesky.handle} et Mastodon {mastodon.handle}`,
    banner: { generate: 'flat-ecg', caption: `Compte en veille · ${tag}` },
    avatar: { generate: 'flat-ecg-avatar' },
  });
  return {
    at,
    // Only X profiles have a website: the validator refuses one for Bluesky and Mastodon.
    x: { ...spec('X'), url: `https://www.ville.test/${tag}` },
    bluesky: spec('Bluesky'),
    mastodon: spec('Mastodon'),
  };
}

/** Runs the real `sunset` command (asynchronously: the X and Mastodon sandboxes live in this process). */
function sunset(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=development', '--no-warnings=ExperimentalWarning', CLI, ...args],
      { env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const { dialect, skip } of await testDialects()) {
  describe.skipIf(skip !== undefined)(
    `the dormant profile, on ${dialect}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      let engine: TestEngine | undefined;
      let t: TestStore;
      let queues: Queues;
      let plans: PlanFolder;
      let dataDir: string;

      /** A fresh store, Redis prefix and worker runtime: each case applies its dormant profile once. */
      async function start(): Promise<void> {
        dataDir = mkdtempSync(path.join(os.tmpdir(), 'sunset-data-'));
        engine = await startEngine(sandboxes, {
          dialect,
          runtime: { dataDir, renderImage: renderProfileImage },
        });
        ({ t, queues, plans } = engine);
      }

      afterEach(async () => {
        sandboxes.x.profileApi = 'allowed';
        await engine?.close();
        engine = undefined;
        if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      });

      const profileDeliveries = async () =>
        (await t.store.deliveries.list({ organisationId: ORG })).filter((d) => d.kind === 'profile');

      const settled = (statuses: Record<string, string>) => async () => {
        const list = await profileDeliveries();
        return list.length === 3 && list.every((d) => d.status === statuses[d.network]);
      };

      it('applies the flat-ECG profile on the three networks at its time, keeps the old one, and restores it', async () => {
        await start();
        const tag = `d${dialect}`;
        const before = await setProfilesBefore(tag);
        const headerBefore = mastodonAccount().header?.url;
        const bannerBefore = sandboxes.x.profile!.banner?.url;
        const dueAt = Date.now() + 5_000;
        const dp = dormantProfile(iso(dueAt), tag);
        const applied = await applyPlan({
          store: t.store,
          queues,
          plan: plans.write({ sunset: iso(dueAt - 2_000), posts: [], dormantProfile: dp }),
          actor: 'cli:test',
        });
        expect(applied.queueError).toBeUndefined();
        expect(applied.diff.filter((e) => e.kind === 'profile').map((e) => [e.network, e.mark])).toEqual(
          expect.arrayContaining([
            ['x', '+'],
            ['bluesky', '+'],
            ['mastodon', '+'],
          ]),
        );

        // Nothing changes before its time.
        await new Promise((r) => setTimeout(r, Math.max(0, dueAt - Date.now() - 1_500)));
        expect(sandboxes.x.profile!.name).toBe(before.name);
        expect(mastodonAccount().displayName).toBe(before.name);
        expect((await blueskyProfile())?.displayName).toBe(before.name);

        await waitFor(
          'the three profile deliveries to be published',
          settled({ x: 'published', bluesky: 'published', mastodon: 'published' }),
          40_000,
        );
        for (const d of await profileDeliveries()) {
          expect(d.updatedAt.getTime(), `${d.network} changed before its time`).toBeGreaterThanOrEqual(
            d.dueAt.getTime(),
          );
        }
        const handle = sandboxes.blueskyHandle;

        // Mastodon: display name, note and a new header, as the server has them.
        const m = mastodonAccount();
        expect(m.displayName).toBe(dp.mastodon.name);
        expect(m.note).toBe(
          `Compte en veille (Mastodon). Suivez-nous sur Bluesky @${handle} et Mastodon ${sandboxes.mastodonAccount}`,
        );
        expect(m.header).toBeDefined();
        expect(m.header!.url).not.toBe(headerBefore);
        expect(Buffer.from(m.header!.data).subarray(0, 8).equals(PNG)).toBe(true);
        expect(m.avatar).toBeDefined();

        // Bluesky: the profile record on the PDS, with a banner blob the PDS really holds.
        const bsky = await blueskyProfile();
        expect(bsky?.displayName).toBe(dp.bluesky.name);
        expect(bsky?.description).toContain('Compte en veille (Bluesky).');
        expect(bsky?.banner).toBeDefined();
        expect(bsky?.avatar).toBeDefined();
        const blob = await sandboxes.pds.com.atproto.sync.getBlob({
          did: sandboxes.blueskyDid,
          cid: bsky!.banner!.ref.toString(),
        });
        expect(blob.data.byteLength).toBeGreaterThan(1_000);
        expect(blob.data.byteLength).toBeLessThan(1_000_000);
        expect(blob.data.byteLength).toBe(bsky!.banner!.size);

        // X: name, description, website and banner.
        const x = sandboxes.x.profile!;
        expect(x.name).toBe(dp.x.name);
        expect(x.description).toContain('Compte en veille (X).');
        expect(x.url).toBe(dp.x.url);
        expect(x.banner).toBeDefined();
        expect(x.banner!.url).not.toBe(bannerBefore);

        // The old profile of each network was kept before it was changed.
        for (const network of NETWORKS) {
          const snapshot = await t.store.profiles.latestSnapshot(ORG, network);
          expect(snapshot, `snapshot on ${network}`).toBeDefined();
          expect(snapshot!.profile).toMatchObject({ name: before.name, bio: before.bio });
        }
        expect(await t.store.audit.list({ organisationId: ORG, action: 'profile.snapshot' })).toHaveLength(3);

        // `sunset profile restore` puts the old name and bio back, read back from the servers.
        const caFile = path.join(plans.dir, 'x-ca.pem');
        writeFileSync(caFile, sandboxes.x.ca);
        const env = {
          ...sandboxes.env,
          DATABASE_URL: t.url,
          ...(t.schema ? { DATABASE_SCHEMA: t.schema } : {}),
          SUNSET_X_CA_FILE: caFile,
          SUNSET_FETCH_ALLOW: sandboxFetchAllow(sandboxes).join(','),
          SUNSET_ACTOR: 'archiviste',
          // The worker's key, as an operator gives both: the CLI resumes the worker's session.
          SUNSET_STATE_KEY: STATE_KEY_HEX,
        };
        for (const network of NETWORKS) {
          const r = await sunset(env, 'profile', 'restore', ORG, network);
          expect(r.stderr).toBe('');
          expect(r.code, r.stdout).toBe(0);
          expect(r.stdout).toMatch(/profile of ville-de-test restored from the snapshot of/);
        }
        expect(sandboxes.x.profile!.name).toBe(before.name);
        expect(sandboxes.x.profile!.description).toBe(before.bio);
        expect(sandboxes.x.profile!.url).toBe('https://www.ville.test/avant');
        expect(mastodonAccount().displayName).toBe(before.name);
        expect(mastodonAccount().note).toBe(before.bio);
        const restored = await blueskyProfile();
        expect(restored?.displayName).toBe(before.name);
        expect(restored?.description).toBe(before.bio);

        const audits = await t.store.audit.list({ organisationId: ORG, action: 'profile.restored' });
        expect(audits.map((a) => [a.network, a.actor]).sort()).toEqual([
          ['bluesky', 'cli:archiviste'],
          ['mastodon', 'cli:archiviste'],
          ['x', 'cli:archiviste'],
        ]);
        expect((await t.store.verifyAudit()).ok).toBe(true);

        // A network without a snapshot is refused with a clear message (exit 1).
        const none = await sunset(env, 'profile', 'restore', 'ville-inconnue', 'x');
        expect(none.code).toBe(1);
        expect(none.stderr).toMatch(/ville-inconnue/);
      });

      it('restores a profile that had no website, display name or bio: what the dormant profile added is cleared', async () => {
        await start();
        const tag = `e${dialect}`;
        const before = await setProfilesBefore(tag);
        // No website on X, and a Bluesky profile with neither display name nor description.
        sandboxes.x.profile!.url = undefined;
        await owner.upsertProfile((old) => {
          const next = { ...(old ?? {}) };
          delete next.displayName;
          delete next.description;
          return next;
        });
        const dueAt = Date.now() + 3_000;
        const dp = dormantProfile(iso(dueAt), tag);
        await applyPlan({
          store: t.store,
          queues,
          plan: plans.write({ sunset: iso(dueAt - 1_000), posts: [], dormantProfile: dp }),
          actor: 'cli:test',
        });
        await waitFor(
          'the three profile deliveries to be published',
          settled({ x: 'published', bluesky: 'published', mastodon: 'published' }),
          40_000,
        );
        expect(sandboxes.x.profile!.url).toBe(dp.x.url);
        expect((await blueskyProfile())?.displayName).toBe(dp.bluesky.name);

        const connectors = new ConnectorRegistry({
          store: t.store,
          env: sandboxes.env,
          secretsDir: sandboxes.secretsDir,
          logger,
          xCa: sandboxes.x.ca,
          fetchAllow: sandboxFetchAllow(sandboxes),
        });
        try {
          const settings = await new OrgSettingsCache(t.store).get(ORG);
          for (const network of ['x', 'bluesky'] as const) {
            await restoreProfile({
              store: t.store,
              connector: await connectors.get(settings, network),
              organisationId: ORG,
              actor: 'cli:test',
            });
          }
        } finally {
          await connectors.close();
        }
        expect(sandboxes.x.profile!.name).toBe(before.name);
        expect(sandboxes.x.profile!.description).toBe(before.bio);
        expect(sandboxes.x.profile!.url).toBeUndefined();
        const restored = await blueskyProfile();
        expect(restored?.displayName).toBeUndefined();
        expect(restored?.description).toBeUndefined();
      });

      it('turns the X step into a checklist with image files when X refuses its profile API; Bluesky and Mastodon go on', async () => {
        await start();
        const tag = `f${dialect}`;
        const before = await setProfilesBefore(tag);
        sandboxes.x.profileApi = 'forbidden';
        const dueAt = Date.now() + 3_000;
        const dp = dormantProfile(iso(dueAt), tag);
        await applyPlan({
          store: t.store,
          queues,
          plan: plans.write({ sunset: iso(dueAt - 1_000), posts: [], dormantProfile: dp }),
          actor: 'cli:test',
        });
        await waitFor(
          'X to need attention and the others to be published',
          settled({ x: 'needs-attention', bluesky: 'published', mastodon: 'published' }),
          40_000,
        );

        const xDelivery = (await profileDeliveries()).find((d) => d.network === 'x')!;
        const checklist = xDelivery.checklist ?? [];
        expect(checklist.join('\n')).toContain(`Name: ${dp.x.name}`);
        expect(checklist.join('\n')).toContain(
          `Bio: Compte en veille (X). Suivez-nous sur Bluesky @${sandboxes.blueskyHandle}`,
        );
        expect(checklist.join('\n')).toContain(`Website: ${dp.x.url}`);
        const manual = path.join(dataDir, 'manual', ORG);
        const files = checklist
          .map((step) => /^Upload the .*: (.+)$/.exec(step)?.[1])
          .filter((f): f is string => f !== undefined);
        expect(files).toHaveLength(2);
        for (const file of files) {
          expect(path.dirname(file)).toBe(manual);
          expect(existsSync(file), file).toBe(true);
          const data = readFileSync(file);
          expect(data.subarray(0, 8).equals(PNG)).toBe(true);
          expect(data.byteLength).toBeGreaterThan(1_000);
        }
        // X itself is untouched.
        expect(sandboxes.x.profile!.name).toBe(before.name);
        expect(sandboxes.x.profile!.description).toBe(before.bio);

        const attention = await t.store.audit.list({
          organisationId: ORG,
          action: 'delivery.needs-attention',
          network: 'x',
        });
        const mine = attention.filter((a) => a.deliveryId === xDelivery.id);
        expect(mine).toHaveLength(1);
        expect(mine[0]!.details).toMatchObject({ checklist });

        // Bluesky and Mastodon were changed all the same.
        expect(mastodonAccount().displayName).toBe(dp.mastodon.name);
        expect((await blueskyProfile())?.displayName).toBe(dp.bluesky.name);
        expect((await t.store.verifyAudit()).ok).toBe(true);
      });
    },
  );
}
