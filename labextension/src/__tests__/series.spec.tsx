/**
 * A scheduled run in the Runs panel: its job, its checks, the diff against the previous
 * successful run of its definition, and the definition's series (a separate component).
 */
import * as React from 'react';
import { act, fireEvent, render, screen } from '@testing-library/react';

import { ISeries } from '../api';
import { RunsPanel } from '../panels';
import { metricPoints, seriesMetric, SeriesTable } from '../panels/SeriesView';
import { runDiff, runManifest } from './fixtures';
import { panelProps, stubClient } from './stubs';

const SCHEDULED = runManifest({
  id: 'run-2',
  status: 'failed',
  notebook: { path: '/srv/staging/j2/eval.ipynb', digest: 'd', cells: [] },
  cwd: '/srv/staging/j2',
  parameters: { lr: 0.2 },
  metrics: { accuracy: 0.8 },
  started_at: '2026-01-02T03:00:00Z',
  ended_at: '2026-01-02T03:01:00Z',
  output_path: null,
  error: 'Check failed: accuracy >= 0.9 (accuracy = 0.8, needs >= 0.9)',
  scheduled: {
    job_id: 'job-2',
    job_definition_id: 'def-1',
    job_name: 'nightly-eval',
    previous_run: 'run-1',
    checks: [
      {
        check: 'accuracy >= 0.9',
        passed: false,
        message: 'accuracy = 0.8, needs >= 0.9'
      }
    ]
  }
});

const SERIES: ISeries = {
  job_definition_id: 'def-1',
  job_name: 'nightly-eval',
  metrics: ['accuracy', 'loss'],
  checks: ['accuracy >= 0.9'],
  points: [
    {
      run_id: 'run-1',
      job_id: 'job-1',
      status: 'completed',
      started_at: '2026-01-01T03:00:00Z',
      metrics: { accuracy: 0.95, loss: 0.1 },
      changes: [],
      deltas: {}
    },
    {
      run_id: 'run-2',
      job_id: 'job-2',
      status: 'failed',
      started_at: '2026-01-02T03:00:00Z',
      metrics: { accuracy: 0.8, loss: 0.3 },
      error: SCHEDULED.error,
      previous_run: 'run-1',
      changes: [
        'dataset datasets/points@main: changed commit aaa -> commit bbb'
      ],
      deltas: { accuracy: -0.15, loss: 0.2 }
    }
  ]
};

const DIFF = runDiff({
  pins: [
    {
      kind: 'dataset',
      key: 'u|datasets/points|main',
      status: 'changed',
      before: { commit: 'aaa' },
      after: { commit: 'bbb' }
    }
  ]
});

describe('SeriesView', () => {
  it('charts the checked metric, marking the run after which data moved', () => {
    expect(seriesMetric(SERIES)).toBe('accuracy');
    expect(metricPoints(SERIES.points ?? [], 'loss').map(p => p.value)).toEqual(
      [0.1, 0.3]
    );
    const { container } = render(
      <SeriesTable series={SERIES} selected="run-2" />
    );
    // The changed run is a diamond, failed; the other a plain point
    const changed = container.querySelectorAll('polygon.lepton-series-changed');
    expect(changed).toHaveLength(1);
    expect(changed[0].classList).toContain('lepton-series-failed');
    expect(changed[0].textContent).toContain('commit aaa -> commit bbb');
    expect(
      container.querySelectorAll('circle.lepton-series-point')
    ).toHaveLength(1);
    // The table says what moved and by how much
    expect(
      container.querySelectorAll('.lepton-series-changes')[1]?.textContent
    ).toContain(
      'dataset datasets/points@main: changed commit aaa -> commit bbb'
    );
    expect(screen.getByText('0.8 (-0.15)')).toBeTruthy();
    expect(screen.getByText(/Checks: accuracy >= 0.9/)).toBeTruthy();
    // Another metric can be charted
    fireEvent.change(screen.getByRole('combobox', { name: 'Metric' }), {
      target: { value: 'loss' }
    });
    expect(
      screen.getByRole('img', { name: /loss over 2 run\(s\) of nightly-eval/ })
    ).toBeTruthy();
  });
});

describe('RunsPanel with a scheduled run', () => {
  it('shows the job, the failed check, the diff against the previous run and the series', async () => {
    const client = stubClient({
      runs: jest.fn().mockResolvedValue([SCHEDULED]),
      series: jest.fn().mockResolvedValue(SERIES),
      runDiff: jest.fn().mockResolvedValue(DIFF)
    });
    render(<RunsPanel {...panelProps(client)} />);
    const item = await screen.findByRole('option', {
      name: 'run run-2 failed'
    });
    expect(item.textContent).toContain('scheduled job nightly-eval');
    fireEvent.click(item);
    expect(screen.getByText('nightly-eval (job-2)')).toBeTruthy();
    expect(
      screen.getByText(/✗ accuracy >= 0.9: accuracy = 0.8, needs >= 0.9/)
    ).toBeTruthy();
    expect(
      await screen.findByText(/Series of nightly-eval: 2 run/)
    ).toBeTruthy();
    expect(client.series).toHaveBeenCalledWith('def-1');
    await act(async () => {
      fireEvent.click(
        screen.getByRole('button', { name: 'Diff vs previous run run-1' })
      );
    });
    expect(client.runDiff).toHaveBeenCalledWith('run-2', 'run-1');
    expect(
      await screen.findByText(/Run run-2 vs run-1: different/)
    ).toBeTruthy();
  });
});
