import * as React from 'react';

import { IComparison, IGateVerdict, IPairStat } from '../api';
import { formatTime, shortHash } from '../format';
import { notifyError } from '../notify';
import { LoadState, useLoader, valueOf } from './common';
import { relativeToRoot } from './RunsPanel';
import { IPanelProps } from './types';

/** How many of a model's comparisons the panel shows, newest first. */
export const SHOWN_COMPARISONS = 5;

/** The statistics of `a` against `b`, flipping a pair stored the other way round. */
export function pairOf(
  comparison: IComparison,
  a: string,
  b: string
): IPairStat | null {
  for (const p of comparison.pairs) {
    if (p.a === a && p.b === b) {
      return p;
    }
    if (p.a === b && p.b === a) {
      return {
        ...p,
        a,
        b,
        mean_a: p.mean_b,
        mean_b: p.mean_a,
        difference: -p.difference,
        low: -p.high,
        high: -p.low
      };
    }
  }
  return null;
}

export interface IComparisonRow {
  candidate: string;
  asked: string;
  rank: number | null;
  mean: number | null;
  /** Against the best-ranked candidate; null for the best itself. */
  vsBest: IPairStat | null;
  run: string;
}

/** One row per candidate, best first: its mean, and its difference to the best with the interval. */
export function comparisonRows(comparison: IComparison): IComparisonRow[] {
  const best = comparison.ranking[0]?.candidate ?? null;
  const order = comparison.ranking.length
    ? comparison.ranking.map(s => s.candidate)
    : comparison.candidates.map(c => `${c.name}:${c.version}`);
  return order.map(label => {
    const candidate = comparison.candidates.find(
      c => `${c.name}:${c.version}` === label
    );
    const standing = comparison.ranking.find(s => s.candidate === label);
    const mean = candidate?.metrics[comparison.metric];
    return {
      candidate: label,
      asked: candidate?.ref ?? label,
      rank: standing?.rank ?? null,
      mean: typeof mean === 'number' ? mean : (standing?.mean ?? null),
      vsBest: best && label !== best ? pairOf(comparison, label, best) : null,
      run: candidate?.run ?? ''
    };
  });
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(4)}`;
}

/** `[−0.0120, +0.0340]`. */
export function formatInterval(low: number, high: number): string {
  return `[${signed(low)}, ${signed(high)}]`;
}

/** A model's recorded comparisons: a table with intervals, each evaluation run, the gate's verdict. */
export function ComparisonsView({
  name,
  context,
  token
}: {
  name: string;
  context: IPanelProps['context'];
  token: number;
}): React.ReactElement {
  const { client } = context;
  const [comparisons] = useLoader(
    () => client.comparisons(name),
    [client, name, token]
  );
  const [gates] = useLoader(() => client.gates(name), [client, name, token]);
  const verdicts = (valueOf(gates) ?? []).flatMap(g =>
    g.verdicts.map(v => ({ ...v, alias: g.alias }))
  );

  const openRun = async (id: string): Promise<void> => {
    try {
      const run = await client.run(id);
      const output = run.output_path
        ? relativeToRoot(run.output_path, context.serverRoot)
        : null;
      if (output === null) {
        // Kept in the run folder, outside the root: shown read-only.
        await context.openRunOutput(id, `evaluation run ${id}`);
      } else {
        await context.openFile(output);
      }
    } catch (error) {
      notifyError(`Opening evaluation run ${id}`, error);
    }
  };

  return (
    <div className="lepton-comparisons" aria-label={`Comparisons of ${name}`}>
      <LoadState
        state={comparisons}
        what="comparisons"
        isEmpty={items => items.length === 0}
        empty={
          <>
            No comparisons yet:{' '}
            <code>{`compare(["${name}@prod", "${name}:N"], "evaluate.ipynb", metric=...)`}</code>
            .
          </>
        }
      >
        {items =>
          items
            .slice(0, SHOWN_COMPARISONS)
            .map(comparison => (
              <ComparisonTable
                key={comparison.id}
                comparison={comparison}
                verdicts={verdicts.filter(v => v.comparison === comparison.id)}
                openRun={openRun}
              />
            ))
        }
      </LoadState>
    </div>
  );
}

function ComparisonTable({
  comparison,
  verdicts,
  openRun
}: {
  comparison: IComparison;
  verdicts: Array<IGateVerdict & { alias: string }>;
  openRun: (id: string) => Promise<void>;
}): React.ReactElement {
  const data = comparison.datasets
    .map(d => `${d.path}@${shortHash(d.commit)}`)
    .join(', ');
  const level = comparison.pairs[0]?.confidence ?? comparison.confidence;
  return (
    <div
      className="lepton-comparison"
      data-comparison={comparison.id}
      data-winner={comparison.winner ?? ''}
    >
      <div className="lepton-item-detail">
        #{comparison.id}
        {comparison.rerun_of !== null &&
          ` (rerun of #${comparison.rerun_of})`}{' '}
        · {comparison.metric} on {data || 'no dataset'} ·{' '}
        {comparison.evaluation.kind} {shortHash(comparison.evaluation.digest)} ·{' '}
        {comparison.created_by}, {formatTime(comparison.created_at)}
      </div>
      <p className="lepton-comparison-verdict">
        <strong>{comparison.verdict}</strong>
      </p>
      <table className="lepton-comparison-table">
        <thead>
          <tr>
            <th>rank</th>
            <th>candidate</th>
            <th>mean</th>
            <th>vs best</th>
            <th>interval ({(level * 100).toPrecision(3)}%)</th>
            <th>p</th>
            <th>evaluation run</th>
          </tr>
        </thead>
        <tbody>
          {comparisonRows(comparison).map(row => (
            <tr key={row.candidate} data-candidate={row.candidate}>
              <td>{row.rank ?? ''}</td>
              <td title={row.asked}>{row.candidate}</td>
              <td>{row.mean === null ? '' : row.mean.toFixed(4)}</td>
              <td>{row.vsBest ? signed(row.vsBest.difference) : ''}</td>
              <td className="lepton-comparison-interval">
                {row.vsBest
                  ? formatInterval(row.vsBest.low, row.vsBest.high)
                  : ''}
              </td>
              <td>{row.vsBest ? row.vsBest.p_value.toPrecision(3) : ''}</td>
              <td>
                <button
                  type="button"
                  className="lepton-link lepton-comparison-run"
                  title={`Open the output of run ${row.run}`}
                  onClick={() => void openRun(row.run)}
                >
                  {row.run}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {verdicts.length > 0 && (
        <ul className="lepton-gate-verdicts">
          {verdicts.map(v => (
            <li
              key={`${v.alias}-${v.new}`}
              className="lepton-gate-verdict"
              data-passed={String(v.passed)}
            >
              @{v.alias}: {v.new}{' '}
              {v.passed ? 'may take it from' : 'may not take it from'}{' '}
              {v.current} ({v.reason})
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** An alias move's evidence in words: the comparison it cites, or the override's reason. */
export function evidenceText(evidence: Record<string, unknown>): string {
  if (typeof evidence.override === 'string') {
    return `gate overridden: ${evidence.override}`;
  }
  if (typeof evidence.comparison === 'number') {
    return `gate passed by comparison #${evidence.comparison}`;
  }
  if (evidence.first_holder) {
    return 'gated; first holder';
  }
  return '';
}
