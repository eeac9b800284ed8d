import * as React from 'react';

import { IRunDiff, IRunManifest } from '../api';
import { formatTime, formatValue, shortHash } from '../format';
import { notifyError, notifySuccess } from '../notify';
import { StatusBadge } from './JobsPanel';
import {
  ActionButton,
  LoadState,
  PathText,
  SelectableList,
  useLoader,
  usePoll,
  valueOf
} from './common';
import { RunsTable } from './RunsTable';
import { Section, useWide } from './Section';
import { SeriesView } from './SeriesView';
import { ServiceStatusLine } from './ServiceStatusLine';
import { IPanelProps } from './types';

export const RUN_POLL_MS = 2000;

/** `/root/a/b.ipynb` relative to server root `/root` -> `a/b.ipynb`; null when outside it. */
export function relativeToRoot(
  path: string,
  serverRoot: string
): string | null {
  if (!serverRoot) {
    return path.startsWith('/') ? null : path;
  }
  const root = serverRoot.replace(/\/+$/, '');
  if (path === root) {
    return '';
  }
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : null;
}

function baseName(path: string): string {
  return path.split('/').pop() ?? path;
}

/** Recorded notebook runs: status, open the output, rerun, and the diff of a rerun. */
export function RunsPanel({
  status,
  context,
  refreshToken
}: IPanelProps): React.ReactElement {
  const { client } = context;
  const [runs, reloadRuns] = useLoader(
    () => client.runs(50),
    [client, refreshToken]
  );
  const [selected, setSelected] = React.useState<string | null>(null);
  const list = valueOf(runs) ?? [];
  usePoll(
    () => void reloadRuns(),
    RUN_POLL_MS,
    list.some(r => r.status === 'running')
  );
  const run = list.find(r => r.id === selected) ?? null;
  const wide = useWide();

  return (
    <Section id="runs" title="Runs">
      <ServiceStatusLine status={status} />
      <LoadState
        state={runs}
        what="runs"
        isEmpty={items => items.length === 0}
        empty={
          <>
            No runs recorded yet: run a notebook with{' '}
            <code>papermill --engine lepton</code>.
          </>
        }
      >
        {items =>
          wide ? (
            <RunsTable
              runs={items}
              selected={selected}
              onSelect={setSelected}
            />
          ) : (
            <SelectableList
              items={items}
              selected={selected}
              onSelect={setSelected}
              getKey={item => item.id}
              getLabel={item => `run ${item.id} ${item.status}`}
              className="lepton-list lepton-runs"
              itemClassName="lepton-run"
              label="Runs"
            >
              {item => (
                <>
                  <span className="lepton-item-title">
                    {baseName(item.notebook.path)}
                  </span>{' '}
                  <StatusBadge status={item.status} />
                  <div className="lepton-item-detail">
                    {item.id}
                    {item.rerun_of &&
                      ` · ${item.rerun_mode ?? 'apply'} rerun of ${item.rerun_of}`}
                    {item.scheduled &&
                      ` · scheduled job ${item.scheduled.job_name || item.scheduled.job_id}`}{' '}
                    · {formatTime(item.started_at)}
                  </div>
                </>
              )}
            </SelectableList>
          )
        }
      </LoadState>
      {run && (
        <RunDetail
          key={run.id}
          run={run}
          context={context}
          onRerun={async started => {
            await reloadRuns();
            setSelected(started.id);
          }}
        />
      )}
    </Section>
  );
}

