export { default } from '../../config/vitest.base.ts';
