/**
 * The typed client of the lepton_jupyter server extension (`/lepton/api/...`).
 *
 * Every call goes through {@link requestAPI}, so authentication (token, XSRF),
 * the base URL and the error contract live in one place.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * What the user sees when the frontend is installed but the server extension
 * is not answering.
 */
export const SERVER_EXTENSION_MISSING =
  'The lepton_jupyter server extension is not installed or not enabled: ' +
  'run `jupyter server extension enable lepton_jupyter` and restart JupyterLab.';

/**
 * An error answered by the server extension.
 *
 * The server answers every error as `{"message": ..., "reason": ...}`;
 * `message` is meant for the user and becomes the error's message.
 */
export class LeptonAPIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason = ''
  ) {
    super(message);
    this.name = 'LeptonAPIError';
  }
}

/**
 * The server extension did not answer at all: it is not installed, not
 * enabled, or the Jupyter server cannot be reached.
 */
export class ServerExtensionMissingError extends LeptonAPIError {
  constructor(
    status: number,
    readonly detail = ''
  ) {
    super(
      detail
        ? `${SERVER_EXTENSION_MISSING} (${detail})`
        : SERVER_EXTENSION_MISSING,
      status
    );
    this.name = 'ServerExtensionMissingError';
  }
}

/** One subsystem's line in `GET /lepton/api/status`. */
export interface IServiceStatus {
  /** Whether the subsystem has what it needs to work. */
  configured: boolean;
  /** A one-line human description (where data lives, which service is used). */
  detail: string;
}

/** The subsystems `GET /lepton/api/status` reports on. */
export type ServiceName = 'datasets' | 'jobs' | 'registry' | 'runs';

/** The body of `GET /lepton/api/status`. */
export interface IStatus {
  /** The lepton_jupyter package version running on the server. */
  version: string;
  /** The Jupyter user the server sees. */
  user: string;
  services: Record<ServiceName, IServiceStatus>;
  /** Aliases only a maintainer may move; absent from servers before 0.1. */
  protected_aliases?: string[];
  /** The configured data registry URLs (the Datasets panel starts on the first). */
  data_registries?: string[];
}

/** The JSON body of an error answered by the server extension. */
interface IErrorBody {
  message?: unknown;
  reason?: unknown;
}

/**
 * Call the lepton_jupyter REST API.
 *
 * @param endPoint - the path below `/lepton/api/`, e.g. `status`.
 * @param init - the fetch options (method, body, headers).
 * @param settings - the server connection; the page's by default.
 * @returns the decoded JSON body, or `undefined` for an empty body (204).
 * @throws {ServerExtensionMissingError} when the server extension does not answer.
 * @throws {LeptonAPIError} with the server's message for any other non-OK answer.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const text = await requestText(endPoint, init, settings);
  const data = parseJSON(text);
  if (text && data === undefined) {
    throw new LeptonAPIError(
      `The server answered ${endPoint} with a body that is not JSON.`,
      200
    );
  }
  return data as T;
}

/**
 * Call the lepton_jupyter REST API for a body that is not JSON (a page); errors
 * as {@link requestAPI}'s.
 */
export async function requestText(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<string> {
  const url = URLExt.join(settings.baseUrl, 'lepton', 'api', endPoint);

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerExtensionMissingError(0, describe(error));
  }

  const text = await response.text();
  const data = parseJSON(text);

  if (!response.ok) {
    const body = isErrorBody(data) ? data : undefined;
    const message =
      typeof body?.message === 'string' ? body.message : undefined;
    // A 404 without our JSON error body comes from Jupyter Server itself: no
    // handler is registered under /lepton/api, so the extension is not loaded.
    if (response.status === 404 && (endPoint === 'status' || !message)) {
      throw new ServerExtensionMissingError(404);
    }
    throw new LeptonAPIError(
      message ?? (response.statusText || `HTTP ${response.status}`),
      response.status,
      typeof body?.reason === 'string' ? body.reason : ''
    );
  }
  return text;
}

/** The server's version, user and per-service status. */
export function getStatus(): Promise<IStatus> {
  return requestAPI<IStatus>('status');
}

function parseJSON(text: string): unknown {
  if (!text) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isErrorBody(data: unknown): data is IErrorBody {
  return typeof data === 'object' && data !== null;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