function RunDetail({
  run,
  context,
  onRerun
}: {
  run: IRunManifest;
  context: IPanelProps['context'];
  onRerun: (started: IRunManifest) => Promise<void>;
}): React.ReactElement {
  const { client } = context;
  const output = run.output_path
    ? relativeToRoot(run.output_path, context.serverRoot)
    : null;
  // A rerun's output is a record, not a notebook to edit; so is one outside the root.
  const readOnly = run.rerun_of !== null || output === null;
  const [showDiff, setShowDiff] = React.useState(run.rerun_of !== null);
  const scheduled = run.scheduled ?? null;
  const previous = scheduled?.previous_run ?? null;
  const [showPrevious, setShowPrevious] = React.useState(false);
  return (
    <div
      className="lepton-detail lepton-run-detail"
      aria-label={`Run ${run.id}`}
    >
      <h4 className="lepton-subheading">
        Run {run.id} <StatusBadge status={run.status} />
      </h4>
      <dl className="lepton-settings-list">
        <dt>notebook</dt>
        <dd>
          <PathText text={run.notebook.path} />
        </dd>
        {run.output_path && (
          <>
            <dt>output</dt>
            <dd>
              <PathText text={run.output_path} />
            </dd>
          </>
        )}
        {run.git && (
          <>
            <dt>git</dt>
            <dd>
              {shortHash(run.git.commit)}
              {run.git.dirty && ' (dirty)'}
            </dd>
          </>
        )}
        {scheduled && (
          <>
            <dt>scheduled job</dt>
            <dd className="lepton-run-job">
              {scheduled.job_name} ({scheduled.job_id})
            </dd>
          </>
        )}
        {(scheduled?.checks ?? []).map(c => (
          <React.Fragment key={`c-${c.check}`}>
            <dt>check</dt>
            <dd
              className={
                c.passed ? 'lepton-check-passed' : 'lepton-check-failed'
              }
            >
              {c.passed ? '✓' : '✗'} {c.check}: {c.message}
            </dd>
          </React.Fragment>
        ))}
        {Object.entries(run.parameters).map(([k, v]) => (
          <React.Fragment key={`p-${k}`}>
            <dt>param {k}</dt>
            <dd>
              <PathText text={formatValue(v)} />
            </dd>
          </React.Fragment>
        ))}
        {Object.entries(run.metrics).map(([k, v]) => (
          <React.Fragment key={`m-${k}`}>
            <dt>metric {k}</dt>
            <dd>{formatValue(v)}</dd>
          </React.Fragment>
        ))}
      </dl>
      {run.error && <pre className="lepton-error">{run.error}</pre>}
      <div className="lepton-row">
        <ActionButton
          label={readOnly ? 'Open output (read-only)' : 'Open output'}
          className="lepton-open-output"
          disabled={!run.output_path || run.status === 'running'}
          disabledReason={
            run.status === 'running'
              ? 'The run is still writing its output.'
              : 'This run recorded no output notebook.'
          }
          onClick={async () => {
            try {
              if (readOnly) {
                await context.openRunOutput(
                  run.id,
                  baseName(run.notebook.path)
                );
              } else {
                await context.openFile(output ?? '');
              }
            } catch (error) {
              notifyError(`Opening ${run.output_path} failed`, error);
            }
          }}
        />
        <ActionButton
          label="Rerun"
          busyLabel="Starting rerun…"
          className="lepton-rerun"
          disabled={run.status === 'running'}
          disabledReason="Wait for the run to end before rerunning it."
          onClick={async () => {
            try {
              const started = await client.rerun(run.id);
              notifySuccess(`Rerun ${started.id} of run ${run.id} started.`);
              await onRerun(started);
            } catch (error) {
              notifyError(`Rerunning ${run.id} failed`, error);
            }
          }}
        />
        {run.rerun_of && (
          <button
            type="button"
            className="jp-Button lepton-button lepton-diff-toggle"
            aria-expanded={showDiff}
            onClick={() => setShowDiff(!showDiff)}
          >
            Diff vs {run.rerun_of}
          </button>
        )}
        {previous && (
          <button
            type="button"
            className="jp-Button lepton-button lepton-previous-toggle"
            aria-expanded={showPrevious}
            onClick={() => setShowPrevious(!showPrevious)}
          >
            Diff vs previous run {previous}
          </button>
        )}
      </div>
      {run.status === 'running' && (
        <p className="lepton-loading" role="status">
          Running… the diff shows when it ends.
        </p>
      )}
      {showDiff && run.rerun_of && run.status !== 'running' && (
        <RunDiffView runId={run.id} context={context} />
      )}
      {showPrevious && previous && run.status !== 'running' && (
        <RunDiffView runId={run.id} against={previous} context={context} />
      )}
      {scheduled?.job_definition_id && (
        <SeriesView
          definitionId={scheduled.job_definition_id}
          runId={run.id}
          context={context}
        />
      )}
    </div>
  );
}

