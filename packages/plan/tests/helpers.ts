import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validatePlan, type ValidationResult } from '../src/index.ts';

export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const referencePlanPath = path.resolve(repoRoot, '../shared/plan-reference.yaml');
/** Set when the shared reference plan (outside the repository) is absent: its tests skip, saying why. */
export const referenceMissing = existsSync(referencePlanPath)
  ? undefined
  : `skipped: ${referencePlanPath} is not on this machine`;

/** A fresh folder holding `plan.yaml` with `text` and the fixture images under assets/. */
export function planDir(text: string): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'sunset-plan-'));
  mkdirSync(path.join(dir, 'assets'));
  copyFileSync(path.join(fixtures, 'assets/demenagement.png'), path.join(dir, 'assets/demenagement.png'));
  const file = path.join(dir, 'plan.yaml');
  writeFileSync(file, text);
  return { dir, file };
}

/** Validates `text` as plan.yaml in a fresh folder, "now" being well before any plan date. */
export function check(text: string, now = new Date('2024-06-01T00:00:00Z')): ValidationResult {
  const { dir } = planDir(text);
  return validatePlan(text, { file: 'plan.yaml', baseDir: dir, now });
}

/** The shared reference plan exactly as written. */
export function referenceTextAsWritten(): string {
  return readFileSync(referencePlanPath, 'utf8');
}

/**
 * The reference plan with its credential references moved into its organisation's namespace:
 * it predates the namespaces (env:TOURS_…, file:/run/secrets/…), which validation now refuses.
 */
export function referenceText(): string {
  return referenceTextAsWritten()
    .replace(/env:TOURS_/g, 'env:VILLE_DE_TOURS__')
    .replace(/file:\/run\/secrets\/tours_/g, 'file:');
}

/** A small valid plan to vary in tests. */
export const MINIMAL = `version: 1
organisation:
  id: ville-test
  name: Ville de Test
  timezone: Europe/Paris
  locale: fr-FR
  website: https://www.test.fr
networks:
  x:
    account: "@VilleTest"
    credentials:
      app_key: env:VILLE_TEST__X_APP_KEY
      app_secret: env:VILLE_TEST__X_APP_SECRET
      access_token: env:VILLE_TEST__X_ACCESS_TOKEN
      access_secret: file:x_access_secret
  bluesky:
    handle: test.fr
    credentials:
      identifier: env:VILLE_TEST__BSKY_ID
      app_password: env:VILLE_TEST__BSKY_PASSWORD
  mastodon:
    instance: https://social.test.fr
    account: "@ville@social.test.fr"
    credentials:
      access_token: env:VILLE_TEST__MASTO_TOKEN
sunset:
  at: 2027-01-20T09:00
  x_after: crisis-only
posts:
  - id: announce
    at: sunset - 7d
    on: [x, bluesky, mastodon]
    text: Le {sunset.date}, nous quittons X. Suivez-nous sur Bluesky {bluesky.url} et Mastodon {mastodon.url}.
  - id: farewell
    at: sunset
    on: [x, bluesky]
    text: Merci et au revoir. Retrouvez-nous sur {bluesky.handle} et {mastodon.handle}.
`;
