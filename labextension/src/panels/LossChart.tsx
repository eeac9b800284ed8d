import * as React from 'react';

import { IMetricRecord } from '../api';

/** The metric a chart plots: `loss` if reported, else the first numeric one. */
export function chartMetric(records: IMetricRecord[]): string | null {
  const names = new Set<string>();
  for (const record of records) {
    for (const [key, value] of Object.entries(record)) {
      if (
        !['rank', 'step', 'time'].includes(key) &&
        typeof value === 'number'
      ) {
        names.add(key);
      }
    }
  }
  if (names.has('loss')) {
    return 'loss';
  }
  return names.size ? [...names][0] : null;
}

export interface ISeries {
  rank: number;
  points: Array<[number, number]>;
}

/** One series per rank: (step, value) in report order; step defaults to the index. */
export function seriesOf(records: IMetricRecord[], metric: string): ISeries[] {
  const byRank = new Map<number, Array<[number, number]>>();
  for (const record of records) {
    const value = record[metric];
    if (typeof value !== 'number') {
      continue;
    }
    const points = byRank.get(record.rank) ?? [];
    points.push([record.step ?? points.length, value]);
    byRank.set(record.rank, points);
  }
  return [...byRank.entries()]
    .sort(([a], [b]) => a - b)
    .map(([rank, points]) => ({ rank, points }));
}

const WIDTH = 240;
const HEIGHT = 120;
const PAD = { left: 36, right: 8, top: 8, bottom: 20 };
const COLOURS = [
  'var(--jp-brand-color1)',
  'var(--jp-warn-color1)',
  'var(--jp-success-color1)',
  'var(--jp-error-color1)'
];

export interface IChartPad {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The axes of a small SVG chart, labelled with the y range and the first and last x. */
export function ChartAxes({
  width,
  height,
  pad,
  yMin,
  yMax,
  xFirst,
  xLast
}: {
  width: number;
  height: number;
  pad: IChartPad;
  yMin: number;
  yMax: number;
  xFirst: string;
  xLast: string;
}): React.ReactElement {
  return (
    <>
      <line
        className="lepton-chart-axis"
        x1={pad.left}
        y1={height - pad.bottom}
        x2={width - pad.right}
        y2={height - pad.bottom}
      />
      <line
        className="lepton-chart-axis"
        x1={pad.left}
        y1={pad.top}
        x2={pad.left}
        y2={height - pad.bottom}
      />
      <text
        className="lepton-chart-label"
        x={pad.left - 4}
        y={pad.top + 8}
        textAnchor="end"
      >
        {yMax.toPrecision(3)}
      </text>
      <text
        className="lepton-chart-label"
        x={pad.left - 4}
        y={height - pad.bottom}
        textAnchor="end"
      >
        {yMin.toPrecision(3)}
      </text>
      <text className="lepton-chart-label" x={pad.left} y={height - 6}>
        {xFirst}
      </text>
      <text
        className="lepton-chart-label"
        x={width - pad.right}
        y={height - 6}
        textAnchor="end"
      >
        {xLast}
      </text>
    </>
  );
}

/** A line chart of a job's loss against step, one line per rank, in plain SVG. */
export function LossChart({
  records
}: {
  records: IMetricRecord[];
}): React.ReactElement {
  const metric = chartMetric(records);
  if (!metric) {
    return (
      <p className="lepton-empty lepton-chart-empty">
        No metrics reported yet (call <code>report(step=..., loss=...)</code> in
        the training function).
      </p>
    );
  }
  const series = seriesOf(records, metric);
  const points = series.flatMap(s => s.points);
  const xs = points.map(p => p[0]);
  const ys = points.map(p => p[1]);
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const [yMin, yMax] = [Math.min(...ys), Math.max(...ys)];
  const x = (v: number) =>
    PAD.left +
    (xMax === xMin ? 0.5 : (v - xMin) / (xMax - xMin)) *
      (WIDTH - PAD.left - PAD.right);
  const y = (v: number) =>
    HEIGHT -
    PAD.bottom -
    (yMax === yMin ? 0.5 : (v - yMin) / (yMax - yMin)) *
      (HEIGHT - PAD.top - PAD.bottom);
  const last = ys[ys.length - 1];
  return (
    <figure className="lepton-chart">
      <svg
        className="lepton-loss-chart"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`${metric} by step for ${series.length} rank(s); latest ${last.toPrecision(4)}`}
      >
        <ChartAxes
          width={WIDTH}
          height={HEIGHT}
          pad={PAD}
          yMin={yMin}
          yMax={yMax}
          xFirst={String(xMin)}
          xLast={`step ${xMax}`}
        />
        {series.map((s, i) => (
          <polyline
            key={s.rank}
            className="lepton-chart-line"
            data-rank={s.rank}
            fill="none"
            stroke={COLOURS[i % COLOURS.length]}
            strokeWidth={1.5}
            points={s.points.map(([px, py]) => `${x(px)},${y(py)}`).join(' ')}
          />
        ))}
      </svg>
      <figcaption className="lepton-chart-caption">
        {metric}:{' '}
        {series.map((s, i) => (
          <span key={s.rank} className="lepton-chart-legend">
            <span
              className="lepton-chart-swatch"
              style={{ background: COLOURS[i % COLOURS.length] }}
            />
            rank {s.rank}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
