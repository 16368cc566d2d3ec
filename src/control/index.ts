/** The test-control API (`--control`): docs/control.md. */
export { Control, type ControlDeps } from './control.js';
export { type Fault, Faults } from './faults.js';
export { Latency } from './latency.js';
export {
  CONTROL_PREFIX,
  type ControlHandle,
  type ControlOptions,
  installControl,
} from './routes.js';
export {
  DUMP_FORMAT,
  DUMP_VERSION,
  DumpError,
  exportState,
  importState,
  parseDump,
  type StateDump,
} from './state.js';
export { CONTROL_TASKS, controlLifecycle } from './tasks.js';
