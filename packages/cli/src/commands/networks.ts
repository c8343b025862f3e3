/** `sunset networks check <plan>`: log in to each network the plan configures and say who we are. */
import { readFileSync } from 'node:fs';
import { Command, Option } from '@commander-js/extra-typings';
import { NETWORK_LABELS, NETWORKS, type Network } from '@sunset/core';
import type { AccountInfo, Connector } from '@sunset/networks';
import { readPlanFile } from '@sunset/plan';
import { resumeX } from '@sunset/engine/outbox';
import { CliExit } from '../exit.ts';
import { withQueues, withStore } from '../state.ts';
import type { Io } from '../io.ts';
import { renderDiagnostics } from '../render/diagnostics.ts';

interface CheckResult {
  network: Network;
  ok: boolean;
  account?: AccountInfo;
  problem?: string;
}

/** The account the plan names, in the form verifyCredentials gives, to catch a wrong token. */
function expectedHandle(network: Network, plan: ReturnType<typeof readPlanFile>['plan']): string | undefined {
  const n = plan?.document.networks;
  if (network === 'x' && n?.x) return `@${n.x.account.replace(/^@/, '')}`;
  if (network === 'bluesky' && n?.bluesky) return `@${n.bluesky.handle.replace(/^@/, '')}`;
  if (network === 'mastodon' && n?.mastodon) return `@${n.mastodon.account.replace(/^@/, '')}`;
  return undefined;
}

/**
 * Mastodon accounts are compared by name only: an account's domain may differ from its server's
 * host (WebFinger delegation), and the server the plan names is the one that answered.
 */
function sameAccount(network: Network, actual: string, expected: string): boolean {
  const norm = (h: string) =>
    (network === 'mastodon' ? h.replace(/^@/, '').split('@')[0] : h.replace(/^@/, ''))?.toLowerCase();
  return norm(actual) === norm(expected);
}

