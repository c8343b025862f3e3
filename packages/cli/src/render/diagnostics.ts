import { formatDiagnostic, type Diagnostic } from '@sunset/plan';
import type { Io } from '../io.ts';

/** One line per diagnostic, coloured on a terminal: errors red, warnings yellow. */
export function renderDiagnostics(io: Io, diagnostics: Diagnostic[]): void {
  const c = io.colours;
  for (const d of diagnostics) {
    const line = formatDiagnostic(d);
    const [loc = '', where = '', ...rest] = line.split('  ');
    const message = rest.join('  ');
    io.out(
      `${c.bold(loc)}  ${c.cyan(where)}  ${d.severity === 'error' ? c.red(message) : c.yellow(message)}`,
    );
  }
}
