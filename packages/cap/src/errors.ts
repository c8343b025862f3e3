import { InputError } from '@sunset/core';

/** One thing wrong with a CAP document, located so the sender's operator can fix it. */
export interface CapProblem {
  /** Where, as an XPath-like path with 1-based indexes: "alert/info[1]/headline". */
  path: string;
  message: string;
  /** 1-based line and column of the element (or of the parser's stop), when known. */
  line?: number;
  column?: number;
}

// The message is what an operator reads in a log or an HTTP 400 body, so it lists the problems
// itself; a very broken document is cut short there, but `problems` always holds all of them.
const MESSAGE_LISTS_AT_MOST = 20;

function describe(problem: CapProblem): string {
  const where = problem.line === undefined ? '' : ` (line ${problem.line}:${problem.column ?? 0})`;
  return `${problem.path}: ${problem.message}${where}`;
}

/** A CAP document that was refused; nothing in it was used. */
export class CapError extends InputError {
  readonly problems: CapProblem[];

  constructor(problems: readonly CapProblem[]) {
    const listed = problems.slice(0, MESSAGE_LISTS_AT_MOST).map(describe);
    const more = problems.length - listed.length;
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`CAP alert rejected (${count}): ${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''}`);
    this.problems = problems.map((problem) => ({ ...problem }));
  }
}
