/**
 * How an error of the catalogue (`src/errors.ts`) reads on the wire: CloudSigma's array of
 * `{error_point, error_type, error_message}`, one item per error (several for `ApiErrors`).
 */
import { type ApiError, ApiErrors } from '../errors.js';

export function errorBody(error: ApiError): string {
  const each = error instanceof ApiErrors ? error.errors : [error];
  return JSON.stringify(
    each.map((e) => ({ error_point: e.point, error_type: e.type, error_message: e.message })),
  );
}
