/**
 * The palette commands with a real Lumino command registry and a stubbed
 * client: given their arguments they act at once; a refusal becomes a
 * notification with the server's message.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { CommandRegistry } from '@lumino/commands';

import { ILeptonClient } from '../api';
import { addCommands, CommandIDs } from '../commands';
import { LeptonAPIError } from '../handler';
import { DEFAULT_SETTINGS } from '../settings';
import { spyOnNotifications } from './fixtures';
import { stubClient } from './stubs';

function setUp(answers: Parameters<typeof stubClient>[0]) {
  const commands = new CommandRegistry();
  const client = stubClient(answers);
  const refresh = jest.fn();
  const open = jest.fn();
  addCommands({ commands } as unknown as JupyterFrontEnd, null, {
    client: client as unknown as ILeptonClient,
    settings: () => DEFAULT_SETTINGS,
    open,
    refresh
  });
  return { commands, client, refresh, open };
}

describe('palette commands', () => {
  const notify = spyOnNotifications();

  it('registers every main action', () => {
    const { commands } = setUp({});
    for (const id of Object.values(CommandIDs)) {
      expect(commands.hasCommand(id)).toBe(true);
    }
    expect(commands.label(CommandIDs.promote)).toBe('Promote a model version…');
  });

  it('rolls an alias back and refreshes the sidebar', async () => {
    const { commands, client, refresh } = setUp({
      rollbackAlias: jest.fn().mockResolvedValue({ alias: 'prod', version: 1 })
    });

    await commands.execute(CommandIDs.rollback, {
      name: 'vision/resnet',
      alias: 'prod'
    });

    expect(client.rollbackAlias).toHaveBeenCalledWith('vision/resnet', 'prod');
    expect(notify.success).toHaveBeenCalledWith(
      '@prod of vision/resnet rolled back to v1.',
      expect.anything()
    );
    expect(refresh).toHaveBeenCalled();
  });

  it("shows a refused rerun with the server's message", async () => {
    const { commands, refresh } = setUp({
      rerun: jest
        .fn()
        .mockRejectedValue(
          new LeptonAPIError("No run 'r-9'. Did you mean 'r-8'?", 404)
        )
    });

    await commands.execute(CommandIDs.rerun, { id: 'r-9' });

    expect(notify.error).toHaveBeenCalledWith(
      "Rerunning failed: No run 'r-9'. Did you mean 'r-8'?",
      expect.anything()
    );
    expect(refresh).not.toHaveBeenCalled();
  });

  it('attaches with the given arguments', async () => {
    const { commands, client } = setUp({
      attachDataset: jest
        .fn()
        .mockResolvedValue({ path: 'datasets/points', to: 'points', files: 2 })
    });

    await commands.execute(CommandIDs.attachDataset, {
      url: '/srv/registry',
      path: 'datasets/points',
      rev: 'v2'
    });

    expect(client.attachDataset).toHaveBeenCalledWith({
      url: '/srv/registry',
      path: 'datasets/points',
      rev: 'v2',
      to: undefined
    });
  });
});
