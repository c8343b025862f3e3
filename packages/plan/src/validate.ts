/**
 * Reads and validates an exit plan: the schema first, then every rule a schema cannot say.
 * Every problem is reported, not just the first; checks that depend on a broken part of the plan
 * are skipped rather than reported twice. Long because every rule the schema cannot say lives
 * here, so that a reader finds them all in one place.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  NETWORK_LABELS,
  credentialScopeProblem,
  envPrefix,
  isNetwork,
  resolveInside,
  type Network,
} from '@sunset/core';
import {
  describeLength,
  describeRefused,
  graphemeCount,
  measure,
  splitThread,
  type TextLimits,
} from '@sunset/text';
import { DiagnosticBag, type Diagnostic } from './diagnostics.ts';
import { feedIntervalMs, SHORT_FEED_INTERVAL_MS } from './feeds.ts';
import { expand, findPlaceholders, isPlaceholder, PLACEHOLDERS, placeholderValues } from './placeholders.ts';
import type { PlanDocument } from './schema.ts';
import { checkSchema, closest } from './schema-errors.ts';
import { PlanSource, type Path } from './source.ts';
import {
  formatLocal,
  formatLocalDateTime,
  isValidTimeZone,
  parseTimeExpression,
  resolveExpression,
  TimeExpressionError,
  type ResolvedTime,
} from './time.ts';

/** A plan that passed validation: its document, where it came from, and its resolved sunset. */
export interface Plan {
  document: PlanDocument;
  /** The name used in messages (as given on the command line). */
  file: string;
  /** Folder that relative image paths are resolved against. */
  baseDir: string;
  source: string;
  /** sha256 of the YAML text, hex. */
  sourceHash: string;
  sunset: Date;
}

export interface ValidateOptions {
  /** Name of the file in messages. */
  file: string;
  /** Folder of the plan file; image paths are relative to it and must stay inside it. */
  baseDir: string;
  /** "Now", for warnings about times in the past. Defaults to the current time. */
  now?: Date;
  /**
   * SUNSET_SECRETS_DIR, where it can be read (the CLI): file: references are then also checked
   * for symbolic links out of the organisation's folder. Without it only their text is checked.
   */
  secretsDir?: string;
}

export interface ValidationResult {
  ok: boolean;
  plan?: Plan;
  diagnostics: Diagnostic[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** X refuses images over 5 MB; Bluesky over 2,000,000 bytes; Mastodon servers default to 16 MB. */
const IMAGE_BYTES: Record<Network, number> = {
  x: 5 * 1024 * 1024,
  bluesky: 2_000_000,
  mastodon: 16 * 1024 * 1024,
};
const ALT_LIMIT: Record<Network, number> = { x: 1000, bluesky: 2000, mastodon: 1500 };
const IMAGE_TYPES = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp']);
/** The schema's organisation id rule, for the checks that depend on a valid id. */
const ORGANISATION_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;

interface ProfileLimit {
  name: number;
  bio: number;
  url?: number;
  location?: number;
  unit: 'characters' | 'graphemes';
}
/** Profile field limits of each network's API. */
const PROFILE_LIMITS: Record<Network, ProfileLimit> = {
  x: { name: 50, bio: 160, url: 100, location: 30, unit: 'characters' },
  bluesky: { name: 64, bio: 256, unit: 'graphemes' },
  mastodon: { name: 30, bio: 500, unit: 'characters' },
};

export function readPlanFile(
  file: string,
  options: { now?: Date; secretsDir?: string } = {},
): ValidationResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    return {
      ok: false,
      diagnostics: [
        {
          severity: 'error',
          file,
          line: 1,
          column: 1,
          path: '(plan)',
          message: `cannot read the plan: ${reason}`,
        },
      ],
    };
  }
  return validatePlan(text, { file, baseDir: path.dirname(path.resolve(file)), ...options });
}

