/**
 * The plan's YAML source with positions: parses once, keeps the document and a line counter so
 * that any value (or key) found by its path can be pointed at as line:column.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

export interface Position {
  line: number;
  column: number;
}

/** `posts[1].text`: the way paths are written in messages. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out === '' ? '(plan)' : out;
}

export interface SyntaxProblem {
  position: Position;
  message: string;
}

export class PlanSource {
  readonly text: string;
  readonly document: Document.Parsed;
  readonly syntaxProblems: SyntaxProblem[];
  readonly #lines: LineCounter;

  constructor(text: string) {
    this.text = text;
    this.#lines = new LineCounter();
    // uniqueKeys: a key written twice is an error, not a silent override.
    this.document = parseDocument(text, { lineCounter: this.#lines, prettyErrors: false, uniqueKeys: true });
    this.syntaxProblems = this.document.errors.map((e) => ({
      position: this.positionAt(e.pos[0]),
      message: plainYamlMessage(e.code, e.message),
    }));
    for (const w of this.document.warnings) {
      this.syntaxProblems.push({
        position: this.positionAt(w.pos[0]),
        message: plainYamlMessage(w.code, w.message),
      });
    }
  }

  /** The plain JavaScript value of the document. */
  toJS(): unknown {
    return this.document.toJS({ maxAliasCount: 100 });
  }

  positionAt(offset: number): Position {
    const p = this.#lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /**
   * Where `path` is written. With `key`, the key of the last segment rather than its value.
   * A path that does not exist (a missing field) points at its nearest existing parent.
   */
  locate(path: Path, options: { key?: boolean } = {}): Position {
    let node: unknown = this.document.contents;
    let best: Node | null = (node as Node | null) ?? null;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((it) => (isScalar(it.key) ? it.key.value : it.key) === seg);
        if (!pair) break;
        if (last && options.key && isScalar(pair.key)) return this.#start(pair.key);
        node = pair.value;
        if (node && (node as Node).range) best = node as Node;
        else if (isScalar(pair.key)) best = pair.key; // `key:` with no value
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (!item) break;
        node = item;
        best = item as Node;
      } else {
        break;
      }
    }
    return best ? this.#start(best) : { line: 1, column: 1 };
  }

  #start(node: Node): Position {
    return node.range ? this.positionAt(node.range[0]) : { line: 1, column: 1 };
  }
}

/** YAML parser messages carry their own source excerpt; keep only the sentence a person needs. */
function plainYamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? message;
  const readable: Record<string, string> = {
    DUPLICATE_KEY: 'this key is written twice in the same mapping',
    TAB_AS_INDENT: 'tabs are not allowed for indentation in YAML; use spaces',
    BAD_INDENT: `bad indentation: ${first}`,
    MISSING_CHAR: `YAML syntax error: ${first}`,
    MULTILINE_IMPLICIT_KEY: 'a key must be on one line; is a colon missing, or a value not quoted?',
  };
  return `YAML: ${readable[code] ?? first}`;
}
