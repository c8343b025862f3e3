// Everything of the engine, the worker side (which talks to networks) included. Services that
// must never reach a network (the API) import '@sunset/engine/outbox' instead.
export * from './outbox.ts';
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
export { startWorkerRuntime, type WorkerRuntime, type WorkerRuntimeOptions } from './runtime.ts';
