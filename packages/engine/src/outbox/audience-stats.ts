/**
 * The audience's follower counts as people read them: each network's history, its first and
 * latest reading and the change between, the state of the worker's task that reads it, and the
 * sunset instant, which the dashboard marks on its chart.
 */
import { NETWORKS, type Network } from '@sunset/core';
import { parseTimeExpression, resolveExpression } from '@sunset/plan';
import type { Store } from '@sunset/store';
import type { OrgSettings } from './org-settings.ts';

export interface FollowerPoint {
  at: string;
  count: number;
}

export interface NetworkFollowers {
  network: Network;
  first?: FollowerPoint;
  latest?: FollowerPoint;
  /** latest − first. */
  change?: number;
  /** The worker's reading task: ok, skipped (X's budget), error; when next. */
  task?: { status?: string; message?: string; ranAt?: string; nextAt?: string };
  history: FollowerPoint[];
}

export interface FollowerStats {
  organisationId: string;
  /** The plan's sunset, when a plan is applied. */
  sunset?: string;
  networks: NetworkFollowers[];
}

/** The plan's sunset instant, or undefined when it cannot be read. */
export function sunsetOf(settings: OrgSettings | undefined): Date | undefined {
  if (!settings) return undefined;
  const doc = settings.document;
  try {
    return resolveExpression(parseTimeExpression(doc.sunset.at), doc.organisation.timezone).instant;
  } catch {
    return undefined;
  }
}

export async function followerStats(
  store: Store,
  organisationId: string,
  settings: OrgSettings | undefined,
  filter: { since?: Date } = {},
): Promise<FollowerStats> {
  const readings = await store.watch.followers(organisationId, filter);
  const tasks = await store.watch.tasks(organisationId);
  const configured = settings ? NETWORKS.filter((n) => settings.document.networks[n]) : [];
  const networks = NETWORKS.filter((n) => configured.includes(n) || readings.some((r) => r.network === n));
  const sunset = sunsetOf(settings);
  return {
    organisationId,
    ...(sunset ? { sunset: sunset.toISOString() } : {}),
    networks: networks.map((network) => {
      const history = readings
        .filter((r) => r.network === network)
        .map((r) => ({ at: r.at.toISOString(), count: r.count }));
      const first = history[0];
      const latest = history.at(-1);
      const task = tasks.find((t) => t.task === `followers:${network}`);
      return {
        network,
        ...(first ? { first } : {}),
        ...(latest ? { latest } : {}),
        ...(first && latest ? { change: latest.count - first.count } : {}),
        ...(task
          ? {
              task: {
                ...(task.status ? { status: task.status } : {}),
                ...(task.message ? { message: task.message } : {}),
                ...(task.ranAt ? { ranAt: task.ranAt.toISOString() } : {}),
                ...(task.nextAt ? { nextAt: task.nextAt.toISOString() } : {}),
              },
            }
          : {}),
        history,
      };
    }),
  };
}
