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
  approvePost,
  NotAcceptedError,
  ApprovalError,
  IdempotencyConflictError,
  type KeySpace,
  type PostsContext,
} from './posts.ts';
export { postState, findPostState, type PostState } from './post-state.ts';
export {
  cancelPost,
  editPost,
  retryDelivery,
  type PostChangeInput,
  type PostChangeResult,
  type PostEdit,
} from './post-edit.ts';
export { queueListing, type QueueItem, type QueueNetwork } from './upcoming.ts';
export type {
  CapInfo,
  PostActor,
  PostImageInput,
  SubmitPostInput,
  SubmitResult,
  SubmitState,
} from './post-types.ts';
export { composeText, preview, type Preview, type PreviewInput, type PreviewNetwork } from './compose.ts';
export { capAlertSubmission, capSubmission, CapReferenceError, CAP_TYPES } from './cap.ts';
export { feedIdOf, feedListing, type FeedListing } from './feeds.ts';
export { reconcileOutbox, type ReconcileResult } from './reconcile.ts';
export {
  followerStats,
  sunsetOf,
  type FollowerStats,
  type FollowerPoint,
  type NetworkFollowers,
} from './audience-stats.ts';
export { planStatus, type PlanStatus, type StatusRow, type NetworkState } from './status.ts';
export {
  CREDITS_EXHAUSTED_REASON,
  monthStart,
  resumeX,
  xPauseOf,
  xStatus,
  XHeldUntilError,
  type ResumeXResult,
  type XPause,
  type XStatus,
} from './x-economy.ts';
// X's price table, for the services that set it (SUNSET_X_PRICES) and show costs.
export {
  costOf,
  DEFAULT_X_PRICES,
  formatUsd,
  parseXPrices,
  xLinkCostWarning,
  type XPriceTable,
} from '@sunset/text';
export {
  approverRoles,
  checkRoutes,
  describeChannel,
  NO_NOTIFICATIONS,
  notificationRoutes,
  notify,
  NOTIFY_EVENTS,
  parseNotificationSettings,
  RECIPIENT_GROUPS,
  setNotificationRoutes,
  type EmailChannel,
  type NotificationChannel,
  type NotificationRoute,
  type NotificationRoutes,
  type NotificationSettings,
  type NotifyEvent,
  type NotifyEventName,
  type OrganisationNotifications,
  type WebhookChannel,
} from './notifications.ts';
