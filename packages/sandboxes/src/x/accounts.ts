/**
 * For tests of the X fake and of clients against it: accounts with recognisable secrets (so a
 * leak is easy to find), and the check of the fake's exchanges against X's OpenAPI document.
 */
import { checkExchange, loadSpec, specMissingReason } from '../spec/openapi.ts';
import type { XSandboxAccountInput, XSandboxExchange } from './model.ts';

export const MAIN_ACCOUNT: XSandboxAccountInput = {
  id: '1480506376447315969',
  username: 'VilleDeTest',
  name: 'Ville de Test',
  appKey: 'appkey-QmVsbGUtSWxl',
  appSecret: 'appsecret-U2VjcmV0LWFwcC0xMjM0',
  accessToken: '1480506376447315969-dG9rZW4tdXNlcg',
  accessSecret: 'accesssecret-c2VjcmV0LXVzZXItNTY3OA',
};

export const OTHER_ACCOUNT: XSandboxAccountInput = {
  id: '1480506376447315970',
  username: 'AutreCompte',
  name: 'Autre compte',
  appKey: MAIN_ACCOUNT.appKey,
  appSecret: MAIN_ACCOUNT.appSecret,
  accessToken: '1480506376447315970-b3RoZXItdG9rZW4',
  accessSecret: 'accesssecret-b3RoZXItc2VjcmV0LTk5',
};

export function secretValues(...accounts: XSandboxAccountInput[]): string[] {
  return accounts.flatMap((a) => [a.appKey, a.appSecret, a.accessToken, a.accessSecret]);
}

export interface SpecReport {
  /** Exchanges validated against the document. */
  checked: number;
  /** Why the others were not. */
  skipped: Map<string, number>;
  /** Known differences between X and its document, with the exchange they were seen on. */
  deviations: string[];
  /** Requests the document calls invalid, which the sandbox refused (4xx), as X would. */
  refused: string[];
  violations: string[];
}

export const X_SPEC = loadSpec('x');
export const X_SPEC_SKIP_REASON = specMissingReason('x') ?? 'the X OpenAPI document could not be loaded';

// X answers many refusals with RFC 7807 problems of type "about:blank" (duplicate content, text
// too long, 401, 429, 5xx) or "client-forbidden" (access level); its document lists only its
// typed problems, so such a body fails the response schema. The sandbox answers as X does.
// The same for the 402 of spent credits and the usage-cap problem, whose types the document
// does not list either.
const UNLISTED_PROBLEM_TYPES = new Set([
  'about:blank',
  'https://api.x.com/2/problems/client-forbidden',
  'https://api.x.com/2/problems/credits',
  'https://api.x.com/2/problems/usage-capped',
]);

function problemType(body: unknown): string | undefined {
  const type = body && typeof body === 'object' ? (body as { type?: unknown }).type : undefined;
  return typeof type === 'string' ? type : undefined;
}

/** Validates every v2 exchange the sandbox recorded; v1.1 and image hosts are not in the document. */
export function checkAgainstXSpec(exchanges: readonly XSandboxExchange[]): SpecReport {
  const report: SpecReport = { checked: 0, skipped: new Map(), deviations: [], refused: [], violations: [] };
  const skip = (why: string) => report.skipped.set(why, (report.skipped.get(why) ?? 0) + 1);
  if (!X_SPEC) throw new Error(X_SPEC_SKIP_REASON);
  for (const exchange of exchanges) {
    if (!exchange.path.startsWith('/2/')) {
      skip(
        exchange.path.startsWith('/1.1/')
          ? 'v1.1 endpoint: not in the X API v2 document'
          : "X's image host: not part of the API",
      );
      continue;
    }
    if (exchange.status === undefined) {
      skip('no answer (connection destroyed by a fault)');
      continue;
    }
    report.checked += 1;
    const label = `${exchange.method} ${exchange.path} → ${exchange.status}`;
    for (const problem of checkExchange(X_SPEC, { ...exchange, status: exchange.status })) {
      const type = problemType(exchange.responseBody);
      const aboutRequest = !/ response (\d+|status) /.test(problem);
      if (aboutRequest && exchange.status >= 400 && exchange.status < 500) {
        report.refused.push(`${label}: ${problem}`);
      } else if (/query parameter tweet\.fields is not in the spec/.test(problem)) {
        report.deviations.push(`${label}: tweet.fields (X's documented name; the document says post.fields)`);
      } else if (
        /response \d+ body: matches none of its \d+ allowed shapes/.test(problem) &&
        type !== undefined &&
        UNLISTED_PROBLEM_TYPES.has(type)
      ) {
        report.deviations.push(`${label}: problem type ${type} (not listed in the document)`);
      } else {
        report.violations.push(`${label}: ${problem}`);
      }
    }
  }
  return report;
}
