/**
 * `sunset token create | list | revoke`: API tokens, one organisation, one role and one person
 * each. Second-person approval compares persons, so a person's crisis and admin tokens count as
 * one person.
 */
import { randomUUID } from 'node:crypto';
import { Command, Option } from '@commander-js/extra-typings';
import { hashToken, mintToken } from '@sunset/core';
import type { TokenRole } from '@sunset/store';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { withStore } from '../state.ts';

const ROLES: readonly TokenRole[] = ['admin', 'planner', 'editor', 'crisis', 'auditor'];
const ROLE_WORDS: Record<TokenRole, string> = {
  admin: 'everything below',
  planner: 'apply plans, read their status',
  editor: 'send ordinary posts',
  crisis: 'send and approve crisis messages',
  auditor: 'read, export and verify the audit log',
};

export function tokenCommand(io: Io): Command {
  const token = new Command('token').description(
    'API tokens: one organisation and one role each, shown once, stored as hashes',
  );

  token
    .command('create')
    .description('make a token and print it once (it cannot be shown again)')
    .requiredOption('--org <id>', 'the organisation it acts for (its plan must have been applied)')
    .requiredOption(
      '--name <who>',
      'who or what uses it; the audit log names it (e.g. duty-officer, alert-gateway)',
    )
    .addOption(new Option('--role <role>', 'what it may do').choices(ROLES).makeOptionMandatory())
    // Required, no default: defaulting to the name would make one person's two tokens two persons,
    // which is exactly what second-person approval must not be fooled by.
    .requiredOption(
      '--person <who>',
      'the person who holds it (e.g. alice.martin); all tokens of one person count as one for approvals',
    )
    .option('--json', 'print { id, token, … } as JSON')
    .addHelpText(
      'after',
      `\nRoles:\n${ROLES.map((r) => `  ${r.padEnd(8)} ${ROLE_WORDS[r]}`).join('\n')}\n` +
        '\nPersons:\n  Crisis approval (approval: second-person) needs a different person, not just another\n' +
        '  token: a person holding a crisis and an admin token still cannot approve their own post.\n' +
        '  Tokens made before persons existed have their name as person.\n' +
        '\nExample:\n  $ pnpm sunset token create --org ville-de-tours --name astreinte --role crisis --person alice.martin',
    )
    .action(async (options) => {
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(options.name)) {
        throw new CliExit(2, 'sunset: --name: letters, digits, ".", "_", "@" and "-" only, up to 64');
      }
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(options.person)) {
        throw new CliExit(2, 'sunset: --person: letters, digits, ".", "_", "@" and "-" only, up to 64');
      }
      const secret = mintToken();
      const created = await withStore(io, async (store) => {
        if (!(await store.organisations.get(options.org))) {
          throw new CliExit(
            1,
            `sunset: there is no organisation ${options.org}: apply its plan first (sunset plan apply <file>)`,
          );
        }
        const live = (await store.tokens.list(options.org)).find(
          (t) => t.name === options.name && !t.revokedAt,
        );
        if (live)
          throw new CliExit(
            1,
            `sunset: ${options.org} already has a token named ${options.name}; revoke it first or pick another name`,
          );
        return store.transaction(async (tx) => {
          const t = await tx.tokens.create({
            id: randomUUID(),
            organisationId: options.org,
            name: options.name,
            person: options.person,
            role: options.role as TokenRole,
            hash: hashToken(secret),
            createdBy: io.config.actor,
          });
          await tx.audit.append({
            organisationId: options.org,
            actor: io.config.actor,
            action: 'token.created',
            outcome: 'ok',
            after: { id: t.id, name: t.name, person: t.person, role: t.role },
          });
          return t;
        });
      });
      if (options.json) {
        io.out(
          JSON.stringify(
            {
              id: created.id,
              organisationId: created.organisationId,
              name: created.name,
              person: created.person,
              role: created.role,
              token: secret,
            },
            null,
            2,
          ),
        );
        return;
      }
      io.out(
        `${io.colours.green('✓')} token "${created.name}" (${created.role}) of ${created.person} for ${created.organisationId}:`,
      );
      io.out();
      io.out(`  ${secret}`);
      io.out();
      io.out('Keep it now: it is stored only as a hash and cannot be shown again.');
      io.out(`Use it as: Authorization: Bearer ${secret.slice(0, 12)}…`);
    });

  token
    .command('list')
    .description('the tokens of an organisation and who holds them (never the tokens themselves)')
    .requiredOption('--org <id>', 'the organisation')
    .option('--json', 'print JSON')
    .action(async (options) => {
      const tokens = await withStore(io, (store) => store.tokens.list(options.org));
      if (options.json) {
        io.out(
          JSON.stringify(
            tokens.map(({ hash: _hash, ...t }) => t),
            null,
            2,
          ),
        );
        return;
      }
      if (tokens.length === 0) io.out(`${options.org} has no tokens.`);
      else io.out(io.colours.dim(`${'NAME'.padEnd(24)} ${'PERSON'.padEnd(24)} ROLE`));
      for (const t of tokens) {
        const state = t.revokedAt
          ? io.colours.dim(`revoked ${t.revokedAt.toISOString()}`)
          : t.lastUsedAt
            ? `last used ${t.lastUsedAt.toISOString()}`
            : 'never used';
        io.out(
          `${t.name.padEnd(24)} ${t.person.padEnd(24)} ${t.role.padEnd(8)} created ${t.createdAt.toISOString()} by ${t.createdBy}  ${state}`,
        );
      }
    });

  token
    .command('revoke')
    .description('revoke a token at once: its next request gets 401')
    .requiredOption('--org <id>', 'the organisation')
    .argument('<name-or-id>', "the token's name or id")
    .action(async (nameOrId, options) => {
      const revoked = await withStore(io, (store) =>
        store.transaction(async (tx) => {
          const t = await tx.tokens.revoke(options.org, nameOrId);
          if (!t) return undefined;
          await tx.audit.append({
            organisationId: options.org,
            actor: io.config.actor,
            action: 'token.revoked',
            outcome: 'ok',
            before: { id: t.id, name: t.name, person: t.person, role: t.role },
          });
          return t;
        }),
      );
      if (!revoked) throw new CliExit(1, `sunset: ${options.org} has no live token "${nameOrId}"`);
      io.out(`${io.colours.green('✓')} token "${revoked.name}" of ${options.org} revoked`);
    });

  return token;
}
