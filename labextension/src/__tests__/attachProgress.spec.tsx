/**
 * Live attach progress in the Datasets panel: the polling hook and what the
 * panel renders. The client is a mock (stubClient: jest.fn answers, no server);
 * timers are jest's fake timers where the poll interval matters.
 */
import * as React from 'react';
import { act, fireEvent, render, screen } from '@testing-library/react';
import { Notification } from '@jupyterlab/apputils';

import { IAttachedDataset, IAttachProgress, ILeptonClient } from '../api';
import { DatasetsPanel } from '../panels';
import {
  ATTACH_PROGRESS_POLL_MS,
  defaultDestination,
  formatAttachProgress,
  useAttachProgress
} from '../panels/DatasetsPanel';
import { panelProps, stubClient } from './stubs';

const LINKING: IAttachProgress = {
  to: 'images',
  phase: 'link',
  files_done: 312,
  files_total: 600,
  bytes_done: 3250585,
  bytes_total: 6396314
};

const OTHER: IAttachProgress = {
  to: 'points',
  phase: 'fetch',
  files_done: 1,
  files_total: 2,
  bytes_done: 10,
  bytes_total: 20
};

/** Flush the mocked client's resolved promises inside act. */
async function flush(): Promise<void> {
  await act(async () => {
    for (let i = 0; i < 5; i++) {
      await Promise.resolve();
    }
  });
}

function Probe({
  client,
  to,
  active
}: {
  client: ILeptonClient;
  to: string;
  active: boolean;
}): React.ReactElement {
  const progress = useAttachProgress(client, to, active);
  return <output>{progress ? formatAttachProgress(progress) : 'none'}</output>;
}

describe('useAttachProgress (mocked client)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('polls every 300 ms while active, picks its destination, stops when settled', async () => {
    // Given a mocked client whose progress board has two running attaches
    const client = stubClient({
      attachProgress: jest.fn().mockResolvedValue([LINKING, OTHER])
    });
    const c = client as unknown as ILeptonClient;
    const { rerender } = render(
      <Probe client={c} to="images" active={false} />
    );

    // When nothing is attaching, nothing is polled
    await act(async () => {
      jest.advanceTimersByTime(ATTACH_PROGRESS_POLL_MS * 3);
    });
    expect(client.attachProgress).not.toHaveBeenCalled();
    expect(screen.getByRole('status').textContent).toBe('none');

    // When an attach starts, the first poll comes after ~300 ms
    rerender(<Probe client={c} to="images" active={true} />);
    expect(screen.getByRole('status').textContent).toBe('none');
    await act(async () => {
      jest.advanceTimersByTime(ATTACH_PROGRESS_POLL_MS);
    });
    await flush();
    expect(client.attachProgress).toHaveBeenCalledTimes(1);
    // Then it shows the entry of its own destination only
    expect(screen.getByRole('status').textContent).toBe(
      'link: 312 / 600 files, 3.1 MiB / 6.1 MiB'
    );
    for (let i = 0; i < 2; i++) {
      await act(async () => {
        jest.advanceTimersByTime(ATTACH_PROGRESS_POLL_MS);
      });
      await flush();
    }
    expect(client.attachProgress).toHaveBeenCalledTimes(3);

    // When the attach settles, polling stops and the progress is cleared
    rerender(<Probe client={c} to="images" active={false} />);
    expect(screen.getByRole('status').textContent).toBe('none');
    await act(async () => {
      jest.advanceTimersByTime(ATTACH_PROGRESS_POLL_MS * 5);
    });
    expect(client.attachProgress).toHaveBeenCalledTimes(3);
  });

  it('stops polling on unmount and ignores failed polls', async () => {
    // Given a mocked client whose first poll fails
    const client = stubClient({
      attachProgress: jest
        .fn()
        .mockRejectedValueOnce(new Error('offline'))
        .mockResolvedValue([LINKING])
    });
    const c = client as unknown as ILeptonClient;
    const { unmount } = render(<Probe client={c} to="images" active={true} />);

    // When the first poll fails, the fallback stays and the next poll counts
    await act(async () => {
      jest.advanceTimersByTime(ATTACH_PROGRESS_POLL_MS);
    });
    await flush();
    expect(screen.getByRole('status').textContent).toBe('none');
    await act(async () => {
      jest.advanceTimersByTime(ATTACH_PROGRESS_POLL_MS);
    });
    await flush();
    expect(screen.getByRole('status').textContent).toMatch(/^link: 312/);

    // When the component unmounts, no more polls are made
    unmount();
    await act(async () => {
      jest.advanceTimersByTime(ATTACH_PROGRESS_POLL_MS * 5);
    });
    expect(client.attachProgress).toHaveBeenCalledTimes(2);
  });
});

