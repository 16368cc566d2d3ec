/**
 * `sigmalite tls init [--dir DIR] HOST...`: a local CA (kept and reused in DIR) and a server
 * certificate for the given names and addresses (docs/tls.md). Stdout carries one line per file
 * (`ca PATH`, `cert PATH`, `key PATH`) for scripts; how to use them goes to stderr.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError, defaultDataDir } from '../config.js';
import { initTls, type TlsFiles, tlsFiles } from './tls.js';

/** A DNS name, a wildcard one (`*.example.com`) included. */
const HOST_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*$/;

/** The directory `tls init` writes to: `--dir`, else `tls` under `--data` (or its default). */
export function tlsDir(options: { dir?: string; data?: string }, env = process.env): string {
  if (options.dir !== undefined) return resolve(options.dir);
  const data = options.data ?? (env.SIGMALITE_DATA || defaultDataDir());
  return resolve(join(data, 'tls'));
}

/** Adds `tls init` to the command line. */
export function addTlsCommands(program: Command): void {
  const tls = program.command('tls').description('Certificates for serving HTTPS (docs/tls.md)');
  tls
    .command('init <host...>')
    .description(
      'Make a local CA (reused if DIR has one) and a server certificate for the host names and ' +
        'addresses; prints the paths of the CA, the certificate and its key',
    )
    .addOption(new Option('--dir <DIR>', 'Where to write the files (default: DATA/tls)'))
    .addOption(new Option('--data <DIR>', 'Data directory whose tls/ to use (env SIGMALITE_DATA)'))
    .action((hosts: string[], options: { dir?: string; data?: string }) => {
      for (const host of hosts) {
        if (isIP(host) === 0 && !HOST_NAME.test(host)) {
          throw new ConfigError(
            `tls init: "${host}" is not a host name or an IP address (give names, not URLs)`,
          );
        }
      }
      const dir = tlsDir(options);
      const reused = existsSync(tlsFiles(dir).caCert) && existsSync(tlsFiles(dir).caKey);
      let files: TlsFiles;
      try {
        files = initTls(dir, hosts);
      } catch (e) {
        throw new ConfigError(`tls init: ${(e as Error).message}`);
      }
      process.stdout.write(`ca ${files.caCert}\ncert ${files.cert}\nkey ${files.key}\n`);
      process.stderr.write(
        [
          `sigmalite: ${reused ? 'reused the CA' : 'made a new CA'} in ${dir}; certificate for ${hosts.join(', ')}`,
          `  serve with:     sigmalite serve --tls-cert ${files.cert} --tls-key ${files.key}`,
          `  clients trust:  ${files.caCert} (docs/tls.md)`,
          '',
        ].join('\n'),
      );
    });
}
