import { randomBytes } from 'node:crypto';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { POSTGRES_URL } from '../support/postgres.js';
import { storeBehaviour } from './behaviour.js';

storeBehaviour('postgres', () =>
  PostgresStore.open({
    url: POSTGRES_URL,
    schema: `t_${randomBytes(6).toString('hex')}`,
    dropSchemaOnClose: true,
  }),
);
