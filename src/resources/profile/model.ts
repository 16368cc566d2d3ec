/** The account's profile (`/profile/`), a tastypie model resource: its schema shows blank/nullable/unique. */

import { errors } from '../../errors.js';
import type { FieldDef, ResourceDef } from '../../model/fields.js';
import type { Json } from '../../model/json.js';
import type { ReadTx } from '../../store/types.js';
import { checkMeta, type DocKind, parseDoc } from '../common.js';

export const CLONE_NAMING = ['NONE', 'COUNTER', 'DATE', 'TIMESTAMP'] as const;

export interface ProfileDoc {
  uuid: string;
  email: string;
  [field: string]: Json;
}

const STRING_HELP = 'Unicode string data. Ex: "Hello World"';
const DECIMAL_HELP = 'Fixed precision numeric data. Ex: 26.73';
const BOOLEAN_HELP = 'Boolean data. Ex: True';

function field(
  type: FieldDef['type'],
  def: Json | undefined,
  opts: { readonly?: boolean; nullable?: boolean; blank?: boolean; help?: string } = {},
): FieldDef {
  const help =
    opts.help ??
    (type === 'decimal' ? DECIMAL_HELP : type === 'boolean' ? BOOLEAN_HELP : STRING_HELP);
  return {
    type,
    help,
    ...(def === undefined ? {} : { default: def }),
    readonly: opts.readonly ?? false,
    nullable: opts.nullable ?? false,
    schemaExtra: { blank: opts.blank ?? false, nullable: opts.nullable ?? false, unique: false },
  };
}

const ADDRESS_MAX = 180;

export const PROFILE: ResourceDef = {
  kind: 'profile',
  allowedListMethods: ['get', 'put'],
  allowedDetailMethods: ['get', 'put'],
  schemaOmitsRequired: true,
  fields: {
    address: {
      ...field('string', ''),
      check: (value, point) => {
        const text = value as string;
        if (text.length > ADDRESS_MAX || !/^[\x20-\x7e\n\r\t]*$/.test(text)) {
          throw errors.invalid(
            point,
            `The address must be ASCII and at most ${ADDRESS_MAX} characters`,
          );
        }
      },
    },
    api_https_only: field('boolean', false),
    autotopup_amount: field('decimal', 0),
    autotopup_threshold: field('decimal', 0),
    // Nullable in CloudSigma's model; always set here.
    bank_reference: {
      ...field('string', undefined, { readonly: true, nullable: true, blank: true }),
      output: { nullable: false },
    },
    // Checked against its four values (§5.8); the recorded schema lists no choices.
    clone_naming: { ...field('string', 'NONE'), choices: CLONE_NAMING, schemaHidesChoices: true },
    company: field('string', ''),
    // Changing the country through the API is disabled on CloudSigma since 2023.
    country: field('string', '', { readonly: true }),
    currency: {
      ...field('string', undefined, { readonly: true, nullable: true, blank: true }),
      output: { nullable: false },
    },
    email: field('string', undefined, { readonly: true }),
    first_name: field('string', ''),
    has_autotopup: field('boolean', false),
    has_tx_autotopup: field('boolean', false),
    invoicing: field('boolean', true),
    key_auth: field('boolean', false),
    language: field('string', 'EN'),
    last_name: field('string', ''),
    mailing_list: field('boolean', true),
    meta: {
      ...field('dict', undefined, {
        help: "A dictionary of data. Ex: {'price': 26.73, 'name': 'Daniel'}",
      }),
      check: checkMeta,
    },
    my_notes: field('string', '', { nullable: true }),
    network_restrictions: field('string', undefined, { readonly: true, nullable: true }),
    nickname: field('string', '', { help: 'User nickname' }),
    phone: field('string', ''),
    postcode: field('string', undefined, { nullable: true }),
    reseller: field('string', ''),
    signup_time: field('datetime', undefined, {
      readonly: true,
      help: 'A date & time as a string. Ex: "2010-11-10T03:07:43"',
    }),
    state: field('string', undefined, { readonly: true }),
    tax_name: field('string', undefined, { readonly: true, nullable: true }),
    tax_rate: field('decimal', undefined, { readonly: true, nullable: true }),
    title: field('string', '', { help: 'User title' }),
    town: field('string', ''),
    tx_autotopup_amount: field('decimal', 0),
    tx_autotopup_threshold: field('decimal', 0),
    uuid: field('string', undefined, { readonly: true }),
    vat: field('string', ''),
  },
};

export function newProfile(uuid: string, email: string, signupTime: string): ProfileDoc {
  return {
    address: '',
    api_https_only: false,
    autotopup_amount: '0E-16',
    autotopup_threshold: '0E-16',
    bank_reference: uuid.slice(0, 8),
    clone_naming: 'NONE',
    company: '',
    country: '',
    currency: 'EUR',
    email,
    first_name: '',
    has_autotopup: false,
    has_tx_autotopup: false,
    invoicing: true,
    key_auth: false,
    language: 'EN',
    last_name: '',
    mailing_list: true,
    meta: {},
    my_notes: '',
    network_restrictions: null,
    nickname: '',
    phone: '',
    postcode: '',
    reseller: '',
    signup_time: signupTime,
    state: 'REGULAR',
    tax_name: null,
    tax_rate: null,
    title: '',
    town: '',
    tx_autotopup_amount: '0E-16',
    tx_autotopup_threshold: '0E-16',
    uuid,
    vat: '',
  };
}

export const profileKind: DocKind<ProfileDoc> = {
  def: PROFILE,
  uuid: (p) => p.uuid,
  owner: (p) => p.uuid,
  name: (p) => p.email,
  status: () => null,
  render: (p) => ({ ...p }),
};

/** The account's `clone_naming` (NONE when its profile was never written). */
export async function cloneNamingOf(tx: Pick<ReadTx, 'get'>, owner: string): Promise<string> {
  const record = await tx.get(owner);
  if (record?.kind !== 'profile') return 'NONE';
  const naming = parseDoc<ProfileDoc>(record).clone_naming;
  return typeof naming === 'string' ? naming : 'NONE';
}
