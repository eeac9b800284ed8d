/**
 * The runs as a table for the wide (main-area) Runs view: one row per run, one column
 * per metric any run logged, sorted by any column (click its header; again to reverse).
 */
import * as React from 'react';

import { IRunManifest } from '../api';
import { formatTime, formatValue } from '../format';
import { StatusBadge } from './JobsPanel';

type Direction = 'ascending' | 'descending';
interface ISort {
  column: string;
  direction: Direction;
}

const FIXED: {
  id: string;
  title: string;
  value: (r: IRunManifest) => unknown;
}[] = [
  { id: 'id', title: 'run', value: r => r.id },
  { id: 'notebook', title: 'notebook', value: r => r.notebook.path },
  { id: 'status', title: 'status', value: r => r.status },
  { id: 'started', title: 'started', value: r => r.started_at },
  { id: 'rerun_of', title: 'rerun of', value: r => r.rerun_of ?? '' }
];
const METRIC = 'metric:';

/** Every metric name the runs logged, in first-seen order. */
export function metricNames(runs: readonly IRunManifest[]): string[] {
  const names = new Set<string>();
  runs.forEach(r => Object.keys(r.metrics).forEach(name => names.add(name)));
  return Array.from(names);
}

function cell(run: IRunManifest, column: string): unknown {
  if (column.startsWith(METRIC)) {
    return run.metrics[column.slice(METRIC.length)];
  }
  return FIXED.find(c => c.id === column)?.value(run);
}

/** Numbers by value, text by collation; a run without the value sorts last either way. */
export function sortRuns(
  runs: readonly IRunManifest[],
  { column, direction }: ISort
): IRunManifest[] {
  const sign = direction === 'ascending' ? 1 : -1;
  return [...runs].sort((a, b) => {
    const x = cell(a, column);
    const y = cell(b, column);
    const missingX = x === undefined || x === null || x === '';
    const missingY = y === undefined || y === null || y === '';
    if (missingX || missingY) {
      return Number(missingX) - Number(missingY);
    }
    if (typeof x === 'number' && typeof y === 'number') {
      return sign * (x - y);
    }
    return sign * String(x).localeCompare(String(y));
  });
}

export function RunsTable({
  runs,
  selected,
  onSelect
}: {
  runs: readonly IRunManifest[];
  selected: string | null;
  onSelect: (id: string | null) => void;
}): React.ReactElement {
  const [sort, setSort] = React.useState<ISort>({
    column: 'started',
    direction: 'descending'
  });
  const metrics = metricNames(runs);
  const columns = [
    ...FIXED.map(c => ({ id: c.id, title: c.title })),
    ...metrics.map(name => ({ id: `${METRIC}${name}`, title: name }))
  ];
  const sorted = sortRuns(runs, sort);
  const sortBy = (column: string): void =>
    setSort(current => ({
      column,
      direction:
        current.column === column && current.direction === 'ascending'
          ? 'descending'
          : 'ascending'
    }));

  return (
    <table className="lepton-table lepton-runs-table" aria-label="Runs">
      <thead>
        <tr>
          {columns.map(c => (
            <th
              key={c.id}
              scope="col"
              aria-sort={sort.column === c.id ? sort.direction : 'none'}
              data-column={c.id}
            >
              <button
                type="button"
                className="lepton-sort"
                onClick={() => sortBy(c.id)}
              >
                {c.title}
                {sort.column === c.id &&
                  (sort.direction === 'ascending' ? ' ▲' : ' ▼')}
              </button>
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {sorted.map(run => (
          <tr
            key={run.id}
            className={`lepton-run-row ${run.id === selected ? 'lepton-mod-selected' : ''}`}
            aria-selected={run.id === selected}
            data-run={run.id}
            tabIndex={0}
            onClick={() => onSelect(run.id === selected ? null : run.id)}
            onKeyDown={event => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                onSelect(run.id === selected ? null : run.id);
              }
            }}
          >
            <td>{run.id}</td>
            <td>{run.notebook.path}</td>
            <td>
              <StatusBadge status={run.status} />
            </td>
            <td>{formatTime(run.started_at)}</td>
            <td>{run.rerun_of ?? ''}</td>
            {metrics.map(name => (
              <td key={name} className="lepton-number">
                {name in run.metrics ? formatValue(run.metrics[name]) : ''}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
