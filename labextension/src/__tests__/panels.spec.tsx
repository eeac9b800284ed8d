/**
 * The panels rendered against a stubbed client (no server): what the user
 * sees and what each click asks the server for. Notifications are spied on.
 */
import * as React from 'react';
import {
  act,
  fireEvent,
  render,
  screen,
  waitFor,
  within
} from '@testing-library/react';

import {
  IAttachedDataset,
  IJobInfo,
  IJobListQuery,
  ILineage,
  IGrantInfo,
  IModelSummary,
  IModelVersion,
  INamespaceInfo,
  IRunDiff,
  IRunManifest,
  Role
} from '../api';
import { LeptonAPIError } from '../handler';
import { DatasetsPanel, JobsPanel, ModelsPanel, RunsPanel } from '../panels';
import { JOB_PAGE, JOB_POLL_MS } from '../panels/JobsPanel';
import { lineageGraph } from '../panels/LineageGraph';
import { aliasRefusal } from '../panels/ModelsPanel';
import { DiffTable, relativeToRoot } from '../panels/RunsPanel';
import { runDiff, runManifest, spyOnNotifications } from './fixtures';
import { panelProps, StubClient, stubClient } from './stubs';

const notify = spyOnNotifications();

const ATTACHED: IAttachedDataset = {
  to: 'data/points',
  local_path: '/srv/work/data/points',
  dvc_file: 'data/points.dvc',
  url: '/srv/registry',
  path: 'datasets/points',
  rev: 'v1',
  commit: '0143ade4922e04cf31adb9af93570bc358ac3cc2',
  hash: 'abc.dir',
  files: 2,
  bytes: 7900,
  link_type: 'hardlink',
  newer_tag: 'v2'
};

describe('DatasetsPanel', () => {
  it('browses, attaches at the chosen version and lists the attach', async () => {
    // Given a registry with one dataset and two tags, and nothing attached yet
    const client = stubClient({
      attachedDatasets: jest
        .fn()
        .mockResolvedValueOnce([])
        .mockResolvedValue([ATTACHED]),
      browseDatasets: jest.fn().mockResolvedValue({
        url: '/srv/registry',
        rev: null,
        commit: 'c0ffee00',
        datasets: [
          {
            path: 'datasets/points',
            hash: 'h',
            size: 7900,
            files: 2,
            description: 'spirals'
          }
        ],
        versions: [
          {
            name: 'v1',
            kind: 'tag',
            commit: 'aaaa',
            date: '2026-01-01T00:00:00Z'
          },
          {
            name: 'v2',
            kind: 'tag',
            commit: 'bbbb',
            date: '2026-01-02T00:00:00Z'
          }
        ]
      })
    });
    let finishAttach: (value: IAttachedDataset) => void = () => undefined;
    client.attachDataset = jest.fn(
      () => new Promise<IAttachedDataset>(resolve => (finishAttach = resolve))
    );
    const props = panelProps(client);
    render(<DatasetsPanel {...props} />);
    expect(
      await screen.findByText(/No dataset is attached here yet/)
    ).toBeTruthy();

    // When the user browses it
    fireEvent.change(screen.getByLabelText('Data registry'), {
      target: { value: '/srv/registry' }
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Browse' }));
    });

    // Then the dataset shows, newest tag chosen, and the URL is remembered
    expect(screen.getByText('datasets/points')).toBeTruthy();
    expect((screen.getByLabelText('Version') as HTMLSelectElement).value).toBe(
      'v2'
    );
    expect(props.context.rememberDataRegistry).toHaveBeenCalledWith(
      '/srv/registry'
    );

    // When they choose v1 and attach, a busy state names the files and bytes
    fireEvent.change(screen.getByLabelText('Version'), {
      target: { value: 'v1' }
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Attach' }));
    });
    expect(screen.getByRole('button', { name: 'Attaching…' })).toHaveProperty(
      'disabled',
      true
    );
    expect(
      screen.getByText(/Attaching datasets\/points@v1: 2 files, 7.7 KiB/)
    ).toBeTruthy();
    expect(client.attachDataset).toHaveBeenCalledWith({
      url: '/srv/registry',
      path: 'datasets/points',
      rev: 'v1'
    });

    // Then once it is done, the attach is listed with its newer version
    await act(async () => finishAttach(ATTACHED));
    const attached = await screen.findByRole('list', {
      name: 'Attached datasets'
    });
    expect(within(attached).getByText('data/points')).toBeTruthy();
    expect(await screen.findByText('Newer version available: v2')).toBeTruthy();
    expect(notify.success).toHaveBeenCalled();
  });

  it("shows a refused attach as a notification with the server's message", async () => {
    const client = stubClient({
      attachedDatasets: jest.fn().mockResolvedValue([]),
      browseDatasets: jest
        .fn()
        .mockRejectedValue(
          new LeptonAPIError(
            "Data registry '/nope' is not a git repository.",
            400
          )
        )
    });
    render(<DatasetsPanel {...panelProps(client)} />);
    fireEvent.change(screen.getByLabelText('Data registry'), {
      target: { value: '/nope' }
    });

    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Browse' }));
    });

    expect(notify.error).toHaveBeenCalledWith(
      expect.stringContaining("Data registry '/nope' is not a git repository."),
      expect.anything()
    );
    expect(screen.getByRole('alert').textContent).toContain(
      'is not a git repository'
    );
  });

  it('updates to the newer tag and detaches', async () => {
    const client = stubClient({
      attachedDatasets: jest.fn().mockResolvedValue([ATTACHED]),
      updateDataset: jest
        .fn()
        .mockResolvedValue({ ...ATTACHED, rev: 'v2', newer_tag: null }),
      detachDataset: jest.fn().mockResolvedValue(ATTACHED)
    });
    render(<DatasetsPanel {...panelProps(client)} />);

    const update = await screen.findByRole('button', { name: 'Update to v2' });
    await act(async () => {
      fireEvent.click(update);
    });
    expect(client.updateDataset).toHaveBeenCalledWith('data/points', 'v2');

    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Detach' }));
    });
    expect(client.detachDataset).toHaveBeenCalledWith('data/points');
  });
});

