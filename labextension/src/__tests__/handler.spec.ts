/**
 * requestAPI against a stubbed server: ServerConnection.makeRequest is mocked
 * with jest.spyOn, so no Jupyter server runs and the tests control exactly
 * what the "server" answers.
 */
import { ServerConnection } from '@jupyterlab/services';

import {
  IStatus,
  LeptonAPIError,
  requestAPI,
  SERVER_EXTENSION_MISSING,
  ServerExtensionMissingError
} from '../handler';

const settings = ServerConnection.makeSettings({
  baseUrl: 'http://localhost:8888/base/'
});

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

describe('requestAPI', () => {
  let makeRequest: jest.SpyInstance;

  beforeEach(() => {
    makeRequest = jest.spyOn(ServerConnection, 'makeRequest');
  });

  afterEach(() => {
    makeRequest.mockRestore();
  });

  it('calls /lepton/api/<endPoint> below the base URL and decodes the JSON', async () => {
    // Given a server whose status endpoint answers
    const status: IStatus = {
      version: '0.1.0',
      user: 'ada',
      services: {
        datasets: { configured: true, detail: 'cache /tmp/cache' },
        jobs: { configured: true, detail: 'job store' },
        registry: { configured: false, detail: 'no registry' },
        runs: { configured: true, detail: 'runs dir' }
      }
    };
    makeRequest.mockResolvedValue(jsonResponse(200, status));

    // When the client asks for it
    const answer = await requestAPI<IStatus>('status', {}, settings);

    // Then it hit the right URL and returned the typed body
    expect(makeRequest).toHaveBeenCalledWith(
      'http://localhost:8888/base/lepton/api/status',
      {},
      settings
    );
    expect(answer).toEqual(status);
  });

  it("maps an error answer to LeptonAPIError carrying the server's message", async () => {
    // Given the server rejects the request with its JSON error contract
    makeRequest.mockResolvedValue(
      jsonResponse(409, {
        message: 'Model "resnet" version 3 already exists',
        reason: 'Conflict'
      })
    );

    // When the client calls it
    const call = requestAPI('models', { method: 'POST' }, settings);

    // Then the error is a LeptonAPIError with the server's words
    await expect(call).rejects.toBeInstanceOf(LeptonAPIError);
    await expect(call).rejects.toMatchObject({
      message: 'Model "resnet" version 3 already exists',
      status: 409,
      reason: 'Conflict'
    });
  });

  it('keeps a domain 404 (with a JSON message) as a LeptonAPIError', async () => {
    makeRequest.mockResolvedValue(
      jsonResponse(404, { message: 'No dataset named "mnist"' })
    );

    const call = requestAPI('datasets/mnist', {}, settings);

    await expect(call).rejects.not.toBeInstanceOf(ServerExtensionMissingError);
    await expect(call).rejects.toMatchObject({
      message: 'No dataset named "mnist"',
      status: 404
    });
  });

  it('says the server extension is missing when status answers 404', async () => {
    // Given a Jupyter server without the lepton_jupyter extension: its own
    // HTML 404 page answers every /lepton/api path
    makeRequest.mockResolvedValue(
      new Response('<html><body>404 : Not Found</body></html>', {
        status: 404,
        statusText: 'Not Found',
        headers: { 'Content-Type': 'text/html' }
      })
    );

    // When the sidebar asks for the status
    const call = requestAPI('status', {}, settings);

    // Then the user is told how to enable the extension
    await expect(call).rejects.toBeInstanceOf(ServerExtensionMissingError);
    await expect(call).rejects.toThrow(SERVER_EXTENSION_MISSING);
    await expect(call).rejects.toThrow(
      'jupyter server extension enable lepton_jupyter'
    );
  });

  it('says the server extension is missing when the request cannot be sent', async () => {
    makeRequest.mockRejectedValue(
      new ServerConnection.NetworkError(new TypeError('Failed to fetch'))
    );

    const call = requestAPI('status', {}, settings);

    await expect(call).rejects.toBeInstanceOf(ServerExtensionMissingError);
    await expect(call).rejects.toThrow(/not installed or not enabled/);
  });
});
