/**
 * Building blocks shared by the panels: loading a resource with loading, empty
 * and error states, polling, and a busy button.
 */
import * as React from 'react';

import { messageOf } from '../notify';

export type Loaded<T> =
  | { kind: 'loading'; previous: T | null }
  | { kind: 'ready'; value: T }
  | { kind: 'error'; message: string; previous: T | null };

/**
 * Load `fetch()` on mount and whenever `deps` change; `reload()` fetches again
 * and keeps the previous value on screen meanwhile. Only the latest answer counts.
 */
export function useLoader<T>(
  fetch: () => Promise<T>,
  deps: React.DependencyList
): [Loaded<T>, () => Promise<void>] {
  const [state, setState] = React.useState<Loaded<T>>({
    kind: 'loading',
    previous: null
  });
  const latest = React.useRef(0);
  const load = React.useCallback(fetch, deps);

  const reload = React.useCallback(async (): Promise<void> => {
    const request = ++latest.current;
    setState(current => ({ kind: 'loading', previous: valueOf(current) }));
    try {
      const value = await load();
      if (request === latest.current) {
        setState({ kind: 'ready', value });
      }
    } catch (error) {
      if (request === latest.current) {
        setState(current => ({
          kind: 'error',
          message: messageOf(error),
          previous: valueOf(current)
        }));
      }
    }
  }, [load]);

  React.useEffect(() => {
    void reload();
    return () => {
      latest.current++;
    };
  }, [reload]);

  return [state, reload];
}

/** The value to show: the loaded one, or the previous one while reloading. */
export function valueOf<T>(state: Loaded<T>): T | null {
  return state.kind === 'ready' ? state.value : state.previous;
}

/**
 * Whether the panels are on screen: the sidebar sets it false while another
 * left-area tab is shown, and polling pauses until it is shown again.
 */
export const OnScreenContext = React.createContext<boolean>(true);

/**
 * Call `tick` every `ms` while `active` and on screen (the sidebar shown, the
 * browser tab visible); stops on unmount. Back on screen, it ticks at once, so
 * what was missed while hidden shows without waiting a period.
 */
export function usePoll(tick: () => void, ms: number, active: boolean): void {
  const onScreen = React.useContext(OnScreenContext);
  const saved = React.useRef(tick);
  saved.current = tick;
  const wasHidden = React.useRef(false);
  React.useEffect(() => {
    if (!active) {
      return;
    }
    if (!onScreen) {
      wasHidden.current = true;
      return;
    }
    if (wasHidden.current) {
      wasHidden.current = false;
      saved.current();
    }
    const timer = window.setInterval(() => {
      if (!document.hidden) {
        saved.current();
      }
    }, ms);
    return () => window.clearInterval(timer);
  }, [ms, active, onScreen]);
}

export interface ILoadStateProps<T> {
  state: Loaded<T>;
  /** What is loading, e.g. "datasets". */
  what: string;
  isEmpty: (value: T) => boolean;
  /** Shown when the value is empty. */
  empty: React.ReactNode;
  children: (value: T) => React.ReactNode;
}

/** Loading, error, empty or the content, from a {@link Loaded} state. */
export function LoadState<T>({
  state,
  what,
  isEmpty,
  empty,
  children
}: ILoadStateProps<T>): React.ReactElement {
  const value = valueOf(state);
  return (
    <>
      {state.kind === 'loading' && (
        <p className="lepton-loading" role="status">
          Loading {what}…
        </p>
      )}
      {state.kind === 'error' && (
        <p className="lepton-error" role="alert">
          {state.message}
        </p>
      )}
      {value !== null &&
        (isEmpty(value) ? (
          <p className="lepton-empty">{empty}</p>
        ) : (
          children(value)
        ))}
    </>
  );
}

