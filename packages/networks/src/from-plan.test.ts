import { describe, expect, it } from 'vitest';
import type { PlanDocument } from '@sunset/plan';
import { connectorConfigsFromPlan } from './from-plan.ts';

const networks: PlanDocument['networks'] = {
  x: {
    account: '@VilleTest',
    credentials: {
      app_key: 'env:VILLE_TEST__XK',
      app_secret: 'env:VILLE_TEST__XS',
      access_token: 'env:VILLE_TEST__XT',
      access_secret: 'env:VILLE_TEST__XA',
    },
  },
  bluesky: {
    handle: 'test.fr',
    credentials: { identifier: 'env:VILLE_TEST__BI', app_password: 'env:VILLE_TEST__BP' },
  },
  mastodon: {
    instance: 'https://social.test.fr',
    account: '@ville@social.test.fr',
    credentials: { access_token: 'env:VILLE_TEST__MT' },
  },
};

/** The scope of organisation ville-test, its variables given without their prefix. */
function scope(vars: Record<string, string>) {
  const env = Object.fromEntries(Object.entries(vars).map(([k, v]) => [`VILLE_TEST__${k}`, v]));
  return { organisationId: 'ville-test', env, secretsDir: '/nonexistent/secrets' };
}

describe('connectorConfigsFromPlan', () => {
  it('resolves every credential and applies defaults', () => {
    const env = { XK: 'k', XS: 's', XT: 't', XA: 'a', BI: 'ville.test.fr', BP: 'pw', MT: 'tok' };
    const { configs, problems } = connectorConfigsFromPlan(networks, { secrets: scope(env) });
    expect(problems).toEqual([]);
    expect(configs.map((c) => c.network)).toEqual(['x', 'bluesky', 'mastodon']);
    const bsky = configs.find((c) => c.network === 'bluesky');
    expect(bsky?.network === 'bluesky' && bsky.service).toBe('https://bsky.social');
    expect(bsky?.network === 'bluesky' && bsky.appPassword.reveal()).toBe('pw');
    expect(JSON.stringify(configs)).not.toContain('"pw"');
  });

  it('lists every missing secret, and keeps the networks that are complete', () => {
    const { configs, problems } = connectorConfigsFromPlan(networks, {
      secrets: scope({ BI: 'id', BP: 'pw' }),
    });
    expect(configs.map((c) => c.network)).toEqual(['bluesky']);
    expect(problems).toEqual([
      'networks.x.credentials.app_key: the environment variable VILLE_TEST__XK is not set',
      'networks.x.credentials.app_secret: the environment variable VILLE_TEST__XS is not set',
      'networks.x.credentials.access_token: the environment variable VILLE_TEST__XT is not set',
      'networks.x.credentials.access_secret: the environment variable VILLE_TEST__XA is not set',
      'networks.mastodon.credentials.access_token: the environment variable VILLE_TEST__MT is not set',
    ]);
  });

  it("refuses references outside the organisation's namespace, even with the values at hand", () => {
    const outside: PlanDocument['networks'] = {
      mastodon: {
        instance: 'https://attacker.example',
        account: '@ville@social.test.fr',
        credentials: { access_token: 'env:DATABASE_URL' },
      },
      bluesky: {
        handle: 'test.fr',
        credentials: { identifier: 'env:VILLE_VOISINE__BI', app_password: 'file:/etc/hostname' },
      },
    };
    const { configs, problems } = connectorConfigsFromPlan(outside, {
      secrets: {
        organisationId: 'ville-test',
        env: { DATABASE_URL: 'postgres://u:p@db/x', VILLE_VOISINE__BI: 'id' },
        secretsDir: '/nonexistent/secrets',
      },
    });
    expect(configs).toEqual([]);
    expect(problems).toEqual([
      expect.stringMatching(
        /^networks\.bluesky\.credentials\.identifier: ville-test's plan may only name environment variables starting with VILLE_TEST__/,
      ),
      expect.stringMatching(
        /^networks\.bluesky\.credentials\.app_password: ville-test's plan may only name files inside its own secrets folder/,
      ),
      expect.stringMatching(
        /^networks\.mastodon\.credentials\.access_token: ville-test's plan may only name environment variables starting with VILLE_TEST__/,
      ),
    ]);
  });

  it('keeps to the networks asked for', () => {
    const { configs } = connectorConfigsFromPlan(networks, {
      secrets: scope({ MT: 'tok' }),
      only: ['mastodon'],
    });
    expect(configs.map((c) => c.network)).toEqual(['mastodon']);
  });
});
