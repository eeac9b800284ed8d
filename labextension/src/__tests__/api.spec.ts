/**
 * The typed client against a stubbed ServerConnection: each method calls the
 * route lepton_jupyter/handlers/*.py defines, with the right verb and body.
 */
import { ServerConnection } from '@jupyterlab/services';

import { leptonClient, roleRank } from '../api';

function answer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

/** A fresh response per call (a body can be read once). */
function always(body: unknown, status = 200): () => Promise<Response> {
  return () => Promise.resolve(answer(body, status));
}

describe('leptonClient', () => {
  let makeRequest: jest.SpyInstance;

  beforeEach(() => {
    makeRequest = jest.spyOn(ServerConnection, 'makeRequest');
  });

  afterEach(() => {
    makeRequest.mockRestore();
  });

  function lastCall(): { url: string; init: RequestInit } {
    const [url, init] =
      makeRequest.mock.calls[makeRequest.mock.calls.length - 1];
    return { url: String(url).replace(/^.*\/lepton\/api\//, ''), init };
  }

  it('browses a data registry with the URL in the query', async () => {
    makeRequest.mockImplementation(always({ datasets: [], versions: [] }));

    await leptonClient.browseDatasets('/srv/data registry', 'v2');

    expect(lastCall().url).toBe(
      'datasets/browse?url=%2Fsrv%2Fdata+registry&rev=v2'
    );
  });

  it('attaches with a JSON body and detaches a nested folder by its path', async () => {
    makeRequest.mockImplementation(always({ to: 'data/points' }, 201));

    await leptonClient.attachDataset({
      url: '/r',
      path: 'datasets/points',
      rev: 'v1'
    });
    expect(lastCall().init.method).toBe('POST');
    expect(JSON.parse(String(lastCall().init.body))).toEqual({
      url: '/r',
      path: 'datasets/points',
      rev: 'v1'
    });

    await leptonClient.detachDataset('data/my points');
    expect(lastCall()).toMatchObject({
      url: 'datasets/data/my%20points',
      init: { method: 'DELETE' }
    });
  });

  it('reads the running attaches as a plain list', async () => {
    const entry = {
      to: 'images',
      phase: 'link',
      files_done: 1,
      files_total: 2,
      bytes_done: 3,
      bytes_total: 4
    };
    makeRequest.mockImplementation(always([entry]));

    expect(await leptonClient.attachProgress()).toEqual([entry]);
    expect(lastCall().url).toBe('datasets/progress');
  });

  it('unwraps the job list; asks metrics and logs from offsets', async () => {
    makeRequest.mockResolvedValueOnce(
      answer({ jobs: [{ id: 'a' }], total: 1 })
    );
    expect(await leptonClient.jobs()).toEqual({
      jobs: [{ id: 'a' }],
      total: 1
    });
    expect(lastCall().url).toBe('jobs');
    makeRequest.mockResolvedValueOnce(answer({ jobs: [], total: 0 }));
    await leptonClient.jobs({ limit: 50, status: 'running' });
    expect(lastCall().url).toBe('jobs?limit=50&status=running');

    makeRequest.mockImplementation(
      always({ id: 'a', metrics: [{ rank: 0, step: 1, time: 0 }], offset: 9 })
    );
    expect((await leptonClient.jobMetrics('a')).metrics).toHaveLength(1);
    expect(lastCall().url).toBe('jobs/a/metrics');
    await leptonClient.jobMetrics('a', 9);
    expect(lastCall().url).toBe('jobs/a/metrics?since=9');

    makeRequest.mockImplementation(always({ id: 'a', chunks: [] }));
    await leptonClient.jobLogs('a', null, 40);
    expect(lastCall().url).toBe('jobs/a/logs?tail=40');
    await leptonClient.jobLogs('a', null, null, [14, 0]);
    expect(lastCall().url).toBe('jobs/a/logs?since=14%2C0');
  });

  it('moves an alias with PUT and rolls it back with POST', async () => {
    makeRequest.mockImplementation(always({ alias: 'prod', version: 1 }));

    await leptonClient.setAlias('vision/resnet', 'prod', 3);
    expect(lastCall()).toMatchObject({
      url: 'registry/models/vision/resnet/aliases/prod',
      init: { method: 'PUT', body: '{"version":3}' }
    });

    await leptonClient.rollbackAlias('vision/resnet', 'prod');
    expect(lastCall()).toMatchObject({
      url: 'registry/models/vision/resnet/aliases/prod/rollback',
      init: { method: 'POST' }
    });
  });

  it('grants a role with POST and deletes a version with DELETE (a dry run in the query)', async () => {
    makeRequest.mockImplementation(always({}));

    await leptonClient.grantRole('vision', 'writer', {
      user: null,
      group: 'nlp team'
    });
    expect(lastCall()).toMatchObject({
      url: 'registry/namespaces/vision/grants',
      init: {
        method: 'POST',
        body: '{"role":"writer","user":null,"group":"nlp team"}'
      }
    });

    await leptonClient.deleteVersion('vision/resnet', 2, true);
    expect(lastCall()).toMatchObject({
      url: 'registry/models/vision/resnet/versions/2?dry_run=true',
      init: { method: 'DELETE' }
    });
    await leptonClient.deleteVersion('vision/resnet', 2);
    expect(lastCall()).toMatchObject({
      url: 'registry/models/vision/resnet/versions/2',
      init: { method: 'DELETE' }
    });
  });

  it('asks for lineage by ref, and for a rerun and its diff by run id', async () => {
    makeRequest.mockImplementation(always({}));

    await leptonClient.lineage('vision/resnet:2');
    expect(lastCall().url).toBe('registry/lineage?ref=vision%2Fresnet%3A2');

    await leptonClient.rerun('r1');
    expect(lastCall()).toMatchObject({
      url: 'runs/r1/rerun',
      init: { method: 'POST', body: '{"parameters":{}}' }
    });

    await leptonClient.runDiff('r2');
    expect(lastCall().url).toBe('runs/r2/diff');
  });

  it("rejects with the server's message", async () => {
    makeRequest.mockResolvedValue(
      answer(
        { message: "vision/resnet has no alias 'prd'. Did you mean 'prod'?" },
        404
      )
    );

    await expect(
      leptonClient.aliasHistory('vision/resnet', 'prd')
    ).rejects.toThrow("Did you mean 'prod'?");
  });
});

describe('roleRank', () => {
  it('orders the roles, no role lowest', () => {
    expect(roleRank(null)).toBe(0);
    expect(roleRank('reader')).toBeLessThan(roleRank('writer'));
    expect(roleRank('maintainer')).toBeLessThan(roleRank('admin'));
  });
});