export function validatePlan(text: string, options: ValidateOptions): ValidationResult {
  const source = new PlanSource(text);
  const bag = new DiagnosticBag(options.file, source);
  if (source.syntaxProblems.length > 0) {
    for (const p of source.syntaxProblems) bag.error([], p.message, { at: p.position });
    return { ok: false, diagnostics: bag.list() };
  }
  const data = source.toJS();
  if (data === null || data === undefined) {
    bag.error([], 'the plan is empty: it needs at least version, organisation, networks and sunset');
    return { ok: false, diagnostics: bag.list() };
  }
  checkSchema(data, bag);
  if (isObj(data)) new SemanticChecks(data, bag, options).run();
  if (bag.hasErrors) return { ok: false, diagnostics: bag.list() };

  const document = data as PlanDocument;
  const plan: Plan = {
    document,
    file: options.file,
    baseDir: options.baseDir,
    source: text,
    sourceHash: createHash('sha256').update(text).digest('hex'),
    sunset: sunsetOf(document),
  };
  return { ok: true, plan, diagnostics: bag.list() };
}

/** The sunset's instant in a valid plan. */
export function sunsetOf(doc: PlanDocument): Date {
  return resolveExpression(
    parseTimeExpression(doc.sunset.at, { allowRelative: false }),
    doc.organisation.timezone,
  ).instant;
}

/** The instant of a time expression of a valid plan. */
export function instantOf(doc: PlanDocument, expression: string, sunset: Date = sunsetOf(doc)): Date {
  return resolveExpression(parseTimeExpression(expression), doc.organisation.timezone, sunset).instant;
}

/** Per-instance text limits that the plan declares (Mastodon). */
export function textLimitsOf(doc: PlanDocument): TextLimits {
  const l = doc.networks.mastodon?.limits;
  const mastodon: NonNullable<TextLimits['mastodon']> = {};
  if (l?.max_characters !== undefined) mastodon.maxCharacters = l.max_characters;
  if (l?.characters_reserved_per_url !== undefined)
    mastodon.charactersReservedPerUrl = l.characters_reserved_per_url;
  return { mastodon };
}

class SemanticChecks {
  readonly #d: Obj;
  readonly #bag: DiagnosticBag;
  readonly #options: ValidateOptions;
  readonly #now: Date;
  #zone: string | undefined;
  #sunset: Date | undefined;
  /** The organisation id, when it is a valid one: its namespace bounds the credential references. */
  #organisationId: string | undefined;
  #configured = new Set<Network>();

  constructor(data: Obj, bag: DiagnosticBag, options: ValidateOptions) {
    this.#d = data;
    this.#bag = bag;
    this.#options = options;
    this.#now = options.now ?? new Date();
  }

  run(): void {
    this.#organisation();
    this.#networks();
    this.#sunsetTime();
    this.#posts();
    this.#dormantProfile();
    this.#mirror();
    this.#crisis();
    this.#audience();
  }

