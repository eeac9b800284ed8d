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

  const sidebar = new LeptonSidebarWidget({
    fetchStatus: () => leptonClient.status(),
    context: {
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
      }
    }
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
