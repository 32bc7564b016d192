import type { RoutingOptions } from '../core/types.js';

/**
 * Options of {@link installHttpPropagation}: the routing options (merged over the process-wide
 * ones set with `configureRouting`). `propagateTo` decides which hosts receive the key.
 * @public
 */
export type HttpPropagationOptions = RoutingOptions;

/**
 * Removes the propagation installed by one {@link installHttpPropagation} call. Calling it more
 * than once does nothing more.
 * @public
 */
export type UninstallHttpPropagation = () => void;
