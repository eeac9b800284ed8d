import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { getStatus } from './handler';
import { leptonIcon } from './icon';
import { readSettings } from './settings';
import { LeptonSidebarWidget } from './sidebar';

/** The plugin id; its settings schema is schema/plugin.json. */
const PLUGIN_ID = 'lepton-jupyter:plugin';

namespace CommandIDs {
  export const openSidebar = 'lepton:open-sidebar';
}

function activate(
  app: JupyterFrontEnd,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null,
  restorer: ILayoutRestorer | null
): void {
  const sidebar = new LeptonSidebarWidget({ fetchStatus: getStatus });
  app.shell.add(sidebar, 'left', { rank: 850 });
  restorer?.add(sidebar, sidebar.id);

  app.commands.addCommand(CommandIDs.openSidebar, {
    label: 'Open Lepton sidebar',
    caption: 'Show the Lepton sidebar: datasets, jobs, models and runs',
    icon: args => (args.isPalette ? undefined : leptonIcon),
    execute: () => {
      app.shell.activateById(sidebar.id);
    }
  });
  palette?.addItem({ command: CommandIDs.openSidebar, category: 'Lepton' });

  if (settingRegistry) {
    settingRegistry
      .load(PLUGIN_ID)
      .then(settings => {
        const apply = (): void => {
          sidebar.settings = readSettings(settings);
        };
        apply();
        settings.changed.connect(apply);
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