  #organisation(): void {
    const org = this.#d['organisation'];
    if (!isObj(org)) return;
    const id = org['id'];
    // The schema reports a bad id; then no namespace can be checked.
    if (isStr(id) && ORGANISATION_ID.test(id) && id.length <= 64) this.#organisationId = id;
    const tz = org['timezone'];
    if (isStr(tz)) {
      if (isValidTimeZone(tz)) this.#zone = tz;
      else
        this.#bag.error(
          ['organisation', 'timezone'],
          `"${tz}" is not an IANA time zone; e.g. "Europe/Paris"`,
        );
    }
    const locale = org['locale'];
    if (isStr(locale)) {
      try {
        Intl.getCanonicalLocales(locale);
      } catch {
        this.#bag.error(['organisation', 'locale'], `"${locale}" is not a language tag; e.g. "fr-FR"`);
      }
    }
  }

  #networks(): void {
    const nets = this.#d['networks'];
    if (!isObj(nets)) return;
    for (const [name, conf] of Object.entries(nets)) {
      if (!isNetwork(name) || !isObj(conf)) continue;
      this.#configured.add(name);
      const creds = conf['credentials'];
      if (isObj(creds)) {
        for (const [key, value] of Object.entries(creds)) {
          if (isStr(value)) this.#credential(['networks', name, 'credentials', key], value, `${name}_${key}`);
        }
      }
      if (name === 'x') this.#xEconomy(conf);
      for (const key of ['service', 'instance', 'api_base']) {
        const url = conf[key];
        if (isStr(url) && url.startsWith('http://') && !isLoopbackUrl(url)) {
          this.#bag.warning(
            ['networks', name, key],
            `${url} is plain http: credentials would travel unencrypted; use https`,
          );
        }
      }
    }
  }

  /** A reserve must leave room for ordinary posts, or every one of them would be held. */
  #xEconomy(conf: Record<string, unknown>): void {
    const budget = conf['budget'];
    if (
      isObj(budget) &&
      typeof budget['monthly'] === 'number' &&
      typeof budget['crisis_reserve'] === 'number'
    ) {
      if (budget['crisis_reserve'] > budget['monthly']) {
        this.#bag.error(
          ['networks', 'x', 'budget', 'crisis_reserve'],
          `the crisis reserve (${budget['crisis_reserve']}) is more than the monthly budget (${budget['monthly']})`,
        );
      }
    }
    const caps = conf['daily_caps'];
    if (isObj(caps) && typeof caps['posts'] === 'number' && typeof caps['crisis_reserve'] === 'number') {
      if (caps['crisis_reserve'] >= caps['posts']) {
        this.#bag.error(
          ['networks', 'x', 'daily_caps', 'crisis_reserve'],
          `keeping ${caps['crisis_reserve']} of ${caps['posts']} daily posts for crises leaves none for ordinary posts`,
        );
      }
    }
  }

  /** A credential reference: well formed, and inside the organisation's namespace. */
  #credential(p: Path, value: string, example: string): void {
    const org = this.#organisationId;
    const variable = `${org ? envPrefix(org) : ''}${example.toUpperCase()}`;
    if (/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(value) || /^file:\S+$/.test(value)) {
      const problem = org ? credentialScopeProblem(value, org, this.#options.secretsDir) : undefined;
      if (problem) this.#bag.error(p, problem);
      return;
    }
    if (value.startsWith('env:')) {
      this.#bag.error(
        p,
        `after "env:" write the name of an environment variable (letters, digits, _), e.g. env:${variable}`,
      );
      return;
    }
    if (value.startsWith('file:')) {
      this.#bag.error(
        p,
        `after "file:" write the name of the file holding the secret in the organisation's secrets folder, e.g. file:${example}`,
      );
      return;
    }
    // The value is never repeated: it may be a real secret pasted by mistake.
    this.#bag.error(
      p,
      `this looks like a secret written into the plan; write where to read it instead: env:${variable} or ` +
        `file:${example} (and revoke the secret if this file was shared)`,
    );
  }

  #sunsetTime(): void {
    const s = this.#d['sunset'];
    if (!isObj(s) || !isStr(s['at']) || !this.#zone) return;
    const resolved = this.#time(['sunset', 'at'], s['at'], { allowRelative: false });
    if (resolved) this.#sunset = resolved.instant;
  }

  /** Parses and resolves a time expression, reporting errors and warnings at `p`. */
  #time(p: Path, expression: string, options: { allowRelative?: boolean } = {}): ResolvedTime | undefined {
    const zone = this.#zone;
    if (!zone) return undefined;
    let resolved: ResolvedTime;
    try {
      const expr = parseTimeExpression(expression, options);
      if (expr.kind === 'relative' && !this.#sunset) return undefined; // reported at sunset.at
      resolved = resolveExpression(expr, zone, this.#sunset);
    } catch (err) {
      if (err instanceof TimeExpressionError) {
        this.#bag.error(p, err.message);
        return undefined;
      }
      throw err;
    }
    const dis = resolved.disambiguation;
    if (dis.kind === 'gap') {
      this.#bag.warning(
        p,
        `${formatLocalDateTime(dis.requested)} does not exist in ${zone} (the clocks go forward); ` +
          `${formatLocal(dis.used, zone)}, ${dis.used.toISOString()}, is used`,
      );
    } else if (dis.kind === 'overlap') {
      this.#bag.warning(
        p,
        `${formatLocalDateTime(dis.requested)} happens twice in ${zone} (the clocks go back); the first, ` +
          `${formatLocal(dis.used, zone)} = ${dis.used.toISOString()}, is used, not ${dis.other.toISOString()}`,
      );
    }
    if (resolved.instant.getTime() < this.#now.getTime()) {
      this.#bag.warning(
        p,
        `${formatLocal(resolved.instant, zone)} is in the past: this will run as soon as the plan is applied`,
      );
    }
    return resolved;
  }

  #aims(p: Path, network: unknown, what: string): network is Network {
    if (!isNetwork(network)) return false;
    if (this.#configured.has(network)) return true;
    this.#bag.error(
      p,
      `${what} ${NETWORK_LABELS[network]}, but the plan does not configure it; add networks.${network} or remove it here`,
    );
    return false;
  }

  #values: ReturnType<typeof placeholderValues> | undefined | null = null;

  /** The placeholder values, computed once; undefined when the plan is too broken to say. */
  #placeholderValues(): ReturnType<typeof placeholderValues> | undefined {
    if (this.#values === null) this.#values = this.#computeValues();
    return this.#values;
  }

  #computeValues(): ReturnType<typeof placeholderValues> | undefined {
    if (!this.#sunset || !this.#zone) return undefined;
    const org = this.#d['organisation'];
    if (!isObj(org) || !isStr(org['locale'])) return undefined;
    try {
      return placeholderValues(this.#d as unknown as PlanDocument, this.#sunset);
    } catch {
      return undefined; // a broken part of the plan is reported by its own check
    }
  }

  /** Checks placeholders in `text`; returns the expanded text when every placeholder resolved. */
  #expand(p: Path, text: string): string | undefined {
    const values = this.#placeholderValues();
    let ok = true;
    for (const use of findPlaceholders(text)) {
      if (!isPlaceholder(use.name)) {
        ok = false;
        const guess = closest(use.name, PLACEHOLDERS);
        this.#bag.error(
          p,
          `unknown placeholder {${use.name}}${guess ? `; did you mean {${guess}}?` : ''} (placeholders: ${PLACEHOLDERS.map((n) => `{${n}}`).join(', ')})`,
        );
        continue;
      }
      const network = use.name.split('.')[0];
      if (isNetwork(network) && !this.#configured.has(network)) {
        ok = false;
        this.#bag.error(p, `{${use.name}} needs networks.${network}, which the plan does not configure`);
      } else if (
        use.name === 'bluesky.starter_pack' &&
        values &&
        values['bluesky.starter_pack'] === undefined
      ) {
        ok = false;
        this.#bag.error(
          p,
          '{bluesky.starter_pack} needs audience.starter_pack (its name and description), which the plan does not set',
        );
      } else if (
        use.name === 'organisation.website' &&
        values &&
        values['organisation.website'] === undefined
      ) {
        ok = false;
        this.#bag.error(p, '{organisation.website} needs organisation.website, which the plan does not set');
      }
    }
    return ok && values ? expand(text, values) : undefined;
  }

  #textLimits(): TextLimits {
    return textLimitsOf(this.#d as unknown as PlanDocument);
  }

  #posts(): void {
    const posts = this.#d['posts'];
    if (!Array.isArray(posts)) return;
    const seen = new Map<string, number>();
    const xAfter = isObj(this.#d['sunset']) ? this.#d['sunset']['x_after'] : undefined;
    posts.forEach((post: unknown, i) => {
      if (!isObj(post)) return;
      const base: Path = ['posts', i];
      const id = post['id'];
      if (isStr(id)) {
        const first = seen.get(id);
        if (first !== undefined) {
          const line = this.#bag.source.locate(['posts', first, 'id']).line;
          this.#bag.error(
            [...base, 'id'],
            `duplicate post id "${id}": posts[${first}] (line ${line}) already uses it`,
          );
        } else seen.set(id, i);
      }
      const at = isStr(post['at']) ? this.#time([...base, 'at'], post['at']) : undefined;

      const targets: Network[] = [];
      if (Array.isArray(post['on'])) {
        post['on'].forEach((n: unknown, j) => {
          if (this.#aims([...base, 'on', j], n, 'this post is aimed at')) targets.push(n as Network);
        });
      }
      if (
        at &&
        this.#sunset &&
        targets.includes('x') &&
        at.instant.getTime() > this.#sunset.getTime() &&
        (xAfter === 'crisis-only' || xAfter === 'frozen')
      ) {
        this.#bag.error(
          [...base, 'on'],
          `this post is due after the sunset, when X ${xAfter === 'frozen' ? 'takes nothing more' : 'takes crisis posts only'} ` +
            `(sunset.x_after: ${xAfter}); remove x from "on" or move the post before the sunset`,
        );
      }

      const variants = isObj(post['variants']) ? post['variants'] : {};
      for (const [n, v] of Object.entries(variants)) {
        if (isNetwork(n) && isStr(v) && !targets.includes(n) && Array.isArray(post['on'])) {
          this.#bag.warning(
            [...base, 'variants', n],
            `the ${NETWORK_LABELS[n]} variant is never used: the post is not aimed at ${NETWORK_LABELS[n]}`,
            { key: true },
          );
        }
      }
      const expanded = new Map<string, string | undefined>();
      const textOf = (p: Path, text: string) => {
        const key = p.join('.');
        if (!expanded.has(key)) expanded.set(key, this.#expand(p, text));
        return expanded.get(key);
      };
      if (isStr(post['text'])) textOf([...base, 'text'], post['text']);
      for (const [n, v] of Object.entries(variants)) if (isStr(v)) textOf([...base, 'variants', n], v);

      const overflow = post['overflow'] === 'error' ? 'error' : 'thread';
      for (const network of targets) {
        const variant = variants[network];
        const p: Path = isStr(variant) ? [...base, 'variants', network] : [...base, 'text'];
        const raw = isStr(variant) ? variant : post['text'];
        if (!isStr(raw)) continue;
        const text = textOf(p, raw);
        if (text === undefined) continue;
        const refused = network === 'x' ? describeRefused(text) : undefined;
        if (refused !== undefined) this.#bag.error(p, refused);
        const report = measure(text, network, this.#textLimits());
        if (report.fits) continue;
        if (overflow === 'error') {
          this.#bag.error(
            p,
            `${describeLength(report)}, and overflow is "error"; shorten it or set overflow: thread`,
          );
        } else {
          const parts = splitThread(text, network, { limits: this.#textLimits() });
          this.#bag.warning(
            p,
            `${describeLength(report)}: on ${NETWORK_LABELS[network]} it will be a thread of ${parts.length} posts`,
          );
        }
      }
      if (Array.isArray(post['images'])) {
        post['images'].forEach((img: unknown, j) => this.#image([...base, 'images', j], img, targets));
      }
    });
  }

  #image(p: Path, img: unknown, targets: Network[]): void {
    if (!isObj(img)) return;
    const alt = img['alt'];
    if (isStr(alt)) {
      if (alt.trim() === '') {
        this.#bag.error(
          [...p, 'alt'],
          'the alternative text is empty: describe the image for people who cannot see it',
        );
      } else {
        for (const n of targets) {
          const len = n === 'bluesky' ? graphemeCount(alt) : [...alt].length;
          if (len > ALT_LIMIT[n]) {
            this.#bag.error(
              [...p, 'alt'],
              `the alternative text is ${len} characters; ${NETWORK_LABELS[n]} takes at most ${ALT_LIMIT[n]}`,
            );
          }
        }
      }
    }
    const file = img['file'];
    if (isStr(file)) this.#file([...p, 'file'], file, targets);
  }

  /**
   * An image file on disk: inside the plan's folder (links followed), exists, is an image type,
   * and is within each network's size. An escape gets one message whether or not its target exists.
   */
  #file(p: Path, file: string, targets: Network[]): void {
    const found = resolveInside(this.#options.baseDir, file);
    if (found.kind === 'outside') {
      this.#bag.error(p, `${file} is outside the plan's folder: name a file inside it, relative to the plan`);
      return;
    }
    let size: number;
    try {
      if (found.kind === 'missing') throw new Error('missing');
      const st = statSync(found.file);
      if (!st.isFile()) {
        this.#bag.error(p, `${file} is not a file`);
        return;
      }
      size = st.size;
    } catch {
      this.#bag.error(p, `image file not found: ${file}, relative to the plan's folder`);
      return;
    }
    const ext = path.extname(file).toLowerCase();
    if (!IMAGE_TYPES.has(ext)) {
      this.#bag.error(p, `${file} is not a PNG, JPEG, GIF or WebP image`);
      return;
    }
    for (const n of targets) {
      if (size > IMAGE_BYTES[n]) {
        this.#bag.error(
          p,
          `${file} is ${size.toLocaleString('en')} bytes; ${NETWORK_LABELS[n]} takes at most ${IMAGE_BYTES[n].toLocaleString('en')}`,
        );
      }
    }
  }

  #dormantProfile(): void {
    const dp = this.#d['dormant_profile'];
    if (!isObj(dp)) return;
    const at = isStr(dp['at']) ? this.#time(['dormant_profile', 'at'], dp['at']) : undefined;
    if (at && this.#sunset && at.instant.getTime() < this.#sunset.getTime()) {
      this.#bag.warning(
        ['dormant_profile', 'at'],
        'the dormant profile is applied before the sunset, while the account is still active',
      );
    }
    for (const [name, spec] of Object.entries(dp)) {
      if (!isNetwork(name) || !isObj(spec)) continue;
      const base: Path = ['dormant_profile', name];
      if (!this.#aims(base, name, 'a dormant profile is set for')) continue;
      const limits = PROFILE_LIMITS[name];
      const count = (s: string) => (limits.unit === 'graphemes' ? graphemeCount(s) : [...s].length);
      for (const field of ['name', 'bio', 'url', 'location'] as const) {
        const value = spec[field];
        if (!isStr(value)) continue;
        const limit = limits[field];
        if (limit === undefined) {
          this.#bag.error([...base, field], `${NETWORK_LABELS[name]} profiles have no ${field}; remove it`, {
            key: true,
          });
          continue;
        }
        const text = this.#expand([...base, field], value);
        if (text !== undefined && count(text) > limit) {
          this.#bag.error(
            [...base, field],
            `${count(text)} ${limits.unit} for the ${NETWORK_LABELS[name]} ${field === 'bio' ? 'bio' : field}${text !== value ? ' once placeholders are filled in' : ''}; the limit is ${limit}`,
          );
        }
      }
      if (Array.isArray(spec['fields']) && name !== 'mastodon') {
        this.#bag.error(
          [...base, 'fields'],
          `${NETWORK_LABELS[name]} profiles have no metadata fields; only Mastodon does`,
          { key: true },
        );
      }
      for (const img of ['banner', 'avatar'] as const) {
        const v = spec[img];
        if (isStr(v) && v !== 'keep') this.#file([...base, img], v, [name]);
      }
    }
  }

  #mirror(): void {
    const m = this.#d['mirror'];
    if (!isObj(m)) return;
    const xAfter = isObj(this.#d['sunset']) ? this.#d['sunset']['x_after'] : undefined;
    for (const key of ['before_sunset', 'after_sunset'] as const) {
      const list = m[key];
      if (!Array.isArray(list)) continue;
      list.forEach((n: unknown, j) => {
        if (!this.#aims(['mirror', key, j], n, 'ordinary posts are mirrored to')) return;
        if (key === 'after_sunset' && n === 'x' && isStr(xAfter)) {
          this.#bag.error(
            ['mirror', key, j],
            `after the sunset X takes no ordinary posts (sunset.x_after: ${xAfter}); remove x from mirror.after_sunset`,
          );
        }
      });
    }
  }

  #crisis(): void {
    const c = this.#d['crisis'];
    if (isObj(c) && Array.isArray(c['feeds'])) this.#feeds(c['feeds']);
    if (!isObj(c) || !Array.isArray(c['on'])) return;
    const xAfter = isObj(this.#d['sunset']) ? this.#d['sunset']['x_after'] : undefined;
    c['on'].forEach((n: unknown, j) => {
      if (!this.#aims(['crisis', 'on', j], n, 'crisis posts are sent to')) return;
      if (n === 'x' && xAfter === 'frozen') {
        this.#bag.warning(
          ['crisis', 'on', j],
          'X is frozen after the sunset (sunset.x_after: frozen): crisis posts reach X only before it',
        );
      }
      if (n === 'x' && xAfter === 'leave') {
        this.#bag.warning(
          ['crisis', 'on', j],
          'X is left after the sunset (sunset.x_after: leave): crisis posts reach X only before it',
        );
      }
    });
  }

  /** The rules of audience that the schema cannot say: grapheme limits, duplicates, the pack's needs. */
  #audience(): void {
    const a = this.#d['audience'];
    if (!isObj(a)) return;
    if (isStr(a['at'])) this.#time(['audience', 'at'], a['at']);
    const pack = a['starter_pack'];
    if (isObj(pack)) {
      if (!this.#configured.has('bluesky')) {
        this.#bag.error(
          ['audience', 'starter_pack'],
          'a starter pack lives on Bluesky, but the plan does not configure it; add networks.bluesky or remove the starter pack',
          { key: true },
        );
      }
      const name = pack['name'];
      if (isStr(name)) {
        if (name.trim() === '') this.#bag.error(['audience', 'starter_pack', 'name'], 'the name is blank');
        else if (graphemeCount(name) > 50)
          this.#bag.error(
            ['audience', 'starter_pack', 'name'],
            `${graphemeCount(name)} graphemes; Bluesky takes at most 50 for a starter pack's name`,
          );
        else if (name.length > 64)
          this.#bag.error(
            ['audience', 'starter_pack', 'name'],
            `${name.length} characters; Bluesky takes at most 64 for the name of the pack's list`,
          );
      }
      const description = pack['description'];
      if (isStr(description) && graphemeCount(description) > 300) {
        this.#bag.error(
          ['audience', 'starter_pack', 'description'],
          `${graphemeCount(description)} graphemes; Bluesky takes at most 300 for a starter pack's description`,
        );
      }
    }
    const accounts = a['accounts'];
    if (!Array.isArray(accounts)) return;
    const nets = isObj(this.#d['networks']) ? this.#d['networks'] : {};
    const own = (v: unknown) => (isStr(v) ? v.replace(/^@/, '').toLowerCase() : undefined);
    const seen = new Map<string, string>();
    const ownBluesky = isObj(nets['bluesky']) ? own(nets['bluesky']['handle']) : undefined;
    const ownMastodon = isObj(nets['mastodon']) ? own(nets['mastodon']['account']) : undefined;
    if (ownBluesky) seen.set(`bluesky:${ownBluesky}`, 'networks.bluesky.handle');
    if (ownMastodon) seen.set(`mastodon:${ownMastodon}`, 'networks.mastodon.account');
    accounts.forEach((account: unknown, i) => {
      if (!isObj(account)) return;
      if (account['bluesky'] === undefined && account['mastodon'] === undefined) {
        this.#bag.error(
          ['audience', 'accounts', i],
          'this account has neither bluesky nor mastodon: give at least one, or remove it',
        );
      }
      for (const network of ['bluesky', 'mastodon'] as const) {
        const value = own(account[network]);
        if (value === undefined) continue;
        const first = seen.get(`${network}:${value}`);
        if (first !== undefined) {
          this.#bag.error(
            ['audience', 'accounts', i, network],
            `${value} is already listed at ${first}; list each account once`,
          );
        } else seen.set(`${network}:${value}`, `audience.accounts[${i}].${network}`);
      }
    });
  }

  /** The rules of crisis.feeds that the schema cannot say. */
  #feeds(feeds: unknown[]): void {
    const seen = new Map<string, number>();
    feeds.forEach((feed, i) => {
      if (!isObj(feed)) return;
      const url = feed['url'];
      if (isStr(url)) {
        const first = seen.get(url);
        if (first !== undefined) {
          this.#bag.error(
            ['crisis', 'feeds', i, 'url'],
            `this feed is already watched by crisis.feeds[${first}]; list each feed once`,
          );
        } else seen.set(url, i);
      }
      const interval = feed['interval'];
      if (isStr(interval)) {
        const ms = feedIntervalMs(interval);
        if (ms === 0) {
          this.#bag.error(['crisis', 'feeds', i, 'interval'], 'must be at least 1s');
        } else if (ms !== undefined && ms < SHORT_FEED_INTERVAL_MS) {
          this.#bag.warning(
            ['crisis', 'feeds', i, 'interval'],
            `the feed is read every ${interval}: most publishers ask for a minute or more between reads`,
          );
        }
      }
      const areas = feed['areas'];
      if (Array.isArray(areas)) {
        areas.forEach((area, j) => {
          const point = isStr(area) ? POINT.exec(area) : null;
          if (!point) return;
          const [lat, lon] = [point[1]!, point[2]!];
          const wrong =
            Math.abs(Number(lat)) > 90
              ? `latitude ${lat} is outside -90…90`
              : Math.abs(Number(lon)) > 180
                ? `longitude ${lon} is outside -180…180`
                : undefined;
          if (wrong !== undefined) {
            this.#bag.error(
              ['crisis', 'feeds', i, 'areas', j],
              `"${area as string}" reads as a point (latitude,longitude in decimal degrees), but ${wrong}`,
            );
          }
        });
      }
      if (feed['post_at'] !== undefined && feed['mode'] !== 'post') {
        this.#bag.error(
          ['crisis', 'feeds', i, 'post_at'],
          'post_at is the threshold of mode: post; with mode: approve (the default) every kept alert waits for a person. Set mode: post or remove post_at',
        );
      }
    });
  }
}

/** An `areas` entry written as a point: "47.39,0.69", latitude first as CAP writes them. */
const POINT = /^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*,\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*$/;

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  } catch {
    return false;
  }
}
