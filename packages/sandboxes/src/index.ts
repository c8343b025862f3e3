// Local servers of each network, on 127.0.0.1, for tests, the benchmarks and the demo; never
// loaded by a production service (the Bluesky one embeds a whole PDS).
export { startXSandbox } from './x/server.ts';
export type {
  XAccessSwitch,
  XSandbox,
  XSandboxAccountInput,
  XSandboxExchange,
  XSandboxFault,
  XSandboxImage,
  XSandboxInjectOptions,
  XSandboxMedia,
  XSandboxOptions,
  XSandboxPost,
  XSandboxProfile,
} from './x/model.ts';
export {
  checkAgainstXSpec,
  MAIN_ACCOUNT,
  OTHER_ACCOUNT,
  secretValues,
  X_SPEC,
  X_SPEC_SKIP_REASON,
  type SpecReport,
} from './x/accounts.ts';
export { encodePng, sniffImage, type SniffedImage } from './x/images.ts';
export {
  startBlueskySandbox,
  type BlueskyFault,
  type BlueskySandbox,
  type BlueskySandboxOptions,
  type InjectOptions as BlueskyInjectOptions,
  type ReceivedRequest as BlueskyReceivedRequest,
  type SandboxAccount as BlueskySandboxAccount,
} from './bluesky/sandbox.ts';
export {
  startMastodonSandbox,
  type AddAccountInput as MastodonAddAccountInput,
  type InjectOptions as MastodonInjectOptions,
  type InstanceLimits as MastodonInstanceLimits,
  type MastodonFault,
  type MastodonSandbox,
  type MastodonSandboxOptions,
  type ReceivedFile as MastodonReceivedFile,
  type ReceivedRequest as MastodonReceivedRequest,
  type SandboxAccount as MastodonSandboxAccount,
  type SandboxFile as MastodonSandboxFile,
  type SandboxMedia as MastodonSandboxMedia,
  type SandboxStatus as MastodonSandboxStatus,
} from './mastodon/sandbox.ts';
export { textToHtml } from './mastodon/render.ts';
export { describedBySpec, specProblems } from './mastodon/spec.ts';
export {
  checkExchange,
  loadSpec,
  specMissingReason,
  specsDir,
  type Exchange as SpecExchange,
  type LoadedSpec,
  type SpecName,
} from './spec/openapi.ts';
export { preciseNow, type SandboxClock } from './clock.ts';
