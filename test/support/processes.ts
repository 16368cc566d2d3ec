/**
 * Test support: two sigmalite processes (apps) on one PostgreSQL database, the first serving the
 * host `h1`, the second `h2`, as several API processes behind a load balancer would.
 */
import { startTestApp, type TestApp, type TestAppOptions } from './app.js';
import { lastingTestStore } from './stores.js';

export interface TwoProcesses {
  one: TestApp;
  two: TestApp;
  /** Closes both and drops their database. */
  close(): Promise<void>;
}

/** `options` for both; `first` for the first one alone (its `--public-url`, say). */
export async function twoProcesses(
  options: TestAppOptions,
  first: TestAppOptions = {},
): Promise<TwoProcesses> {
  const data = lastingTestStore('postgres');
  const started: TestApp[] = [];
  const close = async () => {
    for (const app of started) await app.close();
    await data.dispose();
  };
  try {
    started.push(
      await startTestApp({ ...options, ...first, hosts: 'h1', withStore: await data.open() }),
    );
    started.push(await startTestApp({ ...options, hosts: 'h2', withStore: await data.open() }));
  } catch (e) {
    await close();
    throw e;
  }
  const [one, two] = started as [TestApp, TestApp];
  return { one, two, close };
}