function RunDiffView({
  runId,
  against,
  context
}: {
  runId: string;
  against?: string;
  context: IPanelProps['context'];
}): React.ReactElement {
  const [diff] = useLoader(
    () =>
      against
        ? context.client.runDiff(runId, against)
        : context.client.runDiff(runId),
    [context.client, runId, against]
  );
  return (
    <LoadState state={diff} what="diff" isEmpty={() => false} empty="">
      {value => <DiffTable diff={value} />}
    </LoadState>
  );
}

/** Whether a rerun reproduced its original: parameters, pins, metrics, model bytes and
 * cells; the server's verdict when it sends one. */
export function DiffTable({ diff }: { diff: IRunDiff }): React.ReactElement {
  const published = diff.published ?? [];
  const identical =
    diff.identical ??
    (!diff.notebook_changed &&
      diff.parameters.length === 0 &&
      diff.pins.every(p => p.status === 'held') &&
      diff.metrics.every(m => m.equal) &&
      published.every(p => p.reproduced) &&
      diff.cells.length === 0);
  return (
    <div
      className="lepton-diff"
      aria-label={`Diff of ${diff.after} against ${diff.before}`}
    >
      <p
        className={`lepton-diff-verdict lepton-diff-${identical ? 'identical' : 'different'}`}
      >
        Run {diff.after} vs {diff.before}:{' '}
        {identical ? 'identical' : 'different'}
      </p>
      {diff.mode && (
        <p className="lepton-diff-mode">
          {diff.mode === 'dry-run'
            ? 'Dry-run rerun: nothing shared was changed.'
            : 'Applied rerun: publishes and alias moves were made.'}
          {(diff.not_applied ?? []).length > 0 &&
            ` Not applied: ${(diff.not_applied ?? []).join('; ')}.`}
        </p>
      )}
      {diff.notebook_changed && <p>Notebook cell sources differ.</p>}
      <table className="lepton-table lepton-diff-table">
        <thead>
          <tr>
            <th scope="col">what</th>
            <th scope="col">before</th>
            <th scope="col">after</th>
            <th scope="col">same</th>
          </tr>
        </thead>
        <tbody>
          {diff.parameters.map(p => (
            <tr key={`p-${p.name}`} className="lepton-diff-changed">
              <th scope="row">param {p.name}</th>
              <td>{formatValue(p.before)}</td>
              <td>{formatValue(p.after)}</td>
              <td>no</td>
            </tr>
          ))}
          {diff.pins.map(p => (
            <tr
              key={`pin-${p.kind}-${p.key}`}
              className={p.status === 'held' ? '' : 'lepton-diff-changed'}
            >
              <th scope="row">
                {p.kind} <PathText text={p.label ?? p.key} />
              </th>
              <td>
                {p.before
                  ? formatValue(p.before.version ?? p.before.commit ?? p.before)
                  : '–'}
              </td>
              <td>
                {p.after
                  ? formatValue(p.after.version ?? p.after.commit ?? p.after)
                  : '–'}
              </td>
              <td>{p.status}</td>
            </tr>
          ))}
          {diff.metrics.map(m => (
            <tr
              key={`m-${m.name}`}
              className={
                m.equal
                  ? 'lepton-diff-metric'
                  : 'lepton-diff-metric lepton-diff-changed'
              }
            >
              <th scope="row">metric {m.name}</th>
              <td>{formatValue(m.before)}</td>
              <td>{formatValue(m.after)}</td>
              <td>{m.equal ? 'yes' : 'no'}</td>
            </tr>
          ))}
          {published.map((p, i) => (
            <tr
              key={`pub-${p.name}-${i}`}
              className={p.reproduced ? '' : 'lepton-diff-changed'}
            >
              <th scope="row">
                model {p.name}:{p.version ?? '–'} bytes
              </th>
              <td>{p.before ? p.before.slice(0, 19) : '–'}</td>
              <td>{p.after ? p.after.slice(0, 19) : '–'}</td>
              <td>{p.reproduced ? 'reproduced' : 'no'}</td>
            </tr>
          ))}
          {diff.cells.map(c => (
            <tr key={`c-${c.index}`} className="lepton-diff-changed">
              <th scope="row">
                {c.label || `cell ${c.index}`} <code>{c.source}</code>
              </th>
              <td>
                <pre>{c.before}</pre>
              </td>
              <td>
                <pre>{c.after}</pre>
              </td>
              <td>{c.source_changed ? 'source changed' : 'outputs changed'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
