import * as React from 'react';

import {
  IAttachedDataset,
  IAttachProgress,
  ILeptonClient,
  IRegistryDataset,
  IRegistryListing
} from '../api';
import { formatBytes, shortHash } from '../format';
import { notifyError, notifySuccess } from '../notify';
import { ActionButton, LoadState, useLoader, usePoll } from './common';
import { Section } from './Section';
import { ServiceStatusLine } from './ServiceStatusLine';
import { SettingsList } from './SettingsList';
import { IPanelProps } from './types';

/**
 * A data registry's datasets and versions, attach (pinned to a version), and
 * the datasets attached in the workspace with update and detach.
 */
export function DatasetsPanel({
  status,
  settings,
  context,
  refreshToken,
  dataRegistries = []
}: IPanelProps): React.ReactElement {
  const { client } = context;
  // The user's last registry, else the first one the server is configured with.
  const remembered = settings.dataRegistries[0] ?? dataRegistries[0] ?? '';
  const [url, setUrl] = React.useState(remembered);
  const [listing, setListing] = React.useState<IRegistryListing | null>(null);
  const [browsing, setBrowsing] = React.useState(false);
  const [browseError, setBrowseError] = React.useState('');
  const [attached, reloadAttached] = useLoader(
    () => client.attachedDatasets(),
    [client, refreshToken]
  );

  // The settings arrive after the first render: take the remembered URL then.
  React.useEffect(() => {
    setUrl(current => current || remembered);
  }, [remembered]);

  const browse = async (event?: React.FormEvent): Promise<void> => {
    event?.preventDefault();
    const target = url.trim();
    if (!target) {
      setBrowseError('Enter the URL or path of a DVC data registry.');
      return;
    }
    setBrowsing(true);
    setBrowseError('');
    try {
      setListing(await client.browseDatasets(target));
      if (target !== remembered) {
        await context.rememberDataRegistry(target);
      }
    } catch (error) {
      setListing(null);
      setBrowseError(notifyError('Browsing the data registry failed', error));
    } finally {
      setBrowsing(false);
    }
  };

  return (
    <Section id="datasets" title="Datasets">
      <ServiceStatusLine status={status} />
      <SettingsList items={[['Shared data cache', settings.dataCache]]} />
      <form className="lepton-form lepton-browse" onSubmit={browse}>
        <label className="lepton-label" htmlFor="lepton-data-registry-url">
          Data registry
        </label>
        <div className="lepton-row">
          <input
            id="lepton-data-registry-url"
            className="jp-mod-styled lepton-input lepton-registry-url"
            type="text"
            placeholder="git URL or path of a DVC data registry"
            value={url}
            onChange={event => setUrl(event.target.value)}
          />
          <button
            type="submit"
            className="jp-Button lepton-button lepton-browse-button"
            disabled={browsing}
            aria-busy={browsing}
          >
            {browsing ? 'Browsing…' : 'Browse'}
          </button>
        </div>
      </form>
      {browsing && (
        <p className="lepton-loading" role="status">
          Reading the data registry…
        </p>
      )}
      {browseError && (
        <p className="lepton-error" role="alert">
          {browseError}
        </p>
      )}
      {listing && (
        <RegistryDatasets
          listing={listing}
          client={client}
          onAttach={async (dataset, rev) => {
            try {
              const done = await client.attachDataset({
                url: listing.url,
                path: dataset.path,
                rev: rev || null
              });
              notifySuccess(
                `Attached ${done.path}@${done.rev ?? shortHash(done.commit)} at ${done.to}: ` +
                  `${done.files} files, ${formatBytes(done.bytes)}.`
              );
              await reloadAttached();
            } catch (error) {
              notifyError(`Attaching ${dataset.path} failed`, error);
            }
          }}
        />
      )}

      <h4 className="lepton-subheading">Attached in this workspace</h4>
      <LoadState
        state={attached}
        what="attached datasets"
        isEmpty={items => items.length === 0}
        empty="No dataset is attached here yet: browse a data registry and attach one."
      >
        {items => (
          <ul
            className="lepton-list lepton-attached"
            aria-label="Attached datasets"
          >
            {items.map(item => (
              <AttachedItem
                key={item.to}
                item={item}
                onUpdate={async () => {
                  try {
                    const done = await client.updateDataset(
                      item.to,
                      item.newer_tag
                    );
                    notifySuccess(
                      `Updated ${done.to} to ${done.rev ?? shortHash(done.commit)}.`
                    );
                    await reloadAttached();
                  } catch (error) {
                    notifyError(`Updating ${item.to} failed`, error);
                  }
                }}
                onDetach={async () => {
                  try {
                    await client.detachDataset(item.to);
                    notifySuccess(`Detached ${item.to}.`);
                    await reloadAttached();
                  } catch (error) {
                    notifyError(`Detaching ${item.to} failed`, error);
                  }
                }}
              />
            ))}
          </ul>
        )}
      </LoadState>
    </Section>
  );
}

