import { NETWORKS } from '@sunset/core';
console.log(NETWORKS);
