/** `sunset crisis send | status | approve`: crisis messages through the HTTP API. */
import { readFileSync } from 'node:fs';
import { Command, Option } from '@commander-js/extra-typings';
import { NETWORKS, NETWORK_LABELS, isNetwork, type Network } from '@sunset/core';
import { apiClientOf, type ApiClient } from '../api-client.ts';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';

export interface SubmitAnswer {
  id: string;
  state: 'accepted' | 'awaiting-approval' | 'recorded';
  duplicate: boolean;
  deliveries: { network: Network; deliveryId: string; parts: number }[];
  notes: string[];
  links: { self: string };
}

interface PostAnswer {
  id: string;
  state: string;
  networks: Partial<
    Record<
      Network,
      {
        status: string;
        url?: string;
        urls: string[];
        lastError?: string;
        parts: number;
        published: number;
        /** "sending, outcome being checked" while the store has not heard back. */
        note?: string;
      }
    >
  >;
}

const FINAL = ['published', 'failed', 'needs-attention', 'skipped', 'cancelled'];

export function parseNetworks(value: string): Network[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((n) => !isNetwork(n));
  if (bad.length || list.length === 0)
    throw new CliExit(
      2,
      `sunset: --networks: "${value}": use a comma-separated list of ${NETWORKS.join(', ')}`,
    );
  return list as Network[];
}

