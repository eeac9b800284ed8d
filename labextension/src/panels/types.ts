import { ILeptonClient } from '../api';
import { IServiceStatus } from '../handler';
import { ILeptonSettings } from '../settings';
import type { SectionId } from './Section';

/** What the panels need from JupyterLab and the server, injected so tests can stub it. */
export interface ILeptonContext {
  client: ILeptonClient;
  /** Open a file (path relative to the server root) in JupyterLab. */
  openFile(path: string): Promise<void>;
  /** Remember a data registry URL in the user settings (first in the list). */
  rememberDataRegistry(url: string): Promise<void>;
  /** The server root, to turn absolute server paths into JupyterLab paths. */
  serverRoot: string;
  /** Show a run's output notebook read-only in a main-area tab. */
  openRunOutput(runId: string, title: string): Promise<void>;
  /** Open a section as a wide main-area tab; absent where there is no main area. */
  openWide?: (id: SectionId) => void;
}

/** What every section panel receives from the sidebar. */
export interface IPanelProps {
  /** The section's service line from `/lepton/api/status`, if reported. */
  status: IServiceStatus | undefined;
  settings: ILeptonSettings;
  context: ILeptonContext;
  /** Changes whenever the user asks for a refresh (button or command). */
  refreshToken: number;
  /** Aliases that need the maintainer role to move (from `/lepton/api/status`). */
  protectedAliases: string[];
  /** The data registries the server is configured with (from `/lepton/api/status`). */
  dataRegistries?: string[];
}
