/** `sunset plan validate | preview | schema`. */
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import {
  applyPlan,
  OrgSettingsCache,
  planStatus,
  type ApplyResult,
  type PlanStatus,
} from '@sunset/engine/outbox';
import { apiClientOf } from '../api-client.ts';
import { compile, planJsonSchemaText, readPlanFile, xPlanCost } from '@sunset/plan';
import { parseXPrices, type XPriceTable } from '@sunset/text';
import type { Io } from '../io.ts';
import { renderDiagnostics } from '../render/diagnostics.ts';
import { renderApply, renderStatus } from '../render/engine.ts';
import { previewJson, renderPreview, renderXCost } from '../render/preview.ts';
import { withQueues, withStore } from '../state.ts';
import { CliExit } from '../exit.ts';

function parseNow(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new CliExit(2, `--now: "${value}" is not a date and time (e.g. 2027-01-13T08:00Z)`);
  return d;
}

const nowOption = () =>
  new Option(
    '--now <instant>',
    'check as if it were this instant (ISO 8601), e.g. to see which times will be past',
  ).argParser(parseNow);

/** The operator's X prices (SUNSET_X_PRICES) over X's published ones; a bad value is a usage error. */
export function xPrices(io: Io): XPriceTable {
  try {
    return parseXPrices(io.config.xPrices);
  } catch (err) {
    throw new CliExit(2, `SUNSET_X_PRICES: ${(err as Error).message}`);
  }
}

