/**
 * The Models panel's comparisons view against a stubbed client: the table with
 * intervals, each evaluation run opening its output, the gate's verdict, and an
 * alias history naming its evidence.
 */
import * as React from 'react';
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { Notification } from '@jupyterlab/apputils';

import { IComparison, IGateReport } from '../api';
import { formatValue } from '../format';
import {
  ComparisonsView,
  comparisonRows,
  evidenceText,
  formatInterval,
  pairOf
} from '../panels/ComparisonsView';
import { ModelsPanel } from '../panels';
import { lineageGraph } from '../panels/LineageGraph';
import { panelProps, stubClient, stubContext } from './stubs';

const COMPARISON: IComparison = {
  id: 7,
  metric: 'correct',
  higher_is_better: true,
  confidence: 0.95,
  evaluation: {
    kind: 'notebook',
    path: '/srv/work/evaluate.ipynb',
    digest: 'sha256:abcdef0123'
  },
  datasets: [
    {
      url: '/data',
      path: 'datasets/points',
      rev: 'main',
      commit: '1234567890abcdef'
    }
  ],
  candidates: [
    {
      ref: 'vision/net@prod',
      name: 'vision/net',
      version: 1,
      digest: 'blake3:1111',
      run: '20261203-070000-000001',
      metrics: { correct: 0.55 },
      examples: []
    },
    {
      ref: 'vision/net:2',
      name: 'vision/net',
      version: 2,
      digest: 'blake3:2222',
      run: '20261203-070100-000002',
      metrics: { correct: 0.93 },
      examples: []
    }
  ],
  // stored as (v1, v2): the view must flip it to show v1 against the best, v2
  pairs: [
    {
      a: 'vision/net:1',
      b: 'vision/net:2',
      mean_a: 0.55,
      mean_b: 0.93,
      difference: -0.38,
      low: -0.44,
      high: -0.32,
      confidence: 0.95,
      test: 'exact McNemar',
      p_value: 1.2e-20,
      n: 240,
      better: 'vision/net:2'
    }
  ],
  ranking: [
    { candidate: 'vision/net:2', mean: 0.93, rank: 1 },
    { candidate: 'vision/net:1', mean: 0.55, rank: 2 }
  ],
  winner: 'vision/net:2',
  verdict: 'vision/net:2 is better than every other candidate',
  created_by: 'alice',
  created_at: '2026-12-03T07:02:00+00:00',
  rerun_of: null
};

const GATES: IGateReport[] = [
  {
    alias: 'prod',
    gate: 'prod',
    description: "gate 'prod': correct on datasets/points",
    holder: 1,
    verdicts: [
      {
        gate: 'prod',
        new: 'vision/net:2',
        current: 'vision/net:1',
        comparison: 7,
        passed: true,
        reason: 'comparison 7 passes'
      }
    ]
  }
];

let notifyError: jest.SpyInstance;

beforeEach(() => {
  notifyError = jest.spyOn(Notification, 'error').mockReturnValue('id');
});

afterEach(() => notifyError.mockRestore());

describe('comparison rows', () => {
  it('puts the best first and shows the others against it, interval flipped', () => {
    const rows = comparisonRows(COMPARISON);
    expect(rows.map(r => [r.candidate, r.rank, r.mean])).toEqual([
      ['vision/net:2', 1, 0.93],
      ['vision/net:1', 2, 0.55]
    ]);
    expect(rows[0].vsBest).toBeNull();
    expect(rows[1].vsBest).toMatchObject({
      difference: -0.38,
      low: -0.44,
      high: -0.32
    });
    expect(pairOf(COMPARISON, 'vision/net:2', 'vision/net:1')).toMatchObject({
      difference: 0.38,
      low: 0.32,
      high: 0.44
    });
    expect(formatInterval(-0.44, 0.0123)).toBe('[−0.4400, +0.0123]');
  });

  it('words alias evidence and per-example metrics', () => {
    expect(evidenceText({ gate: 'prod', comparison: 7, verdict: '...' })).toBe(
      'gate passed by comparison #7'
    );
    expect(evidenceText({ gate: 'prod', override: 'hotfix' })).toBe(
      'gate overridden: hotfix'
    );
    expect(formatValue([1, 0, 1, 1])).toBe('4 per-example values, mean 0.7500');
  });
});

