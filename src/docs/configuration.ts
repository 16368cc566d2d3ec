/**
 * The configuration reference (docs/configuration.md), rendered from the option declarations so
 * that it cannot drift from them; a test fails when the committed file is stale.
 */
import { DEFAULTS, OPTIONS, type OptionSpec } from '../config.js';

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

export function renderConfigurationDoc(): string {
  const rows = OPTIONS.map(
    (spec) =>
      `| ${flagOf(spec)} | \`${spec.env}\` | ${defaultOf(spec)} | ${spec.help.replaceAll('|', '\\|')} |`,
  );
  return `# Configuration

<!-- Generated from src/config.ts by \`npm run docs\`; edit the option declarations, not this file. -->

Every option can be given as a flag of \`sigmalite serve\` (\`npm start -- FLAGS\`) or as an
environment variable. Flags win over the environment, which wins over the defaults. Boolean
environment variables take \`1/true/yes/on\` or \`0/false/no/off\`; a flag \`--no-X\` turns off an
option that is on by default.

| flag | environment | default | meaning |
|---|---|---|---|
${rows.join('\n')}
`;
}
