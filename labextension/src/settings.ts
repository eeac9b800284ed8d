/**
 * The user settings of the Lepton sidebar (schema/plugin.json), read into a
 * typed object that tolerates a missing settings registry.
 */
import { ISettingRegistry } from '@jupyterlab/settingregistry';

export interface ILeptonSettings {
  /** A shared model registry service; empty for the server's local registry. */
  registryUrl: string;
  /** DVC repositories whose datasets the sidebar lists. */
  dataRegistries: string[];
  /** The shared DVC cache directory; empty for the server's default. */
  dataCache: string;
}

export const DEFAULT_SETTINGS: Readonly<ILeptonSettings> = Object.freeze({
  registryUrl: '',
  dataRegistries: [],
  dataCache: ''
});

/**
 * The settings as typed values; anything missing or of the wrong type falls
 * back to its default, and `null` (no settings registry) gives the defaults.
 */
export function readSettings(
  settings: ISettingRegistry.ISettings | null
): ILeptonSettings {
  const composite = settings?.composite ?? {};
  const registries = composite.dataRegistries;
  return {
    registryUrl: asString(composite.registryUrl),
    dataRegistries: Array.isArray(registries)
      ? registries.filter((item): item is string => typeof item === 'string')
      : [],
    dataCache: asString(composite.dataCache)
  };
}

function asString(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
