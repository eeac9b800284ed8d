/**
 * Answers the stubbed client gives, built from one full example each so a spec states only
 * what its story is about; and the notification spies every panel spec needs.
 */
import { Notification } from '@jupyterlab/apputils';

import { IRunDiff, IRunManifest } from '../api';

/** A finished run of /srv/work/train.ipynb by ada; `overrides` says how this one differs. */
export function runManifest(
  overrides: Partial<IRunManifest> = {}
): IRunManifest {
  return {
    id: 'run-1',
    status: 'completed',
    engine: 'lepton',
    notebook: { path: '/srv/work/train.ipynb', digest: 'd', cells: [] },
    kernel_name: 'python3',
    cwd: '/srv/work',
    parameters: { lr: 0.1 },
    ledger: [],
    metrics: { loss: 0.25 },
    packages: {},
    python: '3.11',
    git: null,
    started_at: '2026-01-01T00:00:00Z',
    ended_at: '2026-01-01T00:01:00Z',
    output_path: '/srv/work/out/train-out.ipynb',
    output_digest: null,
    error: null,
    rerun_of: null,
    user: 'ada',
    pid: null,
    ...overrides
  };
}

/** run-1 against run-2 with nothing different; `overrides` adds what changed. */
export function runDiff(overrides: Partial<IRunDiff> = {}): IRunDiff {
  return {
    before: 'run-1',
    after: 'run-2',
    abs_tol: 0,
    rel_tol: 0,
    notebook_changed: false,
    parameters: [],
    pins: [],
    metrics: [],
    cells: [],
    ...overrides
  };
}

export interface INotificationSpies {
  error: jest.SpyInstance;
  success: jest.SpyInstance;
}

/**
 * Spy on (and silence) error and success notifications around each test of the calling
 * file or `describe` block; the returned object's fields are replaced before each test.
 */
export function spyOnNotifications(): INotificationSpies {
  const spies = {} as INotificationSpies;
  beforeEach(() => {
    spies.error = jest.spyOn(Notification, 'error').mockReturnValue('id');
    spies.success = jest.spyOn(Notification, 'success').mockReturnValue('id');
  });
  afterEach(() => {
    spies.error.mockRestore();
    spies.success.mockRestore();
  });
  return spies;
}
