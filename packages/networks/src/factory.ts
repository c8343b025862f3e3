// Connectors are imported from their own modules, not the folders' index: those also export
// the sandbox servers, whose dependencies (a whole PDS) production code must not load.
//
// They are imported when a network's first connector is built, not with this package: each
// pulls in its network's client library (twitter-api-v2, @atproto/api and sharp, masto), tens of
// MB of heap that a process posting to one or two networks, or none (the API), never needs.
import type { Connector, ConnectorConfig } from './types.ts';

/**
 * The connector for a network's settings, its implementation (and client library) loaded on
 * first use: the one place that knows every implementation. Rejects where the connector's
 * constructor throws (settings it cannot use).
 */
export async function loadConnector(config: ConnectorConfig): Promise<Connector> {
  switch (config.network) {
    case 'x':
      return (await import('./x/connector.ts')).createXConnector(config);
    case 'bluesky':
      return (await import('./bluesky/connector.ts')).createBlueskyConnector(config);
    case 'mastodon':
      return (await import('./mastodon/connector.ts')).createMastodonConnector(config);
  }
}

/**
 * The connector for a network's settings, for callers that want it synchronously: its
 * implementation is loaded (`loadConnector`) when this is called, and each method waits for it.
 * A connector that cannot be built rejects its every call with the constructor's error.
 */
export function createConnector(config: ConnectorConfig): Connector {
  const loaded = loadConnector(config);
  // Reported by the first call, not as an unhandled rejection when nothing is called.
  loaded.catch(() => undefined);
  const connector: Connector = {
    network: config.network,
    verifyCredentials: async (options) => (await loaded).verifyCredentials(options),
    limits: async (options) => (await loaded).limits(options),
    publish: async (part, options) => (await loaded).publish(part, options),
    getProfile: async (options) => (await loaded).getProfile(options),
    updateProfile: async (update, options) => (await loaded).updateProfile(update, options),
    close: async () => {
      // Nothing to close when it could not be built.
      const c = await loaded.catch(() => undefined);
      await c?.close();
    },
  };
  // Only X's connector has it (the other networks have idempotency keys).
  if (config.network === 'x') {
    connector.findRecent = async (text, options) => {
      const c = await loaded;
      if (!c.findRecent) throw new Error('the X connector has no findRecent');
      return c.findRecent(text, options);
    };
  }
  return connector;
}
