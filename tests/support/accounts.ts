/** The exit's accounts on the X and Mastodon sandboxes, shared by the harness and the benchmarks. */
export const X_ACCOUNT = {
  id: '1500000000000000001',
  username: 'VilleDeTest',
  name: 'Ville de Test',
  appKey: 'x-app-key',
  appSecret: 'x-app-secret',
  accessToken: '1500000000000000001-x-access',
  accessSecret: 'x-access-secret',
} as const;

export const MASTODON_ACCOUNT = {
  username: 'ville',
  token: 'mastodon-token-ville',
  displayName: 'Ville de Test',
} as const;
