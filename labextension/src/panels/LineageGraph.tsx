import * as React from 'react';

import { ILineage } from '../api';
import { formatTime, shortHash } from '../format';

export type LineageKind =
  'dataset' | 'parent' | 'job' | 'version' | 'run' | 'comparison' | 'promotion';

/** A node of the lineage graph and the facts its details show. */
export interface ILineageNode {
  id: string;
  kind: LineageKind;
  label: string;
  details: Array<[string, string]>;
  /** The job or run id a node stands for, to look it up. */
  ref?: string;
}

export interface ILineageGraph {
  /** Layers in flow order: inputs, jobs, the version, who loaded it. */
  layers: ILineageNode[][];
  edges: Array<[string, string]>;
}

/**
 * The lineage as a graph: dataset commits (and parent versions) -> jobs ->
 * the version -> the runs (or notebooks and jobs) that loaded it, and the
 * comparisons it took part in -> the gated alias moves they (or an override) allowed.
 */
export function lineageGraph(lineage: ILineage): ILineageGraph {
  const inputs: ILineageNode[] = [
    ...lineage.datasets.map((d, i) => ({
      id: `dataset-${i}`,
      kind: 'dataset' as const,
      label: `${d.path ?? 'dataset'}@${shortHash(d.commit ?? '')}`,
      details: [
        ['registry', d.url ?? ''],
        ['path', d.path ?? ''],
        ['revision', d.rev ?? '(default branch)'],
        ['commit', d.commit ?? ''],
        ['hash', d.hash ?? '']
      ] as Array<[string, string]>
    })),
    ...lineage.parents.map((p, i) => ({
      id: `parent-${i}`,
      kind: 'parent' as const,
      // A federation's parents are organisations (with their dataset), or models.
      label:
        p.kind === 'organisation'
          ? `organisation ${String(p.organisation)}`
          : `${p.name ?? '?'}:${p.version ?? '?'}`,
      details: Object.entries(p).map(
        ([k, v]) => [k, String(v ?? '')] as [string, string]
      )
    }))
  ];
  const jobs: ILineageNode[] = lineage.jobs.map(id => ({
    id: `job-${id}`,
    kind: 'job',
    label: `job ${id}`,
    details: [['job id', id]],
    ref: id
  }));
  const version: ILineageNode = {
    id: 'version',
    kind: 'version',
    label: `${lineage.name}:${lineage.version}`,
    details: [
      ['digest', lineage.digest],
      ['published by', lineage.user],
      ['at', formatTime(lineage.created_at)],
      ['notebook', lineage.notebook ?? ''],
      ['git commit', String(lineage.git?.commit ?? '')],
      ...Object.entries(lineage.params).map(
        ([k, v]) => [`param ${k}`, JSON.stringify(v)] as [string, string]
      ),
      ...Object.entries(lineage.metrics).map(
        ([k, v]) => [`metric ${k}`, JSON.stringify(v)] as [string, string]
      )
    ]
  };
  const loads: ILineageNode[] = lineage.loaded_by.map((load, i) => ({
    id: `load-${i}`,
    kind: 'run',
    label: load.run
      ? `run ${load.run}`
      : load.job
        ? `job ${load.job}`
        : load.notebook || load.user,
    details: [
      ['run', load.run],
      ['notebook', load.notebook],
      ['job', load.job],
      ['user', load.user],
      ['loaded at', formatTime(load.at)]
    ],
    ref: load.run || undefined
  }));
  const comparisons: ILineageNode[] = (lineage.comparisons ?? []).map(c => ({
    id: `comparison-${c.id}`,
    kind: 'comparison',
    label: `comparison #${c.id}`,
    details: [
      ['metric', c.metric],
      ['candidates', c.candidates.join(', ')],
      ['verdict', c.verdict],
      ['by', c.created_by],
      ['at', formatTime(c.created_at)]
    ]
  }));
  const gated = (lineage.promotions ?? []).filter(e => e.evidence);
  const promotions: ILineageNode[] = gated.map((event, i) => ({
    id: `promotion-${i}`,
    kind: 'promotion',
    label: `@${event.alias} → v${event.version}`,
    details: [
      ['alias', event.alias],
      ['moved by', event.actor],
      ['at', formatTime(event.at)],
      ['evidence', JSON.stringify(event.evidence)]
    ]
  }));
  const edges: Array<[string, string]> = [];
  for (const input of inputs) {
    for (const target of jobs.length ? jobs : [version]) {
      edges.push([input.id, target.id]);
    }
  }
  for (const job of jobs) {
    edges.push([job.id, version.id]);
  }
  for (const load of loads) {
    edges.push([version.id, load.id]);
  }
  for (const comparison of comparisons) {
    edges.push([version.id, comparison.id]);
  }
  gated.forEach((event, i) => {
    const cited = `comparison-${String(event.evidence?.comparison)}`;
    const from = comparisons.some(c => c.id === cited) ? cited : version.id;
    edges.push([from, promotions[i].id]);
  });
  const layers = [
    inputs,
    jobs,
    [version],
    [...loads, ...comparisons],
    promotions
  ].filter(c => c.length);
  return { layers, edges };
}

