export { BLUESKY_LIMITS, createBlueskyConnector } from './connector.ts';
export { recordKeyFor } from './record-key.ts';
export {
  startBlueskySandbox,
  type BlueskyFault,
  type BlueskySandbox,
  type BlueskySandboxOptions,
  type InjectOptions,
  type ReceivedRequest,
  type SandboxAccount,
} from './sandbox.ts';
