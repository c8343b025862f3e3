/** `sunset plan validate | preview | schema`. */
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { compile, planJsonSchemaText, readPlanFile } from '@sunset/plan';
import type { Io } from '../io.ts';
import { renderDiagnostics } from '../render/diagnostics.ts';
import { previewJson, renderPreview } from '../render/preview.ts';
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

export function displayName(file: string): string {
  const rel = path.relative(process.cwd(), path.resolve(file));
  return rel.startsWith('..') ? file : rel;
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function planCommand(io: Io): Command {
  const plan = new Command('plan').description('check, preview and (later) apply an exit plan');

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
      const results = files.map((file) => {
        const name = displayName(file);
        const r = readPlanFile(name, options.now ? { now: options.now } : {});
        return { file: name, ...r };
      });
      if (options.json) {
        const out = results.map((r) => ({
          file: r.file,
          valid: r.ok,
          errors: r.diagnostics.filter((d) => d.severity === 'error').length,
          warnings: r.diagnostics.filter((d) => d.severity === 'warning').length,
          diagnostics: r.diagnostics,
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
      const r = readPlanFile(name, options.now ? { now: options.now } : {});
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
      if (options.json) io.out(JSON.stringify(previewJson(r.plan, compiled, r.diagnostics), null, 2));
      else renderPreview(io, r.plan, compiled, r.diagnostics);
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
