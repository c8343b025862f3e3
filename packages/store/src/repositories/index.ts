/**
 * The repositories over one Kysely handle: the pool (each call its own statement or short
 * transaction) or a transaction's connection (every call inside it). One module per table group;
 * the delivery methods whose statements differ by dialect come from sqlite.ts or postgres/,
 * chosen here once, when the repositories are made.
 */
import type { Repositories } from '../types.ts';
import { auditRepository } from './audit.ts';
import { blobsRepository } from './blobs.ts';
import type { RepoContext } from './context.ts';
import { deliveriesRepository } from './deliveries.ts';
import { kvRepository } from './kv.ts';
import { leaseMethods } from './leases.ts';
import { organisationsRepository } from './organisations.ts';
import { plansRepository } from './plans.ts';
import { postgresDeliveries } from './postgres/deliveries.ts';
import { postsRepository } from './posts.ts';
import { profilesRepository } from './profiles.ts';
import { replaceMany } from './replace.ts';
import { sqliteDeliveries } from './sqlite.ts';
import { tokensRepository } from './tokens.ts';

export type { RepoContext } from './context.ts';
export { chainAudit, type KnownHead, type PendingAudit } from './audit.ts';
export { LeaseLostError } from './leases.ts';

export function createRepositories(ctx: RepoContext): Repositories {
  return {
    organisations: organisationsRepository(ctx),
    plans: plansRepository(ctx),
    blobs: blobsRepository(ctx),
    posts: postsRepository(ctx),
    deliveries: {
      ...deliveriesRepository(ctx),
      ...leaseMethods(ctx),
      replaceMany: replaceMany(ctx),
      ...(ctx.dialect === 'postgres' ? postgresDeliveries(ctx) : sqliteDeliveries(ctx)),
    },
    profiles: profilesRepository(ctx),
    tokens: tokensRepository(ctx),
    kv: kvRepository(ctx),
    audit: auditRepository(ctx),
  };
}
