/**
 * The sidebar rendered with a stubbed status fetcher: no server, no network.
 */
import * as React from 'react';
import { act, fireEvent, render, screen } from '@testing-library/react';

import { IStatus, ServerExtensionMissingError } from '../handler';
import { DEFAULT_SETTINGS } from '../settings';
import { LeptonSidebar } from '../sidebar';
import { stubClient, stubContext } from './stubs';

/** Panels that load nothing: every list the sidebar asks for is empty. */
function emptyContext() {
  const empty = jest.fn().mockResolvedValue([]);
  return stubContext(
    stubClient({
      attachedDatasets: empty,
      jobs: jest.fn().mockResolvedValue({ jobs: [], total: 0 }),
      models: empty,
      runs: empty
    })
  );
}

const STATUS: IStatus = {
  version: '0.1.0',
  user: 'ada',
  services: {
    datasets: { configured: true, detail: 'shared cache /srv/dvc-cache' },
    jobs: { configured: true, detail: 'job store /srv/jobs.db' },
    registry: { configured: false, detail: 'no registry service' },
    runs: { configured: true, detail: 'runs in /srv/state/runs' }
  }
};

describe('LeptonSidebar', () => {
  it('shows the version, the user and the four sections once loaded', async () => {
    // Given a server that reports its status
    const fetchStatus = jest.fn().mockResolvedValue(STATUS);

    // When the sidebar renders
    const { container } = render(
      <LeptonSidebar
        fetchStatus={fetchStatus}
        settings={DEFAULT_SETTINGS}
        context={emptyContext()}
      />
    );
    expect(screen.getByRole('status')).toHaveProperty(
      'textContent',
      'Loading Lepton status…'
    );
    await screen.findByText('0.1.0');

    // Then the header and every section show what the server said
    expect(container.querySelector('.lepton-version')?.textContent).toBe(
      '0.1.0'
    );
    expect(container.querySelector('.lepton-user-name')?.textContent).toBe(
      'ada'
    );
    for (const id of ['datasets', 'jobs', 'models', 'runs']) {
      expect(
        container.querySelector(`[data-lepton-section="${id}"]`)
      ).not.toBeNull();
    }
    const models = container.querySelector('[data-lepton-section="models"]');
    expect(models?.textContent).toContain('Not configured');
    expect(models?.textContent).toContain('no registry service');
    expect(container.querySelector('.lepton-error')).toBeNull();
  });

  it('opens a section as a wide tab, which shows only that section', async () => {
    // Given the sidebar where JupyterLab can open main-area tabs
    const fetchStatus = jest.fn().mockResolvedValue(STATUS);
    const context = { ...emptyContext(), openWide: jest.fn() };
    const { unmount } = render(
      <LeptonSidebar
        fetchStatus={fetchStatus}
        settings={DEFAULT_SETTINGS}
        context={context}
      />
    );
    // When the user clicks the Runs heading's "open in a tab" button
    fireEvent.click(
      await screen.findByRole('button', { name: 'Open Runs in a tab' })
    );
    expect(context.openWide).toHaveBeenCalledWith('runs');
    unmount();
    // Then the tab renders the Runs section alone, with no button to open it again
    const { container } = render(
      <LeptonSidebar
        fetchStatus={fetchStatus}
        settings={DEFAULT_SETTINGS}
        context={context}
        only="runs"
      />
    );
    await screen.findByText('Runs');
    expect(
      Array.from(container.querySelectorAll('[data-lepton-section]')).map(s =>
        s.getAttribute('data-lepton-section')
      )
    ).toEqual(['runs']);
    expect(screen.queryByRole('button', { name: /in a tab/ })).toBeNull();
  });

  it('starts the Datasets panel on the data registry the server is configured with', async () => {
    // Given a server whose lepton.json names a data registry, and no remembered one
    const fetchStatus = jest.fn().mockResolvedValue({
      ...STATUS,
      data_registries: ['/srv/data-registry']
    });
    render(
      <LeptonSidebar
        fetchStatus={fetchStatus}
        settings={DEFAULT_SETTINGS}
        context={emptyContext()}
      />
    );
    // Then the registry field holds it, ready to browse
    const field = await screen.findByLabelText('Data registry');
    expect((field as HTMLInputElement).value).toBe('/srv/data-registry');
  });

  it('collapses a section from its heading button', async () => {
    const fetchStatus = jest.fn().mockResolvedValue(STATUS);
    render(
      <LeptonSidebar
        fetchStatus={fetchStatus}
        settings={DEFAULT_SETTINGS}
        context={emptyContext()}
      />
    );
    const toggle = await screen.findByRole('button', { name: 'Jobs' });
    expect(toggle.getAttribute('aria-expanded')).toBe('true');

    fireEvent.click(toggle);

    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    const body = document.getElementById(
      toggle.getAttribute('aria-controls') ?? ''
    );
    expect(body?.hidden).toBe(true);
  });

  it('shows the missing-extension message, and recovers on Refresh', async () => {
    // Given a server without the extension at first
    const fetchStatus = jest
      .fn()
      .mockRejectedValueOnce(new ServerExtensionMissingError(404))
      .mockResolvedValueOnce(STATUS);
    const { container } = render(
      <LeptonSidebar
        fetchStatus={fetchStatus}
        settings={DEFAULT_SETTINGS}
        context={emptyContext()}
      />
    );

    // Then the error names the command that fixes it
    const alert = await screen.findByRole('alert');
    expect(alert.classList.contains('lepton-error')).toBe(true);
    expect(alert.textContent).toContain(
      'jupyter server extension enable lepton_jupyter'
    );

    // When the user presses Refresh after enabling it
    await act(async () => {
      fireEvent.click(
        screen.getByRole('button', { name: 'Refresh Lepton status' })
      );
    });

    // Then the sidebar loads
    await screen.findByText('0.1.0');
    expect(container.querySelector('.lepton-error')).toBeNull();
    expect(fetchStatus).toHaveBeenCalledTimes(2);
  });

  it('lists the user settings that apply to a section', async () => {
    const fetchStatus = jest.fn().mockResolvedValue(STATUS);
    const { container } = render(
      <LeptonSidebar
        fetchStatus={fetchStatus}
        settings={{
          registryUrl: 'https://models.example.org',
          dataRegistries: ['git@example.org:data.git'],
          dataCache: ''
        }}
        context={emptyContext()}
      />
    );
    await screen.findByText('0.1.0');

    const models = container.querySelector('[data-lepton-section="models"]');
    expect(models?.textContent).toContain('https://models.example.org');
    const datasets = container.querySelector(
      '[data-lepton-section="datasets"]'
    );
    expect(
      (datasets?.querySelector('.lepton-registry-url') as HTMLInputElement)
        .value
    ).toBe('git@example.org:data.git');
    expect(datasets?.textContent).not.toContain('Shared data cache');
  });
});
