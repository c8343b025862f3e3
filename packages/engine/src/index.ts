export {
  applyPlan,
  wantedDeliveries,
  planDiff,
  countMarks,
  type ApplyOptions,
  type ApplyResult,
  type DiffEntry,
  type DiffMark,
  type DiffCounts,
} from './apply.ts';
export {
  ConnectorRegistry,
  ConfigurationError,
  kvSessionStore,
  type ConnectorOptions,
} from './connectors.ts';
export {
  finishWithAudit,
  type ImageRenderer,
  type ImageSlot,
  type JobInfo,
  type ProcessContext,
  type ProcessResult,
} from './job.ts';
export { OrgSettingsCache, NoPlanError, type OrgSettings } from './org-settings.ts';
export { policyRefusal } from './policy.ts';
export { restoreProfile, whereToFindOf, ProfileError, type RestoreResult } from './profile.ts';
export { processDelivery, idempotencyKey } from './publish.ts';
export { reconcileOutbox, type ReconcileResult } from './reconcile.ts';
export { startWorkerRuntime, type WorkerRuntime, type WorkerRuntimeOptions } from './runtime.ts';
export { planStatus, type PlanStatus, type StatusRow } from './status.ts';
