/**
 * Shared by the X test files: connector settings pointing at the X fake, and a logger that keeps
 * its lines.
 */
import { createLogger, Secret, type Logger } from '@sunset/core';
import type { XSandbox, XSandboxAccountInput } from '@sunset/sandboxes';
import type { XConnectorConfig } from '../types.ts';

export function connectorConfig(
  sandbox: XSandbox,
  account: XSandboxAccountInput,
  overrides: Partial<XConnectorConfig> & {
    secrets?: Partial<Record<'appKey' | 'appSecret' | 'accessToken' | 'accessSecret', string>>;
  } = {},
): XConnectorConfig {
  const { secrets = {}, ...rest } = overrides;
  const secret = (name: 'appKey' | 'appSecret' | 'accessToken' | 'accessSecret') =>
    new Secret(secrets[name] ?? account[name], `test:${name}`);
  return {
    network: 'x',
    account: account.username,
    appKey: secret('appKey'),
    appSecret: secret('appSecret'),
    accessToken: secret('accessToken'),
    accessSecret: secret('accessSecret'),
    apiBase: sandbox.url,
    ca: sandbox.ca,
    timeoutMs: 10_000,
    // The sandbox serves profile images on loopback: allowed as an operator would for tests.
    fetchAllow: [new URL(sandbox.url).host],
    ...rest,
  };
}

export function captureLogs(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    name: 'x-test',
    level: 'trace',
    destination: { write: (line) => lines.push(line) },
  });
  return { logger, lines };
}
