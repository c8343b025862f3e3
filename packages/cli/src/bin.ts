#!/usr/bin/env node
import { readCliConfig } from './config.ts';
import { processIo } from './io.ts';
import { run } from './program.ts';

const status = await run(process.argv.slice(2), processIo(readCliConfig()));
process.exitCode = status;
