import * as React from 'react';
import { fireEvent, render, screen, within } from '@testing-library/react';

import { IRunManifest } from '../api';
import { RunsTable, metricNames, sortRuns } from '../panels/RunsTable';

function run(id: string, metrics: Record<string, unknown>): IRunManifest {
  return {
    id,
    status: 'completed',
    engine: 'lepton',
    notebook: { path: `/w/${id}.ipynb`, digest: 'd', cells: [] },
    kernel_name: 'python3',
    cwd: '/w',
    parameters: {},
    ledger: [],
    metrics,
    packages: {},
    python: '3.11',
    git: null,
    started_at: `2026-01-0${id.slice(-1)}T00:00:00Z`,
    ended_at: null,
    output_path: null,
    output_digest: null,
    error: null,
    rerun_of: null,
    user: 'ada',
    pid: null
  } as IRunManifest;
}

const RUNS = [
  run('r1', { loss: 0.5 }),
  run('r2', { loss: 0.05, acc: 0.9 }),
  run('r3', { loss: 0.25 })
];

function rowIds(): string[] {
  return screen
    .getAllByRole('row')
    .slice(1)
    .map(row => row.getAttribute('data-run') ?? '');
}

describe('RunsTable', () => {
  it('has a column per metric any run logged', () => {
    expect(metricNames(RUNS)).toEqual(['loss', 'acc']);
  });

  it('sorts by a metric column, numbers by value, runs without it last', () => {
    // Given the wide runs table (newest first by default)
    render(<RunsTable runs={RUNS} selected={null} onSelect={jest.fn()} />);
    expect(rowIds()).toEqual(['r3', 'r2', 'r1']);
    // When the user sorts by loss, then again
    const table = screen.getByRole('table', { name: 'Runs' });
    fireEvent.click(within(table).getByRole('button', { name: 'loss' }));
    expect(rowIds()).toEqual(['r2', 'r3', 'r1']);
    fireEvent.click(within(table).getByRole('button', { name: /loss/ }));
    expect(rowIds()).toEqual(['r1', 'r3', 'r2']);
    // And a metric only one run has sorts the others last, either way
    expect(
      sortRuns(RUNS, { column: 'metric:acc', direction: 'descending' })[0].id
    ).toBe('r2');
    expect(
      sortRuns(RUNS, { column: 'metric:acc', direction: 'ascending' })[0].id
    ).toBe('r2');
  });

  it('selects a run by click or keyboard', () => {
    const onSelect = jest.fn();
    render(<RunsTable runs={RUNS} selected="r1" onSelect={onSelect} />);
    const row = screen.getAllByRole('row')[1];
    fireEvent.keyDown(row, { key: 'Enter' });
    expect(onSelect).toHaveBeenCalledWith('r3');
  });
});