const JOB: IJobInfo = {
  id: 'train-1',
  name: 'train',
  status: 'running',
  backend: 'local',
  nprocs: 2,
  nnodes: 1,
  max_restarts: 0,
  kind: 'function',
  target: 'train',
  job_dir: '/srv/jobs/train-1',
  created_at: '2026-01-01T00:00:00Z',
  started_at: null,
  ended_at: null,
  supervisor_pid: 10,
  exit_codes: {},
  failed_rank: null,
  error: null,
  cancel_requested: false,
  detail: null
};

/** A logs answer: one chunk per rank, each offset the length read so far. */
function logsOf(texts: string[], offsets?: number[]) {
  return {
    id: 'train-1',
    rank: null,
    tail: 40,
    text: texts.map((t, r) => `==> rank ${r} <==\n${t}`).join(''),
    chunks: texts.map((text, rank) => ({
      rank,
      text,
      offset: offsets ? offsets[rank] : text.length
    }))
  };
}

describe('JobsPanel', () => {
  it('shows per-rank progress, a loss line per rank, logs, and cancels', async () => {
    // Given a running 2-rank job that reported two steps on each rank
    const client = stubClient({
      jobs: jest.fn().mockResolvedValue({ jobs: [JOB], total: 1 }),
      jobMetrics: jest.fn().mockResolvedValue({
        id: 'train-1',
        offset: 240,
        metrics: [
          { rank: 0, step: 0, time: 1, loss: 1.0 },
          { rank: 1, step: 0, time: 1, loss: 1.1 },
          { rank: 0, step: 1, time: 2, loss: 0.5 },
          { rank: 1, step: 1, time: 2, loss: 0.6 }
        ]
      }),
      jobLogs: jest.fn().mockResolvedValue(logsOf(['step 1\n', ''])),
      cancelJob: jest.fn().mockResolvedValue({ ...JOB, status: 'cancelled' })
    });
    const { container } = render(<JobsPanel {...panelProps(client)} />);

    // When the user opens it by keyboard
    const item = await screen.findByRole('option', { name: 'train running' });
    fireEvent.keyDown(item, { key: 'Enter' });

    // Then each rank's last step and loss show, and the chart has a line per rank
    await screen.findByText('0.600000');
    const rows = container.querySelectorAll('.lepton-ranks tbody tr');
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toContain('0.500000');
    expect(
      container.querySelectorAll('.lepton-loss-chart polyline')
    ).toHaveLength(2);
    expect(container.querySelector('.lepton-log-text')?.textContent).toContain(
      'step 1'
    );
    expect(client.jobLogs).toHaveBeenCalledWith('train-1', null, 40);
    expect(client.jobMetrics).toHaveBeenCalledWith('train-1', 0);

    // When they cancel it
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Cancel job' }));
    });
    expect(client.cancelJob).toHaveBeenCalledWith('train-1');
  });

  it('asks only for what is new: metrics and logs after the last offsets', async () => {
    jest.useFakeTimers();
    try {
      // Given a running job whose first reads return records and log tails with offsets
      const client = stubClient({
        jobs: jest.fn().mockResolvedValue({ jobs: [JOB], total: 1 }),
        jobMetrics: jest
          .fn()
          .mockResolvedValueOnce({
            id: 'train-1',
            offset: 100,
            metrics: [
              { rank: 0, step: 0, time: 1, loss: 1.0 },
              { rank: 1, step: 0, time: 1, loss: 1.1 }
            ]
          })
          .mockResolvedValue({
            id: 'train-1',
            offset: 150,
            metrics: [{ rank: 0, step: 7, time: 2, loss: 0.25 }]
          }),
        jobLogs: jest
          .fn()
          .mockResolvedValueOnce(logsOf(['old 0\n', 'old 1\n'], [10, 20]))
          .mockResolvedValue(logsOf(['new 0\n', ''], [16, 20]))
      });
      const { container } = render(<JobsPanel {...panelProps(client)} />);
      const item = await screen.findByRole('option', { name: 'train running' });
      await act(async () => {
        fireEvent.keyDown(item, { key: 'Enter' });
      });
      await act(async () => {
        await Promise.resolve();
      });

      // When the panel polls again
      await act(async () => {
        jest.advanceTimersByTime(JOB_POLL_MS);
      });
      for (let i = 0; i < 3; i++) {
        await act(async () => {
          await Promise.resolve();
        });
      }

      // Then it asked from the offsets of the first answers, not for everything again
      expect(client.jobMetrics).toHaveBeenNthCalledWith(1, 'train-1', 0);
      expect(client.jobMetrics).toHaveBeenNthCalledWith(2, 'train-1', 100);
      expect(client.jobLogs).toHaveBeenNthCalledWith(1, 'train-1', null, 40);
      expect(client.jobLogs).toHaveBeenNthCalledWith(
        2,
        'train-1',
        null,
        null,
        [10, 20]
      );
      // and shows the old and the new together
      const rows = container.querySelectorAll('.lepton-ranks tbody tr');
      expect(rows[0].textContent).toContain('7');
      expect(rows[1].textContent).toContain('1.10000');
      expect(container.querySelector('.lepton-log-text')?.textContent).toBe(
        '==> rank 0 <==\nold 0\nnew 0\n==> rank 1 <==\nold 1\n'
      );
    } finally {
      jest.useRealTimers();
    }
  });

  it('says how to launch a job when there is none', async () => {
    render(
      <JobsPanel
        {...panelProps(
          stubClient({
            jobs: jest.fn().mockResolvedValue({ jobs: [], total: 0 })
          })
        )}
      />
    );
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
  });

  it('asks for one page of jobs, and lists an older running job too', async () => {
    // Given 10,000 jobs, the newest 50 ended, and an older one still running
    const ended = Array.from({ length: JOB_PAGE }, (_, i) => ({
      ...JOB,
      id: `done-${i}`,
      name: `done-${i}`,
      status: 'succeeded' as const
    }));
    const jobs = jest.fn(async (options?: IJobListQuery) =>
      options?.status === 'running'
        ? { jobs: [JOB], total: 1 }
        : { jobs: ended, total: 10000 }
    );
    render(<JobsPanel {...panelProps(stubClient({ jobs }))} />);
    // Then the panel lists the page and the running job, and says there are more
    expect(await screen.findByText(/The newest 51 of 10000 jobs/)).toBeTruthy();
    expect(screen.getByText('done-49')).toBeTruthy();
    expect(screen.getByText('train')).toBeTruthy();
    expect(jobs).toHaveBeenCalledWith({ limit: JOB_PAGE });
    expect(jobs).toHaveBeenCalledWith({ status: 'running', limit: JOB_PAGE });
  });
});

