import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { leptonClient } from './api';
import { addCommands } from './commands';
import { readSettings } from './settings';
import { runOutputView } from './output';
import type { ILeptonContext, SectionId } from './panels';
import { LeptonSidebarWidget } from './sidebar';

/** The plugin id; its settings schema is schema/plugin.json. */
const PLUGIN_ID = 'lepton-jupyter:plugin';

function activate(
  app: JupyterFrontEnd,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null,
  restorer: ILayoutRestorer | null
): void {
  let settings: ISettingRegistry.ISettings | null = null;
  // The sections opened as wide main-area tabs, one per section.
  const wide = new Map<SectionId, LeptonSidebarWidget>();

  const context: ILeptonContext = {
    client: leptonClient,
    serverRoot: PageConfig.getOption('serverRoot'),
    openFile: async path => {
      await app.commands.execute('docmanager:open', { path });
    },
    rememberDataRegistry: async url => {
      if (!settings) {
        return;
      }
      const others = readSettings(settings).dataRegistries.filter(
        known => known !== url
      );
      await settings.set('dataRegistries', [url, ...others]);
    },
    openRunOutput: async (runId, title) => {
      const view = await runOutputView(runId, title);
      const open = Array.from(app.shell.widgets('main')).find(
        w => w.id === view.id
      );
      open?.dispose();
      app.shell.add(view, 'main');
      app.shell.activateById(view.id);
    },
    openWide: id => {
      let tab = wide.get(id);
      if (!tab || tab.isDisposed) {
        tab = new LeptonSidebarWidget({
          fetchStatus: () => leptonClient.status(),
          context,
          settings: sidebar.settings,
          only: id
        });
        wide.set(id, tab);
        app.shell.add(tab, 'main');
      }
      app.shell.activateById(tab.id);
    }
  };
  const sidebar = new LeptonSidebarWidget({
    fetchStatus: () => leptonClient.status(),
    context
  });
  app.shell.add(sidebar, 'left', { rank: 850 });
  restorer?.add(sidebar, sidebar.id);

  addCommands(app, palette, {
    client: leptonClient,
    settings: () => sidebar.settings,
    open: () => app.shell.activateById(sidebar.id),
    refresh: () => sidebar.refresh()
  });

  if (settingRegistry) {
    settingRegistry
      .load(PLUGIN_ID)
      .then(loaded => {
        settings = loaded;
        const apply = (): void => {
          sidebar.settings = readSettings(loaded);
          wide.forEach(tab => {
            tab.settings = sidebar.settings;
          });
        };
        apply();
        loaded.changed.connect(apply);
      })
      .catch(reason => {
        console.warn(`Lepton: settings not loaded, using defaults: ${reason}`);
      });
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The Lepton sidebar: datasets, jobs, models and runs.',
  autoStart: true,
  optional: [ICommandPalette, ISettingRegistry, ILayoutRestorer],
  activate
};

export default plugin;
