import { describe, expect, it } from 'vitest';
import { costOf, DEFAULT_X_PRICES, formatUsd, parseXPrices, xLinkCostWarning } from './x-cost.ts';

describe('X prices', () => {
  it('prices a post by whether X finds a URL in it', () => {
    expect(costOf({ kind: 'create', text: 'La mairie ferme à 17 h.' })).toBe(15_000);
    expect(costOf({ kind: 'create', text: 'Infos : https://www.tours.fr/crue' })).toBe(200_000);
    // X links a bare domain too.
    expect(costOf({ kind: 'create', text: 'Infos sur ville.fr' })).toBe(200_000);
    expect(costOf({ kind: 'read_post', count: 100 })).toBe(500_000);
    expect(costOf({ kind: 'read_user' })).toBe(10_000);
  });

  it('takes the operator’s prices over the defaults, and refuses a bad entry', () => {
    const prices = parseXPrices('create=0.02, read_post=0.001');
    expect(prices.create).toBe(20_000);
    expect(prices.read_post).toBe(1_000);
    expect(prices.create_with_url).toBe(DEFAULT_X_PRICES.create_with_url);
    expect(() => parseXPrices('post=0.1')).toThrow(/"post" is not an X price/);
    expect(() => parseXPrices('create=-1')).toThrow(/create must be a number of dollars/);
  });

  it('warns about a post that costs the URL price only because of its link', () => {
    expect(xLinkCostWarning('Rendez-vous sur https://www.tours.fr')).toBe(
      "costs $0.20 on X because it contains a link; the same post with the handle or the site's name written without a link costs $0.015",
    );
    expect(xLinkCostWarning('Rendez-vous sur Bluesky')).toBeUndefined();
    expect(formatUsd(12_500_000)).toBe('$12.50');
  });
});
