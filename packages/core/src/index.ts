export { NETWORKS, NETWORK_LABELS, isNetwork, type Network } from './network.ts';
export { SunsetError, InputError, NotFoundError, ConflictError } from './errors.ts';
export {
  createLogger,
  lazyChild,
  silentLogger,
  REDACTED_KEYS,
  type Logger,
  type CreateLoggerOptions,
} from './logger.ts';
export {
  resolveCredential,
  credentialScopeProblem,
  envPrefix,
  CredentialError,
  Secret,
  type SecretScope,
} from './credentials.ts';
export { resolveInside, type InsideFolder } from './inside-folder.ts';
export { canonicalJson } from './canonical-json.ts';
export { ConfigError, configOrExit, EnvReader } from './config.ts';
export { mintToken, hashToken, looksLikeToken, sameHash, TOKEN_PREFIX } from './tokens.ts';
export { onShutdown } from './shutdown.ts';
export { batchOneAtATime, shareInFlight, untilAborted } from './batch.ts';
export {
  developmentStateKey,
  parseStateKey,
  readStateKey,
  STATE_KEY_HELP,
  type StateKey,
  type StateKeySettings,
} from './state-key.ts';
