/** POST /v1/plans (apply a plan, YAML) and GET /v1/plans/current (where the exit stands). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '@sunset/core';
import { applyPlan, planStatus } from '@sunset/engine/outbox';
import { validatePlan } from '@sunset/plan';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { errorReplies, NetworkName } from '../schemas.ts';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

const Diagnostic = Type.Object({
  severity: Type.String(),
  file: Type.String(),
  line: Type.Integer(),
  column: Type.Integer(),
  path: Type.String(),
  message: Type.String(),
});

const DiffEntry = Type.Object({
  mark: Type.String(),
  deliveryId: Type.String(),
  actionKey: Type.String(),
  kind: Type.String(),
  network: NetworkName,
  postId: Type.Optional(Type.String()),
  dueAt: Type.String(),
  parts: Type.Integer(),
  status: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
});

const ApplyReply = Type.Object({
  organisationId: Type.String(),
  version: Type.Optional(Type.Integer()),
  planChanged: Type.Boolean(),
  dryRun: Type.Boolean(),
  counts: Type.Record(Type.String(), Type.Integer()),
  diff: Type.Array(DiffEntry),
  warnings: Type.Array(Diagnostic),
  queueError: Type.Optional(Type.String()),
});

export async function planRoutes(app: FastifyInstance, options: { plansDir: string }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_request, body, done) => done(null, body));

  r.post(
    '/plans',
    {
      onRequest: app.requireRole('planner'),
      schema: {
        tags: ['plans'],
        summary: 'Validate and apply an exit plan (YAML body)',
        description:
          'Validates the plan; a bad plan is refused with every problem (file:line:column, path, message) and nothing ' +
          'changes. A good one is applied: its diff says what was added (+), changed (~), cancelled (-), left (=) or ' +
          "already done (✓). Image paths in the plan are read from the server's plans folder and must stay inside it; " +
          "credential references may only name the plan organisation's own secrets (env:ORG__NAME, file:name).",
        querystring: Type.Object({
          dryRun: Type.Optional(Type.Boolean({ description: 'compute the diff, change nothing' })),
          file: Type.Optional(
            Type.String({
              pattern: '^[A-Za-z0-9._-]{1,100}$',
              description: "the plan's file name, for messages",
            }),
          ),
        }),
        body: Type.String({ description: 'The plan, YAML', contentMediaType: 'application/yaml' }),
        response: {
          200: ApplyReply,
          ...errorReplies(400, 401, 403, 415, 422),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const file = request.query.file ?? 'plan.yaml';
      const result = validatePlan(request.body, { file, baseDir: options.plansDir });
      if (!result.plan) {
        const errors = result.diagnostics.filter((d) => d.severity === 'error');
        throw new HttpError(
          422,
          'invalid-plan',
          `the plan has ${errors.length} error(s); nothing was changed`,
          result.diagnostics,
        );
      }
      const org = result.plan.document.organisation.id;
      if (org !== principal.organisationId) {
        throw new HttpError(
          403,
          'forbidden',
          `this token belongs to ${principal.organisationId}, the plan to ${org}`,
        );
      }
      const applied = await applyPlan({
        store: app.store,
        ...(app.queues?.ready() ? { queues: app.queues } : {}),
        plan: result.plan,
        actor: principal.actor,
        requestId: request.id,
        dryRun: request.query.dryRun ?? false,
      });
      return {
        ...applied,
        counts: { ...applied.counts },
        warnings: [
          ...result.diagnostics.filter((d) => d.severity === 'warning'),
          ...(applied.warnings ?? []),
        ],
        ...(!app.queues?.ready() && !applied.dryRun
          ? { queueError: 'Redis is not answering: the worker queues the jobs when it next reconciles' }
          : {}),
      };
    },
  );

  const Row = Type.Object({
    key: Type.String(),
    kind: Type.String(),
    postId: Type.Optional(Type.String()),
    dueAt: Type.String(),
    networks: Type.Record(Type.String(), Type.Unknown()),
  });
  r.get(
    '/plans/current',
    {
      onRequest: app.requireRole('planner', 'editor', 'crisis', 'auditor'),
      schema: {
        tags: ['plans'],
        summary: "The applied plan's timeline with each action's state per network",
        response: {
          200: Type.Object({
            organisationId: Type.String(),
            name: Type.String(),
            version: Type.Integer(),
            appliedAt: Type.String(),
            appliedBy: Type.String(),
            timezone: Type.String(),
            sunset: Type.String(),
            xAfter: Type.String(),
            rows: Type.Array(Row),
            counts: Type.Record(Type.String(), Type.Integer()),
          }),
          ...errorReplies(401, 403, 404),
        },
      },
    },
    async (request) => {
      const { organisationId } = principalOf(request);
      const status = await planStatus(app.store, organisationId);
      if (status.version === undefined)
        throw new NotFoundError(`${organisationId} has no applied plan yet`, 'no-plan');
      const settings = await app.settings.get(organisationId);
      return {
        ...status,
        version: status.version,
        appliedAt: status.appliedAt ?? '',
        appliedBy: status.appliedBy ?? '',
        name: settings.organisationName,
        timezone: settings.document.organisation.timezone,
        sunset: settings.sunset.toISOString(),
        xAfter: settings.xAfter,
        counts: { ...status.counts },
      };
    },
  );
}
