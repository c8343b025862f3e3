import { formatPath, type Path, type PlanSource, type Position } from './source.ts';

export type Severity = 'error' | 'warning';

/** One problem found in a plan, pointing at the place in the file. */
export interface Diagnostic {
  severity: Severity;
  file: string;
  line: number;
  column: number;
  /** Where in the plan's structure, e.g. `posts[1].text`. */
  path: string;
  message: string;
}

/** `plan.yaml:31:7  posts[1].text  312 characters for X; the limit is 280 (a link counts as 23)` */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}  ${d.path}  ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return (
    a.line - b.line ||
    a.column - b.column ||
    a.path.localeCompare(b.path) ||
    a.message.localeCompare(b.message)
  );
}

/** Collects diagnostics for one plan file; the same problem at the same place is kept once. */
export class DiagnosticBag {
  readonly #items = new Map<string, Diagnostic>();
  readonly file: string;
  readonly source: PlanSource;
  constructor(file: string, source: PlanSource) {
    this.file = file;
    this.source = source;
  }

  add(severity: Severity, path: Path, message: string, options: { key?: boolean; at?: Position } = {}): void {
    const pos = options.at ?? this.source.locate(path, options);
    const d: Diagnostic = {
      severity,
      file: this.file,
      line: pos.line,
      column: pos.column,
      path: formatPath(path),
      message,
    };
    this.#items.set(`${d.severity}|${d.line}|${d.column}|${d.path}|${d.message}`, d);
  }
  error(path: Path, message: string, options?: { key?: boolean; at?: Position }): void {
    this.add('error', path, message, options);
  }
  warning(path: Path, message: string, options?: { key?: boolean; at?: Position }): void {
    this.add('warning', path, message, options);
  }
  get hasErrors(): boolean {
    for (const d of this.#items.values()) if (d.severity === 'error') return true;
    return false;
  }
  list(): Diagnostic[] {
    return [...this.#items.values()].sort(compareDiagnostics);
  }
}
