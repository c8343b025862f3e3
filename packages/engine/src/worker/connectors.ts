/**
 * Connectors per organisation and network, built from the applied plan's network settings and
 * the worker's environment (where credential references are resolved), kept until the plan
 * changes, closed on shutdown. Bluesky sessions live in the store, so a restart resumes them.
 */
import { SunsetError, type Logger, type Network } from '@sunset/core';
import {
  connectorConfigsFromPlan,
  loadConnector,
  type Connector,
  type ConnectorConfig,
} from '@sunset/networks';
import type { Store } from '@sunset/store';
import type { OrgSettings } from '../outbox/org-settings.ts';
import { kvSessionStore } from './sealed-state.ts';

export { kvSessionStore };

/** The plan or the environment does not let the worker reach a network: a person must fix it. */
export class ConfigurationError extends SunsetError {
  constructor(message: string) {
    super('engine.configuration', message);
  }
}

export interface ConnectorOptions {
  store: Store;
  /** Where credential references are resolved: each organisation reads only its own namespace. */
  env: Readonly<Record<string, string | undefined>>;
  /** SUNSET_SECRETS_DIR: an organisation's file: references are read from `<secretsDir>/<org>/`. */
  secretsDir: string;
  logger: Logger;
  /** Extra CA (PEM) for X (a sandbox's self-signed certificate). */
  xCa?: string;
  timeoutMs?: number;
  /** Internal destinations content fetches may reach (SUNSET_FETCH_ALLOW); none by default. */
  fetchAllow?: readonly string[];
  /** false: Bluesky posts get no link card, and no page is fetched for one (SUNSET_LINK_CARDS). */
  linkCards?: boolean;
  /** Seals the Bluesky sessions kept in the store (AES-256-GCM); without it none are kept. */
  stateKey?: Uint8Array;
}

export class ConnectorRegistry {
  private readonly connectors = new Map<string, Promise<Connector>>();
  private readonly options: ConnectorOptions;
  constructor(options: ConnectorOptions) {
    this.options = options;
  }

  get(settings: OrgSettings, network: Network): Promise<Connector> {
    const key = `${settings.organisationId}@${settings.version}/${network}`;
    let c = this.connectors.get(key);
    if (!c) {
      c = this.build(settings, network);
      this.connectors.set(key, c);
      c.catch(() => this.connectors.delete(key));
      // Connectors of older plan versions of this organisation are no longer needed.
      for (const [k, old] of this.connectors) {
        if (k.startsWith(`${settings.organisationId}@`) && k.endsWith(`/${network}`) && k !== key) {
          this.connectors.delete(k);
          void old.then((x) => x.close()).catch(() => undefined);
        }
      }
    }
    return c;
  }

  private build(settings: OrgSettings, network: Network): Promise<Connector> {
    const { configs, problems } = connectorConfigsFromPlan(settings.document.networks, {
      // The store's organisation id, not the plan's, bounds what its references may name.
      secrets: {
        organisationId: settings.organisationId,
        env: this.options.env,
        secretsDir: this.options.secretsDir,
      },
      logger: this.options.logger.child({ network, organisationId: settings.organisationId }),
      sessionStore: kvSessionStore(
        this.options.store,
        settings.organisationId,
        this.options.stateKey,
        this.options.logger.child({ subsystem: 'state' }),
      ),
      only: [network],
      ...(this.options.xCa ? { xCa: this.options.xCa } : {}),
      ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
    });
    const config = configs[0];
    if (!config) {
      return Promise.reject(
        new ConfigurationError(
          problems.length > 0
            ? `cannot post to ${network} for ${settings.organisationId}: ${problems.join('; ')}`
            : `the plan of ${settings.organisationId} does not configure ${network}`,
        ),
      );
    }
    const { fetchAllow, linkCards } = this.options;
    // The operator's settings for fetches of addresses from content, whatever the plan says.
    const withFetch: ConnectorConfig = {
      ...config,
      ...(fetchAllow?.length ? { fetchAllow } : {}),
      ...(config.network === 'bluesky' && linkCards === false ? { fetchLinkCard: false } : {}),
    };
    // The network's implementation and client library are loaded with its first connector.
    return loadConnector(withFetch);
  }

  async close(): Promise<void> {
    const all = [...this.connectors.values()];
    this.connectors.clear();
    await Promise.all(all.map((c) => c.then((x) => x.close()).catch(() => undefined)));
  }
}
