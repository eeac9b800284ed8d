/**
 * Command-palette commands for the main actions. Each takes its arguments
 * when given (e.g. from another extension) and asks for what is missing.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, InputDialog } from '@jupyterlab/apputils';

import { ILeptonClient } from './api';
import { leptonIcon } from './icon';
import { notifyError, notifySuccess } from './notify';
import { ILeptonSettings } from './settings';

export namespace CommandIDs {
  export const openSidebar = 'lepton:open-sidebar';
  export const refresh = 'lepton:refresh';
  export const attachDataset = 'lepton:attach-dataset';
  export const cancelJob = 'lepton:cancel-job';
  export const promote = 'lepton:promote';
  export const rollback = 'lepton:rollback';
  export const rerun = 'lepton:rerun';
}

export interface ICommandsOptions {
  client: ILeptonClient;
  settings: () => ILeptonSettings;
  /** Show the sidebar. */
  open: () => void;
  /** Reload the sidebar's panels after a command changed something. */
  refresh: () => void;
}

function arg(args: Record<string, unknown>, name: string): string | undefined {
  const value = args[name];
  return typeof value === 'string' && value ? value : undefined;
}

/** Ask for one of `items`; undefined when the user cancels. */
async function pick(
  title: string,
  items: string[],
  empty: string
): Promise<string | undefined> {
  if (items.length === 0) {
    notifyError(title, new Error(empty));
    return undefined;
  }
  const answer = await InputDialog.getItem({ title, items, current: 0 });
  return answer.button.accept && answer.value ? answer.value : undefined;
}

async function text(title: string, value = ''): Promise<string | undefined> {
  const answer = await InputDialog.getText({ title, text: value });
  return answer.button.accept && answer.value ? answer.value.trim() : undefined;
}

export function addCommands(
  app: JupyterFrontEnd,
  palette: ICommandPalette | null,
  options: ICommandsOptions
): void {
  const { client, refresh } = options;
  const { commands } = app;

  /** Run an action; its failure becomes a notification with the server's message. */
  const act = async (
    what: string,
    action: () => Promise<string | undefined>
  ) => {
    try {
      const done = await action();
      if (done) {
        notifySuccess(done);
        refresh();
      }
    } catch (error) {
      notifyError(`${what} failed`, error);
    }
  };

  commands.addCommand(CommandIDs.openSidebar, {
    label: 'Open Lepton sidebar',
    caption: 'Show the Lepton sidebar: datasets, jobs, models and runs',
    icon: args => (args.isPalette ? undefined : leptonIcon),
    execute: () => options.open()
  });

  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh Lepton sidebar',
    execute: () => {
      options.open();
      refresh();
    }
  });

  commands.addCommand(CommandIDs.attachDataset, {
    label: 'Attach a dataset…',
    caption: 'Attach a dataset of a DVC data registry, pinned to a version',
    execute: args =>
      act('Attaching the dataset', async () => {
        const url =
          arg(args, 'url') ??
          (await text(
            'Data registry (git URL or path)',
            options.settings().dataRegistries[0]
          ));
        if (!url) {
          return;
        }
        let path = arg(args, 'path');
        let rev = arg(args, 'rev');
        if (!path) {
          const listing = await client.browseDatasets(url);
          path = await pick(
            'Dataset',
            listing.datasets.map(d => d.path),
            `The data registry ${url} tracks no dataset.`
          );
          if (!path) {
            return;
          }
          const tags = listing.versions
            .filter(v => v.kind === 'tag')
            .map(v => v.name);
          rev = tags.length
            ? await pick('Version', tags.reverse(), '')
            : undefined;
        }
        const done = await client.attachDataset({
          url,
          path,
          rev,
          to: arg(args, 'to')
        });
        return `Attached ${done.path} at ${done.to}: ${done.files} files.`;
      })
  });

  commands.addCommand(CommandIDs.cancelJob, {
    label: 'Cancel a job…',
    execute: args =>
      act('Cancelling the job', async () => {
        const id =
          arg(args, 'id') ??
          (await pick(
            'Cancel which job?',
            (await client.jobs()).jobs
              .filter(
                j => !['succeeded', 'failed', 'cancelled'].includes(j.status)
              )
              .map(j => j.id),
            'No job is running.'
          ));
        if (!id) {
          return;
        }
        const job = await client.cancelJob(id);
        return `Cancelled job ${job.name} (${job.id}).`;
      })
  });

  const chooseModel = async (args: Record<string, unknown>) =>
    arg(args, 'name') ??
    (await pick(
      'Model',
      (await client.models()).map(m => m.name),
      'The registry has no models yet.'
    ));

  commands.addCommand(CommandIDs.promote, {
    label: 'Promote a model version…',
    caption: 'Point an alias (e.g. prod) at a version',
    execute: args =>
      act('Promoting', async () => {
        const name = await chooseModel(args);
        const alias =
          name && (arg(args, 'alias') ?? (await text('Alias', 'prod')));
        if (!name || !alias) {
          return;
        }
        const version =
          typeof args.version === 'number'
            ? String(args.version)
            : await pick(
                `Point @${alias} of ${name} at`,
                (await client.versions(name))
                  .map(v => String(v.version))
                  .reverse(),
                `${name} has no versions.`
              );
        if (!version) {
          return;
        }
        const moved = await client.setAlias(name, alias, Number(version));
        return `@${moved.alias} of ${name} now points at v${moved.version}.`;
      })
  });

  commands.addCommand(CommandIDs.rollback, {
    label: 'Roll back a model alias…',
    execute: args =>
      act('Rolling back', async () => {
        const name = await chooseModel(args);
        if (!name) {
          return;
        }
        const alias =
          arg(args, 'alias') ??
          (await pick(
            'Roll back which alias?',
            (await client.models()).flatMap(m =>
              m.name === name ? Object.keys(m.aliases) : []
            ),
            `${name} has no aliases.`
          ));
        if (!alias) {
          return;
        }
        const moved = await client.rollbackAlias(name, alias);
        return `@${moved.alias} of ${name} rolled back to v${moved.version}.`;
      })
  });

  commands.addCommand(CommandIDs.rerun, {
    label: 'Rerun a notebook run…',
    execute: args =>
      act('Rerunning', async () => {
        const id =
          arg(args, 'id') ??
          (await pick(
            'Rerun which run?',
            (await client.runs(50))
              .filter(r => r.status !== 'running')
              .map(r => r.id),
            'No run is recorded yet.'
          ));
        if (!id) {
          return;
        }
        const started = await client.rerun(id);
        return `Rerun ${started.id} of run ${id} started.`;
      })
  });

  for (const command of Object.values(CommandIDs)) {
    palette?.addItem({ command, category: 'Lepton' });
  }
}
