/**
 * Connector settings from an exit plan's `networks` section: credential references resolved
 * inside the organisation's namespace of the environment and secrets folder the caller passes in
 * (only a service's config module reads process.env), every problem collected so a person sees
 * them all at once.
 */
import { CredentialError, resolveCredential, type Network, type SecretScope } from '@sunset/core';
import type { PlanDocument } from '@sunset/plan';
import type { ConnectorCommon, ConnectorConfig, SessionStore } from './types.ts';

export const DEFAULT_BLUESKY_SERVICE = 'https://bsky.social';

export interface FromPlanOptions extends ConnectorCommon {
  /** The organisation whose secrets the references may name (the store's, not the plan's), and where they are. */
  secrets: SecretScope;
  sessionStore?: SessionStore;
  /** Extra CA (PEM) for the X API base, e.g. a sandbox's self-signed certificate. */
  xCa?: string;
  /** Only these networks (default: every configured one). */
  only?: readonly Network[];
}

export interface FromPlanResult {
  configs: ConnectorConfig[];
  /** "networks.x.credentials.app_key: the environment variable TOURS__X_KEY is not set" */
  problems: string[];
}

export function connectorConfigsFromPlan(
  networks: PlanDocument['networks'],
  options: FromPlanOptions,
): FromPlanResult {
  const problems: string[] = [];
  const configs: ConnectorConfig[] = [];
  const common: ConnectorCommon = {
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
  const wanted = (n: Network) => !options.only || options.only.includes(n);
  const secret = (network: Network, key: string, ref: string) => {
    try {
      return resolveCredential(ref, options.secrets, `networks.${network}.credentials.${key}`);
    } catch (err) {
      if (err instanceof CredentialError) {
        problems.push(err.message);
        return undefined;
      }
      throw err;
    }
  };

  if (networks.x && wanted('x')) {
    const c = networks.x.credentials;
    const appKey = secret('x', 'app_key', c.app_key);
    const appSecret = secret('x', 'app_secret', c.app_secret);
    const accessToken = secret('x', 'access_token', c.access_token);
    const accessSecret = secret('x', 'access_secret', c.access_secret);
    if (appKey && appSecret && accessToken && accessSecret) {
      configs.push({
        network: 'x',
        account: networks.x.account.replace(/^@/, ''),
        appKey,
        appSecret,
        accessToken,
        accessSecret,
        ...(networks.x.api_base ? { apiBase: networks.x.api_base } : {}),
        ...(options.xCa ? { ca: options.xCa } : {}),
        ...common,
      });
    }
  }
  if (networks.bluesky && wanted('bluesky')) {
    const c = networks.bluesky.credentials;
    const identifier = secret('bluesky', 'identifier', c.identifier);
    const appPassword = secret('bluesky', 'app_password', c.app_password);
    if (identifier && appPassword) {
      configs.push({
        network: 'bluesky',
        handle: networks.bluesky.handle.replace(/^@/, ''),
        service: networks.bluesky.service ?? DEFAULT_BLUESKY_SERVICE,
        identifier,
        appPassword,
        ...(options.sessionStore ? { sessionStore: options.sessionStore } : {}),
        ...common,
      });
    }
  }
  if (networks.mastodon && wanted('mastodon')) {
    const accessToken = secret('mastodon', 'access_token', networks.mastodon.credentials.access_token);
    if (accessToken) {
      configs.push({
        network: 'mastodon',
        instance: networks.mastodon.instance,
        account: networks.mastodon.account,
        accessToken,
        ...common,
      });
    }
  }
  return { configs, problems };
}
