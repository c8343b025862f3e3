import { describe, expect, it } from 'vitest';
import type { PlanDocument } from '@sunset/plan';
import { connectorConfigsFromPlan } from './from-plan.ts';

const networks: PlanDocument['networks'] = {
  x: {
    account: '@VilleTest',
    credentials: { app_key: 'env:XK', app_secret: 'env:XS', access_token: 'env:XT', access_secret: 'env:XA' },
  },
  bluesky: { handle: 'test.fr', credentials: { identifier: 'env:BI', app_password: 'env:BP' } },
  mastodon: {
    instance: 'https://social.test.fr',
    account: '@ville@social.test.fr',
    credentials: { access_token: 'env:MT' },
  },
};

describe('connectorConfigsFromPlan', () => {
  it('resolves every credential and applies defaults', () => {
    const env = { XK: 'k', XS: 's', XT: 't', XA: 'a', BI: 'ville.test.fr', BP: 'pw', MT: 'tok' };
    const { configs, problems } = connectorConfigsFromPlan(networks, { env });
    expect(problems).toEqual([]);
    expect(configs.map((c) => c.network)).toEqual(['x', 'bluesky', 'mastodon']);
    const bsky = configs.find((c) => c.network === 'bluesky');
    expect(bsky?.network === 'bluesky' && bsky.service).toBe('https://bsky.social');
    expect(bsky?.network === 'bluesky' && bsky.appPassword.reveal()).toBe('pw');
    expect(JSON.stringify(configs)).not.toContain('"pw"');
  });

  it('lists every missing secret, and keeps the networks that are complete', () => {
    const { configs, problems } = connectorConfigsFromPlan(networks, { env: { BI: 'id', BP: 'pw' } });
    expect(configs.map((c) => c.network)).toEqual(['bluesky']);
    expect(problems).toEqual([
      'networks.x.credentials.app_key: the environment variable XK is not set',
      'networks.x.credentials.app_secret: the environment variable XS is not set',
      'networks.x.credentials.access_token: the environment variable XT is not set',
      'networks.x.credentials.access_secret: the environment variable XA is not set',
      'networks.mastodon.credentials.access_token: the environment variable MT is not set',
    ]);
  });

  it('keeps to the networks asked for', () => {
    const { configs } = connectorConfigsFromPlan(networks, { env: { MT: 'tok' }, only: ['mastodon'] });
    expect(configs.map((c) => c.network)).toEqual(['mastodon']);
  });
});
