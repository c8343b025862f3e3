/**
 * Time expressions of the plan and their exact UTC instants.
 *
 * Local times are wall-clock times in the organisation's time zone. Two wall-clock times a year
 * are special: in the spring gap (e.g. 02:30 on the last Sunday of March in Paris) the time does
 * not exist, and the instant one hour later on the clock is used, like a person moving the clock
 * forward; in the autumn overlap (02:30 happens twice) the first occurrence is used. Both are
 * reported as warnings so the comms team can pick an unambiguous time.
 *
 * Relative expressions count days and weeks on the calendar (sunset - 7d keeps the same clock
 * time a week earlier, even across a daylight-saving change) and hours, minutes and seconds as
 * elapsed time.
 */
import { DateTime, IANAZone } from 'luxon';

export interface LocalDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export type Disambiguation =
  | { kind: 'exact' }
  | { kind: 'gap'; requested: LocalDateTime; used: Date }
  | { kind: 'overlap'; requested: LocalDateTime; used: Date; other: Date };

export interface ResolvedTime {
  instant: Date;
  /** How a wall-clock time was turned into an instant; 'exact' unless it fell in a DST change. */
  disambiguation: Disambiguation;
}

export type TimeExpr =
  | { kind: 'absolute'; local: LocalDateTime; offsetMinutes?: number }
  | { kind: 'relative'; sign: 1 | -1; calendarDays: number; milliseconds: number };

export class TimeExpressionError extends Error {}

const ABSOLUTE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))?$/;
const RELATIVE = /^sunset(?:\s*([+-])\s*(.+))?$/;
const TERM = /(\d+)\s*(w|d|h|m|s)\b/gy;

/** Parses a time expression; throws TimeExpressionError with a sentence saying what is wrong. */
export function parseTimeExpression(input: string, options: { allowRelative?: boolean } = {}): TimeExpr {
  const text = input.trim();
  const abs = ABSOLUTE.exec(text);
  if (abs) {
    const [, y, mo, d, h, mi, s, z, sign, oh, om] = abs;
    const local: LocalDateTime = {
      year: Number(y),
      month: Number(mo),
      day: Number(d),
      hour: Number(h ?? 0),
      minute: Number(mi ?? 0),
      second: Number(s ?? 0),
    };
    checkCalendar(local, text);
    if (z) return { kind: 'absolute', local, offsetMinutes: 0 };
    if (sign) {
      const off = Number(oh) * 60 + Number(om);
      return { kind: 'absolute', local, offsetMinutes: sign === '-' ? -off : off };
    }
    return { kind: 'absolute', local };
  }
  const rel = RELATIVE.exec(text);
  if (rel) {
    if (options.allowRelative === false) {
      throw new TimeExpressionError(
        `"${input}" is relative to the sunset; the sunset itself needs a date and time`,
      );
    }
    const [, sign, rest] = rel;
    if (!sign || !rest) return { kind: 'relative', sign: 1, calendarDays: 0, milliseconds: 0 };
    let calendarDays = 0;
    let milliseconds = 0;
    const compact = rest.trim();
    TERM.lastIndex = 0;
    let consumed = 0;
    for (;;) {
      while (compact[consumed] === ' ') consumed++;
      if (consumed >= compact.length) break;
      TERM.lastIndex = consumed;
      const m = TERM.exec(compact);
      if (!m) {
        throw new TimeExpressionError(
          `"${input}" is not a time expression: after "sunset ${sign}" write amounts such as 7d, 2h, 30m ` +
            '(units w, d, h, m, s)',
        );
      }
      const n = Number(m[1]);
      switch (m[2]) {
        case 'w':
          calendarDays += 7 * n;
          break;
        case 'd':
          calendarDays += n;
          break;
        case 'h':
          milliseconds += n * 3_600_000;
          break;
        case 'm':
          milliseconds += n * 60_000;
          break;
        case 's':
          milliseconds += n * 1000;
          break;
      }
      consumed = TERM.lastIndex;
    }
    return { kind: 'relative', sign: sign === '-' ? -1 : 1, calendarDays, milliseconds };
  }
  if (/^\d{4}-\d{1,2}-\d{1,2}/.test(text)) {
    throw new TimeExpressionError(
      `"${input}" is not a valid date and time: write it as YYYY-MM-DDTHH:MM, e.g. 2027-01-20T09:00`,
    );
  }
  throw new TimeExpressionError(
    `"${input}" is not a time expression: write a local time (2027-01-20T09:00) or one relative to the ` +
      'sunset (sunset, sunset - 7d, sunset + 2h)',
  );
}

