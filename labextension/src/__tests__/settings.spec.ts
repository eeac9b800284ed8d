import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { DEFAULT_SETTINGS, readSettings } from '../settings';

function fakeSettings(
  composite: Record<string, unknown>
): ISettingRegistry.ISettings {
  return { composite } as unknown as ISettingRegistry.ISettings;
}

describe('readSettings', () => {
  it('gives the defaults without a settings registry', () => {
    expect(readSettings(null)).toEqual(DEFAULT_SETTINGS);
  });

  it('keeps well-typed values and drops the rest', () => {
    const settings = readSettings(
      fakeSettings({
        registryUrl: 'https://models.example.org',
        dataRegistries: ['/srv/data-registry', 42],
        dataCache: null
      })
    );
    expect(settings).toEqual({
      registryUrl: 'https://models.example.org',
      dataRegistries: ['/srv/data-registry'],
      dataCache: ''
    });
  });
});
