/**
 * `pnpm bench`: runs every benchmark (or `--only <name>[,<name>]`), each `--runs N` measured
 * rounds (default 5) after a warm-up round that is not counted, throughput rounds of about
 * `--seconds S` each (default 5; `--quick`: 3 rounds of about 2 s), prints progress, then writes
 * docs/BENCHMARKS.md and docs/benchmarks.json with the median, min and max of each figure
 * against its target, whether it is bound to the machine or a ratio to the tool underneath
 * measured in the same run, and the machine it ran on. A benchmark
 * whose own checks fail (a post lost or sent twice, a count that does not match, a broken audit
 * chain) makes the whole run exit non-zero, loudly, and nothing is written. With --only the
 * documents are written only when --write is given too (a partial table must not replace the
 * full one by accident). Each benchmark runs in a process of its own (`--child`, see groupsOf).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_POSTGRES_URL } from '@sunset/store/testing';
import { apiLoad } from './api-load.ts';
import {
  AGREEMENT,
  compare,
  comparisonMarkdown,
  readEarlier,
  type Comparison,
  type Result,
} from './compare.ts';
import { audit } from './audit.ts';
import { connectorCpu } from './connector-cpu.ts';
import { crisisLatency } from './crisis-latency.ts';
import {
  BenchCheckError,
  fmt,
  isRatio,
  killAllSpawned,
  median,
  pg,
  ROOT,
  type Benchmark,
  type FigureSpec,
} from './lib.ts';
import { memory } from './memory.ts';
import { planApply } from './plan-apply.ts';
import { regional } from './regional.ts';
import { scheduling } from './scheduling.ts';
import { takeover } from './takeover.ts';
import { throughput } from './throughput.ts';

// memory reads what throughput measured, so it runs right after it.
const ALL: Benchmark[] = [
  planApply,
  audit,
  scheduling,
  crisisLatency,
  throughput,
  memory,
  apiLoad,
  connectorCpu,
  takeover,
  regional,
];

/** How much each benchmark measures (BenchContext). */
interface Rounds {
  runs: number;
  seconds: number;
  quick: boolean;
  seed: number;
}

/** A wrong command line: said in one line, exit code 2, no stack. */
class UsageError extends Error {}

function parseArgs(argv: string[]): Rounds & {
  only?: string[];
  write: boolean;
  child?: string[];
  results?: string;
  against?: string;
} {
  let only: string[] | undefined;
  let childNames: string[] | undefined;
  let results: string | undefined;
  let against: string | undefined;
  let runs: number | undefined;
  let seconds: number | undefined;
  let quick = false;
  let seed = 25;
  let write = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--runs') runs = Number(argv[++i]);
    else if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--quick') quick = true;
    else if (a === '--seed') seed = Number(argv[++i]);
    else if (a === '--write') write = true;
    else if (a === '--child') childNames = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--results') results = argv[++i];
    else if (a === '--against') against = argv[++i];
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        `pnpm bench [--only ${ALL.map((b) => b.name).join('|')}[,…]] [--runs N] [--seconds S] [--quick] [--seed N] [--write] [--against FILE]\n` +
          '  --against FILE: a benchmarks.json of an earlier run, set side by side with this one (default: docs/benchmarks.json as it was)\n',
      );
      process.exit(0);
    } else if (a !== '--') throw new UsageError(`unknown argument ${a}`);
  }
  runs ??= quick ? 3 : 5;
  seconds ??= quick ? 2 : 5;
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError('--runs takes a whole number ≥ 1');
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UsageError('--seed takes a whole number ≥ 0');
  if (!(seconds > 0 && seconds <= 60))
    throw new UsageError('--seconds takes a number of seconds above 0, at most 60');
  for (const name of only ?? []) {
    if (!ALL.some((b) => b.name === name))
      throw new UsageError(`no benchmark "${name}" (there are ${ALL.map((b) => b.name).join(', ')})`);
  }
  if (against !== undefined && !existsSync(against)) throw new UsageError(`--against: no file ${against}`);
  if (childNames && !results) throw new UsageError('--child needs --results <file> (run.ts passes both)');
  if (process.env['BENCH_CONFIGS'] && (write || only === undefined) && !childNames) {
    throw new UsageError(
      'BENCH_CONFIGS runs part of the throughput benchmark: use it with --only and without --write',
    );
  }
  return {
    ...(only ? { only } : {}),
    runs,
    seconds,
    quick,
    seed,
    write: write || only === undefined,
    ...(childNames ? { child: childNames } : {}),
    ...(results ? { results } : {}),
    ...(against ? { against } : {}),
  };
}

