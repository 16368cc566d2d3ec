/**
 * What a driver throws when an operation fails. The engine retries a failure within a budget;
 * a `permanent` one (a broken image, a definition the hypervisor refuses) is not retried: the
 * task ends at once in its defined failed state.
 */
export class DriverError extends Error {
  override readonly name = 'DriverError';

  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}
