/**
 * What a compiled plan will cost on X before anything is spent: each X post part priced by the
 * price table (the operator's, or X's published one), the plan's total, and the posts that pay
 * the URL price only because of a link.
 */
import { costOf, DEFAULT_X_PRICES, xHasUrl, xLinkCostWarning, type XPriceTable } from '@sunset/text';
import type { CompiledPlan, PostAction } from './compile.ts';

export interface XPostCost {
  postId: string;
  /** One entry per thread part, in micro-dollars. */
  parts: { part: number; costMicros: number; link: boolean }[];
  totalMicros: number;
  /** Set when a part costs the URL price because of its link: what it costs, and the cheaper way. */
  linkWarning?: string;
}

export interface XPlanCost {
  posts: XPostCost[];
  totalMicros: number;
}

export function xPlanCost(compiled: CompiledPlan, prices: XPriceTable = DEFAULT_X_PRICES): XPlanCost {
  const byPost = new Map<string, XPostCost>();
  const parts = compiled.actions.filter((a): a is PostAction => a.kind === 'post' && a.network === 'x');
  for (const a of parts) {
    let post = byPost.get(a.postId);
    if (!post) {
      post = { postId: a.postId, parts: [], totalMicros: 0 };
      byPost.set(a.postId, post);
    }
    const costMicros = costOf({ kind: 'create', text: a.text }, prices);
    post.parts.push({ part: a.part, costMicros, link: xHasUrl(a.text) });
    post.totalMicros += costMicros;
    const warning = xLinkCostWarning(a.text, prices);
    if (warning && !post.linkWarning) {
      post.linkWarning = a.parts > 1 ? `part ${a.part} ${warning}` : warning;
    }
  }
  const posts = [...byPost.values()];
  return { posts, totalMicros: posts.reduce((sum, p) => sum + p.totalMicros, 0) };
}