export interface IActionButtonProps {
  label: string;
  /** Label while the action runs, e.g. "Attaching…". */
  busyLabel?: string;
  onClick: () => Promise<unknown>;
  disabled?: boolean;
  /** Why the button is disabled; shown as its tooltip and to screen readers. */
  disabledReason?: string;
  className?: string;
  title?: string;
}

/** A button that shows a busy state while its async action runs. */
export function ActionButton({
  label,
  busyLabel,
  onClick,
  disabled = false,
  disabledReason,
  className = '',
  title
}: IActionButtonProps): React.ReactElement {
  const [busy, setBusy] = React.useState(false);
  const mounted = React.useRef(true);
  React.useEffect(
    () => () => {
      mounted.current = false;
    },
    []
  );
  const reasonId = React.useId();
  const why = disabled ? disabledReason : undefined;
  return (
    <>
      <button
        type="button"
        className={`jp-Button lepton-button ${className}`.trim()}
        disabled={disabled || busy}
        aria-busy={busy}
        aria-describedby={why ? reasonId : undefined}
        title={why ?? title}
        onClick={async () => {
          setBusy(true);
          try {
            await onClick();
          } finally {
            if (mounted.current) {
              setBusy(false);
            }
          }
        }}
      >
        {busy ? (busyLabel ?? `${label}…`) : label}
      </button>
      {why && (
        <span id={reasonId} className="lepton-disabled-reason">
          {why}
        </span>
      )}
    </>
  );
}

/** A list item that is selected by click, Enter or Space. */
export function SelectableItem({
  selected,
  onSelect,
  className = '',
  children,
  label
}: {
  selected: boolean;
  onSelect: () => void;
  className?: string;
  children: React.ReactNode;
  label?: string;
}): React.ReactElement {
  return (
    <li
      className={`lepton-item ${selected ? 'lepton-mod-selected' : ''} ${className}`.trim()}
      role="option"
      aria-selected={selected}
      aria-label={label}
      tabIndex={0}
      onClick={onSelect}
      onKeyDown={event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          onSelect();
        }
      }}
    >
      {children}
    </li>
  );
}

export interface ISelectableListProps<T, K extends React.Key> {
  items: readonly T[];
  /** Key of the selected item, or null. */
  selected: K | null;
  /** Called with the clicked item's key, or null when it was already selected. */
  onSelect: (key: K | null) => void;
  getKey: (item: T) => K;
  /** The item's accessible name. */
  getLabel: (item: T) => string;
  /** Class of the list, e.g. "lepton-list lepton-jobs". */
  className: string;
  /** Class of each item, e.g. "lepton-job". */
  itemClassName: string;
  /** The list's accessible name. */
  label: string;
  /** The body of an item. */
  children: (item: T) => React.ReactNode;
}

/** A listbox of {@link SelectableItem}s; selecting the selected item clears it. */
export function SelectableList<T, K extends React.Key>({
  items,
  selected,
  onSelect,
  getKey,
  getLabel,
  className,
  itemClassName,
  label,
  children
}: ISelectableListProps<T, K>): React.ReactElement {
  return (
    <ul className={className} role="listbox" aria-label={label}>
      {items.map(item => {
        const key = getKey(item);
        return (
          <SelectableItem
            key={key}
            selected={key === selected}
            onSelect={() => onSelect(key === selected ? null : key)}
            className={itemClassName}
            label={getLabel(item)}
          >
            {children(item)}
          </SelectableItem>
        );
      })}
    </ul>
  );
}

/**
 * Text holding paths (`/srv/data/registry`), allowed to wrap after each `/` rather than
 * between any two characters; the CSS (`overflow-wrap: break-word`) breaks inside a
 * part only when one part alone is wider than the line.
 */
export function PathText({ text }: { text: string }): React.ReactElement {
  const parts = text.split('/');
  return (
    <>
      {parts.map((part, i) => (
        <React.Fragment key={i}>
          {part}
          {i < parts.length - 1 && (
            <>
              /<wbr />
            </>
          )}
        </React.Fragment>
      ))}
    </>
  );
}