const MODEL: IModelSummary = {
  name: 'vision/resnet',
  namespace: 'vision',
  latest: 2,
  aliases: { prod: 2 },
  description: '',
  created_by: 'ada',
  created_at: '2026-01-01T00:00:00Z'
};

const LINEAGE: ILineage = {
  name: 'vision/resnet',
  version: 2,
  digest: 'blake3:abcd',
  user: 'ada',
  created_at: '2026-01-01T00:00:00Z',
  datasets: [
    {
      url: '/srv/registry',
      path: 'datasets/points',
      rev: 'v1',
      commit: 'c0ffee11',
      hash: 'h'
    }
  ],
  parents: [],
  jobs: ['train-1'],
  notebook: 'train.ipynb',
  git: null,
  params: {},
  metrics: { loss: 0.4 },
  loaded_by: [
    {
      user: 'bob',
      notebook: 'eval.ipynb',
      job: '',
      run: 'run-9',
      at: '2026-01-02T00:00:00Z'
    }
  ]
};

/** Version `number` of vision/resnet (digest blake3:NNNN), with `extra` fields. */
function modelVersion(
  number: number,
  extra: Partial<IModelVersion> = {}
): IModelVersion {
  return {
    ...MODEL,
    version: number,
    digest: `blake3:${String(number).repeat(4)}`,
    kind: 'file',
    entry: 'model.pt',
    size: 3,
    metrics: {},
    params: {},
    lineage: {},
    aliases: [],
    files: [],
    ...extra
  };
}

const YANK = {
  reason: 'trained on the test split',
  by: 'alice',
  at: '2026-12-03T10:00:00Z'
};

function modelClient(role: Role) {
  return stubClient({
    models: jest.fn().mockResolvedValue([MODEL]),
    versions: jest
      .fn()
      .mockResolvedValue([
        modelVersion(1),
        modelVersion(2, { aliases: ['prod'] })
      ]),
    namespace: jest
      .fn()
      .mockResolvedValue({ name: 'vision', role, grants: [] }),
    lineage: jest.fn().mockResolvedValue(LINEAGE),
    job: jest.fn().mockResolvedValue({ ...JOB, status: 'succeeded' }),
    run: jest.fn().mockResolvedValue({ id: 'run-9', status: 'completed' }),
    rollbackAlias: jest.fn().mockResolvedValue({ alias: 'prod', version: 1 }),
    setAlias: jest.fn().mockResolvedValue({ alias: 'prod', version: 1 }),
    comparisons: jest.fn().mockResolvedValue([]),
    gates: jest.fn().mockResolvedValue([])
  });
}

describe('ModelsPanel', () => {
  it('explains why a writer may not move the protected alias', async () => {
    // Given a writer (prod needs a maintainer)
    render(<ModelsPanel {...panelProps(modelClient('writer'))} />);
    fireEvent.click(
      await screen.findByRole('option', { name: 'vision/resnet' })
    );

    // Then Roll back and Promote are disabled, and say why
    const rollback = await screen.findByRole('button', { name: 'Roll back' });
    await screen.findByText('writer');
    expect(rollback).toHaveProperty('disabled', true);
    const reason =
      "Moving the protected alias 'prod' in 'vision' needs the maintainer role; you are writer.";
    expect(rollback.getAttribute('title')).toBe(reason);
    expect(screen.getByRole('button', { name: 'Promote' })).toHaveProperty(
      'disabled',
      true
    );

    // But a staging alias is theirs to move
    fireEvent.change(screen.getByLabelText('Alias'), {
      target: { value: 'staging' }
    });
    expect(screen.getByRole('button', { name: 'Promote' })).toHaveProperty(
      'disabled',
      false
    );
  });

  it('marks a yanked version with its reason and does not offer it for promotion', async () => {
    // Given v2 was yanked
    const client = modelClient('maintainer');
    client.versions = jest
      .fn()
      .mockResolvedValue([modelVersion(1), modelVersion(2, { yanked: YANK })]);
    render(<ModelsPanel {...panelProps(client)} />);
    fireEvent.click(
      await screen.findByRole('option', { name: 'vision/resnet' })
    );
    // Then its entry says so, with who and why, and Promote offers only v1
    expect(await screen.findByText('yanked')).toBeTruthy();
    expect(
      screen.getByText(/yanked by alice: trained on the test split/)
    ).toBeTruthy();
    const choices = screen.getByLabelText('to').querySelectorAll('option');
    expect([...choices].map(o => o.textContent)).toEqual(['v1']);
  });

  it('says why when the role can no longer be read (revoked: a 404)', async () => {
    const client = modelClient('maintainer');
    client.namespace = jest
      .fn()
      .mockRejectedValue(
        new Error(
          "Namespace 'vision' does not exist or you have no role there."
        )
      );
    render(<ModelsPanel {...panelProps(client)} />);
    fireEvent.click(
      await screen.findByRole('option', { name: 'vision/resnet' })
    );
    const rollback = await screen.findByRole('button', { name: 'Roll back' });
    await waitFor(() =>
      expect(rollback.getAttribute('title')).toContain(
        'does not exist or you have no role there'
      )
    );
    expect(rollback).toHaveProperty('disabled', true);
  });

  it('lets a maintainer promote and roll back, and draws the lineage graph', async () => {
    const client = modelClient('maintainer');
    const { container } = render(<ModelsPanel {...panelProps(client)} />);
    fireEvent.click(
      await screen.findByRole('option', { name: 'vision/resnet' })
    );
    await screen.findByText('maintainer');

    // When they promote v1 to @prod and roll back
    fireEvent.change(screen.getByLabelText('to'), { target: { value: '1' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Promote' }));
    });
    expect(client.setAlias).toHaveBeenCalledWith('vision/resnet', 'prod', 1);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Roll back' }));
    });
    expect(client.rollbackAlias).toHaveBeenCalledWith('vision/resnet', 'prod');

    // Then the lineage of @prod's version is a graph whose job node opens its details
    await screen.findByRole('group', { name: 'Lineage of vision/resnet:2' });
    expect(container.querySelectorAll('.lepton-lineage-node')).toHaveLength(4);
    await act(async () => {
      fireEvent.keyDown(
        screen.getByRole('button', { name: 'job: job train-1' }),
        { key: 'Enter' }
      );
    });
    const details = screen.getByRole('region', {
      name: 'Details of job train-1'
    });
    expect(await within(details).findByText('succeeded')).toBeTruthy();
    expect(client.job).toHaveBeenCalledWith('train-1');
  });
});

