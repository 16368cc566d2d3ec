/**
 * The configuration reference (docs/configuration.md), rendered from the option declarations so
 * that it cannot drift from them; a test fails when the committed file is stale.
 */
import { DEFAULTS, OPTIONS, type OptionSpec } from '../config.js';
import { fileKey } from '../config-file.js';

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
`;
}
