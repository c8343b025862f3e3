// Connectors are imported from their own modules, not the folders' index: those also export
// the sandbox servers, whose dependencies (a whole PDS) production code must not load.
//
// Each implementation pulls in its network's client library (twitter-api-v2, @atproto/api and
// sharp, masto): tens of MB of heap that a process posting to one or two networks, or none (the
// API), never needs. So nothing is loaded with this package: the worker preloads the networks it
// serves at start, and anything else loads a network's module with its first connector.
import type { Network } from '@sunset/core';
import type { Connector, ConnectorConfig } from './types.ts';

const implementations = {
  x: () => import('./x/connector.ts'),
  bluesky: () => import('./bluesky/connector.ts'),
  mastodon: () => import('./mastodon/connector.ts'),
} satisfies Record<Network, () => Promise<unknown>>;

/**
 * Loads the implementations (and client libraries) of these networks now, so that the first
 * post to each does not wait for them: a few hundred milliseconds of module loading on a small
 * machine, which a crisis sent just after a worker started would otherwise pay.
 */
export async function preloadConnectors(networks: readonly Network[]): Promise<void> {
  await Promise.all([...new Set(networks)].map((network) => implementations[network]()));
}

/**
 * The connector for a network's settings, its implementation loaded on first use (or taken from
 * `preloadConnectors`): the one place that knows every implementation. Rejects where the
 * connector's constructor throws (settings it cannot use).
 */
export async function loadConnector(config: ConnectorConfig): Promise<Connector> {
  switch (config.network) {
    case 'x':
      return (await implementations.x()).createXConnector(config);
    case 'bluesky':
      return (await implementations.bluesky()).createBlueskyConnector(config);
    case 'mastodon':
      return (await implementations.mastodon()).createMastodonConnector(config);
  }
}
