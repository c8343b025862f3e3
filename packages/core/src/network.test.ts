import { describe, expect, it } from 'vitest';
import { NETWORKS, NETWORK_LABELS, isNetwork } from './network.ts';

describe('networks', () => {
  it('recognises only the three supported networks', () => {
    for (const n of NETWORKS) expect(isNetwork(n)).toBe(true);
    expect(isNetwork('facebook')).toBe(false);
    expect(isNetwork(undefined)).toBe(false);
  });
  it('has a label for each network', () => {
    expect(Object.keys(NETWORK_LABELS).sort()).toEqual([...NETWORKS].sort());
  });
});
