/**
 * Two runs of `pnpm bench` side by side: this run's figures against an earlier run's
 * benchmarks.json (by default the one in docs/ that this run is about to replace), and whether
 * their ratios agree, the larger at most AGREEMENT above the smaller.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fmt, isRatio, ROOT, type FigureSpec } from './lib.ts';

export interface Result {
  benchmark: string;
  title: string;
  spec: FigureSpec;
  values: number[];
  median: number;
  min: number;
  max: number;
  met?: boolean;
}

/** How far two runs' ratios may differ and still be said to agree: the larger over the smaller. */
export const AGREEMENT = 0.15;

/** What an earlier run's benchmarks.json holds that a comparison reads. */
export interface EarlierRun {
  file: string;
  quick: boolean;
  runs: number;
  machine: Record<string, string>;
  figures: { benchmark: string; key: string; median: number; kind: string }[];
}

export function readEarlier(file: string): EarlierRun | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const doc = JSON.parse(text) as Partial<EarlierRun>;
  if (!Array.isArray(doc.figures) || typeof doc.machine !== 'object') {
    throw new Error(`${file}: not a benchmarks.json written by pnpm bench (no figures or machine)`);
  }
  return {
    file,
    quick: doc.quick === true,
    runs: Number(doc.runs),
    machine: doc.machine,
    figures: doc.figures,
  };
}

export interface Comparison {
  earlier: EarlierRun;
  rows: { result: Result; before: number; change: number; agrees?: boolean }[];
}

export function compare(results: readonly Result[], earlier: EarlierRun): Comparison {
  const rows: Comparison['rows'] = [];
  for (const result of results) {
    const before = earlier.figures.find((f) => f.benchmark === result.benchmark && f.key === result.spec.key);
    if (!before || !Number.isFinite(before.median) || before.median === 0) continue;
    const change = result.median / before.median - 1;
    const spread = Math.max(result.median, before.median) / Math.min(result.median, before.median) - 1;
    rows.push({
      result,
      before: before.median,
      change,
      ...(isRatio(result.spec) ? { agrees: spread <= AGREEMENT } : {}),
    });
  }
  return { earlier, rows };
}

export function comparisonMarkdown(c: Comparison): string[] {
  const m = c.earlier.machine;
  const ratios = c.rows.filter((r) => r.agrees !== undefined);
  const apart = ratios.filter((r) => r.agrees === false);
  const lines = [
    '## Side by side with the previous run',
    '',
    `The previous run: ${m['date'] ?? 'date unknown'}, ${c.earlier.quick ? 'quick, ' : ''}${c.earlier.runs} measured rounds, CPU yardstick ${m['CPU yardstick']?.split(',')[0] ?? 'unknown'}, ${m['cpu'] ?? 'cpu unknown'} (${path.relative(ROOT, c.earlier.file)} before this run wrote it). ` +
      `Two runs' ratios agree when the larger is at most ${AGREEMENT * 100} % above the smaller: ${ratios.length - apart.length} of ${ratios.length} do${
        apart.length ? `; apart: ${apart.map((r) => r.result.spec.label).join('; ')}` : ''
      }. Absolute figures move with the machine: read them beside the two yardsticks.`,
    '',
    '| figure | kind | this run | previous run | change | ratios agree |',
    '| --- | --- | ---: | ---: | ---: | --- |',
  ];
  let current = '';
  for (const r of c.rows) {
    if (r.result.title !== current) {
      current = r.result.title;
      lines.push(`| **${current}** | | | | | |`);
    }
    const sign = r.change > 0 ? '+' : r.change < 0 ? '−' : '';
    lines.push(
      `| ${r.result.spec.label} | ${isRatio(r.result.spec) ? 'ratio' : 'absolute'} | ${fmt(r.result.median)} | ${fmt(r.before)} | ${sign}${fmt(Math.abs(r.change) * 100)} % | ${
        r.agrees === undefined ? '' : r.agrees ? 'yes' : '**no**'
      } |`,
    );
  }
  lines.push('');
  return lines;
}
