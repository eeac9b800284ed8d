import * as React from 'react';

import { IModelSummary, Role, roleRank } from '../api';
import { formatTime, formatValue, shortHash } from '../format';
import { notifyError, notifySuccess } from '../notify';
import { StatusBadge } from './JobsPanel';
import { LineageGraph, ILineageNode } from './LineageGraph';
import {
  ActionButton,
  LoadState,
  SelectableItem,
  SelectableList,
  useLoader,
  valueOf
} from './common';
import { ComparisonsView, evidenceText } from './ComparisonsView';
import { Section } from './Section';
import { ServiceStatusLine } from './ServiceStatusLine';
import { SettingsList } from './SettingsList';
import { IPanelProps } from './types';

/**
 * Why the user may not move `alias`, or null when they may: unprotected
 * aliases need the writer role, protected ones (prod) the maintainer role.
 */
export function aliasRefusal(
  alias: string,
  namespace: string,
  role: Role | null,
  protectedAliases: string[]
): string | null {
  const isProtected = protectedAliases.includes(alias);
  const needed: Role = isProtected ? 'maintainer' : 'writer';
  if (roleRank(role) >= roleRank(needed)) {
    return null;
  }
  const you = role ? `you are ${role}` : 'you have no role there';
  const what = isProtected
    ? `the protected alias '${alias}'`
    : `alias '${alias}'`;
  return `Moving ${what} in '${namespace}' needs the ${needed} role; ${you}.`;
}

/** Namespaces and their models; the selected model's versions, aliases and lineage. */
export function ModelsPanel({
  status,
  settings,
  context,
  refreshToken,
  protectedAliases
}: IPanelProps): React.ReactElement {
  const { client } = context;
  const [models, reloadModels] = useLoader(
    () => client.models(),
    [client, refreshToken]
  );
  const [selected, setSelected] = React.useState<string | null>(null);
  const list = valueOf(models) ?? [];
  const byNamespace = new Map<string, IModelSummary[]>();
  for (const model of list) {
    byNamespace.set(model.namespace, [
      ...(byNamespace.get(model.namespace) ?? []),
      model
    ]);
  }
  const model = list.find(m => m.name === selected) ?? null;

  return (
    <Section id="models" title="Models">
      <ServiceStatusLine status={status} />
      <SettingsList items={[['Registry URL', settings.registryUrl]]} />
      <LoadState
        state={models}
        what="models"
        isEmpty={items => items.length === 0}
        empty={
          <>
            No models yet: publish one with{' '}
            <code>{'lepton_jupyter.publish("team/model", model)'}</code>.
          </>
        }
      >
        {() => (
          <div className="lepton-namespaces">
            {[...byNamespace.entries()].map(([namespace, items]) => (
              <div
                key={namespace}
                className="lepton-namespace"
                data-namespace={namespace}
              >
                <h4 className="lepton-subheading">{namespace}</h4>
                <SelectableList
                  items={items}
                  selected={selected}
                  onSelect={setSelected}
                  getKey={item => item.name}
                  getLabel={item => item.name}
                  className="lepton-list lepton-models"
                  itemClassName="lepton-model"
                  label={`Models in ${namespace}`}
                >
                  {item => (
                    <>
                      <span className="lepton-item-title">{item.name}</span>
                      <div className="lepton-item-detail">
                        latest v{item.latest}
                        {Object.entries(item.aliases).map(
                          ([alias, version]) => (
                            <span key={alias} className="lepton-alias-chip">
                              @{alias}→v{version}
                            </span>
                          )
                        )}
                      </div>
                    </>
                  )}
                </SelectableList>
              </div>
            ))}
          </div>
        )}
      </LoadState>
      {model && (
        <ModelDetail
          key={model.name}
          model={model}
          context={context}
          protectedAliases={protectedAliases}
          onChanged={reloadModels}
        />
      )}
    </Section>
  );
}

