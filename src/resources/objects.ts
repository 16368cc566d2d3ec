/** Reading and writing the documents the engine's tasks finish, inside a store transaction. */

import type { ObjectRecord, ReadTx, WriteTx } from '../store/types.js';
import { type DocKind, parseDoc, toUpdate } from './common.js';
import { type DriveDoc, driveKind } from './drives/model.js';
import { type JobDoc, jobKind } from './jobs/model.js';
import { type ServerDoc, serverKind } from './servers/model.js';

export interface Loaded<D> {
  record: ObjectRecord;
  doc: D;
}

async function load<D>(tx: ReadTx, kind: DocKind<D>, uuid: string): Promise<Loaded<D> | undefined> {
  const record = await tx.get(uuid);
  if (record?.kind !== kind.def.kind) return undefined;
  return { record, doc: parseDoc<D>(record) };
}

export const loadServer = (tx: ReadTx, uuid: string) => load<ServerDoc>(tx, serverKind, uuid);
export const loadDrive = (tx: ReadTx, uuid: string) => load<DriveDoc>(tx, driveKind, uuid);
export const loadJob = (tx: ReadTx, uuid: string) => load<JobDoc>(tx, jobKind, uuid);

export async function saveServer(tx: WriteTx, loaded: Loaded<ServerDoc>): Promise<void> {
  await tx.update(toUpdate(serverKind, loaded.record, loaded.doc));
}

export async function saveDrive(tx: WriteTx, loaded: Loaded<DriveDoc>): Promise<void> {
  await tx.update(toUpdate(driveKind, loaded.record, loaded.doc));
}

export async function saveJob(tx: WriteTx, loaded: Loaded<JobDoc>): Promise<void> {
  await tx.update(toUpdate(jobKind, loaded.record, loaded.doc));
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}
