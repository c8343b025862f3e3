export { createXConnector, X_LIMITS } from './connector.ts';
export {
  createXClient,
  X_DEFAULT_API_BASE,
  X_DEFAULT_TIMEOUT_MS,
  type XClient,
  type XClientOptions,
} from './client.ts';
export { mapXError, type XErrorContext } from './map-error.ts';
export {
  startXSandbox,
  type XAccessSwitch,
  type XSandbox,
  type XSandboxAccountInput,
  type XSandboxExchange,
  type XSandboxFault,
  type XSandboxImage,
  type XSandboxInjectOptions,
  type XSandboxMedia,
  type XSandboxOptions,
  type XSandboxPost,
  type XSandboxProfile,
} from './sandbox.ts';