const NODE_W = 150;
const NODE_H = 26;
const COL_GAP = 12;
const ROW_GAP = 26;

/**
 * The graph in SVG, flowing top to bottom (a sidebar is tall and narrow);
 * every node is a button (click, Enter or Space) that selects it.
 */
export function LineageGraph({
  lineage,
  selected,
  onSelect
}: {
  lineage: ILineage;
  selected: string | null;
  onSelect: (node: ILineageNode) => void;
}): React.ReactElement {
  const graph = lineageGraph(lineage);
  const perRow = Math.max(...graph.layers.map(c => c.length));
  const width = perRow * (NODE_W + COL_GAP) - COL_GAP + 4;
  const height = graph.layers.length * (NODE_H + ROW_GAP) - ROW_GAP + 4;
  const position = new Map<string, { x: number; y: number }>();
  graph.layers.forEach((row, r) => {
    const offset = ((perRow - row.length) * (NODE_W + COL_GAP)) / 2;
    row.forEach((node, c) => {
      position.set(node.id, {
        x: 2 + offset + c * (NODE_W + COL_GAP),
        y: 2 + r * (NODE_H + ROW_GAP)
      });
    });
  });
  return (
    <svg
      className="lepton-lineage"
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      style={{ maxWidth: '100%', height: 'auto' }}
      role="group"
      aria-label={`Lineage of ${lineage.name}:${lineage.version}`}
    >
      <defs>
        <marker
          id="lepton-arrow"
          viewBox="0 0 8 8"
          refX="8"
          refY="4"
          markerWidth="6"
          markerHeight="6"
          orient="auto"
        >
          <path d="M0,0 L8,4 L0,8 z" className="lepton-lineage-arrow" />
        </marker>
      </defs>
      {graph.edges.map(([from, to]) => {
        const a = position.get(from)!;
        const b = position.get(to)!;
        return (
          <line
            key={`${from}->${to}`}
            className="lepton-lineage-edge"
            data-edge={`${from}->${to}`}
            x1={a.x + NODE_W / 2}
            y1={a.y + NODE_H}
            x2={b.x + NODE_W / 2}
            y2={b.y}
            markerEnd="url(#lepton-arrow)"
          />
        );
      })}
      {graph.layers.flat().map(node => {
        const { x, y } = position.get(node.id)!;
        const choose = () => onSelect(node);
        return (
          <g
            key={node.id}
            className={`lepton-lineage-node lepton-lineage-${node.kind} ${
              selected === node.id ? 'lepton-mod-selected' : ''
            }`}
            data-kind={node.kind}
            role="button"
            tabIndex={0}
            aria-pressed={selected === node.id}
            aria-label={`${node.kind}: ${node.label}`}
            onClick={choose}
            onKeyDown={event => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                choose();
              }
            }}
          >
            <rect x={x} y={y} width={NODE_W} height={NODE_H} rx={4} />
            <text x={x + 6} y={y + NODE_H / 2 + 4}>
              <title>{node.label}</title>
              {node.label.length > 19
                ? `${node.label.slice(0, 18)}…`
                : node.label}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
