export {
  PlanSchema,
  type PlanDocument,
  type PostDocument,
  type ProfileDocument,
  type FeedDocument,
  type AudienceDocument,
  type AudienceAccountDocument,
} from './schema.ts';
export {
  audienceBlueskyHandles,
  audienceKeys,
  audienceMembers,
  derivedRecordKey,
  listItemKey,
  mastodonProfileUrl,
  starterPackUrl,
  type AudienceKeys,
  type AudienceMember,
  type AudienceRelation,
  type AudienceSource,
} from './audience.ts';
export { DEFAULT_FEED_INTERVAL_MS, feedIntervalMs } from './feeds.ts';
export { isPlanDocument, isPlanSettings, planProblem, type PlanSettings } from './stored.ts';
export { planJsonSchema, planJsonSchemaText } from './json-schema.ts';
export { formatDiagnostic, type Diagnostic, type Severity } from './diagnostics.ts';
export { PlanSource } from './source.ts';
export {
  readPlanFile,
  validatePlan,
  sunsetOf,
  instantOf,
  textLimitsOf,
  type Plan,
  type ValidateOptions,
  type ValidationResult,
} from './validate.ts';
export {
  compile,
  canonicalJson,
  type Action,
  type PostAction,
  type ProfileAction,
  type PolicyAction,
  type AudienceAction,
  type CompiledPlan,
  type CompiledImage,
  type CompiledImageSpec,
  type XAfter,
} from './compile.ts';
export { PLACEHOLDERS, expand, placeholderValues, type Placeholder } from './placeholders.ts';
export {
  formatLocal,
  formatUtc,
  parseTimeExpression,
  resolveExpression,
  resolveLocal,
  type TimeExpr,
} from './time.ts';
export { xPlanCost, type XPlanCost, type XPostCost } from './x-costs.ts';