/** The JupyterLab dialog on screen (attached to the page's body), once it shows. */
async function dialog(): Promise<HTMLElement> {
  return waitFor(() => {
    const found = document.querySelector<HTMLElement>('.jp-Dialog');
    if (!found) {
      throw new Error('no dialog yet');
    }
    return found;
  });
}

/** Press one of the open dialog's buttons, and wait for the dialog to go. */
async function press(label: string): Promise<void> {
  const open = await dialog();
  await act(async () => {
    // By its label: jsdom does not open the <dialog>, so its buttons have no role.
    const button = [...open.querySelectorAll('.jp-Dialog-button')].find(
      b => b.textContent === label
    );
    fireEvent.click(button as HTMLElement);
  });
  await waitFor(() => expect(open.isConnected).toBe(false));
}

/** The panel on `client`, vision/resnet selected, once the caller's role shows. */
async function openResnet(client: StubClient, role: Role): Promise<void> {
  render(<ModelsPanel {...panelProps(client)} />);
  fireEvent.click(await screen.findByRole('option', { name: 'vision/resnet' }));
  await screen.findByText(role);
}

describe('ModelsPanel: yank', () => {
  it('yanks a version with a reason from its row, then shows it yanked', async () => {
    // Given a maintainer, v2 at @prod
    const client = modelClient('maintainer');
    const listed = [modelVersion(1), modelVersion(2, { aliases: ['prod'] })];
    const yanked = [
      modelVersion(1),
      modelVersion(2, { aliases: ['prod'], yanked: YANK })
    ];
    client.versions = jest
      .fn()
      .mockResolvedValueOnce(listed)
      .mockResolvedValue(yanked);
    client.yankVersion = jest.fn().mockResolvedValue(yanked[1]);
    await openResnet(client, 'maintainer');
    const v2 = await screen.findByRole('option', { name: 'version 2' });

    // When they press Yank on v2's row, a dialog asks why (and says @prod will stop resolving)
    fireEvent.click(within(v2).getByRole('button', { name: 'Yank' }));
    let open = await dialog();
    expect(open.textContent).toContain('Yank vision/resnet:2?');
    expect(open.textContent).toContain('@prod will not resolve until moved');
    // A blank reason is not taken: the dialog comes back saying so
    await press('Yank');
    open = await dialog();
    expect(open.querySelector('[role="alert"]')?.textContent).toBe(
      'A reason is required.'
    );
    expect(client.yankVersion).not.toHaveBeenCalled();
    fireEvent.change(open.querySelector('textarea') as HTMLTextAreaElement, {
      target: { value: '  trained on the test split ' }
    });
    await press('Yank');

    // Then the server is asked, and the row is shown yanked with who and why
    expect(client.yankVersion).toHaveBeenCalledWith(
      'vision/resnet',
      2,
      'trained on the test split'
    );
    await waitFor(() =>
      expect(
        screen
          .getByRole('option', { name: 'version 2' })
          .classList.contains('lepton-mod-yanked')
      ).toBe(true)
    );
    const row = screen.getByRole('option', { name: 'version 2' });
    expect(within(row).getByText(/yanked by alice: trained/)).toBeTruthy();
    expect(within(row).queryByRole('button', { name: 'Yank' })).toBeNull();
    // And @prod, left on it, is shown as not resolving until moved
    const prod = document.querySelector(
      '.lepton-alias[data-alias="prod"]'
    ) as HTMLElement;
    expect(prod.textContent).toContain('on a yanked version');
    expect(prod.textContent).toContain('@prod does not resolve until moved');
    expect(notify.success).toHaveBeenCalledWith(
      'vision/resnet:2 yanked: trained on the test split',
      expect.anything()
    );
    // And the models and versions were asked again; the toggle hides the yanked row
    expect(client.versions).toHaveBeenCalledTimes(2);
    expect(client.models).toHaveBeenCalledTimes(2);
    expect(client.models).toHaveBeenCalledWith(undefined, true);
    fireEvent.click(screen.getByLabelText('Show yanked versions (1)'));
    expect(screen.queryByRole('option', { name: 'version 2' })).toBeNull();
    expect(screen.getByRole('option', { name: 'version 1' })).toBeTruthy();
  });

  it('does nothing when the dialog is cancelled, and shows a refusal', async () => {
    const client = modelClient('maintainer');
    client.yankVersion = jest
      .fn()
      .mockRejectedValue(
        new LeptonAPIError(
          'vision/resnet:1 is already yanked by bob: bad labels.',
          409
        )
      );
    await openResnet(client, 'maintainer');
    const v1 = await screen.findByRole('option', { name: 'version 1' });
    // Cancelled: nothing asked, nothing selected by the click on the row's button
    fireEvent.click(within(v1).getByRole('button', { name: 'Yank' }));
    await press('Cancel');
    expect(client.yankVersion).not.toHaveBeenCalled();
    expect(v1.getAttribute('aria-selected')).toBe('false');
    // Refused by the server: its message in an error notification
    fireEvent.click(within(v1).getByRole('button', { name: 'Yank' }));
    fireEvent.change(
      (await dialog()).querySelector('textarea') as HTMLTextAreaElement,
      { target: { value: 'bad labels' } }
    );
    await press('Yank');
    await waitFor(() =>
      expect(notify.error).toHaveBeenCalledWith(
        'Yanking vision/resnet:1 failed: vision/resnet:1 is already yanked by bob: bad labels.',
        expect.anything()
      )
    );
  });

  it('un-yanks after confirming; a deleted version offers no Un-yank', async () => {
    // Given v2 yanked and v3 yanked then deleted
    const client = modelClient('maintainer');
    const deleted = modelVersion(3, {
      yanked: YANK,
      deleted: { by: 'alice', at: '2026-12-03T11:00:00Z' }
    });
    client.versions = jest
      .fn()
      .mockResolvedValueOnce([
        modelVersion(1),
        modelVersion(2, { yanked: YANK }),
        deleted
      ])
      .mockResolvedValue([modelVersion(1), modelVersion(2), deleted]);
    client.unyankVersion = jest.fn().mockResolvedValue(modelVersion(2));
    await openResnet(client, 'maintainer');
    const v3 = await screen.findByRole('option', { name: 'version 3' });
    expect(within(v3).getByText('deleted')).toBeTruthy();
    expect(within(v3).queryByRole('button', { name: 'Un-yank' })).toBeNull();

    // When they un-yank v2, the dialog says it becomes the latest, and they confirm
    const v2 = screen.getByRole('option', { name: 'version 2' });
    fireEvent.click(within(v2).getByRole('button', { name: 'Un-yank' }));
    expect((await dialog()).textContent).toContain(
      'vision/resnet resolves to it (the latest)'
    );
    await press('Un-yank');

    // Then the server is asked and the row is listed as a plain version again
    expect(client.unyankVersion).toHaveBeenCalledWith('vision/resnet', 2);
    await waitFor(() =>
      expect(
        screen
          .getByRole('option', { name: 'version 2' })
          .classList.contains('lepton-mod-yanked')
      ).toBe(false)
    );
    expect(
      within(screen.getByRole('option', { name: 'version 2' })).getByRole(
        'button',
        { name: 'Yank' }
      )
    ).toBeTruthy();
    expect(notify.success).toHaveBeenCalledWith(
      'vision/resnet:2 un-yanked.',
      expect.anything()
    );
  });

  it('offers no Delete to a maintainer, and says it needs an admin', async () => {
    const client = modelClient('maintainer');
    client.versions = jest
      .fn()
      .mockResolvedValue([modelVersion(1), modelVersion(2, { yanked: YANK })]);
    await openResnet(client, 'maintainer');
    const v2 = await screen.findByRole('option', { name: 'version 2' });
    expect(within(v2).getByRole('button', { name: 'Un-yank' })).toBeTruthy();
    expect(within(v2).queryByRole('button', { name: 'Delete' })).toBeNull();
    expect(
      screen.getByText(
        "Deleting versions in 'vision' needs the admin role; you are maintainer."
      )
    ).toBeTruthy();
  });

  it('offers no Yank to a writer and says which role it needs', async () => {
    render(<ModelsPanel {...panelProps(modelClient('writer'))} />);
    fireEvent.click(
      await screen.findByRole('option', { name: 'vision/resnet' })
    );
    expect(
      await screen.findByText(
        "Yanking or un-yanking versions in 'vision' needs the maintainer role; you are writer."
      )
    ).toBeTruthy();
    await screen.findByRole('option', { name: 'version 2' });
    expect(screen.queryByRole('button', { name: 'Yank' })).toBeNull();
  });

  it('keeps a model whose every version is yanked in reach, with nothing to promote', async () => {
    const client = modelClient('maintainer');
    client.models = jest
      .fn()
      .mockResolvedValue([{ ...MODEL, latest: null, aliases: {} }]);
    client.versions = jest
      .fn()
      .mockResolvedValue([modelVersion(1, { yanked: YANK })]);
    render(<ModelsPanel {...panelProps(client)} />);
    expect(await screen.findByText('every version yanked')).toBeTruthy();
    fireEvent.click(screen.getByRole('option', { name: 'vision/resnet' }));
    const promote = await screen.findByRole('button', { name: 'Promote' });
    await screen.findByRole('option', { name: 'version 1' });
    expect(promote).toHaveProperty('disabled', true);
    expect(promote.getAttribute('title')).toBe(
      'Every version is yanked: there is none to promote.'
    );
    // The lineage shown is the newest version's, yanked or not
    expect(client.lineage).toHaveBeenCalledWith('vision/resnet:1');
  });
});

