/**
 * Link cards read once per page for the whole process for a short while: when a crisis goes out
 * from many organisations at once, their posts link the same page, and each Bluesky connector
 * reading it again would knock on the same (often overloaded) site as many times, each on a new
 * connection, and shrink the same image as many times. What is kept is public page data only (the
 * card's text and its fitted thumbnail, or why there is none); every account still uploads the
 * thumbnail to its own repository with its own session.
 */
import { untilAborted } from '@sunset/core';
import type { PageCard } from './link-card.ts';

export interface CardThumb {
  data: Uint8Array;
  mediaType: string;
}

/** What reading a page gave: its card (and thumbnail, or why none), or why there is no card. */
export type CardOutcome =
  { ok: true; card: PageCard; thumb?: CardThumb; thumbError?: unknown } | { ok: false; error: unknown };

export interface CardCacheOptions {
  /** How long an outcome serves (default 60 s): one alert's fan-out, not the page's next edit. */
  ttlMs?: number;
  /** Outcomes kept at most (default 64); the oldest go first. */
  maxEntries?: number;
  /** Thumbnail bytes kept at most (default 8 MB); the oldest go first. */
  maxBytes?: number;
  now?: () => number;
}

interface Entry {
  expires: number;
  bytes: number;
  outcome: Promise<CardOutcome>;
}

export class CardCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly now: () => number;
  private bytes = 0;

  constructor(options: CardCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 64;
    this.maxBytes = options.maxBytes ?? 8_000_000;
    this.now = options.now ?? Date.now;
  }

  /** How many outcomes are kept (read or being read). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The outcome kept under `key`, or the one `read` gives (read once however many ask at the same
   * time). Its failures are outcomes too, kept as long, so that a page that cannot be read costs
   * one wait, not one per post. A caller's `signal` stops only its own wait.
   */
  async get(key: string, read: () => Promise<CardOutcome>, signal?: AbortSignal): Promise<CardOutcome> {
    const now = this.now();
    let entry = this.entries.get(key);
    if (entry && entry.expires <= now) {
      this.remove(key, entry);
      entry = undefined;
    }
    if (!entry) {
      const outcome = read().catch((error: unknown): CardOutcome => ({ ok: false, error }));
      const created: Entry = { expires: Number.POSITIVE_INFINITY, bytes: 0, outcome };
      entry = created;
      this.entries.set(key, created);
      void created.outcome.then((outcome) => {
        if (this.entries.get(key) !== created) return;
        // The time to live counts from the answer: a slow page is not read again at once.
        created.expires = this.now() + this.ttlMs;
        created.bytes = outcome.ok ? (outcome.thumb?.data.byteLength ?? 0) : 0;
        this.bytes += created.bytes;
        this.trim();
      });
      this.trim();
    }
    return untilAborted(entry.outcome, signal);
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  /** Drops expired outcomes, then the oldest while there are too many or too many bytes. */
  private trim(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expires <= now) this.remove(key, entry);
    }
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.remove(key, entry);
    }
  }
}

/** The cache every Bluesky connector of this process reads link cards through. */
export const linkCards = new CardCache();

/**
 * The key of a page's outcome: its URL, and the operator's allow-list it was read under, so that
 * a card read where internal addresses were allowed never serves a connector where they are not.
 */
export function cardKey(url: string, fetchAllow: readonly string[] | undefined): string {
  return `${[...(fetchAllow ?? [])].sort().join(',')} ${url}`;
}
