export { NETWORKS, NETWORK_LABELS, isNetwork, type Network } from './network.ts';
export { SunsetError, InputError } from './errors.ts';
