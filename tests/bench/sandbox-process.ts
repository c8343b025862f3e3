/**
 * The X and Mastodon sandboxes in a process of their own, for connector-cpu.ts: started by fork,
 * it sends the URLs (and X's certificate) once listening and exits when told to or when its
 * parent goes. Accounts as in lib.ts's exit; the X sandbox forgets posts it holds every second.
 */
import { startMastodonSandbox, startXSandbox } from '@sunset/networks/sandbox';

export interface SandboxProcessInfo {
  x: string;
  xCa: string;
  mastodon: string;
}

export const X_ACCOUNT = {
  id: '1500000000000000001',
  username: 'VilleDeTest',
  name: 'Ville de Test',
  appKey: 'x-app-key',
  appSecret: 'x-app-secret',
  accessToken: '1500000000000000001-x-access',
  accessSecret: 'x-access-secret',
} as const;
export const MASTODON_ACCOUNT = { username: 'ville', token: 'mastodon-token-ville' } as const;

if (process.send) {
  const x = await startXSandbox();
  x.addAccount(X_ACCOUNT);
  const mastodon = await startMastodonSandbox({ domain: 'social.ville.test' });
  mastodon.addAccount({ ...MASTODON_ACCOUNT, displayName: 'Ville de Test' });
  const info: SandboxProcessInfo = { x: x.url, xCa: x.ca, mastodon: mastodon.url };
  process.send(info);
  setInterval(() => x.posts.splice(0), 1_000).unref();
  const stop = () => {
    void Promise.all([x.stop(), mastodon.stop()]).finally(() => process.exit(0));
  };
  process.on('message', stop);
  process.on('disconnect', stop);
}