// A benchmark's own process counts from its parent's start (BENCH_T0), so that the times run on.
const t0 = Number(process.env['BENCH_T0'] ?? '') || Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s]`;
const say = (line: string) => process.stdout.write(`${stamp()} ${line}\n`);

function machine(): Record<string, string> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return 'unknown';
    }
  };
  const redis =
    /redis_version:(\S+)/.exec(run('redis-cli', ['-h', '127.0.0.1', 'info', 'server']))?.[1] ?? 'unknown';
  const postgres = run('psql', [
    '-h',
    '127.0.0.1',
    '-U',
    'postgres',
    '-d',
    'test',
    '-Atc',
    'show server_version',
  ]);
  return {
    cpu,
    cores: String(os.availableParallelism()),
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    redis,
    postgresql: postgres,
    os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
  };
}

function targetText(spec: FigureSpec): string {
  return spec.target ? `${spec.target.op === '<=' ? '≤' : '≥'} ${fmt(spec.target.value)}` : '—';
}

function markdown(
  results: Result[],
  facts: Map<string, string[]>,
  yardsticks: Map<string, number>,
  rounds: Rounds,
  m: Record<string, string>,
  comparison?: Comparison,
): string {
  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push(
    `Written by \`pnpm bench${rounds.quick ? ' --quick' : ''}\` (tests/bench/run.ts); do not edit by hand. ` +
      `Each figure is the median of ${rounds.runs} measured rounds, with the smallest and largest beside it; ` +
      'a warm-up round before them is not counted, and where its figure says something (a service just ' +
      'started, nothing cached) it has a line of its own, marked cold; throughput and API rounds have a ' +
      'second warm-up round, sized from the first, whose warm rate sizes them to last about ' +
      `${rounds.seconds} s each. Kind says what a figure is bound to: **absolute** figures are this ` +
      "machine's (read them beside the CPU yardstick timed just before their benchmark, on its title's " +
      'line, and under Machine); **ratio** figures divide one by the ' +
      'same measure of the tool underneath (plain BullMQ, a bare Fastify route, the connector called ' +
      'directly), taken in the same run, round by round, and are the ones to compare across machines. ' +
      'A figure over all rounds pooled is one number: it has no smallest and largest. ' +
      'How each is measured is written at the top of its file in ' +
      'tests/bench/ and summed up under the table. Everything runs on this one machine, on 127.0.0.1: the ' +
      'sandbox servers, Redis, PostgreSQL and the measured processes share its cores. Each benchmark ' +
      'runs in a process of its own (memory with throughput), and between two PostgreSQL is ' +
      'checkpointed and the kernel flushes its dirty pages. The CPU yardstick under Machine times the same ' +
      'fixed work on every machine: figures from two machines compare through it.',
    '',
  );
  lines.push('| figure | kind | median | min | max | unit | target | met |');
  lines.push('| --- | --- | ---: | ---: | ---: | --- | --- | --- |');
  let current = '';
  for (const r of results) {
    if (r.title !== current) {
      current = r.title;
      const speed = yardsticks.get(r.title);
      lines.push(
        `| **${r.title}** | ${speed === undefined ? '' : `yardstick ${fmt(speed)} ms`} | | | | | | |`,
      );
    }
    lines.push(
      `| ${r.spec.label} | ${isRatio(r.spec) ? 'ratio' : 'absolute'} | ${fmt(r.median)} | ${r.values.length > 1 ? fmt(r.min) : ''} | ${r.values.length > 1 ? fmt(r.max) : ''} | ${r.spec.unit} | ${targetText(r.spec)} | ${
        r.met === undefined ? '' : r.met ? 'yes' : '**no**'
      } |`,
    );
  }
  lines.push('');
  if (comparison) lines.push(...comparisonMarkdown(comparison));
  lines.push('## Notes from the runs', '');
  for (const [bench, list] of facts) {
    if (list.length === 0) continue;
    lines.push(`**${bench}**`, '');
    for (const f of list) lines.push(`- ${f}`);
    lines.push('');
  }
  lines.push('## Machine', '');
  lines.push('| | |', '| --- | --- |');
  for (const [k, v] of Object.entries(m)) lines.push(`| ${k} | ${v} |`);
  lines.push('');
  return lines.join('\n');
}

