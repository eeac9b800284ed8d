/** A client whose every call fails unless a test gives it an answer, and a context around it. */
import { ILeptonClient } from '../api';
import { ILeptonContext, IPanelProps } from '../panels';
import { DEFAULT_SETTINGS } from '../settings';

export type StubClient = { [K in keyof ILeptonClient]: jest.Mock };

export function stubClient(answers: Partial<StubClient> = {}): StubClient {
  const names: Array<keyof ILeptonClient> = [
    'status',
    'browseDatasets',
    'attachedDatasets',
    'attachDataset',
    'attachProgress',
    'updateDataset',
    'detachDataset',
    'jobs',
    'job',
    'jobMetrics',
    'jobLogs',
    'cancelJob',
    'models',
    'versions',
    'yankVersion',
    'unyankVersion',
    'deleteVersion',
    'namespace',
    'grantRole',
    'revokeGrant',
    'setAlias',
    'rollbackAlias',
    'aliasHistory',
    'lineage',
    'comparisons',
    'gates',
    'runs',
    'run',
    'rerun',
    'runDiff',
    'series',
    'setChecks'
  ];
  const client = {} as StubClient;
  for (const name of names) {
    client[name] =
      answers[name] ??
      jest.fn().mockRejectedValue(new Error(`unexpected call: ${name}`));
  }
  return client;
}

export function stubContext(client: StubClient): ILeptonContext & {
  openFile: jest.Mock;
  rememberDataRegistry: jest.Mock;
  openRunOutput: jest.Mock;
} {
  return {
    client: client as unknown as ILeptonClient,
    serverRoot: '/srv/work',
    openFile: jest.fn().mockResolvedValue(undefined),
    rememberDataRegistry: jest.fn().mockResolvedValue(undefined),
    openRunOutput: jest.fn().mockResolvedValue(undefined)
  };
}

export function panelProps(client: StubClient): IPanelProps & {
  context: ReturnType<typeof stubContext>;
} {
  return {
    status: { configured: true, detail: 'test service' },
    settings: DEFAULT_SETTINGS,
    context: stubContext(client),
    refreshToken: 0,
    protectedAliases: ['prod']
  };
}