function ModelDetail({
  model,
  context,
  protectedAliases,
  onChanged
}: {
  model: IModelSummary;
  context: IPanelProps['context'];
  protectedAliases: string[];
  onChanged: () => Promise<void>;
}): React.ReactElement {
  const { client } = context;
  const [versions, reloadVersions] = useLoader(
    () => client.versions(model.name),
    [client, model.name]
  );
  const [namespace] = useLoader(
    () => client.namespace(model.namespace),
    [client, model.namespace]
  );
  const role = valueOf(namespace)?.role ?? null;
  // A 404 (the role was revoked since the listing) or another error says why.
  const checking =
    namespace.kind === 'error' ? namespace.message : 'Checking your role…';
  const aliasNames = Object.keys(model.aliases);
  const [alias, setAlias] = React.useState(
    aliasNames[0] ?? protectedAliases[0] ?? 'prod'
  );
  const [version, setVersion] = React.useState(model.latest);
  const [historyOf, setHistoryOf] = React.useState<string | null>(null);
  const [historyToken, setHistoryToken] = React.useState(0);
  const [lineageOf, setLineageOf] = React.useState(
    model.aliases[aliasNames[0]] ?? model.latest
  );
  const refusal =
    namespace.kind === 'ready'
      ? aliasRefusal(alias, model.namespace, role, protectedAliases)
      : checking;
  const aliasId = React.useId();
  const versionId = React.useId();

  const changed = async (): Promise<void> => {
    await Promise.all([onChanged(), reloadVersions()]);
    setHistoryToken(t => t + 1);
  };

  return (
    <div
      className="lepton-detail lepton-model-detail"
      aria-label={`Model ${model.name}`}
    >
      <h4 className="lepton-subheading">{model.name}</h4>
      <p className="lepton-item-detail lepton-role">
        Your role in {model.namespace}:{' '}
        <strong>{role ?? (namespace.kind === 'ready' ? 'none' : '…')}</strong>
      </p>

      <h5 className="lepton-minor-heading">Aliases</h5>
      {aliasNames.length === 0 ? (
        <p className="lepton-empty">No aliases yet: promote a version below.</p>
      ) : (
        <ul className="lepton-list lepton-aliases">
          {aliasNames.map(name => {
            const why =
              namespace.kind === 'ready'
                ? aliasRefusal(name, model.namespace, role, protectedAliases)
                : checking;
            return (
              <li
                key={name}
                className="lepton-item lepton-alias"
                data-alias={name}
              >
                <span className="lepton-item-title">
                  @{name} →{' '}
                  <span className="lepton-alias-version">
                    v{model.aliases[name]}
                  </span>
                </span>
                {protectedAliases.includes(name) && (
                  <span className="lepton-badge">protected</span>
                )}
                <div className="lepton-row">
                  <ActionButton
                    label="Roll back"
                    busyLabel="Rolling back…"
                    className="lepton-rollback"
                    disabled={why !== null}
                    disabledReason={why ?? undefined}
                    onClick={async () => {
                      try {
                        const moved = await client.rollbackAlias(
                          model.name,
                          name
                        );
                        notifySuccess(
                          `@${name} of ${model.name} rolled back to v${moved.version}.`
                        );
                        await changed();
                      } catch (error) {
                        notifyError(`Rolling back @${name} failed`, error);
                      }
                    }}
                  />
                  <button
                    type="button"
                    className="jp-Button lepton-button lepton-history-toggle"
                    aria-expanded={historyOf === name}
                    onClick={() =>
                      setHistoryOf(historyOf === name ? null : name)
                    }
                  >
                    History
                  </button>
                </div>
                {historyOf === name && (
                  <AliasHistory
                    name={model.name}
                    alias={name}
                    context={context}
                    token={historyToken}
                  />
                )}
              </li>
            );
          })}
        </ul>
      )}

      <h5 className="lepton-minor-heading">Promote</h5>
      <div className="lepton-row lepton-promote">
        <label htmlFor={aliasId} className="lepton-label">
          Alias
        </label>
        <input
          id={aliasId}
          className="jp-mod-styled lepton-input lepton-alias-input"
          list={`${aliasId}-list`}
          value={alias}
          onChange={event => setAlias(event.target.value.trim())}
        />
        <datalist id={`${aliasId}-list`}>
          {[...new Set([...aliasNames, ...protectedAliases, 'staging'])].map(
            a => (
              <option key={a} value={a} />
            )
          )}
        </datalist>
        <label htmlFor={versionId} className="lepton-label">
          to
        </label>
        <select
          id={versionId}
          className="jp-mod-styled lepton-promote-version"
          value={version}
          onChange={event => setVersion(Number(event.target.value))}
        >
          {(valueOf(versions) ?? [])
            .filter(v => !v.yanked)
            .map(v => (
              <option key={v.version} value={v.version}>
                v{v.version}
              </option>
            ))}
        </select>
        <ActionButton
          label="Promote"
          busyLabel="Promoting…"
          className="lepton-promote-button"
          disabled={!alias || refusal !== null}
          disabledReason={
            alias ? (refusal ?? undefined) : 'Name the alias to move.'
          }
          onClick={async () => {
            try {
              const moved = await client.setAlias(model.name, alias, version);
              notifySuccess(
                `@${moved.alias} of ${model.name} now points at v${moved.version}.`
              );
              await changed();
            } catch (error) {
              notifyError(`Promoting v${version} to @${alias} failed`, error);
            }
          }}
        />
      </div>

      <h5 className="lepton-minor-heading">Comparisons</h5>
      <ComparisonsView
        name={model.name}
        context={context}
        token={historyToken}
      />

      <h5 className="lepton-minor-heading">Versions</h5>
      <LoadState
        state={versions}
        what="versions"
        isEmpty={items => items.length === 0}
        empty="This model has no versions."
      >
        {items => (
          <ul
            className="lepton-list lepton-versions"
            role="listbox"
            aria-label={`Versions of ${model.name}`}
          >
            {[...items].reverse().map(v => (
              <SelectableItem
                key={v.version}
                selected={v.version === lineageOf}
                onSelect={() => setLineageOf(v.version)}
                className="lepton-model-version"
                label={`version ${v.version}`}
              >
                <span className="lepton-item-title">v{v.version}</span>{' '}
                {v.yanked && (
                  <span
                    className="lepton-badge lepton-yanked"
                    title={`Yanked by ${v.yanked.by}: ${v.yanked.reason}`}
                  >
                    yanked
                  </span>
                )}
                {v.aliases.map(a => (
                  <span key={a} className="lepton-alias-chip">
                    @{a}
                  </span>
                ))}
                <div className="lepton-item-detail">
                  {shortHash(v.digest)} · {v.created_by} ·{' '}
                  {formatTime(v.created_at)}
                  {Object.entries(v.metrics).map(([k, value]) => (
                    <span key={k}>
                      {' '}
                      · {k} {formatValue(value)}
                    </span>
                  ))}
                  {v.yanked && (
                    <span className="lepton-yank-reason">
                      {' '}
                      · yanked by {v.yanked.by}: {v.yanked.reason}
                    </span>
                  )}
                </div>
              </SelectableItem>
            ))}
          </ul>
        )}
      </LoadState>

      <h5 className="lepton-minor-heading">Lineage of v{lineageOf}</h5>
      <Lineage name={model.name} version={lineageOf} context={context} />
    </div>
  );
}

