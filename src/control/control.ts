/**
 * The test-control operations, apart from HTTP (`routes.ts` serves them under `/_sigmalite/`):
 * reset, clock, transitions, guest ACPI, faults, latency, server faults, export and import.
 */
import {
  parseTransitions,
  TRANSITION_NAMES,
  TRANSITION_PRESETS,
  type Transitions,
  TransitionsError,
} from '../drivers/transitions.js';
import type { ClockState, ControlledClock } from '../engine/clock.js';
import type { Engine } from '../engine/engine.js';
import { HOSTS_STATE } from '../engine/hosts.js';
import { ApiError, errors } from '../errors.js';
import type { Random } from '../model/random.js';
import { toRecord } from '../resources/common.js';
import { newProfile, profileKind } from '../resources/profile/model.js';
import { SERVER_STATUSES } from '../resources/servers/model.js';
import { Mutex } from '../store/mutex.js';
import { type Account, LOG_KINDS, type ObjectRecord, type Store } from '../store/types.js';
import { Faults } from './faults.js';
import { Latency } from './latency.js';
import { crashHost, pauseServer, reviveServer, type ServerFaultEnv } from './servers.js';
import {
  exportState,
  type ImportSummary,
  importState,
  parseDump,
  type StateDump,
} from './state.js';

/** What the control API changes of simulated guests. */
export interface GuestControls {
  setGuestAcpi(answers: boolean, uuid?: string): void;
}

export interface ControlDeps {
  store: Store;
  engine: Engine;
  clock: ControlledClock;
  /** The simulated guests' ACPI behaviour (a driver without simulated guests has none). */
  compute: GuestControls;
  random: Random;
  /** The transitions spec at start (`--transitions` syntax). */
  transitions: string;
  setTransitions(spec: string): void;
}

export interface ClockView extends ClockState {
  /** `now` as ISO 8601. */
  time: string;
}

export interface TransitionsView extends Transitions {
  /** The same, in `--transitions` syntax. */
  spec: string;
}

export class Control {
  readonly faults = new Faults();
  readonly latency = new Latency();
  private transitionsSpec: string;
  /** Operations that stop the engine run one at a time. */
  private readonly exclusive = new Mutex();

  constructor(private readonly deps: ControlDeps) {
    this.transitionsSpec = deps.transitions;
  }

  private get serverEnv(): ServerFaultEnv {
    return { store: this.deps.store, clock: this.deps.clock, random: this.deps.random };
  }

  /** An account by uuid or email; 404 if there is none. */
  async account(id: string): Promise<Account> {
    const { accounts } = this.deps.store;
    const account = id.includes('@') ? await accounts.byEmail(id) : await accounts.byUuid(id);
    if (!account) throw new ApiError('notexist', `No account "${id}"`, 'account');
    return account;
  }

  /**
   * Runs `fn` with the engine stopped (tasks under way interrupted; they run again afterwards)
   * and starts it again, reconciling the stored state with the machines.
   */
  private suspended<T>(fn: () => Promise<T>): Promise<T> {
    return this.exclusive.run(async () => {
      await this.deps.engine.stop();
      try {
        return await fn();
      } finally {
        await this.deps.engine.start();
      }
    });
  }

  /**
   * Everything back to a fresh start: every object, task, claim and machine goes; accounts, their
   * passwords, login sessions and API tokens stay, each with a fresh profile, and so do the objects of the
   * cloud (owner null: the library drives of the catalog) and its host registry. Injected faults are dropped;
   * the clock, transitions, latency and guest ACPI settings stay as they are.
   */
  async resetAll(): Promise<void> {
    const { store, engine } = this.deps;
    await this.suspended(async () => {
      const snapshot = await store.snapshot();
      await engine.killMachines(servers(snapshot.objects));
      await store.restore({
        accounts: snapshot.accounts,
        sessions: snapshot.sessions,
        tokens: snapshot.tokens,
        objects: [
          ...snapshot.objects.filter((object) => object.owner === null),
          ...snapshot.accounts.map(freshProfile),
        ],
        claims: [],
        tasks: [],
        // The hosts are the cloud's, as the accounts are: a process following the registry
        // (`--hosts '*'`) would otherwise let them go.
        state: snapshot.state.filter((entry) => entry.namespace === HOSTS_STATE),
        links: [],
        grants: [],
      });
    });
    this.faults.clear();
  }

