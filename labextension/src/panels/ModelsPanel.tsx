import * as React from 'react';

import {
  IGrantInfo,
  IGrantSubject,
  IModelSummary,
  IModelVersion,
  Role,
  ROLES,
  roleRank
} from '../api';
import { askReason, confirmAction } from '../dialogs';
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
 * Why `role` may not do `action` ("Yanking versions") in `namespace`, which
 * needs the role `needed`, or null when it may.
 */
export function roleRefusal(
  action: string,
  namespace: string,
  role: Role | null,
  needed: Role
): string | null {
  if (roleRank(role) >= roleRank(needed)) {
    return null;
  }
  const you = role ? `you are ${role}` : 'you have no role there';
  return `${action} in '${namespace}' needs the ${needed} role; ${you}.`;
}

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
  const what = isProtected
    ? `the protected alias '${alias}'`
    : `alias '${alias}'`;
  const needed: Role = isProtected ? 'maintainer' : 'writer';
  return roleRefusal(`Moving ${what}`, namespace, role, needed);
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
    // Yanked ones too: a model whose every version is yanked stays in reach.
    () => client.models(undefined, true),
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
                <NamespaceAccess
                  namespace={namespace}
                  context={context}
                  onChanged={reloadModels}
                />
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
                        {item.latest === null
                          ? 'every version yanked'
                          : `latest v${item.latest}`}
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
  const [lineageOf, setLineageOf] = React.useState<number | null>(
    model.aliases[aliasNames[0]] ?? model.latest
  );
  const [showYanked, setShowYanked] = React.useState(true);
  const listed = valueOf(versions) ?? [];
  const live = listed.filter(v => !v.yanked);
  // The version to promote: the one chosen while it is not yanked, else the newest such.
  const promoted = live.some(v => v.version === version)
    ? version
    : (live[live.length - 1]?.version ?? null);
  const lineageShown = lineageOf ?? listed[listed.length - 1]?.version ?? null;
  // Where each alias points, from the versions once loaded: the summary leaves out an
  // alias left on a yanked version, which resolves no more until it is moved.
  const aliasTargets: Record<string, number> = listed.length
    ? Object.fromEntries(
        listed.flatMap(v => v.aliases.map(a => [a, v.version] as const))
      )
    : model.aliases;
  const shownAliases = Object.keys(aliasTargets).sort();
  const yankedTarget = (name: string) =>
    listed.find(v => v.version === aliasTargets[name])?.yanked ?? null;
  const refusal =
    namespace.kind === 'ready'
      ? aliasRefusal(alias, model.namespace, role, protectedAliases)
      : checking;
  const yankRefusal =
    namespace.kind === 'ready'
      ? roleRefusal(
          'Yanking or un-yanking versions',
          model.namespace,
          role,
          'maintainer'
        )
      : checking;
  const deleteRefusal =
    namespace.kind === 'ready'
      ? roleRefusal('Deleting versions', model.namespace, role, 'admin')
      : checking;
  const deletable = listed.some(v => v.yanked && !v.deleted);
  const aliasId = React.useId();
  const versionId = React.useId();

  const changed = async (): Promise<void> => {
    await Promise.all([onChanged(), reloadVersions()]);
    setHistoryToken(t => t + 1);
  };

  const yank = async (v: IModelVersion): Promise<void> => {
    const ref = `${model.name}:${v.version}`;
    const aliased = v.aliases.length
      ? ` ${v.aliases.map(a => `@${a}`).join(', ')} will not resolve until moved.`
      : '';
    const reason = await askReason({
      title: `Yank ${ref}?`,
      body:
        `Listings, the latest and aliases will skip v${v.version}; ${ref} and runs ` +
        `pinned to it still load it, with your reason.${aliased}`,
      label: 'Reason (shown to whoever loads it)',
      accept: 'Yank'
    });
    if (reason === null) {
      return;
    }
    try {
      await client.yankVersion(model.name, v.version, reason);
      notifySuccess(`${ref} yanked: ${reason}`);
      await changed();
    } catch (error) {
      notifyError(`Yanking ${ref} failed`, error);
    }
  };

  const unyank = async (v: IModelVersion): Promise<void> => {
    const ref = `${model.name}:${v.version}`;
    const newest = live.every(other => other.version < v.version);
    const accepted = await confirmAction({
      title: `Un-yank ${ref}?`,
      body:
        `Listings show v${v.version} again` +
        (newest ? ` and ${model.name} resolves to it (the latest)` : '') +
        '; no alias moves back onto it.',
      accept: 'Un-yank'
    });
    if (!accepted) {
      return;
    }
    try {
      await client.unyankVersion(model.name, v.version);
      notifySuccess(`${ref} un-yanked.`);
      await changed();
    } catch (error) {
      notifyError(`Un-yanking ${ref} failed`, error);
    }
  };

  const remove = async (v: IModelVersion): Promise<void> => {
    const ref = `${model.name}:${v.version}`;
    try {
      // A dry run first: what would go, or the server's refusal before any dialog.
      const plan = await client.deleteVersion(model.name, v.version, true);
      const blobs = plan.blobs.length;
      const accepted = await confirmAction({
        title: `Delete ${ref}?`,
        body:
          `v${v.version} becomes a tombstone: its number is never given to other ` +
          `files, and a pin naming it fails saying who deleted it. Its files go, ` +
          `with ${blobs === 1 ? '1 blob' : `${blobs} blobs`} no other version holds ` +
          '(reclaimed). This cannot be undone.',
        accept: 'Delete'
      });
      if (!accepted) {
        return;
      }
      const done = await client.deleteVersion(model.name, v.version);
      const later = done.blobs.length - done.reclaimed.length;
      notifySuccess(
        `${ref} deleted; ${done.reclaimed.length} blob(s) reclaimed` +
          (later > 0 ? `, ${later} more at the next fsck --gc.` : '.')
      );
      await changed();
    } catch (error) {
      notifyError(`Deleting ${ref} failed`, error);
    }
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
      {shownAliases.length === 0 ? (
        <p className="lepton-empty">No aliases yet: promote a version below.</p>
      ) : (
        <ul className="lepton-list lepton-aliases">
          {shownAliases.map(name => {
            const why =
              namespace.kind === 'ready'
                ? aliasRefusal(name, model.namespace, role, protectedAliases)
                : checking;
            const stale = yankedTarget(name);
            return (
              <li
                key={name}
                className="lepton-item lepton-alias"
                data-alias={name}
              >
                <span className="lepton-item-title">
                  @{name} →{' '}
                  <span className="lepton-alias-version">
                    v{aliasTargets[name]}
                  </span>
                </span>
                {protectedAliases.includes(name) && (
                  <span className="lepton-badge">protected</span>
                )}
                {stale && (
                  <div className="lepton-item-detail lepton-alias-stale">
                    <span className="lepton-badge lepton-yanked">
                      on a yanked version
                    </span>{' '}
                    @{name} does not resolve until moved (v
                    {aliasTargets[name]} yanked by {stale.by}: {stale.reason}).
                  </div>
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
          {[...new Set([...shownAliases, ...protectedAliases, 'staging'])].map(
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
          value={promoted ?? ''}
          onChange={event => setVersion(Number(event.target.value))}
        >
          {live.map(v => (
            <option key={v.version} value={v.version}>
              v{v.version}
            </option>
          ))}
        </select>
        <ActionButton
          label="Promote"
          busyLabel="Promoting…"
          className="lepton-promote-button"
          disabled={!alias || refusal !== null || promoted === null}
          disabledReason={
            !alias
              ? 'Name the alias to move.'
              : (refusal ??
                (promoted === null
                  ? 'Every version is yanked: there is none to promote.'
                  : undefined))
          }
          onClick={async () => {
            if (promoted === null) {
              return;
            }
            try {
              const moved = await client.setAlias(model.name, alias, promoted);
              notifySuccess(
                `@${moved.alias} of ${model.name} now points at v${moved.version}.`
              );
              await changed();
            } catch (error) {
              notifyError(`Promoting v${promoted} to @${alias} failed`, error);
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
      {namespace.kind === 'ready' && yankRefusal !== null && (
        <p className="lepton-item-detail lepton-yank-refusal">{yankRefusal}</p>
      )}
      {namespace.kind === 'ready' &&
        yankRefusal === null &&
        deleteRefusal !== null &&
        deletable && (
          <p className="lepton-item-detail lepton-delete-refusal">
            {deleteRefusal}
          </p>
        )}
      <LoadState
        state={versions}
        what="versions"
        isEmpty={items => items.length === 0}
        empty="This model has no versions."
      >
        {items => {
          const yankedCount = items.length - live.length;
          const shown = showYanked ? items : live;
          return (
            <>
              {yankedCount > 0 && (
                <label className="lepton-show-yanked">
                  <input
                    type="checkbox"
                    checked={showYanked}
                    onChange={event => setShowYanked(event.target.checked)}
                  />{' '}
                  Show yanked versions ({yankedCount})
                </label>
              )}
              {shown.length === 0 && (
                <p className="lepton-empty">
                  Every version is yanked; show them to see why.
                </p>
              )}
              <ul
                className="lepton-list lepton-versions"
                role="listbox"
                aria-label={`Versions of ${model.name}`}
              >
                {[...shown].reverse().map(v => (
                  <SelectableItem
                    key={v.version}
                    selected={v.version === lineageShown}
                    onSelect={() => setLineageOf(v.version)}
                    className={`lepton-model-version${v.yanked ? ' lepton-mod-yanked' : ''}`}
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
                    {v.deleted && (
                      <span
                        className="lepton-badge lepton-deleted"
                        title={`Deleted by ${v.deleted.by}: its files are gone`}
                      >
                        deleted
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
                      {v.deleted && (
                        <span className="lepton-delete-note">
                          {' '}
                          · deleted by {v.deleted.by},{' '}
                          {formatTime(v.deleted.at)}
                        </span>
                      )}
                    </div>
                    {yankRefusal === null && !v.yanked && (
                      <RowActions>
                        <ActionButton
                          label="Yank"
                          busyLabel="Yanking…"
                          className="lepton-yank"
                          title={`Withdraw v${v.version}: listings and aliases skip it, its number still loads it`}
                          onClick={() => yank(v)}
                        />
                      </RowActions>
                    )}
                    {v.yanked &&
                      !v.deleted &&
                      (yankRefusal === null || deleteRefusal === null) && (
                        <RowActions>
                          {yankRefusal === null && (
                            <ActionButton
                              label="Un-yank"
                              busyLabel="Un-yanking…"
                              className="lepton-unyank"
                              title={`List v${v.version} again (no alias moves back)`}
                              onClick={() => unyank(v)}
                            />
                          )}
                          {deleteRefusal === null && (
                            <ActionButton
                              label="Delete"
                              busyLabel="Deleting…"
                              className="lepton-delete-version"
                              title={`Delete v${v.version} for good: its files go, its number stays taken`}
                              onClick={() => remove(v)}
                            />
                          )}
                        </RowActions>
                      )}
                  </SelectableItem>
                ))}
              </ul>
            </>
          );
        }}
      </LoadState>

      {lineageShown !== null && (
        <>
          <h5 className="lepton-minor-heading">Lineage of v{lineageShown}</h5>
          <Lineage
            name={model.name}
            version={lineageShown}
            context={context}
            token={historyToken}
          />
        </>
      )}
    </div>
  );
}

/** Buttons inside a selectable row: a click or a key on a button does not select the row. */
function RowActions({
  children
}: {
  children: React.ReactNode;
}): React.ReactElement {
  // Only a control keeps its event: the strip's empty space selects the row like the rest.
  const keep = (event: React.SyntheticEvent) => {
    if ((event.target as Element).closest('button, input, select, a')) {
      event.stopPropagation();
    }
  };
  return (
    <div
      className="lepton-row lepton-row-actions"
      onClick={keep}
      onKeyDown={keep}
    >
      {children}
    </div>
  );
}

/**
 * An "Access" toggle beside a namespace's heading: who holds which role there, and
 * (for its admins) a Revoke button on each grant, confirmed first.
 */
interface INamespaceProps {
  namespace: string;
  context: IPanelProps['context'];
  /** Reload what the panel shows after a grant changed. */
  onChanged: () => Promise<void>;
}

function NamespaceAccess({
  namespace,
  context,
  onChanged
}: INamespaceProps): React.ReactElement {
  const [open, setOpen] = React.useState(false);
  return (
    <>
      <button
        type="button"
        className="jp-Button lepton-button lepton-access-toggle"
        aria-expanded={open}
        title={`Who has which role in ${namespace}`}
        onClick={() => setOpen(!open)}
      >
        Access
      </button>
      {open && (
        <NamespaceGrants
          namespace={namespace}
          context={context}
          onChanged={onChanged}
        />
      )}
    </>
  );
}

/** A grant's holder in words: "user bob", "group vision-team". */
export function grantHolder(grant: IGrantSubject): string {
  return grant.user !== null ? `user ${grant.user}` : `group ${grant.group}`;
}

function NamespaceGrants({
  namespace,
  context,
  onChanged
}: INamespaceProps): React.ReactElement {
  const { client } = context;
  const [info, reload] = useLoader(
    () => client.namespace(namespace),
    [client, namespace]
  );

  const grant = async (
    role: Role,
    subject: IGrantSubject
  ): Promise<boolean> => {
    const who = grantHolder(subject);
    let granted = false;
    try {
      await client.grantRole(namespace, role, subject);
      notifySuccess(`The ${who} now holds the ${role} role on ${namespace}.`);
      granted = true;
    } catch (error) {
      notifyError(`Granting ${role} to ${who} on ${namespace} failed`, error);
    }
    await Promise.all([reload(), onChanged()]);
    return granted;
  };

  const revoke = async (grant: IGrantInfo): Promise<void> => {
    const who = grantHolder(grant);
    const accepted = await confirmAction({
      title: `Revoke the ${grant.role} role of ${who} on ${namespace}?`,
      body:
        `The ${who} loses what this grant gave in ${namespace} ` +
        "(a role from another grant, such as a group's, stays).",
      accept: 'Revoke'
    });
    if (!accepted) {
      return;
    }
    try {
      await client.revokeGrant(namespace, grant);
      notifySuccess(
        `The ${grant.role} role of ${who} on ${namespace} revoked.`
      );
    } catch (error) {
      notifyError(`Revoking the role of ${who} on ${namespace} failed`, error);
    }
    await Promise.all([reload(), onChanged()]);
  };

  return (
    <div
      className="lepton-grants-box"
      role="region"
      aria-label={`Access to ${namespace}`}
    >
      <LoadState
        state={info}
        what="grants"
        // The grant form shows under an empty list too (a registry admin's namespace).
        isEmpty={() => false}
        empty=""
      >
        {value => {
          const refusal = roleRefusal(
            'Granting or revoking roles',
            namespace,
            value.role,
            'admin'
          );
          const admins = value.grants.filter(g => g.role === 'admin').length;
          return (
            <>
              <p className="lepton-item-detail">
                Your role: <strong>{value.role}</strong>
                {refusal && <> · {refusal}</>}
              </p>
              {value.grants.length === 0 && (
                <p className="lepton-empty">No grants.</p>
              )}
              <ul
                className="lepton-list lepton-grants"
                aria-label={`Grants in ${namespace}`}
              >
                {value.grants.map(grant => {
                  const who = grantHolder(grant);
                  const last = grant.role === 'admin' && admins === 1;
                  return (
                    <li
                      key={who}
                      className="lepton-item lepton-grant"
                      data-holder={who}
                    >
                      <span className="lepton-item-title">{who}</span>
                      <span className="lepton-badge lepton-grant-role">
                        {grant.role}
                      </span>
                      <div className="lepton-item-detail">
                        granted by {grant.granted_by},{' '}
                        {formatTime(grant.granted_at)}
                      </div>
                      {refusal === null && (
                        <div className="lepton-row">
                          <ActionButton
                            label="Revoke"
                            busyLabel="Revoking…"
                            className="lepton-revoke"
                            disabled={last}
                            disabledReason={
                              last
                                ? 'The last admin grant stays: grant admin to someone else first.'
                                : undefined
                            }
                            onClick={() => revoke(grant)}
                          />
                        </div>
                      )}
                    </li>
                  );
                })}
              </ul>
              {refusal === null && (
                <GrantForm namespace={namespace} onGrant={grant} />
              )}
            </>
          );
        }}
      </LoadState>
    </div>
  );
}

/** An admin's form under a namespace's grants: a user or a group, its name, a role. */
function GrantForm({
  namespace,
  onGrant
}: {
  namespace: string;
  /** Ask the server; true once granted (the form then clears the name). */
  onGrant: (role: Role, subject: IGrantSubject) => Promise<boolean>;
}): React.ReactElement {
  const [kind, setKind] = React.useState<'user' | 'group'>('user');
  const [name, setName] = React.useState('');
  const [role, setRole] = React.useState<Role>('reader');
  const id = React.useId();
  const holder = name.trim();
  return (
    <div
      className="lepton-row lepton-grant-form"
      role="group"
      aria-label={`Grant a role in ${namespace}`}
    >
      <select
        className="jp-mod-styled lepton-grant-kind"
        aria-label="Grant to"
        value={kind}
        onChange={event => setKind(event.target.value as 'user' | 'group')}
      >
        <option value="user">user</option>
        <option value="group">group</option>
      </select>
      <input
        className="jp-mod-styled lepton-input lepton-grant-name"
        aria-label={`Name of the ${kind}`}
        placeholder={kind === 'user' ? 'user name' : 'group name'}
        maxLength={128}
        value={name}
        onChange={event => setName(event.target.value)}
      />
      <label htmlFor={id} className="lepton-label">
        as
      </label>
      <select
        id={id}
        className="jp-mod-styled lepton-grant-role-select"
        aria-label="Role"
        value={role}
        onChange={event => setRole(event.target.value as Role)}
      >
        {ROLES.map(r => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      <ActionButton
        label="Grant"
        busyLabel="Granting…"
        className="lepton-grant-button"
        disabled={!holder}
        title={`Give the ${kind} this role in ${namespace} (replacing the one it holds)`}
        onClick={async () => {
          const subject: IGrantSubject =
            kind === 'user'
              ? { user: holder, group: null }
              : { user: null, group: holder };
          if (await onGrant(role, subject)) {
            setName('');
          }
        }}
      />
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
  context,
  token
}: {
  name: string;
  version: number;
  context: IPanelProps['context'];
  /** Changes after each action in the panel: a promotion or a yank shows in the lineage. */
  token: number;
}): React.ReactElement {
  const [lineage] = useLoader(
    () => context.client.lineage(`${name}:${version}`),
    [context.client, name, version, token]
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
