/**
 * How a command reaches virsh's own command-line parser and how its failures read. Interactive
 * virsh splits a line into words as a shell does: single quotes keep everything literally, a
 * backslash outside quotes escapes one character. Every argument is quoted, so no value of a
 * caller (a name, a path, a piece of XML) can become a second argument or a second command.
 */

/** One argument for virsh's parser: `it's` becomes `'it'\''s'`. */
export function quoteArgument(argument: string): string {
  if (/[\n\r\0]/.test(argument)) {
    // A line break would end the command line: the rest would run as another command.
    throw new VirshError(
      `a virsh argument cannot contain a line break: ${JSON.stringify(argument)}`,
    );
  }
  return `'${argument.replaceAll("'", "'\\''")}'`;
}

/** A whole command line: the command name as is, every argument quoted. */
export function commandLine(args: readonly string[]): string {
  const [name, ...rest] = args;
  if (name === undefined || !/^[a-z][a-z0-9-]*$/.test(name)) {
    throw new VirshError(`not a virsh command: ${JSON.stringify(name)}`);
  }
  return [name, ...rest.map(quoteArgument)].join(' ');
}

/** A virsh command that failed: `message` is virsh's own error lines, without the `error: `. */
export class VirshError extends Error {
  constructor(
    message: string,
    /** The command line, when there was one. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'VirshError';
  }
}

/** No answer in time: the virsh process was killed (and is replaced on the next command). */
export class VirshTimeoutError extends VirshError {
  constructor(command: string, timeoutMs: number) {
    super(`virsh gave no answer to "${command}" within ${timeoutMs} ms`, command);
    this.name = 'VirshTimeoutError';
  }
}

/**
 * Whether libvirt said the object (domain, volume, pool, network, filter) does not exist. virsh
 * 9 says only `failed to get domain 'x'` for a domain, and adds `Storage pool not found: no
 * storage pool with matching name 'x'` for the others. A lookup that failed because the
 * connection did is not "not found".
 */
export function isNotFound(error: unknown): boolean {
  return (
    error instanceof VirshError &&
    !(error instanceof VirshTimeoutError) &&
    /failed to get (domain|vol|pool|network|nwfilter) '|\bnot found: no /i.test(error.message) &&
    !/connect|end of file|broken pipe|cannot recv|cannot write/i.test(error.message)
  );
}

/** Whether libvirt refused because the domain is not running (`domain is not running`). */
export function isNotRunning(error: unknown): boolean {
  return error instanceof VirshError && /domain is not running/i.test(error.message);
}
