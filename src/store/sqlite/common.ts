/** What the SQLite store's modules share: record columns and rows. */
import type { Task } from '../types.js';

export const RECORD_COLUMNS = 'kind, uuid, owner, name, status, version, doc, detail, summary';

export interface Row {
  kind: string;
  uuid: string;
  owner: string | null;
  name: string;
  status: string | null;
  version: number;
  doc: string;
  detail: string;
  summary: string;
}

/** A task as stored: a null host is left out (tasks written before hosts existed look the same). */
export function taskRow(row: Task): Task {
  const { host, ...task } = row;
  return host == null ? task : { ...task, host };
}
