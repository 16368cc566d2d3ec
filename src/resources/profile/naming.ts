/**
 * Clone naming (api-reference.md §5.8): the profile's `clone_naming` names a clone made without
 * a name. COUNTER increments a trailing number (or appends `_1`); DATE and TIMESTAMP append the
 * UTC date or time, falling back to a counter when that suffix is already current.
 */
export type CloneNaming = 'NONE' | 'COUNTER' | 'DATE' | 'TIMESTAMP';

export function cloneName(name: string, naming: string, now: Date): string {
  switch (naming) {
    case 'COUNTER':
      return counted(name);
    case 'DATE':
      return suffixed(name, now.toISOString().slice(0, 10));
    case 'TIMESTAMP':
      return suffixed(name, now.toISOString().slice(0, 19).replace('T', ' '));
    default:
      return name;
  }
}

function counted(name: string): string {
  const match = /^(.*?)(\d+)$/.exec(name);
  if (!match) return `${name}_1`;
  const digits = match[2]!;
  const next = String(Number(digits) + 1).padStart(digits.length, '0');
  return `${match[1]}${next}`;
}

function suffixed(name: string, stamp: string): string {
  const suffix = `-${stamp}`;
  if (name.endsWith(suffix)) return `${name}_1`;
  const counter = new RegExp(`${escapeRegExp(suffix)}_(\\d+)$`).exec(name);
  if (counter) return counted(name);
  return `${name}${suffix}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