export function networksCommand(io: Io): Command {
  const networks = new Command('networks').description(
    'check the accounts of the networks a plan configures',
  );
  networks
    .command('check')
    .description(
      'log in to each configured network with the credentials the plan points to, and print who it is',
    )
    .argument('<plan>', 'plan file (YAML)')
    .addOption(new Option('--network <name...>', 'only these networks').choices([...NETWORKS]))
    .option(
      '--timeout <ms>',
      'time limit of each request, in milliseconds',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n <= 0)
          throw new CliExit(2, `--timeout: "${v}" is not a positive whole number`);
        return n;
      },
      15_000,
    )
    .option('--ca-file <pem>', 'extra certificate authority to trust for X (a proxy or the sandbox)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      "\nCredentials are read from where the plan says, inside its organisation's namespace (env:ORG__NAME, or\n" +
        'file:name in SUNSET_SECRETS_DIR/<org>/, default /run/secrets); nothing is posted.\n' +
        'Exit status: 0 when every account answers and matches the plan, 1 otherwise.\n' +
        '\nExample:\n  $ VILLE_DE_TOURS__MASTODON_TOKEN=… pnpm sunset networks check config/plans/ville-de-tours.yaml --network mastodon',
    )
    .action(async (file, options) => {
      // Loaded here, not at the top: every other command (plan apply first) starts without the connectors.
      const { connectorConfigsFromPlan, loadConnector, isNetworkError } = await import('@sunset/networks');
      const r = readPlanFile(file, { secretsDir: io.config.secretsDir });
      if (!r.plan) {
        renderDiagnostics(io, r.diagnostics);
        throw new CliExit(1, `${file} is not valid: fix it first (sunset plan validate ${file})`);
      }
      let xCa: string | undefined;
      if (options.caFile) {
        try {
          xCa = readFileSync(options.caFile, 'utf8');
        } catch {
          throw new CliExit(2, `--ca-file: cannot read ${options.caFile}`);
        }
      }
      const { configs, problems } = connectorConfigsFromPlan(r.plan.document.networks, {
        secrets: {
          organisationId: r.plan.document.organisation.id,
          env: io.config.env,
          secretsDir: io.config.secretsDir,
        },
        timeoutMs: options.timeout,
        ...(xCa ? { xCa } : {}),
        ...(options.network ? { only: options.network } : {}),
      });
      const results: CheckResult[] = [];
      for (const problem of problems) {
        const network = NETWORKS.find((n) => problem.startsWith(`networks.${n}.`)) ?? 'x';
        if (!results.some((x) => x.network === network)) results.push({ network, ok: false, problem });
        else {
          const prev = results.find((x) => x.network === network);
          if (prev) prev.problem = `${prev.problem}; ${problem.replace(/^networks\.\w+\./, '')}`;
        }
      }
      await Promise.all(
        configs.map(async (config) => {
          let connector: Connector | undefined;
          try {
            // Settings the connector cannot use reject here, reported like any other problem.
            connector = await loadConnector(config);
            const account = await connector.verifyCredentials();
            const expected = expectedHandle(config.network, r.plan);
            if (expected && !sameAccount(config.network, account.handle, expected)) {
              results.push({
                network: config.network,
                ok: false,
                account,
                problem: `these credentials log in as ${account.handle}, but the plan names ${expected}`,
              });
            } else results.push({ network: config.network, ok: true, account });
          } catch (err) {
            const problem = isNetworkError(err)
              ? `${err.message}${err.remoteMessage && !err.message.includes(err.remoteMessage) ? ` (${err.remoteMessage})` : ''}`
              : err instanceof Error
                ? err.message
                : String(err);
            results.push({ network: config.network, ok: false, problem });
          } finally {
            await connector?.close();
          }
        }),
      );
      results.sort((a, b) => NETWORKS.indexOf(a.network) - NETWORKS.indexOf(b.network));
      if (options.json) {
        io.out(JSON.stringify({ plan: file, ok: results.every((x) => x.ok), networks: results }, null, 2));
      } else {
        const c = io.colours;
        io.out(`${r.plan.document.organisation.name} (${file})`);
        for (const x of results) {
          const label = NETWORK_LABELS[x.network].padEnd(9);
          if (x.ok && x.account) {
            io.out(
              `  ${c.green('✓')} ${label}${x.account.handle}${x.account.displayName ? ` “${x.account.displayName}”` : ''}  ${c.dim(`id ${x.account.id}`)}  ${x.account.url}`,
            );
          } else {
            io.out(`  ${c.red('✗')} ${label}${c.red(x.problem ?? 'failed')}`);
          }
        }
      }
      if (results.length === 0) throw new CliExit(1, 'the plan configures none of the networks asked for');
      if (results.some((x) => !x.ok)) throw new CliExit(1);
    });
  networks
    .command('resume')
    .description(
      "send ordinary X posts again after X was paused (its credits ran out): once credits are bought in X's developer console",
    )
    .argument('<network>', 'the network to resume: x')
    .argument('<organisation>', 'organisation id')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nThe held X posts of the organisation are queued again (audited); crisis posts were never held.\n' +
        'Works on the store (DATABASE_URL) and Redis (REDIS_URL); with Redis away the worker queues them when it\n' +
        'next reconciles.\n\nExample:\n  $ pnpm sunset networks resume x ville-de-tours',
    )
    .action(async (network, organisation, options) => {
      if (network !== 'x')
        throw new CliExit(2, `only X pauses for credits: "${network}" has nothing to resume`);
      const result = await withStore(io, async (store) => {
        if (!(await store.organisations.get(organisation))) {
          throw new CliExit(1, `there is no organisation "${organisation}"`);
        }
        return withQueues(io, (queues) =>
          resumeX({
            store,
            ...(queues ? { queues } : {}),
            organisationId: organisation,
            actor: io.config.actor,
          }),
        );
      });
      if (options.json) io.out(JSON.stringify(result, null, 2));
      else
        io.out(
          `X resumed for ${organisation}${result.wasPaused ? '' : ' (it was not paused)'}: ${result.requeued} held post${result.requeued === 1 ? '' : 's'} queued again`,
        );
    });

  return networks;
}