/** How often the attach progress is polled while an attach runs, in ms. */
export const ATTACH_PROGRESS_POLL_MS = 300;

/**
 * Where the server puts an attach without `to`: the dataset's folder name
 * (lepton_jupyter/datasets/service.py `default_destination`).
 */
export function defaultDestination(path: string): string {
  const parts = path
    .trim()
    .replace(/^\/+|\/+$/g, '')
    .split('/');
  return parts[parts.length - 1];
}

/**
 * While `active` (an attach to `to` is pending), poll `GET datasets/progress`
 * every `ms` and return the latest event for `to`; null before the first one.
 * Polling stops when `active` turns false or on unmount; a failed poll is
 * ignored (the next one tries again) and a late answer is dropped.
 */
export function useAttachProgress(
  client: ILeptonClient,
  to: string,
  active: boolean,
  ms: number = ATTACH_PROGRESS_POLL_MS
): IAttachProgress | null {
  const [progress, setProgress] = React.useState<IAttachProgress | null>(null);
  const live = React.useRef(false);
  const inFlight = React.useRef(false);

  React.useEffect(() => {
    live.current = active;
    setProgress(null);
    return () => {
      live.current = false;
    };
  }, [active, to]);

  usePoll(
    () => {
      if (inFlight.current) {
        return;
      }
      inFlight.current = true;
      client
        .attachProgress()
        .then(entries => {
          const entry = entries.find(e => e.to === to);
          if (live.current && entry) {
            setProgress(entry);
          }
        })
        .catch(() => undefined)
        .finally(() => {
          inFlight.current = false;
        });
    },
    ms,
    active
  );

  return active ? progress : null;
}

/** `link: 312 / 600 files, 3.1 MiB / 6.1 MiB`. */
export function formatAttachProgress(progress: IAttachProgress): string {
  if (progress.files_total <= 0 && progress.bytes_total <= 0) {
    return `${progress.phase}…`;
  }
  return (
    `${progress.phase}: ${progress.files_done} / ${progress.files_total} files, ` +
    `${formatBytes(progress.bytes_done)} / ${formatBytes(progress.bytes_total)}`
  );
}

/** A determinate bar and a text line for one attach's latest progress event. */
export function AttachProgressView({
  progress
}: {
  progress: IAttachProgress;
}): React.ReactElement {
  const counted = progress.files_total > 0;
  return (
    <>
      <progress
        className="lepton-attach-progress"
        aria-label="Attach progress"
        value={counted ? progress.files_done : undefined}
        max={counted ? progress.files_total : undefined}
      />
      <span className="lepton-attach-progress-text">
        {formatAttachProgress(progress)}
      </span>
    </>
  );
}

