/** Background jobs (`/jobs/`, api-reference.md §5.7): drive and server clones. */
import type { ResourceDef } from '../../model/fields.js';
import { resourceUri } from '../../model/refs.js';
import type { DocKind } from '../common.js';

export type JobOperation = 'drive_clone' | 'server_clone';
export type JobState = 'started' | 'success' | 'error';

export interface JobDoc {
  uuid: string;
  owner: string;
  operation: JobOperation;
  state: JobState;
  created: string;
  last_modified: string;
  progress: number;
  /** Resource URIs: the source, then the copy. */
  resources: string[];
  /** Child jobs, embedded (a server clone's drive clones); each also exists on its own. */
  children: JobDoc[];
}

export const JOBS: ResourceDef = {
  kind: 'jobs',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  filtering: { state: 'exact' },
  ordering: ['-last_modified'],
  fields: {
    children: {
      type: 'related',
      help: 'Child jobs',
      readonly: true,
      shape: 'many',
      output: { kind: 'jobs' },
    },
    created: { type: 'datetime', help: 'When the job was created', readonly: true },
    data: {
      type: 'dict',
      help: 'Job data, e.g. its progress in percent',
      readonly: true,
      output: { fields: { progress: { type: 'integer', help: 'Progress in percent' } } },
    },
    last_modified: { type: 'datetime', help: 'When the job last changed', readonly: true },
    operation: {
      type: 'string',
      help: 'The operation',
      readonly: true,
      choices: ['drive_clone', 'server_clone'],
    },
    resource_uri: {
      type: 'string',
      help: 'Unicode string data. Ex: "Hello World"',
      readonly: true,
    },
    resources: { type: 'list', help: 'Resources the job works on', readonly: true },
    state: {
      type: 'string',
      help: 'The state of the job',
      readonly: true,
      choices: ['started', 'success', 'error'],
    },
    uuid: { type: 'string', help: 'UUID of the job', readonly: true },
  },
};

export function renderJob(job: JobDoc): Record<string, unknown> {
  return {
    children: job.children.map(renderJob),
    created: job.created,
    data: { progress: job.progress },
    last_modified: job.last_modified,
    operation: job.operation,
    resource_uri: resourceUri('jobs', job.uuid),
    resources: job.resources,
    state: job.state,
    uuid: job.uuid,
  };
}

export const jobKind: DocKind<JobDoc> = {
  def: JOBS,
  uuid: (j) => j.uuid,
  owner: (j) => j.owner,
  name: (j) => j.operation,
  status: (j) => j.state,
  render: renderJob,
};

export function newJob(
  uuid: string,
  owner: string,
  operation: JobOperation,
  resources: string[],
  now: Date,
): JobDoc {
  const time = now.toISOString().replace('Z', '+00:00');
  return {
    uuid,
    owner,
    operation,
    state: 'started',
    created: time,
    last_modified: time,
    progress: 0,
    resources,
    children: [],
  };
}