describe('ModelsPanel: delete', () => {
  const DELETED = { by: 'alice', at: '2026-12-03T11:00:00Z' };
  const BLOB = 'blake3:' + 'a'.repeat(64);

  it('deletes a yanked version after a dialog that says what goes, then shows the tombstone', async () => {
    // Given an admin, v1 live and v2 yanked (its one blob held by no other version)
    const client = modelClient('admin');
    client.versions = jest
      .fn()
      .mockResolvedValueOnce([
        modelVersion(1),
        modelVersion(2, { yanked: YANK })
      ])
      .mockResolvedValue([
        modelVersion(1),
        modelVersion(2, { yanked: YANK, deleted: DELETED })
      ]);
    client.deleteVersion = jest.fn(
      async (name: string, version: number, dryRun?: boolean) => ({
        name,
        version,
        dry_run: dryRun === true,
        deleted: dryRun ? null : DELETED,
        blobs: [BLOB],
        reclaimed: dryRun ? [] : [BLOB]
      })
    );
    await openResnet(client, 'admin');
    const v2 = await screen.findByRole('option', { name: 'version 2' });
    // A live version offers no Delete (it must be yanked first)
    const v1 = screen.getByRole('option', { name: 'version 1' });
    expect(within(v1).queryByRole('button', { name: 'Delete' })).toBeNull();

    // When the admin presses Delete on v2, the dialog says what happens; Cancel deletes nothing
    fireEvent.click(within(v2).getByRole('button', { name: 'Delete' }));
    const open = await dialog();
    expect(open.textContent).toContain('Delete vision/resnet:2?');
    expect(open.textContent).toContain(
      'its number is never given to other files'
    );
    expect(open.textContent).toContain(
      '1 blob no other version holds (reclaimed)'
    );
    await press('Cancel');
    expect(client.deleteVersion).toHaveBeenCalledTimes(1);
    expect(client.deleteVersion).toHaveBeenLastCalledWith(
      'vision/resnet',
      2,
      true
    );

    // When they confirm, the version is deleted and its row shows the tombstone
    fireEvent.click(within(v2).getByRole('button', { name: 'Delete' }));
    await press('Delete');
    expect(client.deleteVersion).toHaveBeenLastCalledWith('vision/resnet', 2);
    const row = screen.getByRole('option', { name: 'version 2' });
    expect(await within(row).findByText('deleted')).toBeTruthy();
    expect(within(row).queryByRole('button', { name: 'Delete' })).toBeNull();
    expect(within(row).queryByRole('button', { name: 'Un-yank' })).toBeNull();
    expect(notify.success).toHaveBeenCalledWith(
      'vision/resnet:2 deleted; 1 blob(s) reclaimed.',
      expect.anything()
    );
    expect(client.models).toHaveBeenCalledTimes(2);
  });

  it("shows the server's refusal (an alias still on it) and opens no dialog", async () => {
    const client = modelClient('admin');
    client.versions = jest
      .fn()
      .mockResolvedValue([
        modelVersion(1),
        modelVersion(2, { aliases: ['prod'], yanked: YANK })
      ]);
    client.deleteVersion = jest
      .fn()
      .mockRejectedValue(
        new LeptonAPIError(
          'Cannot delete vision/resnet:2: @prod still points at it; move the alias first.',
          409
        )
      );
    await openResnet(client, 'admin');
    const v2 = await screen.findByRole('option', { name: 'version 2' });
    fireEvent.click(within(v2).getByRole('button', { name: 'Delete' }));
    await waitFor(() =>
      expect(notify.error).toHaveBeenCalledWith(
        'Deleting vision/resnet:2 failed: Cannot delete vision/resnet:2: @prod still points at it; move the alias first.',
        expect.anything()
      )
    );
    expect(document.querySelector('.jp-Dialog')).toBeNull();
    expect(client.deleteVersion).toHaveBeenCalledTimes(1);
    expect(within(v2).getByRole('button', { name: 'Delete' })).toBeTruthy();
  });
});

