/**
 * Outbound propagation of the routing key for `node:http`, `node:https` and global `fetch`,
 * without OpenTelemetry.
 * @packageDocumentation
 */
export { installHttpPropagation } from './install.js';
export type { HttpPropagationOptions, UninstallHttpPropagation } from './types.js';
