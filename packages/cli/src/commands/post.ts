/** `sunset post send | status`: ordinary posts, mirrored through the HTTP API. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { NETWORKS } from '@sunset/core';
import { apiClientOf } from '../api-client.ts';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { follow, parseNetworks, printSubmit, readText, type SubmitAnswer } from './crisis.ts';

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function postCommand(io: Io): Command {
  const post = new Command('post').description(
    'ordinary posts, mirrored to the networks the plan allows (through the API, editor role)',
  );

  post
    .command('send')
    .description(
      "send an ordinary post; it goes to the plan's mirror networks for this moment unless --networks says otherwise",
    )
    .option('--text <message>', 'the text (long ones become threads)')
    .option('--file <path>', 'read the text from a file ("-" for standard input)')
    .option('--image <file>', 'attach an image (up to 4; each needs an --alt, in the same order)', collect)
    .option('--alt <text>', 'the alternative text of the image at the same position', collect)
    .addOption(
      new Option('--networks <list>', `only these networks (${NETWORKS.join(',')})`).argParser(parseNetworks),
    )
    .option('--at <instant>', 'post later, at this ISO 8601 instant')
    .option('--language <tag>', "BCP 47 language (default the plan's locale)")
    .option('--key <idempotency-key>', 'send the same key again on a retry: the post is never made twice')
    .option('--wait', 'follow it until every network has it')
    .option('--json', "print the API's answer as JSON")
    .addHelpText(
      'after',
      '\nExample:\n  $ pnpm sunset post send --text "Marché de Noël samedi" --image affiche.png --alt "Affiche du marché" --wait',
    )
    .action(async (options) => {
      const client = apiClientOf(io, true)!;
      const text = readText(options);
      const files = options.image ?? [];
      const alts = options.alt ?? [];
      if (files.length > 4) throw new CliExit(2, 'sunset: at most 4 images');
      if (alts.length !== files.length)
        throw new CliExit(
          2,
          `sunset: ${files.length} image(s) but ${alts.length} --alt: every image needs its alternative text`,
        );
      const images = files.map((file, i) => {
        const type = TYPES[path.extname(file).toLowerCase()];
        if (!type) throw new CliExit(2, `sunset: ${file}: use a .png, .jpg, .gif or .webp image`);
        let data: Buffer;
        try {
          data = readFileSync(file);
        } catch (err) {
          throw new CliExit(
            2,
            `sunset: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
          );
        }
        return { data: data.toString('base64'), mediaType: type, alt: alts[i] ?? '' };
      });
      if (options.at && Number.isNaN(new Date(options.at).getTime()))
        throw new CliExit(2, `sunset: --at: "${options.at}" is not an ISO 8601 instant`);
      const answer = await client.json<SubmitAnswer>('POST', '/v1/posts', {
        json: {
          text,
          ...(images.length ? { images } : {}),
          ...(options.networks ? { networks: options.networks } : {}),
          ...(options.at ? { at: new Date(options.at).toISOString() } : {}),
          ...(options.language ? { language: options.language } : {}),
        },
        ...(options.key ? { headers: { 'idempotency-key': options.key } } : {}),
      });
      if (options.json) io.out(JSON.stringify(answer, null, 2));
      else printSubmit(io, 'post', answer);
      if (options.wait) await follow(io, client, answer.links.self, 30 * 60_000);
    });

  post
    .command('status')
    .description("a post's state and links on every network")
    .argument('<id>', 'the post id')
    .action(async (id) => {
      const client = apiClientOf(io, true)!;
      await follow(io, client, `/v1/posts/${encodeURIComponent(id)}`, 0).catch((err: unknown) => {
        if (err instanceof CliExit && err.message.includes('still going')) return;
        throw err;
      });
    });

  return post;
}
