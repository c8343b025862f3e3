// Sandbox servers of each network, on 127.0.0.1, for tests and the demo. A separate entry point
// so that production code never loads them (the Bluesky one embeds a whole PDS).
export { startXSandbox, type XSandbox, type XSandboxOptions, type XSandboxFault } from './x/sandbox.ts';
export {
  startBlueskySandbox,
  type BlueskySandbox,
  type BlueskySandboxOptions,
  type BlueskyFault,
} from './bluesky/sandbox.ts';
export {
  startMastodonSandbox,
  type MastodonSandbox,
  type MastodonSandboxOptions,
  type MastodonFault,
} from './mastodon/sandbox.ts';
export { preciseNow } from './sandbox-clock.ts';
