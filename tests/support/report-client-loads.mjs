// Loaded with `node --import` into a service under test: writes one line to stderr, at once and
// synchronously, the first time each network client library's module is loaded, so that a test
// can tell whether the process loaded it, and before or after a line of its own log.
import { writeSync } from 'node:fs';
import { registerHooks } from 'node:module';

const LIBRARIES = ['twitter-api-v2', 'masto', '@atproto/api'];
const seen = new Set();

registerHooks({
  load(url, context, nextLoad) {
    for (const name of LIBRARIES) {
      if (!seen.has(name) && url.includes(`/node_modules/${name}/`)) {
        seen.add(name);
        writeSync(2, `client library loaded: ${name}\n`);
      }
    }
    return nextLoad(url, context);
  },
});
