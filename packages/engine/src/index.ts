// Everything of the engine, the worker side (which talks to networks) included. Services that
// must never reach a network (the API, the CLI's plan commands) import '@sunset/engine/outbox'.
export * from './outbox/index.ts';
export * from './worker/index.ts';
