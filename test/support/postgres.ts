/** The PostgreSQL the tests use: the machine's server on 127.0.0.1:5432 (trust auth), database `test`. */
export const POSTGRES_URL =
  process.env.SIGMALITE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
