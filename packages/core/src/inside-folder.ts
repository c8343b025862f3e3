/**
 * Resolves a relative path inside a folder, following symbolic links one step at a time and
 * never looking at anything outside the folder: whether an outside target exists cannot change
 * the answer, so a message built on it reveals nothing about what lies outside.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';

export type InsideFolder =
  /** `file` is the real path (no symbolic link left) of an existing entry inside the folder. */
  | { kind: 'inside'; file: string }
  /** Nothing there (or not readable), and the path stays inside the folder. */
  | { kind: 'missing'; file: string }
  /** The path, or a link on its way, leads out of the folder (or loops). */
  | { kind: 'outside' };

/** As Linux's MAXSYMLINKS: more links than this on one path is a loop. */
const MAX_LINKS = 40;

export function resolveInside(folder: string, relative: string): InsideFolder {
  if (relative === '' || path.isAbsolute(relative)) return { kind: 'outside' };
  let root: string;
  try {
    root = realpathSync(folder);
  } catch {
    // No folder: nothing inside it, but a path that climbs out is still refused.
    const lexical = path.resolve(folder, relative);
    return within(path.resolve(folder), lexical) ? { kind: 'missing', file: lexical } : { kind: 'outside' };
  }
  const queue = split(relative);
  let current = root;
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '..') {
      if (current === root) return { kind: 'outside' };
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, part);
    let isLink: boolean;
    try {
      isLink = lstatSync(next).isSymbolicLink();
    } catch {
      const rest = path.resolve(next, ...queue);
      return within(root, rest) ? { kind: 'missing', file: rest } : { kind: 'outside' };
    }
    if (!isLink) {
      current = next;
      continue;
    }
    if (++links > MAX_LINKS) return { kind: 'outside' };
    const target = readlinkSync(next);
    if (path.isAbsolute(target)) {
      // An absolute link is followed only when it begins with the folder's own real path.
      const parts = split(target);
      const rootParts = split(root);
      if (rootParts.some((p, i) => parts[i] !== p)) return { kind: 'outside' };
      queue.unshift(...parts.slice(rootParts.length));
      current = root;
    } else {
      queue.unshift(...split(target));
    }
  }
  return { kind: 'inside', file: current };
}

function split(p: string): string[] {
  return p.split(path.sep).filter((s) => s !== '' && s !== '.');
}

function within(root: string, file: string): boolean {
  return file === root || file.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}