function RegistryDatasets({
  listing,
  client,
  onAttach
}: {
  listing: IRegistryListing;
  client: ILeptonClient;
  onAttach: (dataset: IRegistryDataset, rev: string) => Promise<void>;
}): React.ReactElement {
  if (listing.datasets.length === 0) {
    return (
      <p className="lepton-empty">
        This data registry tracks no dataset at{' '}
        {listing.rev ?? 'its default branch'}.
      </p>
    );
  }
  return (
    <ul
      className="lepton-list lepton-registry-datasets"
      aria-label="Registry datasets"
    >
      {listing.datasets.map(dataset => (
        <RegistryDatasetItem
          key={dataset.path}
          dataset={dataset}
          listing={listing}
          client={client}
          onAttach={onAttach}
        />
      ))}
    </ul>
  );
}

function RegistryDatasetItem({
  dataset,
  listing,
  client,
  onAttach
}: {
  dataset: IRegistryDataset;
  listing: IRegistryListing;
  client: ILeptonClient;
  onAttach: (dataset: IRegistryDataset, rev: string) => Promise<void>;
}): React.ReactElement {
  const tags = listing.versions.filter(v => v.kind === 'tag');
  const [rev, setRev] = React.useState(
    tags.length ? tags[tags.length - 1].name : ''
  );
  const [attaching, setAttaching] = React.useState(false);
  const progress = useAttachProgress(
    client,
    defaultDestination(dataset.path),
    attaching
  );
  const selectId = React.useId();
  const size = `${dataset.files ?? '?'} files, ${formatBytes(dataset.size)}`;
  return (
    <li
      className="lepton-item lepton-registry-dataset"
      data-path={dataset.path}
    >
      <div className="lepton-item-title">{dataset.path}</div>
      {dataset.description && (
        <div className="lepton-item-detail">{dataset.description}</div>
      )}
      <div className="lepton-item-detail">
        {size} at {listing.rev ?? 'default branch'} ({shortHash(listing.commit)}
        )
      </div>
      <div className="lepton-row">
        <label htmlFor={selectId} className="lepton-label">
          Version
        </label>
        <select
          id={selectId}
          className="jp-mod-styled lepton-version-select"
          value={rev}
          onChange={event => setRev(event.target.value)}
        >
          <option value="">default branch</option>
          {listing.versions.map(v => (
            <option key={`${v.kind}:${v.name}`} value={v.name}>
              {v.name} ({v.kind}, {shortHash(v.commit)})
            </option>
          ))}
        </select>
        <ActionButton
          label="Attach"
          busyLabel="Attaching…"
          className="lepton-attach"
          onClick={async () => {
            setAttaching(true);
            try {
              await onAttach(dataset, rev);
            } finally {
              setAttaching(false);
            }
          }}
        />
      </div>
      {attaching && (
        <div className="lepton-progress" role="status" aria-live="polite">
          {progress ? (
            <AttachProgressView progress={progress} />
          ) : (
            <progress aria-label={`Attaching ${dataset.path}`} />
          )}
          <span>
            Attaching {dataset.path}@{rev || 'default branch'}: {size}…
          </span>
        </div>
      )}
    </li>
  );
}

function AttachedItem({
  item,
  onUpdate,
  onDetach
}: {
  item: IAttachedDataset;
  onUpdate: () => Promise<void>;
  onDetach: () => Promise<void>;
}): React.ReactElement {
  return (
    <li className="lepton-item lepton-attached-dataset" data-to={item.to}>
      <div className="lepton-item-title">{item.to}</div>
      <div className="lepton-item-detail">
        {item.path}@{item.rev ?? 'default branch'} · commit{' '}
        <code>{shortHash(item.commit)}</code> · {item.files} files,{' '}
        {formatBytes(item.bytes)}
      </div>
      {item.newer_tag && (
        <div className="lepton-newer" role="note">
          Newer version available: {item.newer_tag}
        </div>
      )}
      <div className="lepton-row">
        <ActionButton
          label={item.newer_tag ? `Update to ${item.newer_tag}` : 'Update'}
          busyLabel="Updating…"
          className="lepton-update"
          onClick={onUpdate}
        />
        <ActionButton
          label="Detach"
          busyLabel="Detaching…"
          className="lepton-detach"
          onClick={onDetach}
        />
      </div>
    </li>
  );
}
