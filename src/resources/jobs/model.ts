/**
 * Background jobs (`/jobs/`, api-reference.md §5.7): drive and server clones, listed newest
 * change first.
 */
import { type FieldDef, RENDER_TIME, type ResourceDef } from '../../model/fields.js';
import { resourceUri } from '../../model/refs.js';
import type { DocKind } from '../common.js';

/**
 * `drive_upload`: an image upload into a drive (sigmalite's; CloudSigma shows no job for it);
 * `server_start`: a start that failed for good (the engine writes it, in `error`).
 */
export type JobOperation = 'drive_clone' | 'server_clone' | 'drive_upload' | 'server_start';
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
  /** Why a job in `error` failed (shown as `data.error`). */
  error?: string;
}

const STRING_HELP = 'Unicode string data. Ex: "Hello World"';
const DATETIME_HELP = 'A date & time as a string. Ex: "2010-11-10T03:07:43"';

/**
 * A field as the recorded schema shows it: a tastypie model resource (`blank`, `nullable`,
 * `unique` instead of `required`), every field but `resource_uri` writable in the schema though
 * the resource is read-only, and no `choices` (the values a job takes are the output's).
 */
function field(
  type: FieldDef['type'],
  help: string,
  opts: Partial<FieldDef> & { unique?: boolean } = {},
): FieldDef {
  const { unique = false, ...rest } = opts;
  return {
    type,
    help,
    ...rest,
    schemaExtra: { blank: false, nullable: rest.nullable ?? false, unique },
  };
}

export const JOBS: ResourceDef = {
  kind: 'jobs',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  schemaOmitsRequired: true,
  filtering: { state: 1 },
  ordering: ['-last_modified'],
  defaultOrder: { column: 'name', descending: true },
  fields: {
    children: field('related', 'Background jobs, initiated by this job.', {
      nullable: true,
      shape: 'many',
      output: { kind: 'jobs', nullable: false },
    }),
    created: field('datetime', DATETIME_HELP, { default: RENDER_TIME }),
    data: {
      ...field('dict', "Meta information related to this background job's execution.", {
        nullable: true,
        output: {
          nullable: false,
          fields: {
            progress: { type: 'integer', help: 'Progress in percent' },
            error: { type: 'string', help: 'Why the job failed (state error only)' },
          },
        },
      }),
      // tastypie's name for a dict field.
      schemaExtra: { blank: false, nullable: true, type: 'object', unique: false },
    },
    last_modified: field('datetime', DATETIME_HELP, { default: RENDER_TIME }),
    operation: field('string', STRING_HELP, {
      nullable: true,
      output: {
        nullable: false,
        choices: ['drive_clone', 'server_clone', 'drive_upload', 'server_start'],
      },
    }),
    resource_uri: field('string', STRING_HELP, { readonly: true }),
    resources: field('list', 'Resources linked to this background job.', {
      nullable: true,
      output: { nullable: false },
    }),
    state: field('string', STRING_HELP, {
      default: 'started',
      output: { choices: ['started', 'success', 'error'] },
    }),
    uuid: field('string', STRING_HELP, { unique: true }),
  },
};

export function renderJob(job: JobDoc): Record<string, unknown> {
  return {
    children: job.children.map(renderJob),
    created: job.created,
    data:
      job.error === undefined
        ? { progress: job.progress }
        : { progress: job.progress, error: job.error },
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
  // Jobs have no name: the column holds when the job last changed, in one sortable form, so that
  // the store lists them newest change first (`JOBS.defaultOrder`).
  name: (j) => new Date(j.last_modified).toISOString(),
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
