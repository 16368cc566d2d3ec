/** Public keys attached to servers (`pubkeys`, api-reference.md §5.6). Until keypairs exist, 400. */
import { errors } from '../../http/errors.js';
import type { WriteTx } from '../../store/types.js';

export async function checkPubkeys(
  _tx: WriteTx,
  _owner: string,
  pubkeys: readonly string[],
  point: string,
): Promise<void> {
  if (pubkeys.length > 0) throw errors.notYetSupported(point, 'Public keys');
}
