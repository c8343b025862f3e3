// The producer side of the engine: what writes plans and posts to the store and the queues, and
// reads where they stand. None of it talks to a network, so the API can use it.
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
export { OrgSettingsCache, NoPlanError, type OrgSettings } from './org-settings.ts';
export { policyRefusal } from './policy.ts';
export {
  submitPost,
  postIdForKey,
  approveCrisis,
  postState,
  composeText,
  NotAcceptedError,
  ApprovalError,
  IdempotencyConflictError,
  type CapInfo,
  type KeySpace,
  type PostActor,
  type PostImageInput,
  type PostState,
  type PostsContext,
  type SubmitPostInput,
  type SubmitResult,
  type SubmitState,
} from './posts.ts';
export { reconcileOutbox, type ReconcileResult } from './reconcile.ts';
export { planStatus, type PlanStatus, type StatusRow, type NetworkState } from './status.ts';
