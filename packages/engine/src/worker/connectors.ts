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
  /**
   * A connector not asked for during this long is closed and dropped (default 15 minutes; 0 keeps
   * every one): a worker serving hundreds of organisations keeps only those that post.
   */
  idleMs?: number;
}

/** Default of ConnectorOptions.idleMs: far above any request's time limit, so none is in use. */
export const CONNECTOR_IDLE_MS = 15 * 60_000;

export class ConnectorRegistry {
  private readonly connectors = new Map<string, Promise<Connector>>();
  /** When each connector was last asked for (ms). */
  private readonly used = new Map<string, number>();
  private readonly options: ConnectorOptions;
  private readonly idleMs: number;
  private readonly sweeper: ReturnType<typeof setInterval> | undefined;
  constructor(options: ConnectorOptions) {
    this.options = options;
    this.idleMs = options.idleMs ?? CONNECTOR_IDLE_MS;
    if (this.idleMs > 0) {
      this.sweeper = setInterval(
        () => void this.dropIdle(),
        Math.min(60_000, Math.max(1_000, this.idleMs / 4)),
      );
      this.sweeper.unref();
    }
  }

  /** How many connectors are open (for the worker's memory figures). */
  get size(): number {
    return this.connectors.size;
  }

  get(settings: OrgSettings, network: Network): Promise<Connector> {
    const key = `${settings.organisationId}@${settings.version}/${network}`;
    this.used.set(key, Date.now());
    let c = this.connectors.get(key);
    if (!c) {
      c = this.build(settings, network);
      this.connectors.set(key, c);
      c.catch(() => this.forget(key));
      // Connectors of older plan versions of this organisation are no longer needed.
      for (const k of this.connectors.keys()) {
        if (k.startsWith(`${settings.organisationId}@`) && k.endsWith(`/${network}`) && k !== key) {
          this.drop(k);
        }
      }
    }
    return c;
  }

  /**
   * Closes the connectors not asked for in the last idleMs before `now`; the next job of their
   * organisation builds a new one (Bluesky resumes the session kept in the store). Returns how many.
   */
  dropIdle(now = Date.now()): number {
    if (this.idleMs <= 0) return 0;
    let dropped = 0;
    for (const [key, at] of this.used) {
      if (now - at > this.idleMs) {
        this.drop(key);
        dropped += 1;
      }
    }
    if (dropped > 0)
      this.options.logger.debug({ dropped, open: this.connectors.size }, 'idle connectors closed');
    return dropped;
  }

  private forget(key: string): void {
    this.connectors.delete(key);
    this.used.delete(key);
  }

  private drop(key: string): void {
    const old = this.connectors.get(key);
    this.forget(key);
    void old?.then((x) => x.close()).catch(() => undefined);
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
    if (this.sweeper) clearInterval(this.sweeper);
    const all = [...this.connectors.values()];
    this.connectors.clear();
    this.used.clear();
    await Promise.all(all.map((c) => c.then((x) => x.close()).catch(() => undefined)));
  }
}
