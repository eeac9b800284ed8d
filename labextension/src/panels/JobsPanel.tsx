import * as React from 'react';

import {
  ENDED_JOB_STATUSES,
  IJobInfo,
  IJobList,
  ILeptonClient,
  IMetricRecord
} from '../api';
import { formatTime, formatValue } from '../format';
import { notifyError, notifySuccess } from '../notify';
import {
  ActionButton,
  LoadState,
  SelectableList,
  useLoader,
  usePoll,
  valueOf
} from './common';
import { LossChart, chartMetric } from './LossChart';
import { Section, useWide } from './Section';
import { ServiceStatusLine } from './ServiceStatusLine';
import { IPanelProps } from './types';

/** How often a running job is polled, in milliseconds. */
export const JOB_POLL_MS = 2000;
/** How often the list is read when nothing runs, to notice jobs launched from notebooks. */
export const IDLE_POLL_MS = 10000;

/** The newest jobs the panel lists; `lepton jobs list` shows every one. */
export const JOB_PAGE = 50;

export function isRunning(job: IJobInfo): boolean {
  return !ENDED_JOB_STATUSES.includes(job.status);
}

/** One page of the newest jobs, with any older one still running first: a poll costs the
 * same however many jobs ended before. `total` counts every job. */
export async function loadJobs(client: ILeptonClient): Promise<IJobList> {
  const [page, running] = await Promise.all([
    client.jobs({ limit: JOB_PAGE }),
    client.jobs({ status: 'running', limit: JOB_PAGE })
  ]);
  const listed = new Set(page.jobs.map(j => j.id));
  const older = running.jobs.filter(j => !listed.has(j.id));
  return { jobs: [...older, ...page.jobs], total: page.total };
}

/** Jobs with their status; the selected one's ranks, loss chart, logs and cancel. */
export function JobsPanel({
  status,
  context,
  refreshToken
}: IPanelProps): React.ReactElement {
  const { client } = context;
  const [jobs, reloadJobs] = useLoader(
    () => loadJobs(client),
    [client, refreshToken]
  );
  const [selected, setSelected] = React.useState<string | null>(null);
  const list = valueOf(jobs)?.jobs ?? [];
  usePoll(
    () => void reloadJobs(),
    list.some(isRunning) ? JOB_POLL_MS : IDLE_POLL_MS,
    true
  );
  const job = list.find(j => j.id === selected) ?? null;

  return (
    <Section id="jobs" title="Jobs">
      <ServiceStatusLine status={status} />
      <LoadState
        state={jobs}
        what="jobs"
        isEmpty={page => page.jobs.length === 0}
        empty={
          <>
            No jobs yet: run <code>lepton_jupyter.launch(train, nprocs=2)</code>{' '}
            in a notebook.
          </>
        }
      >
        {page => (
          <>
            <SelectableList
              items={page.jobs}
              selected={selected}
              onSelect={setSelected}
              getKey={item => item.id}
              getLabel={item => `${item.name} ${item.status}`}
              className="lepton-list lepton-jobs"
              itemClassName="lepton-job"
              label="Jobs"
            >
              {item => (
                <>
                  <span className="lepton-item-title">{item.name}</span>{' '}
                  <StatusBadge status={item.status} />
                  <div className="lepton-item-detail">
                    {item.id} · {item.nprocs * item.nnodes} rank(s) on{' '}
                    {item.backend} · {formatTime(item.created_at)}
                  </div>
                </>
              )}
            </SelectableList>
            {page.total > page.jobs.length && (
              <p className="lepton-item-detail lepton-jobs-more">
                The newest {page.jobs.length} of {page.total} jobs;{' '}
                <code>lepton jobs list</code> shows every one.
              </p>
            )}
          </>
        )}
      </LoadState>
      {job && (
        <JobDetail
          key={job.id}
          job={job}
          context={context}
          onCancelled={() => void reloadJobs()}
        />
      )}
    </Section>
  );
}

export function StatusBadge({
  status
}: {
  status: string;
}): React.ReactElement {
  return (
    <span
      className={`lepton-badge lepton-status-${status}`}
      data-status={status}
    >
      {status}
    </span>
  );
}

/** Lines of each rank's log the panel keeps and shows. */
export const LOG_LINES = 40;

interface IJobFeed {
  records: IMetricRecord[];
  metricsOffset: number;
  /** Last lines of each rank's log, and the byte offset read up to. */
  logs: { rank: number; lines: string[]; offset: number }[];
  error: string | null;
}

const EMPTY_FEED: IJobFeed = {
  records: [],
  metricsOffset: 0,
  logs: [],
  error: null
};

function lastLines(
  lines: string[],
  text: string,
  keep: number | null
): string[] {
  const added = text.split('\n');
  // A text ending with a newline splits into a last empty part: not a line.
  if (added[added.length - 1] === '') {
    added.pop();
  }
  const all = [...lines, ...added];
  return keep === null ? all : all.slice(-keep);
}

/**
 * A job's metrics and logs, read incrementally: the first read takes every record and
 * each rank's last lines; later ones ask only for what came after the offsets the
 * server returned (`?since=`), so a long job costs the same to follow at any step.
 */
