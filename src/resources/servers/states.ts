/**
 * What CloudSigma answers an action asked in the wrong state: 403 with its own message, whose
 * state names are internal ones (`started` for running).
 */
import { errors } from '../../errors.js';
import type { ServerStatus } from './model.js';

/** CloudSigma names a running guest `started` in its messages. */
function internalState(status: ServerStatus): string {
  return status === 'running' ? 'started' : status;
}

const RUNNING = `"['started', 'running_legacy']"`;

export function wrongState(action: string, status: ServerStatus): Error {
  if (action === 'start' || action === 'delete') {
    return errors.permission(
      `Cannot ${action} guest in state "${internalState(status)}". Guest should be in state "stopped"`,
    );
  }
  return errors.permission(
    `Cannot ${action} guest in state "${internalState(status)}". Guest should be in state ${RUNNING}`,
  );
}