/**
 * Between two benchmarks: PostgreSQL writes out what the last one left in its buffers and the
 * kernel flushes dirty pages, so that the next one does not pay for them. (The audit benchmark
 * writes a million rows to both stores: without this, PostgreSQL's checkpoint spread its writes
 * over the next minutes, through the scheduling, crisis and throughput runs.)
 */
async function settle(): Promise<void> {
  if (process.env['BENCH_NO_SETTLE']) return;
  const started = Date.now();
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  try {
    await client.connect();
    await client.query('checkpoint');
  } catch (err) {
    say(`   (no checkpoint between benchmarks: ${(err as Error).message})`);
  } finally {
    await client.end().catch(() => undefined);
  }
  try {
    execFileSync('sync', { stdio: 'ignore' });
  } catch {
    // not everywhere
  }
  say(`   settled in ${Date.now() - started} ms (checkpoint, sync)`);
}

/** Runs one benchmark in this process: its figures (medians against targets) and its notes. */
async function runBenchmark(
  bench: Benchmark,
  rounds: Rounds,
): Promise<{ results: Result[]; notes: string[] }> {
  const started = Date.now();
  say(`── ${bench.name}: ${bench.title}`);
  const values = new Map<string, number[]>(bench.figures.map((f) => [f.key, []]));
  const notes: string[] = [];
  await bench.run({
    ...rounds,
    progress: (message) => say(`   ${message}`),
    record(key, value) {
      const list = values.get(key);
      if (!list) throw new Error(`${bench.name} records an undeclared figure ${key}`);
      list.push(value);
    },
    fact(text) {
      notes.push(text);
      say(`   · ${text}`);
    },
  });
  const results: Result[] = [];
  for (const spec of bench.figures) {
    const v = values.get(spec.key) ?? [];
    if (v.length === 0) throw new BenchCheckError(`${bench.name}: figure "${spec.label}" has no value`);
    const med = median(v);
    results.push({
      benchmark: bench.name,
      title: bench.title,
      spec,
      values: v,
      median: med,
      min: Math.min(...v),
      max: Math.max(...v),
      ...(spec.target
        ? { met: spec.target.op === '<=' ? med <= spec.target.value : med >= spec.target.value }
        : {}),
    });
    say(`   = ${spec.label}: ${fmt(med)} ${spec.unit} (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})`);
  }
  say(`── ${bench.name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { results, notes };
}

interface GroupOutcome {
  results: Result[];
  facts: [string, string[]][];
}

/**
 * Each benchmark runs in a process of its own (memory with throughput, whose processes it
 * measures): the bench process hosts the sandbox servers, and one that had run the crisis
 * benchmark before was at ~500 MB and ~116 MB of heap instead of ~235 / 60, its collections
 * slowing the sandboxes' answers in the next benchmark.
 */
function groupsOf(chosen: Benchmark[]): Benchmark[][] {
  const groups: Benchmark[][] = [];
  for (const bench of chosen) {
    const last = groups.at(-1);
    if (bench === memory && last?.includes(throughput)) last.push(bench);
    else groups.push([bench]);
  }
  return groups;
}

async function runGroup(group: Benchmark[], rounds: Rounds): Promise<GroupOutcome> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-bench-'));
  const file = path.join(dir, 'results.json');
  try {
    const child = spawn(
      process.execPath,
      [
        ...process.execArgv,
        // settleRound (lib.ts) collects the bench process's garbage before a round of milliseconds.
        '--expose-gc',
        ...group.flatMap((b) => b.nodeFlags ?? []),
        fileURLToPath(import.meta.url),
        '--child',
        group.map((b) => b.name).join(','),
        '--runs',
        String(rounds.runs),
        '--seconds',
        String(rounds.seconds),
        ...(rounds.quick ? ['--quick'] : []),
        '--seed',
        String(rounds.seed),
        '--results',
        file,
      ],
      { stdio: 'inherit', env: { ...process.env, BENCH_T0: String(t0) } },
    );
    const end = await new Promise<string>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? String(code))),
    );
    if (end !== '0') {
      // Exit 1: the benchmark said why (above); anything else: its process died.
      const Failure = end === '1' ? BenchCheckError : Error;
      throw new Failure(
        `${group.map((b) => b.name).join(', ')} failed (its process exited ${end}); see above`,
      );
    }
    return JSON.parse(readFileSync(file, 'utf8')) as GroupOutcome;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--child names --results file`: runs those benchmarks here and writes what they found to the file. */
async function child(names: string[], rounds: Rounds, file: string): Promise<void> {
  const outcome: GroupOutcome = { results: [], facts: [] };
  for (const bench of ALL.filter((b) => names.includes(b.name))) {
    const { results, notes } = await runBenchmark(bench, rounds);
    outcome.results.push(...results);
    outcome.facts.push([bench.title, notes]);
  }
  writeFileSync(file, JSON.stringify(outcome));
}

/**
 * A fixed piece of CPU work (JSON out and back and SHA-256 over a 200-item document, 300 times),
 * timed on this process alone: the machine's speed at that moment, measured the same way on
 * every machine, so that figures from two machines (or two moments of a shared one) can be
 * compared. Median of 5 after 2 warm-ups, in ms; lower is faster.
 */
function yardstick(): number {
  const doc = {
    items: Array.from({ length: 200 }, (_, i) => ({ id: i, text: `Alerte canicule ${i}`, n: i * 1.5 })),
  };
  const once = () => {
    let hash = '';
    for (let i = 0; i < 300; i++) {
      const text = JSON.stringify(doc);
      hash = createHash('sha256')
        .update(text + hash)
        .digest('hex');
      JSON.parse(text);
    }
    return hash;
  };
  once();
  once();
  const times = Array.from({ length: 5 }, () => {
    const started = performance.now();
    once();
    return performance.now() - started;
  });
  return median(times);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child && args.results) return child(args.child, args, args.results);
  const chosen = ALL.filter((b) => !args.only || args.only.includes(b.name));
  say(
    `${chosen.length} benchmark(s), a warm-up and ${args.runs} measured round(s) each, throughput rounds of about ${args.seconds} s${
      args.quick ? ' (quick)' : ''
    }, random seed ${args.seed}: ${chosen.map((b) => b.name).join(', ')}`,
  );
  const results: Result[] = [];
  const facts = new Map<string, string[]>();
  const yardsticks = new Map<string, number>();
  const groups = groupsOf(chosen);
  const speeds: number[] = [];
  for (const group of groups) {
    speeds.push(yardstick());
    say(`   CPU yardstick ${fmt(speeds.at(-1) ?? 0)} ms (a fixed piece of work; lower is faster)`);
    const outcome = await runGroup(group, args);
    results.push(...outcome.results);
    for (const [title, notes] of outcome.facts) {
      yardsticks.set(title, speeds.at(-1) ?? Number.NaN);
      facts.set(title, [...notes, `CPU yardstick just before this benchmark: ${fmt(speeds.at(-1) ?? 0)} ms`]);
    }
    if (group !== groups.at(-1)) await settle();
  }
  speeds.push(yardstick());
  const m = {
    ...machine(),
    'random seed': `${args.seed} (\`--seed\`; every random draw of the benchmarks starts from it)`,
    'CPU yardstick': `${fmt(median(speeds))} ms, ${fmt(Math.min(...speeds))}–${fmt(Math.max(...speeds))} over the run (JSON and SHA-256 work timed before each benchmark, tests/bench/run.ts; lower is faster)`,
  };
  const earlier = readEarlier(args.against ?? path.join(ROOT, 'docs/benchmarks.json'));
  const comparison = earlier ? compare(results, earlier) : undefined;
  if (comparison) {
    const ratios = comparison.rows.filter((r) => r.agrees !== undefined);
    for (const r of ratios)
      say(
        `   ${r.agrees ? 'agrees' : 'APART '} ${r.result.spec.label}: ${fmt(r.result.median)} now, ${fmt(r.before)} in ${path.relative(ROOT, comparison.earlier.file)}`,
      );
    say(
      `ratios within ${AGREEMENT * 100} % of the previous run: ${ratios.filter((r) => r.agrees).length} of ${ratios.length}`,
    );
  }
  if (args.write) {
    const doc = markdown(results, facts, yardsticks, args, m, comparison);
    writeFileSync(path.join(ROOT, 'docs/BENCHMARKS.md'), doc);
    writeFileSync(
      path.join(ROOT, 'docs/benchmarks.json'),
      `${JSON.stringify(
        {
          runs: args.runs,
          seconds: args.seconds,
          quick: args.quick,
          seed: args.seed,
          machine: m,
          figures: results.map((r) => ({
            benchmark: r.benchmark,
            key: r.spec.key,
            label: r.spec.label,
            unit: r.spec.unit,
            kind: isRatio(r.spec) ? 'ratio' : 'absolute',
            median: r.median,
            min: r.min,
            max: r.max,
            values: r.values,
            ...(r.spec.target ? { target: r.spec.target, met: r.met } : {}),
          })),
          notes: Object.fromEntries(facts),
        },
        null,
        2,
      )}\n`,
    );
    // Formatted as the rest of the repository, so that `pnpm format:check` passes on them.
    try {
      execFileSync(
        path.join(ROOT, 'node_modules/.bin/prettier'),
        ['--write', 'docs/BENCHMARKS.md', 'docs/benchmarks.json'],
        {
          cwd: ROOT,
          stdio: 'ignore',
        },
      );
    } catch {
      say('prettier could not format the documents: run `pnpm format`');
    }
    say('wrote docs/BENCHMARKS.md and docs/benchmarks.json');
  }
  const missed = results.filter((r) => r.met === false);
  say(
    `all checks passed in ${((Date.now() - t0) / 1000).toFixed(0)} s; ${missed.length} target(s) not met${
      missed.length ? `: ${missed.map((r) => r.spec.label).join('; ')}` : ''
    }`,
  );
}

main().then(
  () => {
    killAllSpawned();
    process.exit(0);
  },
  (err: unknown) => {
    killAllSpawned();
    if (err instanceof UsageError) {
      process.stderr.write(`pnpm bench: ${err.message} (pnpm bench --help)\n`);
      process.exit(2);
    }
    const check = err instanceof BenchCheckError;
    process.stderr.write(
      `\n${'!'.repeat(72)}\nBENCH FAILED${check ? ' ITS OWN CHECKS' : ''}: ${
        check ? (err as Error).message : ((err as Error).stack ?? String(err))
      }\n${'!'.repeat(72)}\n`,
    );
    process.exit(1);
  },
);