  /**
   * One account back to a fresh start: its objects go (with their claims, tasks and machines),
   * its profile is new; its password and sessions stay, and nothing of other accounts moves.
   * Returns how many objects went (the profile, replaced, and audit entries not counted).
   */
  async resetAccount(account: Account): Promise<number> {
    const removed = await this.deps.store.write(async (tx) => {
      const gone = await tx.removeOwned(account.uuid);
      await tx.insert(
        toRecord(profileKind, newProfile(account.uuid, account.email, account.createdAt)),
      );
      return gone;
    });
    // Transitions under way for the servers gone end without effect.
    await this.deps.engine.killMachines(servers(removed));
    this.faults.clear(account.uuid);
    // Neither the profile (replaced) nor the audit log's entries are resources of the account.
    return removed.filter(
      (object) => object.kind !== profileKind.def.kind && !LOG_KINDS.includes(object.kind),
    ).length;
  }

  clock(): ClockView {
    const state = this.deps.clock.state();
    return { ...state, time: new Date(state.now).toISOString() };
  }

  /** 1 is real time, 0 stops the clock, another factor runs it that much faster. */
  setClockScale(scale: number): void {
    this.deps.clock.setScale(scale);
    this.deps.engine.wake();
  }

  /** Moves the clock forward to `time`; 400 if that is in its past. */
  setClockTime(time: number): void {
    const now = this.deps.clock.now();
    if (time < Math.floor(now)) {
      throw errors.invalid(
        'time',
        `The clock only moves forward: it is ${new Date(now).toISOString()} already`,
      );
    }
    this.deps.clock.set(time);
    this.deps.engine.wake();
  }

  advanceClock(ms: number): void {
    this.deps.clock.advance(ms);
    this.deps.engine.wake();
  }

  transitions(): TransitionsView {
    return { spec: this.transitionsSpec, ...parseTransitions(this.transitionsSpec) };
  }

  /**
   * New transition times: a whole spec, then single values over it (or over the times in force).
   * Transitions under way keep the time they began with.
   */
  setTransitions(spec: string | undefined, values: Partial<Transitions>): TransitionsView {
    let base: Transitions;
    let preset: string;
    try {
      const text = spec ?? this.transitionsSpec;
      base = parseTransitions(text);
      preset = text.split(',')[0]!.trim() || 'default';
    } catch (e) {
      if (e instanceof TransitionsError) throw errors.invalid('spec', e.message);
      throw e;
    }
    const times: Transitions = { ...base, ...values };
    const presetTimes = TRANSITION_PRESETS[preset]!;
    const overrides = TRANSITION_NAMES.filter((name) => times[name] !== presetTimes[name]).map(
      (name) => `${name}=${times[name]}`,
    );
    const canonical = [preset, ...overrides].join(',');
    this.deps.setTransitions(canonical);
    this.transitionsSpec = canonical;
    return this.transitions();
  }

  /** Whether simulated guests power off on an ACPI shutdown: all, or one server's. */
  setGuestAcpi(answers: boolean, server?: string): void {
    this.deps.compute.setGuestAcpi(answers, server);
  }

  crashHost(request: { servers?: string[]; account?: string; downMs: number }): Promise<string[]> {
    return crashHost(this.serverEnv, request);
  }

  pause(uuid: string): Promise<void> {
    return pauseServer(this.serverEnv, uuid);
  }

  revive(uuid: string): Promise<void> {
    return reviveServer(this.serverEnv, uuid);
  }

  exportState(): Promise<StateDump> {
    return exportState(this.deps.store, { clockTime: Math.floor(this.deps.clock.now()) });
  }

  /**
   * Replaces the whole state with a dump. The clock moves forward to the dump's time if it is
   * behind, so that due times and transitions under way keep their meaning.
   */
  async importState(dump: unknown): Promise<ImportSummary> {
    const valid = parseDump(dump);
    const { store, engine, clock } = this.deps;
    return this.suspended(async () => {
      const before = await store.read((tx) => tx.byStatus('servers', SERVER_STATUSES));
      await engine.killMachines(servers(before));
      const summary = await importState(store, valid);
      if (valid.clock_time !== null && valid.clock_time > clock.now()) clock.set(valid.clock_time);
      return summary;
    });
  }
}

function servers(objects: readonly Pick<ObjectRecord, 'kind' | 'uuid'>[]): string[] {
  return objects.filter((object) => object.kind === 'servers').map((object) => object.uuid);
}

function freshProfile(account: Account): ObjectRecord {
  return {
    ...toRecord(profileKind, newProfile(account.uuid, account.email, account.createdAt)),
    version: 1,
  };
}
