/**
 * Tags seen from the objects that carry them (api-reference.md §5.1). Until tags exist, a
 * non-empty `tags` answers 400 naming the field.
 */
import { errors } from '../../http/errors.js';
import type { WriteTx } from '../../store/types.js';

/** Checks the tags an object of `owner` is given; throws an ApiError naming `point`. */
export async function checkTags(
  _tx: WriteTx,
  _owner: string,
  tags: readonly string[],
  point: string,
): Promise<void> {
  if (tags.length > 0) throw errors.notYetSupported(point, 'Tags');
}

/** After an object was written or deleted (`tags` null): its tags list it, or no longer do. */
export async function syncTags(
  _tx: WriteTx,
  _kind: string,
  _uuid: string,
  _before: readonly string[],
  _after: readonly string[] | null,
): Promise<void> {}
