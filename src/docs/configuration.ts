/**
 * The configuration reference (docs/configuration.md), rendered from the option declarations so
 * that it cannot drift from them; a test fails when the committed file is stale.
 */
import { DEFAULTS, OPTIONS, type OptionSpec } from '../config.js';
import { fileKey } from '../config-file.js';
import { HOST_KEYS } from '../engine/host-input.js';

function defaultOf(spec: OptionSpec): string {
  if (spec.defaultText) return spec.defaultText;
  const value = DEFAULTS[spec.key];
  if (value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return `\`${String(value)}\``;
}

function flagOf(spec: OptionSpec): string {
  if (spec.envOnly) return '';
  return spec.type === 'boolean'
    ? `\`--${spec.flag}\``
    : `\`--${spec.flag} ${spec.arg ?? 'VALUE'}\``;
}

function fileKeyOf(spec: OptionSpec): string {
  return spec.key === 'config' ? '' : `\`${fileKey(spec)}\``;
}

export function renderConfigurationDoc(): string {
  const rows = OPTIONS.map(
    (spec) =>
      `| ${flagOf(spec)} | \`${spec.env}\` | ${fileKeyOf(spec)} | ${defaultOf(spec)} | ${spec.help.replaceAll('|', '\\|')} |`,
  );
  return `# Configuration

<!-- Generated from src/config.ts by \`npm run docs\`; edit the option declarations, not this file. -->

Every option can be given as a flag of \`sigmalite serve\` (\`npm start -- FLAGS\`), as an
environment variable, or as a key of the configuration file that \`--config FILE\` (or
\`SIGMALITE_CONFIG\`) names. Flags win over the environment, which wins over the file, which wins
over the defaults. Boolean environment variables take \`1/true/yes/on\` or \`0/false/no/off\`; a
flag \`--no-X\` turns off an option that is on by default.

The file is TOML, with the keys below: strings in quotes, numbers and booleans bare. A key that is
not in this table stops the start with an error naming it.

\`\`\`toml
# sigmalite.toml
port = 4780
data = "/var/lib/sigmalite"
transitions = "fast"
dynamic_pool = "198.18.0.0/15"
control = true
users = "ci@example.com:ci-password"
\`\`\`

| flag | environment | file key | default | meaning |
|---|---|---|---|---|
${rows.join('\n')}

## Hypervisor hosts: \`[[hypervisor]]\`

The file declares the cloud's hypervisor hosts as \`[[hypervisor]]\` tables (not \`[[host]]\`:
\`host\` is the listen address's key). At every start of \`sigmalite serve\` each table becomes
the host's record in the host registry (the store's, shared by every process): what the table
declares replaces what the record held, except whether the host is drained (\`sigmalite host
drain\`), which stays. Hosts of the registry that no table names are left alone. A process
started with \`--hosts '*'\` serves every host of the registry and follows \`sigmalite host
add|remove\` while it runs (docs/operations.md, "Drivers and hosts").

\`\`\`toml
hosts = "*"

[[hypervisor]]
name = "h1"
uri = "qemu+tls://h1.example.net/system"
mhz = 48000
memory = "128G"
pool = "sigmalite"
pool_path = "/srv/sigmalite/pool"
shared_pool = true

[[hypervisor]]
name = "h2"
uri = "qemu+ssh://root@h2.example.net/system"
\`\`\`

| key | value | absent |
|---|---|---|
${hostKeyRows().join('\n')}

A table without \`name\`, a name given twice, a key not in this table or a value of the wrong kind
stops the start with an error naming the table and the key.
`;
}

/** The `[[hypervisor]]` keys' rows: key, value, what an absent key means. */
function hostKeyRows(): string[] {
  const rows = [
    ['`name`', 'letters, digits, dots and dashes, at most 63 (as `--hosts`)', 'required'],
  ];
  for (const [key, spec] of Object.entries(HOST_KEYS)) {
    rows.push([`\`${key}\``, spec.help, spec.absent]);
  }
  return rows.map((row) => `| ${row.join(' | ')} |`);
}
