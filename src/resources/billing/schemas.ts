/**
 * The declarations of the billing collections that are tastypie model resources (their
 * `/schema/` shows `blank`, `nullable` and `unique` instead of `required`): pricing, discount,
 * ledger and licenses, as their schema fixtures render them.
 */
import type { FieldDef, ResourceDef } from '../../model/fields.js';

/** A field of a tastypie model resource. */
export function modelField(
  type: FieldDef['type'],
  help: string,
  extra: Partial<FieldDef> & { nullable?: boolean; unique?: boolean; blank?: boolean } = {},
): FieldDef {
  const { nullable = false, unique = false, blank = false, ...rest } = extra;
  return { type, help, schemaExtra: { blank, nullable, unique }, ...rest };
}

const ID = 'Unicode string data. Ex: "Hello World"';
const TIME = 'A date & time as a string. Ex: "2010-11-10T03:07:43"';

export const PRICING: ResourceDef = {
  kind: 'pricing',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  schemaOmitsRequired: true,
  defaultLimit: 0,
  filtering: { level: 1 },
  fields: {
    currency: modelField('string', 'The currency of the price', { readonly: true }),
    id: modelField('string', ID, { default: '', unique: true }),
    level: modelField('integer', 'The burst level the price applies to', { default: 0 }),
    multiplier: modelField(
      'integer',
      'The multiplier applied to get the price of one unit per second, from the unit of the price',
      { readonly: true },
    ),
    price: modelField('decimal', 'Price'),
    resource: modelField('string', 'The resource the price applies to', { readonly: true }),
    unit: modelField('string', 'The unit of the price', { readonly: true }),
  },
};

export const DISCOUNT: ResourceDef = {
  kind: 'discount',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  schemaOmitsRequired: true,
  defaultLimit: 0,
  fields: {
    period: modelField('string', 'The minimum period for this discount', { nullable: true }),
    value: modelField('decimal', 'The value of the discount', { default: 0 }),
  },
};

export const LEDGER: ResourceDef = {
  kind: 'ledger',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  schemaOmitsRequired: true,
  filtering: { billing_cycle: 1, time: 1 },
  ordering: ['time'],
  fields: {
    amount: modelField(
      'decimal',
      'Amount of the operation, positive for debits, negative for credits',
      { default: 0 },
    ),
    // Null: nothing here is billed in cycles (billing_cycle, human_interval, interval).
    billing_cycle: modelField('integer', 'Billing cycle that generated this charge', {
      nullable: true,
      output: { nullable: true },
    }),
    end: modelField('decimal', 'Amount of money after the operation', { default: 0 }),
    human_interval: modelField('string', 'Human readable interval of bill entry', {
      nullable: true,
      output: { nullable: true },
    }),
    id: modelField('string', ID, { default: '', unique: true }),
    initial: modelField('decimal', 'Amount of money before the operation', { default: 0 }),
    interval: modelField('integer', 'Interval of bill entry', {
      nullable: true,
      output: { nullable: true },
    }),
    poll_time: modelField('datetime', TIME, { default: '2014-06-05T09:41:58.809494+00:00' }),
    reason: modelField('string', 'Description of the operation'),
    resource_amount: modelField('string', 'Resource amount', { default: 1, nullable: true }),
    time: modelField('datetime', TIME, { default: '2014-06-05T09:41:58.809480+00:00' }),
  },
};

export const LICENSES_DEF: ResourceDef = {
  kind: 'licenses',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  schemaOmitsRequired: true,
  fields: {
    burstable: modelField('boolean', 'Whether this resource can be used on burst', {
      default: false,
    }),
    long_name: modelField('string', 'A human readable name for the resource.', { default: '' }),
    name: modelField('string', 'Name that should be used when purchasing', { unique: true }),
    resource_uri: modelField('string', ID, { readonly: true }),
    type: modelField('string', 'Type of billing', { default: 'instance' }),
    user_metric: modelField('string', 'The metric that the user is charged for'),
  },
};
