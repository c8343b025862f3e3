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
