/**
 * The X and Mastodon sandboxes in a process of their own, for connector-cpu.ts: started by fork,
 * it sends the URLs (and X's certificate) once listening and exits when told to or when its
 * parent goes. The exit's accounts (tests/support/accounts.ts); the X sandbox forgets posts it holds every second.
 */
import { startMastodonSandbox, startXSandbox } from '@sunset/sandboxes';
import { MASTODON_ACCOUNT, X_ACCOUNT } from '../support/accounts.ts';

export interface SandboxProcessInfo {
  x: string;
  xCa: string;
  mastodon: string;
}

if (process.send) {
  const x = await startXSandbox();
  x.addAccount(X_ACCOUNT);
  const mastodon = await startMastodonSandbox({ domain: 'social.ville.test' });
  mastodon.addAccount(MASTODON_ACCOUNT);
  const info: SandboxProcessInfo = { x: x.url, xCa: x.ca, mastodon: mastodon.url };
  process.send(info);
  setInterval(() => x.posts.splice(0), 1_000).unref();
  const stop = () => {
    void Promise.all([x.stop(), mastodon.stop()]).finally(() => process.exit(0));
  };
  process.on('message', stop);
  process.on('disconnect', stop);
}
