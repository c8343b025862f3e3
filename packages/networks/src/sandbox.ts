// Sandbox servers for tests and the demo: each network folder adds its own.
export {};
