/**
 * The Lepton sidebar: a header (version, user, Refresh) above one section per
 * subsystem. The sections live in src/panels/, one component each.
 */
import * as React from 'react';
import { ReactWidget, refreshIcon } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';

import { IStatus } from './handler';
import { leptonIcon } from './icon';
import {
  DatasetsPanel,
  ILeptonContext,
  JobsPanel,
  ModelsPanel,
  RunsPanel,
  type SectionId,
  WideViewContext
} from './panels';
import { OnScreenContext } from './panels/common';
import { DEFAULT_SETTINGS, ILeptonSettings } from './settings';

export interface ILeptonSidebarProps {
  /** Fetches `/lepton/api/status`; injected so tests can stub the server. */
  fetchStatus: () => Promise<IStatus>;
  settings: ILeptonSettings;
  /** The client and the JupyterLab services the panels use. */
  context: ILeptonContext;
  /** Bumped by the "Refresh" command: every panel reloads. */
  refreshToken?: number;
  /** False while another left-area tab hides the sidebar: polling pauses. */
  onScreen?: boolean;
  /** Show only this section, wide (a main-area tab). */
  only?: SectionId;
}

type LoadState =
  | { kind: 'loading'; previous: IStatus | null }
  | { kind: 'ready'; status: IStatus }
  | { kind: 'error'; message: string };

/** The sidebar's content; it loads the status on mount and on Refresh. */
export function LeptonSidebar({
  fetchStatus,
  settings,
  context,
  refreshToken = 0,
  onScreen = true,
  only
}: ILeptonSidebarProps): React.ReactElement {
  // Refresh (button) reloads the status and, through this token, every panel.
  const [clicks, setClicks] = React.useState(0);
  const token = refreshToken + clicks;
  const [state, setState] = React.useState<LoadState>({
    kind: 'loading',
    previous: null
  });
  // Only the latest request may update the state: a slow answer to an
  // earlier Refresh must not overwrite a newer one.
  const latest = React.useRef(0);

  const refresh = React.useCallback(async (): Promise<void> => {
    const request = ++latest.current;
    setState(current => ({
      kind: 'loading',
      previous: current.kind === 'ready' ? current.status : null
    }));
    try {
      const status = await fetchStatus();
      if (request === latest.current) {
        setState({ kind: 'ready', status });
      }
    } catch (error) {
      if (request === latest.current) {
        const message = error instanceof Error ? error.message : String(error);
        setState({ kind: 'error', message });
      }
    }
  }, [fetchStatus]);

  React.useEffect(() => {
    void refresh();
  }, [refresh, token]);

  React.useEffect(() => {
    return () => {
      // Drop any answer that arrives after unmount.
      latest.current++;
    };
  }, [refresh]);

  const status =
    state.kind === 'ready'
      ? state.status
      : state.kind === 'loading'
        ? state.previous
        : null;
  const loading = state.kind === 'loading';
  const shared = {
    settings,
    context,
    refreshToken: token,
    protectedAliases: status?.protected_aliases ?? DEFAULT_PROTECTED_ALIASES,
    dataRegistries: status?.data_registries ?? []
  };
  const shown = (id: SectionId): boolean => !only || only === id;

  return (
    <OnScreenContext.Provider value={onScreen}>
      <WideViewContext.Provider
        value={{ wide: only !== undefined, openWide: context.openWide }}
      >
        <div className="lepton-sidebar-content" aria-busy={loading}>
          <header className="lepton-header">
            <h2 className="lepton-title">
              Lepton
              {status && (
                <span className="lepton-version">{status.version}</span>
              )}
            </h2>
            {status && (
              <p className="lepton-user">
                Signed in as{' '}
                <span className="lepton-user-name">{status.user}</span>
              </p>
            )}
            <button
              type="button"
              className="jp-Button lepton-refresh"
              aria-label="Refresh Lepton status"
              title="Refresh Lepton status"
              onClick={() => setClicks(c => c + 1)}
            >
              <refreshIcon.react tag="span" className="lepton-refresh-icon" />
              <span>Refresh</span>
            </button>
          </header>

          {loading && (
            <p className="lepton-loading" role="status">
              Loading Lepton status…
            </p>
          )}

          {state.kind === 'error' && (
            <div className="lepton-error" role="alert">
              {state.message}
            </div>
          )}

          {status && (
            <div className="lepton-sections">
              {shown('datasets') && (
                <DatasetsPanel status={status.services.datasets} {...shared} />
              )}
              {shown('jobs') && (
                <JobsPanel status={status.services.jobs} {...shared} />
              )}
              {shown('models') && (
                <ModelsPanel status={status.services.registry} {...shared} />
              )}
              {shown('runs') && (
                <RunsPanel status={status.services.runs} {...shared} />
              )}
            </div>
          )}
        </div>
      </WideViewContext.Provider>
    </OnScreenContext.Provider>
  );
}

/** What the server protects when it does not say (its `protected_aliases` default). */
const DEFAULT_PROTECTED_ALIASES = ['prod'];

export interface ILeptonSidebarWidgetOptions {
  fetchStatus: () => Promise<IStatus>;
  context: ILeptonContext;
  settings?: ILeptonSettings;
  /** A wide main-area tab of this one section instead of the whole sidebar. */
  only?: SectionId;
}

const SECTION_TITLES: Record<SectionId, string> = {
  datasets: 'Datasets',
  jobs: 'Jobs',
  models: 'Models',
  runs: 'Runs'
};

/** The Lumino widget that hosts {@link LeptonSidebar} in the left area. */
export class LeptonSidebarWidget extends ReactWidget {
  constructor(options: ILeptonSidebarWidgetOptions) {
    super();
    this._fetchStatus = options.fetchStatus;
    this._context = options.context;
    this._settings = options.settings ?? DEFAULT_SETTINGS;
    this._only = options.only;
    this.addClass('lepton-sidebar');
    this.title.icon = leptonIcon;
    if (this._only) {
      const label = `Lepton ${SECTION_TITLES[this._only]}`;
      this.id = `lepton-wide-${this._only}`;
      this.addClass('lepton-wide');
      this.title.label = label;
      this.title.caption = label;
      this.title.closable = true;
      this.node.setAttribute('aria-label', label);
    } else {
      this.id = 'lepton-sidebar';
      this.title.caption = 'Lepton';
      this.node.setAttribute('aria-label', 'Lepton');
    }
    this.node.setAttribute('role', 'region');
  }

  /** The user settings; setting them re-renders the sections. */
  get settings(): ILeptonSettings {
    return this._settings;
  }

  set settings(value: ILeptonSettings) {
    this._settings = value;
    this.update();
  }

  /** Shown again (its tab selected): polling resumes. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update();
  }

  /** Hidden behind another left-area tab: polling pauses. */
  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.update();
  }

  /** Reload the status and every panel. */
  refresh(): void {
    this._refreshToken++;
    this.update();
  }

  protected render(): React.ReactElement {
    return (
      <LeptonSidebar
        fetchStatus={this._fetchStatus}
        settings={this._settings}
        context={this._context}
        refreshToken={this._refreshToken}
        onScreen={this.isVisible}
        only={this._only}
      />
    );
  }

  private readonly _fetchStatus: () => Promise<IStatus>;
  private readonly _context: ILeptonContext;
  private _refreshToken = 0;
  private _settings: ILeptonSettings;
  private readonly _only: SectionId | undefined;
}