function grant(
  role: Role,
  holder: { user: string } | { group: string }
): IGrantInfo {
  return {
    namespace: 'vision',
    role,
    user: 'user' in holder ? holder.user : null,
    group: 'group' in holder ? holder.group : null,
    granted_by: 'alice',
    granted_at: '2026-12-01T09:00:00Z'
  };
}

const ALICE_ADMIN = grant('admin', { user: 'alice' });
const BOB_WRITER = grant('writer', { user: 'bob' });
const NLP_READER = grant('reader', { group: 'nlp' });

function access(role: Role, grants: IGrantInfo[]): INamespaceInfo {
  return { name: 'vision', role, grants };
}

/** Open the namespace's Access list; its region once the grants show. */
async function openAccess(): Promise<HTMLElement> {
  const namespace = (await screen.findByText('vision')).closest(
    '.lepton-namespace'
  ) as HTMLElement;
  fireEvent.click(within(namespace).getByRole('button', { name: 'Access' }));
  const region = await screen.findByRole('region', {
    name: 'Access to vision'
  });
  await within(region).findByText('user alice');
  return region;
}

describe('ModelsPanel: revoke', () => {
  it('lets an admin revoke a grant after confirming, then lists what is left', async () => {
    // Given vision's admin alice, writer bob and the reader group nlp
    const client = modelClient('maintainer');
    client.namespace = jest
      .fn()
      .mockResolvedValueOnce(
        access('admin', [ALICE_ADMIN, BOB_WRITER, NLP_READER])
      )
      .mockResolvedValue(access('admin', [ALICE_ADMIN, NLP_READER]));
    client.revokeGrant = jest.fn().mockResolvedValue(BOB_WRITER);
    render(<ModelsPanel {...panelProps(client)} />);
    const region = await openAccess();
    // The last admin grant cannot be revoked, and says why
    const alice = within(region)
      .getByText('user alice')
      .closest('li') as HTMLElement;
    const aliceRevoke = within(alice).getByRole('button', { name: 'Revoke' });
    expect(aliceRevoke).toHaveProperty('disabled', true);
    expect(aliceRevoke.getAttribute('title')).toContain(
      'The last admin grant stays'
    );

    // When the admin presses Revoke on bob's grant and cancels, nothing happens
    const bob = within(region)
      .getByText('user bob')
      .closest('li') as HTMLElement;
    fireEvent.click(within(bob).getByRole('button', { name: 'Revoke' }));
    expect((await dialog()).textContent).toContain(
      'Revoke the writer role of user bob on vision?'
    );
    await press('Cancel');
    expect(client.revokeGrant).not.toHaveBeenCalled();
    // When they confirm, the grant is revoked and the list asked again
    fireEvent.click(within(bob).getByRole('button', { name: 'Revoke' }));
    await press('Revoke');
    expect(client.revokeGrant).toHaveBeenCalledWith('vision', BOB_WRITER);
    await waitFor(() =>
      expect(within(region).queryByText('user bob')).toBeNull()
    );
    expect(within(region).getByText('group nlp')).toBeTruthy();
    expect(notify.success).toHaveBeenCalledWith(
      'The writer role of user bob on vision revoked.',
      expect.anything()
    );
    expect(client.models).toHaveBeenCalledTimes(2);
  });

  it("shows a refused revoke with the server's message", async () => {
    const client = modelClient('maintainer');
    client.namespace = jest
      .fn()
      .mockResolvedValue(access('admin', [ALICE_ADMIN, NLP_READER]));
    client.revokeGrant = jest
      .fn()
      .mockRejectedValue(
        new LeptonAPIError(
          "Namespace 'vision' does not exist or you have no role there.",
          404
        )
      );
    render(<ModelsPanel {...panelProps(client)} />);
    const region = await openAccess();
    const nlp = within(region)
      .getByText('group nlp')
      .closest('li') as HTMLElement;
    fireEvent.click(within(nlp).getByRole('button', { name: 'Revoke' }));
    await press('Revoke');
    expect(client.revokeGrant).toHaveBeenCalledWith('vision', NLP_READER);
    await waitFor(() =>
      expect(notify.error).toHaveBeenCalledWith(
        "Revoking the role of group nlp on vision failed: Namespace 'vision' does not exist or you have no role there.",
        expect.anything()
      )
    );
  });

  it('shows a writer who holds which role, with no Revoke and the reason', async () => {
    const client = modelClient('writer');
    client.namespace = jest
      .fn()
      .mockResolvedValue(access('writer', [ALICE_ADMIN, BOB_WRITER]));
    render(<ModelsPanel {...panelProps(client)} />);
    const region = await openAccess();
    expect(within(region).getByText('user bob')).toBeTruthy();
    expect(within(region).queryByRole('button', { name: 'Revoke' })).toBeNull();
    expect(region.textContent).toContain(
      "Granting or revoking roles in 'vision' needs the admin role; you are writer."
    );
    expect(
      within(region).queryByRole('group', { name: 'Grant a role in vision' })
    ).toBeNull();
  });
});