describe('attach progress helpers', () => {
  it('computes the default destination like the server', () => {
    expect(defaultDestination('datasets/images')).toBe('images');
    expect(defaultDestination(' /datasets/images/ ')).toBe('images');
    expect(defaultDestination('points')).toBe('points');
  });

  it('formats a phase without counts yet', () => {
    expect(
      formatAttachProgress({
        to: 'images',
        phase: 'resolve',
        files_done: 0,
        files_total: 0,
        bytes_done: 0,
        bytes_total: 0
      })
    ).toBe('resolve…');
  });
});

describe('DatasetsPanel attach progress (mocked client)', () => {
  let notifySuccess: jest.SpyInstance;
  beforeEach(() => {
    notifySuccess = jest.spyOn(Notification, 'success').mockReturnValue('id');
  });
  afterEach(() => notifySuccess.mockRestore());

  it('shows a determinate bar and counts while the attach is pending', async () => {
    // Given a registry with datasets/images and an attach that stays pending
    const done: IAttachedDataset = {
      to: 'images',
      local_path: '/srv/work/images',
      dvc_file: 'images.dvc',
      url: '/srv/registry',
      path: 'datasets/images',
      rev: 'v3',
      commit: 'c0ffee00c0ffee00',
      hash: 'h.dir',
      files: 600,
      bytes: 6396314,
      link_type: 'hardlink',
      newer_tag: null
    };
    let finishAttach: (value: IAttachedDataset) => void = () => undefined;
    const client = stubClient({
      attachedDatasets: jest.fn().mockResolvedValue([]),
      browseDatasets: jest.fn().mockResolvedValue({
        url: '/srv/registry',
        rev: null,
        commit: 'c0ffee00',
        datasets: [
          {
            path: 'datasets/images',
            hash: 'h.dir',
            size: 6396314,
            files: 600,
            description: null
          }
        ],
        versions: []
      }),
      attachDataset: jest.fn(
        () => new Promise<IAttachedDataset>(resolve => (finishAttach = resolve))
      ),
      attachProgress: jest.fn().mockResolvedValue([OTHER, LINKING])
    });
    render(<DatasetsPanel {...panelProps(client)} />);
    fireEvent.change(screen.getByLabelText('Data registry'), {
      target: { value: '/srv/registry' }
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Browse' }));
    });

    // When the user attaches it
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Attach' }));
    });

    // Then the busy state shows first, then the live progress of "images"
    expect(screen.getByLabelText('Attaching datasets/images')).toBeTruthy();
    const bar = (await screen.findByLabelText(
      'Attach progress'
    )) as HTMLProgressElement;
    expect(bar.classList.contains('lepton-attach-progress')).toBe(true);
    expect(bar.getAttribute('value')).toBe('312');
    expect(bar.getAttribute('max')).toBe('600');
    expect(
      screen.getByText('link: 312 / 600 files, 3.1 MiB / 6.1 MiB').className
    ).toBe('lepton-attach-progress-text');

    // And when the attach is done, the progress goes away and polling stops
    await act(async () => finishAttach(done));
    expect(screen.queryByLabelText('Attach progress')).toBeNull();
    const calls = client.attachProgress.mock.calls.length;
    await act(
      () =>
        new Promise(resolve => setTimeout(resolve, ATTACH_PROGRESS_POLL_MS * 3))
    );
    expect(client.attachProgress.mock.calls.length).toBe(calls);
    expect(notifySuccess).toHaveBeenCalled();
  });
});