export function displayName(file: string): string {
  const rel = path.relative(process.cwd(), path.resolve(file));
  return rel.startsWith('..') ? file : rel;
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function planCommand(io: Io): Command {
  const plan = new Command('plan').description(
    'check, preview, apply an exit plan and follow where it stands',
  );

  plan
    .command('validate')
    .description('check exit plans; prints every problem as file:line:column  path  message')
    .argument('<files...>', 'plan files (YAML)')
    .option('--json', 'print the result as JSON, for machines')
    .addOption(nowOption())
    .addHelpText(
      'after',
      '\nExit status: 0 when every plan is valid (warnings allowed), 1 when one has an error, 2 on bad usage.\n' +
        '\nExample:\n  $ pnpm sunset plan validate config/plans/ville-de-tours.yaml',
    )
    .action((files, options) => {
      const prices = xPrices(io);
      const results = files.map((file) => {
        const name = displayName(file);
        const r = readPlanFile(name, {
          secretsDir: io.config.secretsDir,
          ...(options.now ? { now: options.now } : {}),
        });
        const xCost = r.plan?.document.networks.x ? xPlanCost(compile(r.plan), prices) : undefined;
        return { file: name, ...r, xCost };
      });
      if (options.json) {
        const out = results.map((r) => ({
          file: r.file,
          valid: r.ok,
          errors: r.diagnostics.filter((d) => d.severity === 'error').length,
          warnings: r.diagnostics.filter((d) => d.severity === 'warning').length,
          diagnostics: r.diagnostics,
          ...(r.xCost ? { xCost: r.xCost } : {}),
        }));
        io.out(JSON.stringify(files.length === 1 ? out[0] : out, null, 2));
      } else {
        const c = io.colours;
        for (const r of results) {
          renderDiagnostics(io, r.diagnostics);
          const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
          const warnings = r.diagnostics.length - errors;
          if (r.ok) {
            io.out(`${c.green('✓')} ${r.file} is valid${warnings ? ` (${count(warnings, 'warning')})` : ''}`);
            if (r.xCost) renderXCost(io, r.xCost);
          } else {
            io.out(
              `${c.red('✗')} ${r.file}: ${count(errors, 'error')}${warnings ? `, ${count(warnings, 'warning')}` : ''}`,
            );
          }
        }
      }
      if (results.some((r) => !r.ok)) throw new CliExit(1);
    });

  plan
    .command('preview')
    .description(
      'show what a plan will do: the timeline in local time and UTC, each post as it will read on each network with its length, thread splits, profile changes',
    )
    .argument('<file>', 'plan file (YAML)')
    .option('--json', 'print the compiled plan as JSON, for machines')
    .addOption(nowOption())
    .addHelpText('after', '\nExample:\n  $ pnpm sunset plan preview config/plans/ville-de-tours.yaml')
    .action((file, options) => {
      const name = displayName(file);
      const r = readPlanFile(name, {
        secretsDir: io.config.secretsDir,
        ...(options.now ? { now: options.now } : {}),
      });
      if (!r.plan) {
        if (options.json) {
          io.out(JSON.stringify({ file: name, valid: false, diagnostics: r.diagnostics }, null, 2));
        } else {
          renderDiagnostics(io, r.diagnostics);
          io.out(`${io.colours.red('✗')} ${name} is not valid: nothing to preview`);
        }
        throw new CliExit(1);
      }
      const compiled = compile(r.plan);
      const xCost = xPlanCost(compiled, xPrices(io));
      if (options.json) io.out(JSON.stringify(previewJson(r.plan, compiled, r.diagnostics, xCost), null, 2));
      else renderPreview(io, r.plan, compiled, r.diagnostics, xCost);
    });

  plan
    .command('apply')
    .description(
      'apply an exit plan: schedule its posts and profile changes, replace what changed, cancel what was removed; prints the diff',
    )
    .argument('<file>', 'plan file (YAML)')
    .option('--dry-run', 'show the diff without changing anything')
    .option('--json', 'print the result as JSON, for machines')
    .addOption(nowOption())
    .addHelpText(
      'after',
      '\nThe diff marks each action: + added, ~ changed (rescheduled), - cancelled, = unchanged, ✓ already done\n' +
        '(never posted again, even if the plan changed it).\n' +
        '\nWith SUNSET_API_URL and a planner token it goes through the API (images are read from the\n' +
        "server's plans folder). Otherwise it works on the store (DATABASE_URL, default ./data/sunset.db) and Redis (REDIS_URL, default\n" +
        'redis://127.0.0.1:6379). With Redis away the store is still updated and the worker queues the jobs\n' +
        'when it next reconciles.\n' +
        '\nExit status: 0 applied (or nothing to change), 1 the plan is not valid (nothing changed), 69 the\n' +
        'store cannot be opened.\n' +
        '\nExample:\n  $ pnpm sunset plan apply config/plans/ville-de-tours.yaml',
    )
    .action(async (file, options) => {
      const name = displayName(file);
      const r = readPlanFile(name, {
        secretsDir: io.config.secretsDir,
        ...(options.now ? { now: options.now } : {}),
      });
      if (!r.plan) {
        if (options.json)
          io.out(JSON.stringify({ file: name, valid: false, diagnostics: r.diagnostics }, null, 2));
        else {
          renderDiagnostics(io, r.diagnostics);
          io.out(`${io.colours.red('✗')} ${name} is not valid: nothing was changed`);
        }
        throw new CliExit(1);
      }
      const valid = r.plan;
      if (!options.json) renderDiagnostics(io, r.diagnostics);
      const client = apiClientOf(io);
      const result: ApplyResult = client
        ? await client.json<ApplyResult>(
            'POST',
            `/v1/plans?file=${encodeURIComponent(path.basename(name))}${options.dryRun ? '&dryRun=true' : ''}`,
            { body: valid.source, type: 'application/yaml' },
          )
        : await withStore(io, (store) =>
            withQueues(io, async (queues, problem) => {
              const applied = await applyPlan({
                store,
                ...(queues ? { queues } : {}),
                plan: valid,
                actor: io.config.actor,
                dryRun: options.dryRun ?? false,
              });
              return problem && !applied.dryRun ? { ...applied, queueError: problem } : applied;
            }),
          );
      if (options.json) io.out(JSON.stringify({ file: name, valid: true, ...result }, null, 2));
      else renderApply(io, result, valid.document.organisation.timezone, name);
    });

  plan
    .command('status')
    .description(
      "show where an organisation's exit stands: each action with its state on every network, links and errors",
    )
    .argument('<organisation>', 'the organisation id of the plan (organisation.id)')
    .option('--json', 'print the status as JSON, for machines')
    .addHelpText(
      'after',
      '\nReads the store only (DATABASE_URL). Exit status: 0, or 1 when the organisation has no applied plan.\n' +
        '\nExample:\n  $ pnpm sunset plan status ville-de-tours',
    )
    .action(async (organisation, options) => {
      const client = apiClientOf(io);
      if (client) {
        const current = await client.json<PlanStatus & { timezone: string }>('GET', '/v1/plans/current');
        if (current.organisationId !== organisation) {
          throw new CliExit(
            1,
            `sunset: this token belongs to ${current.organisationId}, not ${organisation}`,
          );
        }
        if (options.json) io.out(JSON.stringify(current, null, 2));
        else renderStatus(io, current, current.timezone);
        return;
      }
      const found = await withStore(io, async (store) => {
        const status = await planStatus(store, organisation);
        if (status.version === undefined) return undefined;
        const settings = await new OrgSettingsCache(store).get(organisation);
        return { status, zone: settings.document.organisation.timezone };
      });
      if (!found) {
        if (options.json) io.out(JSON.stringify({ organisationId: organisation, applied: false }, null, 2));
        throw new CliExit(
          1,
          `sunset: ${organisation} has no applied plan (run sunset plan apply <file> first)`,
        );
      }
      if (options.json) io.out(JSON.stringify(found.status, null, 2));
      else renderStatus(io, found.status, found.zone);
    });

  plan
    .command('schema')
    .description(
      'print the JSON Schema of exit plans (the one in config/schema/plan.schema.json), for editors',
    )
    .action(() => {
      io.out(planJsonSchemaText().trimEnd());
    });

  return plan;
}
