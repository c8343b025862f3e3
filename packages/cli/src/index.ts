export { run, buildProgram, VERSION } from './program.ts';
export { bufferIo, processIo, type Io } from './io.ts';
export { readCliConfig, type CliConfig } from './config.ts';
