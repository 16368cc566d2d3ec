/**
 * What every page shares: collections that follow the event stream, the API's errors shown in
 * its own words, buttons that wait for their request, and small formatting helpers.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, listAll, type Obj, uuidOf } from './api';
import { type Frame, onFrame, onReconnect } from './events';

export interface Collection<T extends Obj> {
  items: T[] | undefined;
  error: unknown;
  reload: () => void;
}

/**
 * A collection (`/servers/detail/`, say) that follows the stream's frames of `type`: changed
 * objects are replaced, new ones appended, deleted ones dropped. Frames that arrive while the list
 * is being read are applied after it.
 */
export function useCollection<T extends Obj = Obj>(path: string, type: string): Collection<T> {
  const [items, setItems] = useState<T[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    let live = true;
    let pending: Frame[] | undefined = [];
    const apply = (list: T[], frame: Frame): T[] => {
      const uuid = uuidOf(frame.resource_uri);
      if (!frame.object) return list.filter((item) => item.uuid !== uuid);
      const object = frame.object as T;
      const at = list.findIndex((item) => item.uuid === object.uuid);
      if (at < 0) return [...list, object];
      const next = list.slice();
      next[at] = object;
      return next;
    };
    const stopFrames = onFrame((frame) => {
      if (frame.resource_type !== type) return;
      if (pending) pending.push(frame);
      else setItems((list) => (list ? apply(list, frame) : list));
    });
    const stopReconnect = onReconnect(reload);
    listAll<T>(path).then(
      (list) => {
        if (!live) return;
        const frames = pending ?? [];
        pending = undefined;
        setItems(frames.reduce(apply, list));
        setError(undefined);
      },
      (e: unknown) => {
        if (!live) return;
        pending = undefined;
        setError(e);
        setItems((list) => list ?? []);
      },
    );
    return () => {
      live = false;
      stopFrames();
      stopReconnect();
    };
  }, [path, type, generation, reload]);

  return { items, error, reload };
}

/** An error as the API words it: each entry's message, with the field it is about. */
export function Errors({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const entries =
    error instanceof ApiError
      ? error.errors
      : [{ error_point: null, error_type: 'client', error_message: String(error) }];
  return (
    <div class="errors" role="alert">
      {entries.map((entry) => (
        <p key={`${entry.error_point}:${entry.error_message}`}>
          {entry.error_point ? <code class="point">{entry.error_point}</code> : null}
          {entry.error_message}
        </p>
      ))}
    </div>
  );
}

/** Runs requests one at a time and keeps the last one's error. */
export function useRunner() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = useCallback(async (work: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
      return true;
    } catch (e) {
      if (mounted.current) setError(e);
      return false;
    } finally {
      if (mounted.current) setBusy(false);
    }
  }, []);
  return { busy, error, run, setError };
}

/** A status in the API's own word, beside a coloured mark (the word, not the colour, tells). */
export function Status({ value }: { value: unknown }) {
  const text = typeof value === 'string' ? value : 'unknown';
  return (
    <span class={`status status-${text}`} data-status={text}>
      {text}
    </span>
  );
}

export function Section(props: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section>
      <header class="section-head">
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes for people: 1 GiB, 512 MiB. */
export function bytes(value: unknown): string {
  let n = Number(value);
  if (!Number.isFinite(n)) return '';
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1 && n % 1024 === 0) {
    n /= 1024;
    unit++;
  }
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${UNITS[unit]}`;
}

export const GIB = 1024 ** 3;
export const MIB = 1024 ** 2;

/** `name` of a referenced object if the page knows it, else a short uuid. */
export function shortUuid(uuid: string | null | undefined): string {
  return uuid ? uuid.slice(0, 8) : '';
}

/** Local time of an API timestamp. */
export function when(value: unknown): string {
  if (typeof value !== 'string') return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

/** Asks before something that cannot be undone. */
export function sure(question: string): boolean {
  return window.confirm(question);
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/**
 * A collection as a table: its error, a line when it is empty, else a row per item (`row` makes
 * the `<tr>`).
 */
export function ListTable<T extends Obj>(props: {
  label: string;
  columns: readonly string[];
  collection: Pick<Collection<T>, 'items' | 'error'>;
  empty: string;
  row: (item: T) => ComponentChildren;
}) {
  const { items, error } = props.collection;
  return (
    <>
      <Errors error={error} />
      {items?.length === 0 ? <Empty>{props.empty}</Empty> : null}
      {items?.length ? (
        <table class="list" aria-label={props.label}>
          <thead>
            <tr>
              {props.columns.map((column) => (
                <th key={column}>{column}</th>
              ))}
            </tr>
          </thead>
          <tbody>{items.map(props.row)}</tbody>
        </table>
      ) : null}
    </>
  );
}

/** An option: its value, or `[value, text]`. */
export type Option = string | readonly [string, string];

/**
 * A `<select>`: controlled (`value` and `onChange`) inside tables, labelled by `aria-label`; or,
 * with `name`, a form field read with FormData, inside its own `<label>`.
 */
export function Choice(props: {
  label: string;
  options: readonly Option[];
  value?: string;
  onChange?: (value: string) => void;
  name?: string;
}) {
  const options = props.options.map((option) => {
    const [value, text] = typeof option === 'string' ? [option, option] : option;
    return (
      <option key={value} value={value}>
        {text}
      </option>
    );
  });
  if (props.name) {
    return (
      <label>
        {props.label}
        <select name={props.name}>{options}</select>
      </label>
    );
  }
  return (
    <select
      aria-label={props.label}
      value={props.value}
      onChange={(e) => props.onChange?.(e.currentTarget.value)}
    >
      {options}
    </select>
  );
}

/** A form field choosing `disk` or `cdrom`. */
export function MediaField() {
  return <Choice label="Media" name="media" options={['disk', 'cdrom']} />;
}

/** The state of a tunnel panel (screen, serial console), with Reconnect once it has ended. */
export function TunnelState(props: { title: string; state: string; onReconnect: () => void }) {
  return (
    <p class="tunnel-state">
      {props.title}: <span data-state={props.state}>{props.state}</span>{' '}
      {props.state === 'disconnected' ? (
        <button type="button" onClick={props.onReconnect}>
          Reconnect
        </button>
      ) : null}
    </p>
  );
}

/** An editable list of rows (a server's drives and NICs, a policy's rules). */
export function useRows<T>(initial: T[]) {
  const [rows, setRows] = useState(initial);
  return {
    rows,
    set: (i: number, patch: Partial<T>) =>
      setRows(rows.map((row, j) => (i === j ? { ...row, ...patch } : row))),
    remove: (i: number) => setRows(rows.filter((_, j) => j !== i)),
    add: (row: T) => setRows([...rows, row]),
  };
}
