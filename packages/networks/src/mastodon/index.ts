export {
  createMastodonConnector,
  DEFAULT_MASTODON_NETWORK_LIMITS,
  mastodonLanguage,
  type MastodonConnectorOptions,
} from './connector.ts';
export { htmlToText } from './html-text.ts';
export { parseReset, toNetworkError as mastodonErrorToNetworkError } from './map-error.ts';
export {
  startMastodonSandbox,
  type AddAccountInput,
  type InjectOptions,
  type InstanceLimits,
  type MastodonFault,
  type MastodonSandbox,
  type MastodonSandboxOptions,
  type ReceivedFile,
  type ReceivedRequest,
  type SandboxAccount,
  type SandboxFile,
  type SandboxMedia,
  type SandboxStatus,
} from './sandbox.ts';