/** The message: --text, or --file, or standard input when --file is "-". */
export function readText(options: { text?: string; file?: string }): string {
  if (options.text !== undefined && options.file !== undefined)
    throw new CliExit(2, 'sunset: give --text or --file, not both');
  if (options.text !== undefined) return options.text;
  if (options.file !== undefined) {
    try {
      return readFileSync(options.file === '-' ? 0 : options.file, 'utf8');
    } catch (err) {
      throw new CliExit(
        2,
        `sunset: cannot read ${options.file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
    }
  }
  throw new CliExit(
    2,
    'sunset: the message is missing: --text "…" or --file message.txt (--file - for standard input)',
  );
}

export function printSubmit(io: Io, what: string, answer: SubmitAnswer): void {
  const c = io.colours;
  const state = {
    accepted: 'accepted',
    'awaiting-approval': 'waiting for a second person to approve it',
    recorded: 'recorded, not posted',
  }[answer.state];
  io.out(
    `${c.green('✓')} ${what} ${answer.id} ${state}${answer.duplicate ? ' (sent before: the same post, not a new one)' : ''}`,
  );
  for (const d of answer.deliveries)
    io.out(
      `  ${NETWORK_LABELS[d.network].padEnd(8)}  queued${d.parts > 1 ? `, a thread of ${d.parts}` : ''}`,
    );
  for (const n of answer.notes) io.out(`  note: ${n}`);
}

/** Follows a post until every network is done, printing each change; exit 1 if one failed. */
export async function follow(io: Io, client: ApiClient, path: string, timeoutMs: number): Promise<void> {
  const seen = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const post = await client.json<PostAnswer>('GET', path);
    for (const [network, s] of Object.entries(post.networks) as [
      Network,
      NonNullable<PostAnswer['networks'][Network]>,
    ][]) {
      const line = `${s.note ?? s.status}${s.parts > 1 ? ` ${s.published}/${s.parts}` : ''}`;
      if (seen.get(network) !== line) {
        seen.set(network, line);
        const link = s.url ? `  ${s.url}` : '';
        const why = s.lastError && s.status !== 'published' ? `  (${s.lastError})` : '';
        io.out(`  ${NETWORK_LABELS[network].padEnd(8)}  ${line}${link}${why}`);
      }
    }
    const states = Object.values(post.networks).map((s) => s?.status ?? '');
    if (post.state !== 'accepted' || states.every((s) => FINAL.includes(s))) {
      if (states.some((s) => s === 'failed' || s === 'needs-attention'))
        throw new CliExit(1, 'sunset: not every network took it; see above');
      return;
    }
    if (Date.now() > deadline)
      throw new CliExit(
        1,
        `sunset: still going after ${Math.round(timeoutMs / 1000)} s; follow it with: sunset crisis status ${post.id}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function crisisCommand(io: Io): Command {
  const crisis = new Command('crisis').description(
    'send crisis messages through the API (SUNSET_API_URL, SUNSET_TOKEN with the crisis role)',
  );

  crisis
    .command('send')
    .description(
      'send a crisis message to every crisis network of the plan (X too after the sunset, unless frozen)',
    )
    .option('--text <message>', 'the message (long ones become threads, never cut)')
    .option('--file <path>', 'read the message from a file ("-" for standard input)')
    .option(
      '--cap <file.xml>',
      'send a CAP 1.2 or 1.1 alert instead (Update and Cancel are threaded under the original)',
    )
    .option('--link <url>', "the official page to link (default the plan's crisis.link)")
    .addOption(
      new Option('--networks <list>', `only these networks (${NETWORKS.join(',')})`).argParser(parseNetworks),
    )
    .option('--reply-to <id>', 'a crisis post this one follows up')
    .option('--key <idempotency-key>', 'send the same key again on a retry: the post is never made twice')
    .option('--wait', 'follow it until every network has it, printing the links')
    .option('--json', "print the API's answer as JSON")
    .addHelpText(
      'after',
      '\nExit status: 0 accepted (with --wait: published everywhere), 1 refused or failed somewhere, 2 bad usage,\n' +
        '69 the API or its queue is unavailable (the message was NOT accepted: send it again).\n' +
        '\nExamples:\n' +
        '  $ SUNSET_API_URL=https://sunset.ville.fr SUNSET_TOKEN=… pnpm sunset crisis send --text "Crue : évitez les quais." --wait\n' +
        '  $ pnpm sunset crisis send --cap alerte.xml',
    )
    .action(async (options) => {
      const client = apiClientOf(io, true)!;
      let answer: SubmitAnswer;
      const headers = options.key ? { 'idempotency-key': options.key } : undefined;
      if (options.cap) {
        if (options.text || options.file)
          throw new CliExit(2, 'sunset: --cap carries its own text: leave out --text and --file');
        let xml: Buffer;
        try {
          xml = readFileSync(options.cap);
        } catch (err) {
          throw new CliExit(
            2,
            `sunset: cannot read ${options.cap} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
          );
        }
        answer = await client.json<SubmitAnswer>('POST', '/v1/crisis', {
          body: xml,
          type: 'application/cap+xml',
          ...(headers ? { headers } : {}),
        });
      } else {
        const text = readText(options);
        answer = await client.json<SubmitAnswer>('POST', '/v1/crisis', {
          json: {
            text,
            ...(options.link ? { link: options.link } : {}),
            ...(options.networks ? { networks: options.networks } : {}),
            ...(options.replyTo ? { replyTo: options.replyTo } : {}),
          },
          ...(headers ? { headers } : {}),
        });
      }
      if (options.json) io.out(JSON.stringify(answer, null, 2));
      else printSubmit(io, 'crisis', answer);
      if (options.wait && answer.state === 'accepted')
        await follow(io, client, answer.links.self, 10 * 60_000);
    });

  crisis
    .command('status')
    .description("a crisis post's state and links on every network")
    .argument('<id>', 'the crisis post id (as crisis send printed it)')
    .option('--json', 'print JSON')
    .action(async (id, options) => {
      const client = apiClientOf(io, true)!;
      const post = await client.json<PostAnswer>('GET', `/v1/crisis/${encodeURIComponent(id)}`);
      if (options.json) {
        io.out(JSON.stringify(post, null, 2));
        return;
      }
      io.out(`crisis ${post.id}: ${post.state}`);
      for (const [network, s] of Object.entries(post.networks) as [
        Network,
        NonNullable<PostAnswer['networks'][Network]>,
      ][]) {
        io.out(
          `  ${NETWORK_LABELS[network].padEnd(8)}  ${s.note ?? s.status}${s.parts > 1 ? ` ${s.published}/${s.parts}` : ''}${s.urls.length ? `  ${s.urls.join(' ')}` : ''}${s.lastError && s.status !== 'published' ? `  (${s.lastError})` : ''}`,
        );
      }
    });

  crisis
    .command('approve')
    .description('approve a crisis post that waits for a second person (approval: second-person)')
    .argument('<id>', 'the crisis post id')
    .option('--wait', 'follow it until every network has it')
    .action(async (id, options) => {
      const client = apiClientOf(io, true)!;
      const answer = await client.json<SubmitAnswer>('POST', `/v1/crisis/${encodeURIComponent(id)}/approve`);
      printSubmit(io, 'crisis', answer);
      if (options.wait) await follow(io, client, answer.links.self, 10 * 60_000);
    });

  return crisis;
}
