// Connectors are imported from their own modules, not the folders' index: those also export
// the sandbox servers, whose dependencies (a whole PDS) production code must not load.
import { createBlueskyConnector } from './bluesky/connector.ts';
import { createMastodonConnector } from './mastodon/connector.ts';
import type { Connector, ConnectorConfig } from './types.ts';
import { createXConnector } from './x/connector.ts';

/** The connector for a network's settings: the one place that knows every implementation. */
export function createConnector(config: ConnectorConfig): Connector {
  switch (config.network) {
    case 'x':
      return createXConnector(config);
    case 'bluesky':
      return createBlueskyConnector(config);
    case 'mastodon':
      return createMastodonConnector(config);
  }
}
