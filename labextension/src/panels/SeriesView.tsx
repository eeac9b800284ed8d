import * as React from 'react';

import { ISeries, ISeriesPoint } from '../api';
import { formatTime, formatValue } from '../format';
import { LoadState, useLoader } from './common';
import { ChartAxes } from './LossChart';
import { IPanelProps } from './types';

/** The metric a series chart shows first: the one the definition's checks name, else
 * the first one any run logged. */
export function seriesMetric(series: ISeries): string | null {
  const metrics = series.metrics ?? [];
  const checked = (series.checks ?? [])
    .map(check => check.trim().split(/\s|[<>=!]/)[0])
    .find(name => metrics.includes(name));
  return checked ?? metrics[0] ?? null;
}

/** (index, value) of each run that logged `metric` as a number. */
export function metricPoints(
  points: ISeriesPoint[],
  metric: string
): Array<{ index: number; value: number; point: ISeriesPoint }> {
  return points.flatMap((point, index) => {
    const value = point.metrics[metric];
    return typeof value === 'number' ? [{ index, value, point }] : [];
  });
}

const WIDTH = 260;
const HEIGHT = 120;
const PAD = { left: 40, right: 10, top: 10, bottom: 20 };

/** A metric over a job definition's runs; runs after which a pin or parameter changed
 * are drawn as diamonds, failed runs in the error colour. */
function SeriesChart({
  series,
  metric
}: {
  series: ISeries;
  metric: string;
}): React.ReactElement {
  const points = series.points ?? [];
  const plotted = metricPoints(points, metric);
  if (plotted.length === 0) {
    return (
      <p className="lepton-empty lepton-chart-empty">
        No run of this definition logged {metric} yet.
      </p>
    );
  }
  const values = plotted.map(p => p.value);
  const [yMin, yMax] = [Math.min(...values), Math.max(...values)];
  const last = Math.max(points.length - 1, 1);
  const x = (i: number) =>
    PAD.left + (i / last) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) =>
    HEIGHT -
    PAD.bottom -
    (yMax === yMin ? 0.5 : (v - yMin) / (yMax - yMin)) *
      (HEIGHT - PAD.top - PAD.bottom);
  const completed = plotted.filter(p => p.point.status === 'completed');
  return (
    <svg
      className="lepton-series-chart"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={`${metric} over ${plotted.length} run(s) of ${series.job_name || series.job_definition_id}`}
    >
      <ChartAxes
        width={WIDTH}
        height={HEIGHT}
        pad={PAD}
        yMin={yMin}
        yMax={yMax}
        xFirst="run 1"
        xLast={`run ${points.length}`}
      />
      <polyline
        className="lepton-chart-line"
        fill="none"
        stroke="var(--jp-brand-color1)"
        strokeWidth={1.5}
        points={completed.map(p => `${x(p.index)},${y(p.value)}`).join(' ')}
      />
      {plotted.map(({ index, value, point }) => {
        const changed = (point.changes ?? []).length > 0;
        const cls = [
          'lepton-series-point',
          changed ? 'lepton-series-changed' : '',
          point.status === 'completed' ? '' : 'lepton-series-failed'
        ]
          .filter(Boolean)
          .join(' ');
        const title = [
          `run ${point.run_id} ${point.status}: ${metric} = ${short(value)}`,
          ...(point.changes ?? [])
        ].join('\n');
        const [cx, cy] = [x(index), y(value)];
        return changed ? (
          <polygon
            key={point.run_id}
            className={cls}
            points={`${cx},${cy - 5} ${cx + 5},${cy} ${cx},${cy + 5} ${cx - 5},${cy}`}
          >
            <title>{title}</title>
          </polygon>
        ) : (
          <circle key={point.run_id} className={cls} cx={cx} cy={cy} r={3}>
            <title>{title}</title>
          </circle>
        );
      })}
    </svg>
  );
}

/** A metric in a series, to 4 significant digits: 0.8, not 0.800000. */
function short(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value)
    ? String(Number(value.toPrecision(4)))
    : formatValue(value);
}

function deltaText(delta: number | undefined): string {
  if (delta === undefined) {
    return '';
  }
  return ` (${delta >= 0 ? '+' : ''}${short(delta)})`;
}

/** The runs of one jupyter-scheduler job definition: a metric over time with the runs
 * after which data or a model alias moved marked, then each run's changes and checks. */
export function SeriesTable({
  series,
  selected
}: {
  series: ISeries;
  selected?: string;
}): React.ReactElement {
  const [metric, setMetric] = React.useState<string | null>(
    seriesMetric(series)
  );
  const points = series.points ?? [];
  const metrics = series.metrics ?? [];
  return (
    <div
      className="lepton-series"
      aria-label={`Runs of job definition ${series.job_name || series.job_definition_id}`}
    >
      <h5 className="lepton-subheading">
        Series of {series.job_name || series.job_definition_id}: {points.length}{' '}
        run(s)
      </h5>
      {(series.checks ?? []).length > 0 && (
        <p className="lepton-series-checks">
          Checks: {(series.checks ?? []).join('; ')}
        </p>
      )}
      {metrics.length > 1 && (
        <select
          className="lepton-series-metric"
          aria-label="Metric"
          value={metric ?? ''}
          onChange={event => setMetric(event.target.value)}
        >
          {metrics.map(name => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      )}
      {metric && <SeriesChart series={series} metric={metric} />}
      <table className="lepton-table lepton-series-table">
        <thead>
          <tr>
            <th scope="col">run</th>
            <th scope="col">status</th>
            {metrics.map(name => (
              <th scope="col" key={name}>
                {name}
              </th>
            ))}
            <th scope="col">changed since the previous run</th>
          </tr>
        </thead>
        <tbody>
          {points.map(point => (
            <tr
              key={point.run_id}
              className={[
                'lepton-series-row',
                point.run_id === selected ? 'lepton-series-selected' : '',
                (point.changes ?? []).length ? 'lepton-diff-changed' : ''
              ]
                .filter(Boolean)
                .join(' ')}
            >
              <th scope="row" title={point.run_id}>
                {formatTime(point.started_at)}
              </th>
              <td title={point.error ?? undefined}>{point.status}</td>
              {metrics.map(name => (
                <td key={name}>
                  {point.metrics[name] === undefined
                    ? '–'
                    : short(point.metrics[name]) +
                      deltaText(point.deltas?.[name])}
                </td>
              ))}
              <td className="lepton-series-changes">
                {(point.changes ?? []).join('; ') || '–'}
                {point.status !== 'completed' && point.error && (
                  <div className="lepton-error">{point.error}</div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The series a scheduled run belongs to, loaded from the server. */
export function SeriesView({
  definitionId,
  runId,
  context
}: {
  definitionId: string;
  runId: string;
  context: IPanelProps['context'];
}): React.ReactElement {
  const [series] = useLoader(
    () => context.client.series(definitionId),
    [context.client, definitionId, runId]
  );
  return (
    <LoadState
      state={series}
      what="series"
      isEmpty={value => (value.points ?? []).length === 0}
      empty="No run of this job definition was recorded yet."
    >
      {value => <SeriesTable series={value} selected={runId} />}
    </LoadState>
  );
}