describe('ModelsPanel: grant', () => {
  const NLP_WRITER = grant('writer', { group: 'nlp' });

  /** The admin's grant form in the open Access region. */
  function grantForm(region: HTMLElement): HTMLElement {
    return within(region).getByRole('group', {
      name: 'Grant a role in vision'
    });
  }

  it('lets an admin grant a group a role, then lists the grant', async () => {
    // Given vision's admin alice and nothing else
    const client = modelClient('admin');
    client.namespace = jest
      .fn()
      .mockResolvedValueOnce(access('admin', [ALICE_ADMIN]))
      .mockResolvedValue(access('admin', [ALICE_ADMIN, NLP_WRITER]));
    client.grantRole = jest.fn().mockResolvedValue(NLP_WRITER);
    render(<ModelsPanel {...panelProps(client)} />);
    const region = await openAccess();
    const form = grantForm(region);
    const button = within(form).getByRole('button', { name: 'Grant' });
    // The roles offered are the server's four; nothing to grant without a name
    expect(
      [...within(form).getByLabelText('Role').querySelectorAll('option')].map(
        o => o.textContent
      )
    ).toEqual(['reader', 'writer', 'maintainer', 'admin']);
    expect(button).toHaveProperty('disabled', true);

    // When the admin grants the group nlp the writer role
    fireEvent.change(within(form).getByLabelText('Grant to'), {
      target: { value: 'group' }
    });
    fireEvent.change(within(form).getByLabelText('Name of the group'), {
      target: { value: ' nlp ' }
    });
    fireEvent.change(within(form).getByLabelText('Role'), {
      target: { value: 'writer' }
    });
    fireEvent.click(button);

    // Then the server is asked, the list shows the grant and the name is cleared
    expect(client.grantRole).toHaveBeenCalledWith('vision', 'writer', {
      user: null,
      group: 'nlp'
    });
    const nlp = await within(region).findByText('group nlp');
    expect(
      within(nlp.closest('li') as HTMLElement).getByText('writer')
    ).toBeTruthy();
    expect(notify.success).toHaveBeenCalledWith(
      'The group nlp now holds the writer role on vision.',
      expect.anything()
    );
    await waitFor(() =>
      expect(
        within(grantForm(region)).getByLabelText('Name of the group')
      ).toHaveProperty('value', '')
    );
    expect(client.models).toHaveBeenCalledTimes(2);
  });

  it("shows a refused grant with the server's message and keeps the name", async () => {
    const client = modelClient('admin');
    client.namespace = jest
      .fn()
      .mockResolvedValue(access('admin', [ALICE_ADMIN]));
    client.grantRole = jest
      .fn()
      .mockRejectedValue(
        new LeptonAPIError(
          "Granting roles on 'vision' needs the admin role.",
          403
        )
      );
    render(<ModelsPanel {...panelProps(client)} />);
    const form = grantForm(await openAccess());
    fireEvent.change(within(form).getByLabelText('Name of the user'), {
      target: { value: 'bob' }
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Grant' }));
    await waitFor(() =>
      expect(notify.error).toHaveBeenCalledWith(
        "Granting reader to user bob on vision failed: Granting roles on 'vision' needs the admin role.",
        expect.anything()
      )
    );
    expect(client.grantRole).toHaveBeenCalledWith('vision', 'reader', {
      user: 'bob',
      group: null
    });
    expect(within(form).getByLabelText('Name of the user')).toHaveProperty(
      'value',
      'bob'
    );
  });
});

describe('aliasRefusal', () => {
  it('needs writer for a plain alias and maintainer for a protected one', () => {
    expect(aliasRefusal('staging', 'vision', 'writer', ['prod'])).toBeNull();
    expect(aliasRefusal('prod', 'vision', 'maintainer', ['prod'])).toBeNull();
    expect(aliasRefusal('staging', 'vision', 'reader', ['prod'])).toBe(
      "Moving alias 'staging' in 'vision' needs the writer role; you are reader."
    );
    expect(aliasRefusal('prod', 'vision', null, ['prod'])).toContain(
      'you have no role there'
    );
  });
});

describe('lineageGraph', () => {
  it('links dataset commit -> job -> version -> the runs that loaded it', () => {
    const graph = lineageGraph(LINEAGE);
    expect(graph.layers.map(layer => layer.map(n => n.kind))).toEqual([
      ['dataset'],
      ['job'],
      ['version'],
      ['run']
    ]);
    expect(graph.edges).toEqual([
      ['dataset-0', 'job-train-1'],
      ['job-train-1', 'version'],
      ['version', 'load-0']
    ]);
  });

  it('links inputs straight to the version when no job made it', () => {
    const graph = lineageGraph({ ...LINEAGE, jobs: [], loaded_by: [] });
    expect(graph.edges).toEqual([['dataset-0', 'version']]);
  });
});

const RUN = runManifest();

const DIFF = runDiff({
  pins: [
    {
      kind: 'model',
      key: 'vision/resnet@prod',
      status: 'held',
      before: { version: 2 },
      after: { version: 2 }
    }
  ],
  metrics: [
    {
      name: 'loss',
      before: 0.25,
      after: 0.25,
      abs_diff: 0,
      rel_diff: 0,
      equal: true
    }
  ]
});

describe('RunsPanel', () => {
  it('opens the output in JupyterLab and reruns, then shows the diff', async () => {
    // Given a finished run
    const rerun: IRunManifest = {
      ...RUN,
      id: 'run-2',
      status: 'completed',
      rerun_of: 'run-1'
    };
    const client = stubClient({
      runs: jest
        .fn()
        .mockResolvedValueOnce([RUN])
        .mockResolvedValue([rerun, RUN]),
      rerun: jest.fn().mockResolvedValue({ ...rerun, status: 'running' }),
      runDiff: jest.fn().mockResolvedValue(DIFF)
    });
    const props = panelProps(client);
    render(<RunsPanel {...props} />);
    fireEvent.click(
      await screen.findByRole('option', { name: 'run run-1 completed' })
    );

    // When the user opens its output, JupyterLab gets the path below the server root
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Open output' }));
    });
    expect(props.context.openFile).toHaveBeenCalledWith('out/train-out.ipynb');

    // When they rerun it, the rerun is selected and its diff shows
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Rerun' }));
    });
    expect(client.rerun).toHaveBeenCalledWith('run-1');
    expect(
      await screen.findByText(/Run run-2 vs run-1: identical/)
    ).toBeTruthy();
    expect(client.runDiff).toHaveBeenCalledWith('run-2');

    // And the rerun's output (a record, not a notebook to edit) opens read-only
    await act(async () => {
      fireEvent.click(
        screen.getByRole('button', { name: 'Open output (read-only)' })
      );
    });
    expect(props.context.openRunOutput).toHaveBeenCalledWith(
      'run-2',
      'train.ipynb'
    );
    expect(props.context.openFile).toHaveBeenCalledTimes(1);
  });
});

