/** What the SQLite store's modules share: record columns and rows. */

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