function checkCalendar(l: LocalDateTime, text: string): void {
  const days = new Date(Date.UTC(l.year, l.month, 0)).getUTCDate();
  if (l.month < 1 || l.month > 12) throw new TimeExpressionError(`"${text}": there is no month ${l.month}`);
  if (l.day < 1 || l.day > days) {
    throw new TimeExpressionError(`"${text}": ${l.year}-${pad(l.month)} has no day ${l.day}`);
  }
  if (l.hour > 23 || l.minute > 59 || l.second > 59) {
    throw new TimeExpressionError(`"${text}": ${pad(l.hour)}:${pad(l.minute)} is not a time of day`);
  }
}

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/** Turns a wall-clock time in `zone` into an instant, reporting DST gaps and overlaps. */
export function resolveLocal(local: LocalDateTime, zone: string): ResolvedTime {
  const z = IANAZone.create(zone);
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second);
  // The zone's offsets a day either side cover every transition that can affect this time.
  const offsets = [...new Set([z.offset(asUtc - 86_400_000), z.offset(asUtc), z.offset(asUtc + 86_400_000)])];
  const candidates = offsets
    .map((o) => asUtc - o * 60_000)
    .filter((t) => z.offset(t) * 60_000 === asUtc - t)
    .sort((a, b) => a - b);
  const [first, second] = candidates;
  if (first !== undefined && second === undefined) {
    return { instant: new Date(first), disambiguation: { kind: 'exact' } };
  }
  if (first !== undefined && second !== undefined) {
    return {
      instant: new Date(first),
      disambiguation: { kind: 'overlap', requested: local, used: new Date(first), other: new Date(second) },
    };
  }
  // In the gap: keep the elapsed time from before the jump, i.e. move the clock forward by the gap.
  const before = z.offset(asUtc - 86_400_000);
  const used = new Date(asUtc - before * 60_000);
  return { instant: used, disambiguation: { kind: 'gap', requested: local, used } };
}

/** The instant of `expr`, given the sunset (already resolved) and the zone. */
export function resolveExpression(expr: TimeExpr, zone: string, sunset?: Date): ResolvedTime {
  if (expr.kind === 'absolute') {
    if (expr.offsetMinutes !== undefined) {
      const l = expr.local;
      const t =
        Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second) - expr.offsetMinutes * 60_000;
      return { instant: new Date(t), disambiguation: { kind: 'exact' } };
    }
    return resolveLocal(expr.local, zone);
  }
  if (!sunset) throw new TimeExpressionError('a time relative to the sunset needs a valid sunset.at');
  let base: ResolvedTime = { instant: sunset, disambiguation: { kind: 'exact' } };
  if (expr.calendarDays !== 0) {
    const local = DateTime.fromJSDate(sunset, { zone }).plus({ days: expr.sign * expr.calendarDays });
    base = resolveLocal(
      {
        year: local.year,
        month: local.month,
        day: local.day,
        hour: local.hour,
        minute: local.minute,
        second: local.second,
      },
      zone,
    );
  }
  if (expr.milliseconds === 0) return base;
  return {
    instant: new Date(base.instant.getTime() + expr.sign * expr.milliseconds),
    disambiguation: { kind: 'exact' },
  };
}

/** "2027-01-20 09:00 (UTC+01:00)": how instants are shown to people, in the plan's zone. */
export function formatLocal(instant: Date, zone: string): string {
  // Built from the fields luxon computes once, with the zone's offset, for the instant: each
  // toFormat would look the offset up again, and a plan formats one instant per action.
  const dt = DateTime.fromJSDate(instant, { zone });
  const offset = Math.abs(dt.offset);
  const sign = dt.offset < 0 ? '-' : '+';
  return (
    `${String(dt.year).padStart(4, '0')}-${pad(dt.month)}-${pad(dt.day)} ${pad(dt.hour)}:${pad(dt.minute)}` +
    `${dt.second ? `:${pad(dt.second)}` : ''} ` +
    `(UTC${sign}${pad(Math.trunc(offset / 60))}:${pad(Math.trunc(offset % 60))})`
  );
}

export function formatUtc(instant: Date): string {
  return instant
    .toISOString()
    .replace(/:00\.000Z$/, 'Z')
    .replace(/\.000Z$/, 'Z');
}

export function formatLocalDateTime(l: LocalDateTime): string {
  return `${l.year}-${pad(l.month)}-${pad(l.day)} ${pad(l.hour)}:${pad(l.minute)}${l.second ? `:${pad(l.second)}` : ''}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