export function useJobFeed(
  client: IPanelProps['context']['client'],
  jobId: string,
  running: boolean,
  /** Lines kept per rank; null keeps the whole log (the wide view). */
  keep: number | null = LOG_LINES
): IJobFeed {
  const [feed, setFeed] = React.useState<IJobFeed>(EMPTY_FEED);
  const current = React.useRef<IJobFeed>(EMPTY_FEED);
  const busy = React.useRef(false);

  const read = React.useCallback(async (): Promise<void> => {
    if (busy.current) {
      return; // the previous read has not answered yet
    }
    busy.current = true;
    const before = current.current;
    const first = before.logs.length === 0;
    try {
      const [metrics, logs] = await Promise.all([
        client.jobMetrics(jobId, before.metricsOffset),
        first
          ? client.jobLogs(jobId, null, keep)
          : client.jobLogs(
              jobId,
              null,
              null,
              before.logs.map(log => log.offset)
            )
      ]);
      const next: IJobFeed = {
        records: [...before.records, ...metrics.metrics],
        metricsOffset: metrics.offset,
        logs: logs.chunks.map((chunk, i) => ({
          rank: chunk.rank,
          lines: lastLines(first ? [] : before.logs[i].lines, chunk.text, keep),
          offset: chunk.offset
        })),
        error: null
      };
      current.current = next;
      setFeed(next);
    } catch (error) {
      setFeed({ ...current.current, error: String(error) });
    } finally {
      busy.current = false;
    }
  }, [client, jobId, keep]);

  React.useEffect(() => {
    current.current = EMPTY_FEED;
    void read();
  }, [read]);
  usePoll(() => void read(), JOB_POLL_MS, running);
  // One last read once the job ended, so the final steps and exit show.
  React.useEffect(() => {
    if (!running) {
      void read();
    }
  }, [running]);
  return feed;
}

function logText(feed: IJobFeed): string {
  return feed.logs
    .map(log => `==> rank ${log.rank} <==\n${log.lines.join('\n')}\n`)
    .join('');
}

function JobDetail({
  job,
  context,
  onCancelled
}: {
  job: IJobInfo;
  context: IPanelProps['context'];
  onCancelled: () => void;
}): React.ReactElement {
  const { client } = context;
  const running = isRunning(job);
  const wide = useWide();
  const feed = useJobFeed(client, job.id, running, wide ? null : LOG_LINES);
  const records = feed.records;

  return (
    <div
      className="lepton-detail lepton-job-detail"
      aria-label={`Job ${job.name}`}
    >
      <h4 className="lepton-subheading">
        {job.name} <StatusBadge status={job.status} />
      </h4>
      {job.detail && <p className="lepton-item-detail">{job.detail}</p>}
      {job.gpus ? (
        <p className="lepton-item-detail lepton-job-gpus">
          {job.gpus} GPU(s)
          {job.devices && job.devices.length
            ? `: ${job.devices.join(', ')}`
            : ' per node'}
        </p>
      ) : null}
      {job.error && (
        <pre className="lepton-error lepton-job-error">{job.error}</pre>
      )}
      {feed.error && <p className="lepton-error">{feed.error}</p>}
      <RankTable job={job} records={records} />
      <LossChart records={records} />
      {running && (
        <ActionButton
          label="Cancel job"
          busyLabel="Cancelling…"
          className="lepton-cancel"
          onClick={async () => {
            try {
              await client.cancelJob(job.id);
              notifySuccess(`Cancelled job ${job.name}.`);
              onCancelled();
            } catch (error) {
              notifyError(`Cancelling job ${job.name} failed`, error);
            }
          }}
        />
      )}
      <details className="lepton-logs" open={!running}>
        <summary>
          {wide
            ? 'Logs (every line)'
            : `Logs (last ${LOG_LINES} lines per rank)`}
        </summary>
        <pre className="lepton-log-text" tabIndex={0}>
          {logText(feed) || 'No output yet.'}
        </pre>
      </details>
    </div>
  );
}

/** Per-rank progress: latest step and metric, and the exit code once ended. */
export function RankTable({
  job,
  records
}: {
  job: IJobInfo;
  records: IMetricRecord[];
}): React.ReactElement {
  const metric = chartMetric(records) ?? 'loss';
  const last = new Map<number, IMetricRecord>();
  for (const record of records) {
    last.set(record.rank, record);
  }
  const ranks = Array.from({ length: job.nprocs * job.nnodes }, (_, i) => i);
  return (
    <table className="lepton-table lepton-ranks">
      <caption className="lepton-sr-only">Progress of each rank</caption>
      <thead>
        <tr>
          <th scope="col">rank</th>
          <th scope="col">step</th>
          <th scope="col">{metric}</th>
          <th scope="col">exit</th>
        </tr>
      </thead>
      <tbody>
        {ranks.map(rank => {
          const record = last.get(rank);
          const code = job.exit_codes[String(rank)];
          return (
            <tr key={rank} data-rank={rank}>
              <td>{rank}</td>
              <td className="lepton-rank-step">{record?.step ?? '–'}</td>
              <td>
                {record && metric in record ? formatValue(record[metric]) : '–'}
              </td>
              <td>
                {code === undefined ? '–' : code === null ? 'stopped' : code}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