describe('lineage', () => {
  it('goes version -> comparison -> the gated promotion it allowed', () => {
    const graph = lineageGraph({
      name: 'vision/net',
      version: 2,
      digest: 'blake3:2222',
      user: 'alice',
      created_at: '2026-12-03T07:00:00+00:00',
      datasets: [],
      parents: [],
      jobs: [],
      notebook: null,
      git: null,
      params: {},
      metrics: {},
      loaded_by: [],
      comparisons: [
        {
          id: 7,
          metric: 'correct',
          candidates: ['vision/net:1', 'vision/net:2'],
          winner: 'vision/net:2',
          verdict: 'vision/net:2 is better than every other candidate',
          created_by: 'alice',
          created_at: '2026-12-03T07:02:00+00:00'
        }
      ],
      promotions: [
        {
          alias: 'staging',
          action: 'set',
          version: 2,
          previous: 1,
          actor: 'bob',
          at: '2026-12-03T07:01:00+00:00',
          evidence: null
        },
        {
          alias: 'prod',
          action: 'set',
          version: 2,
          previous: 1,
          actor: 'alice',
          at: '2026-12-03T07:03:00+00:00',
          evidence: { gate: 'prod', comparison: 7 }
        }
      ]
    });
    expect(graph.layers.map(l => l.map(n => n.label))).toEqual([
      ['vision/net:2'],
      ['comparison #7'],
      ['@prod → v2']
    ]);
    expect(graph.edges).toEqual([
      ['version', 'comparison-7'],
      ['comparison-7', 'promotion-0']
    ]);
  });
});

describe('ComparisonsView', () => {
  it('shows the table, the verdicts, and opens an evaluation run', async () => {
    const client = stubClient({
      comparisons: jest.fn().mockResolvedValue([COMPARISON]),
      gates: jest.fn().mockResolvedValue(GATES),
      run: jest.fn().mockResolvedValue({
        id: '20261203-070100-000002',
        output_path: '/srv/work/runs/out.ipynb'
      })
    });
    const context = stubContext(client);
    render(<ComparisonsView name="vision/net" context={context} token={0} />);

    const table = await screen.findByRole('table');
    const rows = within(table).getAllByRole('row');
    expect(rows[1].textContent).toContain('vision/net:2');
    expect(rows[2].textContent).toContain('[−0.4400, −0.3200]');
    expect(
      screen.getByText('vision/net:2 is better than every other candidate')
    ).toBeTruthy();
    const verdict = await screen.findByText(/may take it from/);
    expect(verdict.closest('li')?.getAttribute('data-passed')).toBe('true');
    expect(client.comparisons).toHaveBeenCalledWith('vision/net');

    // The run link opens the run's output notebook, relative to the server root
    await act(async () => {
      fireEvent.click(
        screen.getByRole('button', { name: '20261203-070100-000002' })
      );
    });
    expect(client.run).toHaveBeenCalledWith('20261203-070100-000002');
    expect(context.openFile).toHaveBeenCalledWith('runs/out.ipynb');
  });

  it('opens a run output outside the server root read-only', async () => {
    const client = stubClient({
      comparisons: jest.fn().mockResolvedValue([COMPARISON]),
      gates: jest.fn().mockResolvedValue([]),
      run: jest.fn().mockResolvedValue({
        id: 'r',
        output_path: '/var/lepton/runs/r/output.ipynb'
      })
    });
    const context = stubContext(client);
    render(<ComparisonsView name="vision/net" context={context} token={0} />);
    const link = await screen.findByRole('button', {
      name: '20261203-070000-000001'
    });
    await act(async () => {
      fireEvent.click(link);
    });
    expect(context.openRunOutput).toHaveBeenCalledWith(
      '20261203-070000-000001',
      'evaluation run 20261203-070000-000001'
    );
    expect(context.openFile).not.toHaveBeenCalled();
    expect(notifyError).not.toHaveBeenCalled();
  });

  it('appears in the Models panel with the alias history evidence', async () => {
    const client = stubClient({
      status: jest.fn().mockResolvedValue({}),
      models: jest.fn().mockResolvedValue([
        {
          name: 'vision/net',
          namespace: 'vision',
          latest: 2,
          aliases: { prod: 2 },
          description: '',
          created_by: 'alice',
          created_at: '2026-12-03T07:00:00+00:00'
        }
      ]),
      versions: jest.fn().mockResolvedValue([]),
      namespace: jest.fn().mockResolvedValue({
        name: 'vision',
        role: 'admin',
        grants: []
      }),
      lineage: jest
        .fn()
        .mockRejectedValue(new Error('no lineage in this test')),
      comparisons: jest.fn().mockResolvedValue([COMPARISON]),
      gates: jest.fn().mockResolvedValue(GATES),
      aliasHistory: jest.fn().mockResolvedValue([
        {
          alias: 'prod',
          action: 'set',
          version: 2,
          previous: 1,
          actor: 'alice',
          at: '2026-12-03T07:03:00+00:00',
          evidence: { gate: 'prod', comparison: 7 }
        }
      ])
    });
    render(<ModelsPanel {...panelProps(client)} />);
    fireEvent.click(await screen.findByRole('option', { name: 'vision/net' }));
    await screen.findByRole('table');
    fireEvent.click(screen.getByRole('button', { name: 'History' }));
    expect(
      await screen.findByText(/gate passed by comparison #7/)
    ).toBeTruthy();
  });
});