describe('DiffTable', () => {
  it('calls a run with a changed metric different and marks the row', () => {
    const changed = {
      ...DIFF,
      metrics: [
        {
          name: 'loss',
          before: 0.25,
          after: 0.3,
          abs_diff: 0.05,
          rel_diff: 0.2,
          equal: false
        }
      ]
    };
    const { container } = render(<DiffTable diff={changed} />);
    expect(screen.getByText(/: different/)).toBeTruthy();
    expect(
      container.querySelector('tr.lepton-diff-changed')?.textContent
    ).toContain('loss');
  });
});

describe('DiffTable of a dry-run rerun', () => {
  it('says nothing shared changed, what was not applied and whether bytes were reproduced', () => {
    const dryRun: IRunDiff = {
      ...DIFF,
      mode: 'dry-run',
      identical: true,
      published: [
        {
          name: 'vision/resnet',
          version: 3,
          before: 'blake3:aaaaaaaaaaaaaaaaaaaaaa',
          after: 'blake3:aaaaaaaaaaaaaaaaaaaaaa',
          applied: false,
          reproduced: true
        }
      ],
      not_applied: ['publish vision/resnet:3 (+ @prod)']
    };
    render(<DiffTable diff={dryRun} />);
    expect(screen.getByText(/: identical/)).toBeTruthy();
    expect(
      screen.getByText(
        /Dry-run rerun: nothing shared was changed\. Not applied: publish vision\/resnet:3/
      )
    ).toBeTruthy();
    expect(
      screen.getByRole('row', { name: /model vision\/resnet:3 bytes/ })
        .textContent
    ).toContain('reproduced');
  });
});

describe('relativeToRoot', () => {
  it('gives the JupyterLab path of a file under the server root, null outside', () => {
    expect(relativeToRoot('/srv/work/a/b.ipynb', '/srv/work')).toBe(
      'a/b.ipynb'
    );
    expect(relativeToRoot('/srv/work/a/b.ipynb', '/srv/work/')).toBe(
      'a/b.ipynb'
    );
    expect(relativeToRoot('/srv/other/b.ipynb', '/srv/work')).toBeNull();
    expect(relativeToRoot('/srv/workshop/b.ipynb', '/srv/work')).toBeNull();
  });
});
