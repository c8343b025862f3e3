/**
 * The repositories over one Kysely handle: the pool (each call its own statement or short
 * transaction) or a transaction's connection (every call inside it). One module per table group;
 * the delivery methods whose statements differ by dialect come from sqlite.ts or postgres/,
 * chosen here once, when the repositories are made.
 */
import { guardGroup } from '../errors.ts';
import type { Repositories } from '../types.ts';
import { auditRepository } from './audit.ts';
import { blobsRepository } from './blobs.ts';
import type { RepoContext } from './context.ts';
import { deliveriesRepository } from './deliveries.ts';
import { feedsRepository } from './feeds.ts';
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
import { watchRepository } from './watch.ts';
import { xSpendRepository } from './x-spend.ts';

export type { RepoContext } from './context.ts';
export { chainAudit, type KnownHead, type PendingAudit } from './audit.ts';
export { LeaseLostError } from './leases.ts';

/**
 * Every method's errors that mean "the database is out of reach" come out as StoreUnavailableError
 * (errors.ts). This is done here, on the repositories (and in open.ts on the store's own methods),
 * not in a Kysely plugin or a driver wrapper: plugins never see errors, and Kysely throws "driver has
 * already been destroyed" above the driver, so only the methods' boundary catches every path.
 */
export function createRepositories(ctx: RepoContext): Repositories {
  const repositories: Repositories = {
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
    xSpend: xSpendRepository(ctx),
    feeds: feedsRepository(ctx),
    watch: watchRepository(ctx),
    audit: auditRepository(ctx),
  };
  for (const key of Object.keys(repositories) as (keyof Repositories)[]) {
    (repositories as Record<keyof Repositories, object>)[key] = guardGroup(repositories[key]);
  }
  return repositories;
}
