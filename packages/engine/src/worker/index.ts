// The worker side of the engine: it takes jobs off the queues and talks to the networks. It may
// use the outbox side; the outbox side never uses it (eslint.config.js).
export {
  ConnectorRegistry,
  ConfigurationError,
  kvSessionStore,
  type ConnectorOptions,
} from './connectors.ts';
export { openState, sealState } from './sealed-state.ts';
export {
  finishWithAudit,
  type ImageRenderer,
  type ImageSlot,
  type JobInfo,
  type ProcessContext,
  type ProcessResult,
} from './job.ts';
export { restoreProfile, whereToFindOf, ProfileError, type RestoreResult } from './profile.ts';
export { processDelivery, idempotencyKey, LeaseHeldError, WaitingForOriginalError } from './publish.ts';
export {
  startWatch,
  xReadRefusal,
  xProfileCheck,
  DEFAULT_FOLLOWER_INTERVALS_MS,
  DEFAULT_IDENTITY_INTERVAL_MS,
  type Watch,
  type WatchOptions,
} from './watch.ts';
export { startFeedWatcher, type FeedWatcher, type FeedWatcherOptions } from './feeds.ts';
export { startWorkerRuntime, type WorkerRuntime, type WorkerRuntimeOptions } from './runtime.ts';