function AliasHistory({
  name,
  alias,
  context,
  token
}: {
  name: string;
  alias: string;
  context: IPanelProps['context'];
  token: number;
}): React.ReactElement {
  const [history] = useLoader(
    () => context.client.aliasHistory(name, alias),
    [context.client, name, alias, token]
  );
  return (
    <LoadState
      state={history}
      what="alias history"
      isEmpty={items => items.length === 0}
      empty="No moves recorded."
    >
      {items => (
        <ol className="lepton-history" aria-label={`History of @${alias}`}>
          {[...items].reverse().map((event, i) => (
            <li
              key={i}
              className="lepton-history-event"
              data-action={event.action}
            >
              {event.action === 'rollback' ? 'rolled back' : 'set'} to v
              {event.version}
              {event.previous !== null && ` (from v${event.previous})`} by{' '}
              {event.actor}, {formatTime(event.at)}
              {event.evidence && (
                <span className="lepton-evidence">
                  {' '}
                  — {evidenceText(event.evidence)}
                </span>
              )}
            </li>
          ))}
        </ol>
      )}
    </LoadState>
  );
}

function Lineage({
  name,
  version,
  context
}: {
  name: string;
  version: number;
  context: IPanelProps['context'];
}): React.ReactElement {
  const [lineage] = useLoader(
    () => context.client.lineage(`${name}:${version}`),
    [context.client, name, version]
  );
  const [node, setNode] = React.useState<ILineageNode | null>(null);
  return (
    <LoadState state={lineage} what="lineage" isEmpty={() => false} empty="">
      {value => (
        <div className="lepton-lineage-box">
          <div className="lepton-lineage-scroll">
            <LineageGraph
              lineage={value}
              selected={node?.id ?? null}
              onSelect={setNode}
            />
          </div>
          {node && <NodeDetails node={node} context={context} />}
        </div>
      )}
    </LoadState>
  );
}

/** The facts of a lineage node; a job or run node also shows its current status. */
function NodeDetails({
  node,
  context
}: {
  node: ILineageNode;
  context: IPanelProps['context'];
}): React.ReactElement {
  const { client } = context;
  const [live] = useLoader(async () => {
    if (node.kind === 'job' && node.ref) {
      return (await client.job(node.ref)).status as string;
    }
    if (node.kind === 'run' && node.ref) {
      return (await client.run(node.ref)).status as string;
    }
    return null;
  }, [client, node.id, node.ref]);
  const state = valueOf(live);
  return (
    <div
      className="lepton-lineage-details"
      role="region"
      aria-label={`Details of ${node.label}`}
      data-kind={node.kind}
    >
      <h5 className="lepton-minor-heading">
        {node.kind}: {node.label} {state && <StatusBadge status={state} />}
      </h5>
      {live.kind === 'error' && <p className="lepton-error">{live.message}</p>}
      <dl className="lepton-settings-list">
        {node.details
          .filter(([, value]) => value !== '')
          .map(([label, value]) => (
            <React.Fragment key={label}>
              <dt>{label}</dt>
              <dd>{value}</dd>
            </React.Fragment>
          ))}
      </dl>
    </div>
  );
}
