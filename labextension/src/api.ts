/**
 * The REST API of the server extension, typed: interfaces mirroring the
 * server's pydantic models (lepton_jupyter/{datasets,jobs,registry,runs}) and
 * one client object whose methods name the routes of
 * lepton_jupyter/handlers/*.py. Every call goes through {@link requestAPI}.
 */
import { requestAPI, IStatus } from './handler';

// -- datasets (lepton_jupyter/datasets/schema.py) ------------------------------

/** A tag or branch of a data registry; tags are its versions. */
export interface IDatasetVersion {
  name: string;
  kind: 'tag' | 'branch';
  commit: string;
  date: string;
}

/** One DVC-tracked folder or file of a data registry. */
export interface IRegistryDataset {
  path: string;
  hash: string;
  size: number | null;
  files: number | null;
  description: string | null;
}

/** `GET datasets/browse`: the datasets at one revision and every version. */
export interface IRegistryListing {
  url: string;
  rev: string | null;
  commit: string;
  datasets: IRegistryDataset[];
  versions: IDatasetVersion[];
}

/** A dataset attached in the workspace, pinned to one registry commit. */
export interface IAttachedDataset {
  to: string;
  local_path: string;
  dvc_file: string;
  url: string;
  path: string;
  rev: string | null;
  commit: string;
  hash: string;
  files: number;
  bytes: number;
  link_type: string | null;
  /** A registry tag newer than the attached commit, if any. */
  newer_tag: string | null;
}

export interface IAttachRequest {
  url: string;
  path: string;
  rev?: string | null;
  to?: string | null;
}

/** The step an attach is at (`AttachProgress.phase`). */
export type AttachPhase = 'resolve' | 'fetch' | 'link' | 'done';

/**
 * `GET datasets/progress`: the latest event of one running attach, keyed by its
 * destination `to` (lepton_jupyter/datasets/progress.py `AttachBoard.snapshot`).
 */
export interface IAttachProgress {
  to: string;
  phase: AttachPhase;
  files_done: number;
  files_total: number;
  bytes_done: number;
  bytes_total: number;
}

// -- jobs (lepton_jupyter/jobs/schema.py) ----------------------------------------

export type JobStatus =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const ENDED_JOB_STATUSES: ReadonlyArray<JobStatus> = [
  'succeeded',
  'failed',
  'cancelled'
];

/** `GET jobs?status=&limit=&offset=`: a page of jobs and how many match in all. */
export interface IJobList {
  jobs: IJobInfo[];
  total: number;
}

export interface IJobListQuery {
  status?: JobStatus;
  limit?: number;
  offset?: number;
}

export interface IJobInfo {
  id: string;
  name: string;
  status: JobStatus;
  backend: string;
  nprocs: number;
  nnodes: number;
  max_restarts: number;
  kind: string;
  target: string;
  job_dir: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  supervisor_pid: number | null;
  /** Global rank -> exit code (JSON keys are strings). */
  exit_codes: Record<string, number | null>;
  failed_rank: number | null;
  error: string | null;
  cancel_requested: boolean;
  detail: string | null;
  /** GPUs per node; 0 for a CPU job. */
  gpus?: number | null;
  /** GPUs taken for the job on the Jupyter machine (local backend). */
  devices?: string[];
}

/** One `report()` line: rank, step, wall-clock time and the metrics. */
export interface IMetricRecord {
  rank: number;
  step: number | null;
  time: number;
  [metric: string]: unknown;
}

/** Part of one rank's log; `offset` is where the next read starts (`since`). */
export interface ILogChunk {
  rank: number;
  text: string;
  offset: number;
}

export interface IJobLogs {
  id: string;
  rank: number | null;
  tail: number | null;
  text: string;
  chunks: ILogChunk[];
}

/** `GET jobs/<id>/metrics?since=`: records after a byte offset, and the next one. */
export interface IJobMetrics {
  id: string;
  metrics: IMetricRecord[];
  offset: number;
}

// -- registry (lepton_jupyter/registry/schema.py) -----------------------------

export type Role = 'reader' | 'writer' | 'maintainer' | 'admin';

export const ROLES: ReadonlyArray<Role> = [
  'reader',
  'writer',
  'maintainer',
  'admin'
];

export interface IFileEntry {
  path: string;
  digest: string;
  size: number;
}

/** Why a version was withdrawn; it still loads by its number. */
export interface IYankInfo {
  reason: string;
  by: string;
  at: string;
}

export interface IModelVersion {
  name: string;
  version: number;
  digest: string;
  kind: 'state_dict' | 'file' | 'directory';
  entry: string;
  size: number;
  description: string;
  metrics: Record<string, unknown>;
  params: Record<string, unknown>;
  lineage: Record<string, unknown>;
  created_by: string;
  created_at: string;
  aliases: string[];
  files: IFileEntry[];
  /** Set once the version is yanked (listed only when asked for). */
  yanked?: IYankInfo | null;
  /** Set once the yanked version is deleted: its files are gone, its number stays taken. */
  deleted?: { by: string; at: string } | null;
}

export interface IModelSummary {
  name: string;
  namespace: string;
  /** The highest version not yanked; null when every version is. */
  latest: number | null;
  /** Alias -> the version it points at. */
  aliases: Record<string, number>;
  description: string;
  created_by: string;
  created_at: string;
}

export interface IAliasInfo {
  name: string;
  alias: string;
  version: number;
  digest: string;
}

export interface IAliasEvent {
  alias: string;
  action: 'set' | 'rollback';
  version: number;
  previous: number | null;
  actor: string;
  at: string;
  /** Why a gated alias could move: `{comparison, verdict}` or `{override}`. */
  evidence?: Record<string, unknown> | null;
}

export interface IGrantInfo {
  namespace: string;
  role: Role;
  user: string | null;
  group: string | null;
  granted_by: string;
  granted_at: string;
}

/** Who holds a grant: a user or a group (as in {@link IGrantInfo}). */
export type IGrantSubject = Pick<IGrantInfo, 'user' | 'group'>;

/** `user/NAME` or `group/NAME`: the grant's part of its route. */
function grantPath(grant: IGrantSubject): string {
  return grant.user !== null
    ? `user/${encodeURIComponent(grant.user)}`
    : `group/${encodeURIComponent(grant.group ?? '')}`;
}

/** What a hard delete of a yanked version removed (or, in a dry run, would remove). */
export interface IVersionDeletion {
  name: string;
  version: number;
  dry_run: boolean;
  /** Who deleted it, when (null in a dry run). */
  deleted: { by: string; at: string } | null;
  /** The blobs no other version names: they go with it. */
  blobs: string[];
  /** Those of `blobs` removed now; the rest (uploaded recently) go with `fsck --gc`. */
  reclaimed: string[];
}

/** A namespace the caller has a role in; to anyone else it is a 404. */
export interface INamespaceInfo {
  name: string;
  role: Role;
  grants: IGrantInfo[];
}

export interface ILoadInfo {
  user: string;
  notebook: string;
  job: string;
  run: string;
  at: string;
}

/** A dataset pin recorded in a version's lineage (from the run ledger). */
export interface ILineageDataset {
  url?: string | null;
  path?: string | null;
  rev?: string | null;
  commit?: string | null;
  hash?: string | null;
}

export interface ILineage {
  name: string;
  version: number;
  digest: string;
  user: string;
  created_at: string;
  datasets: ILineageDataset[];
  parents: Array<Record<string, unknown>>;
  jobs: string[];
  notebook: string | null;
  git: Record<string, unknown> | null;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  loaded_by: ILoadInfo[];
  /** Comparisons the version took part in, newest first. */
  comparisons?: ILineageComparison[];
  /** Alias moves to the version (a gated one carries its evidence). */
  promotions?: IAliasEvent[];
}

export interface ILineageComparison {
  id: number;
  metric: string;
  candidates: string[];
  winner: string | null;
  verdict: string;
  created_by: string;
  created_at: string;
}

// -- runs (lepton_jupyter/runs/{manifest,diff}.py) -----------------------------

export type RunStatus = 'running' | 'completed' | 'failed' | 'crashed';

export interface IRunManifest {
  id: string;
  status: RunStatus;
  engine: string;
  notebook: {
    path: string;
    source?: 'file' | 'url' | 'stdin' | 'object';
    digest: string;
    cells: string[];
  };
  kernel_name: string;
  cwd: string;
  parameters: Record<string, unknown>;
  ledger: Array<Record<string, unknown>>;
  metrics: Record<string, unknown>;
  packages: Record<string, string | null>;
  python: string;
  git: { root: string; commit: string | null; dirty: boolean } | null;
  started_at: string;
  ended_at: string | null;
  output_path: string | null;
  output_digest: string | null;
  /** One line, the cell as papermill shows it: 'In [4]: ValueError: boom'. */
  error: string | null;
  failure?: {
    ename: string;
    evalue: string;
    cell_index: number | null;
    exec_count: number | null;
  } | null;
  exit_code?: number | null;
  rerun_of: string | null;
  /** A rerun's mode: a dry run changes nothing shared; apply publishes for real. */
  rerun_mode?: 'dry-run' | 'apply' | null;
  workdir?: string | null;
  user: string;
  pid: number | null;
  /** The jupyter-scheduler job that ran it (lepton_jupyter/scheduler). */
  scheduled?: IScheduledJob | null;
}

// -- scheduled runs (lepton_jupyter/scheduler/schema.py, runs/manifest.py) -----

export interface ICheckResult {
  check: string;
  passed: boolean;
  message: string;
}

export interface IScheduledJob {
  job_id: string;
  job_definition_id?: string | null;
  job_name?: string;
  /** The earlier successful run of the same definition this run is compared with. */
  previous_run?: string | null;
  checks?: ICheckResult[];
}

export interface ISeriesPoint {
  run_id: string;
  job_id: string;
  status: RunStatus;
  started_at: string;
  metrics: Record<string, unknown>;
  error?: string | null;
  previous_run?: string | null;
  /** Pins and parameters that changed since the previous successful run, in words. */
  changes?: string[];
  deltas?: Record<string, number>;
  checks?: ICheckResult[];
}

export interface ISeries {
  job_definition_id: string;
  job_name?: string;
  metrics?: string[];
  checks?: string[];
  points?: ISeriesPoint[];
}

export interface IDefinitionChecks {
  job_definition_id: string;
  checks?: string[];
}

export interface IParameterChange {
  name: string;
  before: unknown;
  after: unknown;
}

export interface IPinDiff {
  kind: string;
  key: string;
  /** What a person calls it (`datasets/points@main`); absent from older servers. */
  label?: string;
  status: 'held' | 'changed' | 'missing' | 'new';
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface IMetricDiff {
  name: string;
  before: unknown;
  after: unknown;
  abs_diff: number | null;
  rel_diff: number | null;
  equal: boolean;
}

export interface ICellDiff {
  index: number;
  /** 'In [N]': the cell as papermill shows it. */
  label?: string;
  source: string;
  source_changed: boolean;
  outputs_changed: boolean;
  before: string;
  after: string;
}

export interface IPublishDiff {
  name: string;
  version: number | null;
  before: string | null;
  after: string | null;
  applied: boolean;
  reproduced: boolean;
}

export interface IRunDiff {
  before: string;
  after: string;
  mode?: 'dry-run' | 'apply' | null;
  abs_tol: number;
  rel_tol: number;
  notebook_changed: boolean;
  parameters: IParameterChange[];
  pins: IPinDiff[];
  metrics: IMetricDiff[];
  published?: IPublishDiff[];
  not_applied?: string[];
  cells: ICellDiff[];
  presentation?: ICellDiff[];
  identical?: boolean;
}

// -- comparisons (lepton_jupyter/compare/schema.py) ---------------------------

export interface IDatasetPin {
  url: string;
  path: string;
  rev: string | null;
  commit: string;
}

export interface ICandidateResult {
  ref: string;
  name: string;
  version: number;
  digest: string;
  run: string;
  metrics: Record<string, unknown>;
  examples: number[];
}

export interface IPairStat {
  a: string;
  b: string;
  mean_a: number;
  mean_b: number;
  difference: number;
  low: number;
  high: number;
  confidence: number;
  test: string;
  p_value: number;
  n: number;
  better: string | null;
}

export interface IStanding {
  candidate: string;
  mean: number;
  rank: number;
}

export interface IComparison {
  id: number;
  metric: string;
  higher_is_better: boolean;
  confidence: number;
  evaluation: { kind: string; path: string; digest: string };
  datasets: IDatasetPin[];
  candidates: ICandidateResult[];
  pairs: IPairStat[];
  ranking: IStanding[];
  winner: string | null;
  verdict: string;
  created_by: string;
  created_at: string;
  rerun_of: number | null;
}

export interface IGateVerdict {
  gate: string;
  new: string;
  current: string;
  comparison: number | null;
  passed: boolean;
  reason: string;
}

export interface IGateReport {
  alias: string;
  gate: string;
  description: string;
  holder: number | null;
  verdicts: IGateVerdict[];
}

// -- the client ----------------------------------------------------------------

/** Every call the sidebar makes; components take it as a prop so tests can stub it. */
export interface ILeptonClient {
  status(): Promise<IStatus>;

  browseDatasets(url: string, rev?: string | null): Promise<IRegistryListing>;
  attachedDatasets(): Promise<IAttachedDataset[]>;
  attachDataset(request: IAttachRequest): Promise<IAttachedDataset>;
  /** The attaches running on the server now (an empty list when none is). */
  attachProgress(): Promise<IAttachProgress[]>;
  updateDataset(to: string, rev?: string | null): Promise<IAttachedDataset>;
  detachDataset(to: string): Promise<IAttachedDataset>;

  /** Jobs, newest first: `limit` of them (a page) with `status`, and how many match. */
  jobs(options?: IJobListQuery): Promise<IJobList>;
  job(id: string): Promise<IJobInfo>;
  /** Records reported after byte `since` (0: all) of the job's metrics. */
  jobMetrics(id: string, since?: number): Promise<IJobMetrics>;
  /** The last `tail` lines of each rank's log, or what each gained since its offset. */
  jobLogs(
    id: string,
    rank?: number | null,
    tail?: number | null,
    since?: number[] | null
  ): Promise<IJobLogs>;
  cancelJob(id: string): Promise<IJobInfo>;

  /** Models; with `includeYanked` those whose every version is yanked too. */
  models(namespace?: string, includeYanked?: boolean): Promise<IModelSummary[]>;
  /** Every version, yanked ones too (each says so). */
  versions(name: string): Promise<IModelVersion[]>;
  /** Withdraw a version (maintainers): gone from listings and aliases, loadable by number. */
  yankVersion(
    name: string,
    version: number,
    reason: string
  ): Promise<IModelVersion>;
  /** Undo a yank (maintainers): listed again, the latest if highest; no alias moves back. */
  unyankVersion(name: string, version: number): Promise<IModelVersion>;
  /**
   * Hard-delete a yanked version (admins): a tombstone keeps its number, its files and
   * the blobs no other version names go. `dryRun` only says what would go.
   */
  deleteVersion(
    name: string,
    version: number,
    dryRun?: boolean
  ): Promise<IVersionDeletion>;
  namespace(name: string): Promise<INamespaceInfo>;
  /** Give a user or a group a role (admins), replacing the one it held; the grant. */
  grantRole(
    namespace: string,
    role: Role,
    subject: IGrantSubject
  ): Promise<IGrantInfo>;
  /** Take back the role a grant gave (admins); the removed grant. */
  revokeGrant(namespace: string, grant: IGrantSubject): Promise<IGrantInfo>;
  setAlias(name: string, alias: string, version: number): Promise<IAliasInfo>;
  rollbackAlias(name: string, alias: string): Promise<IAliasInfo>;
  aliasHistory(name: string, alias: string): Promise<IAliasEvent[]>;
  lineage(ref: string): Promise<ILineage>;
  comparisons(name: string): Promise<IComparison[]>;
  gates(name: string): Promise<IGateReport[]>;

  runs(limit?: number): Promise<IRunManifest[]>;
  run(id: string): Promise<IRunManifest>;
  rerun(
    id: string,
    parameters?: Record<string, unknown>
  ): Promise<IRunManifest>;
  runDiff(id: string, against?: string): Promise<IRunDiff>;

  series(definitionId: string): Promise<ISeries>;
  setChecks(definitionId: string, checks: string[]): Promise<IDefinitionChecks>;
}

/** `a/b` as the path of a model route (`registry/models/a/b`), each part escaped. */
function modelPath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

function query(params: Record<string, string | number | null | undefined>) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') {
      search.set(key, String(value));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

function post(body: unknown, method = 'POST'): RequestInit {
  return { method, body: JSON.stringify(body ?? {}) };
}

/** The client of the page's Jupyter server. */
export const leptonClient: ILeptonClient = {
  status: () => requestAPI<IStatus>('status'),

  browseDatasets: (url, rev) =>
    requestAPI<IRegistryListing>(`datasets/browse${query({ url, rev })}`),
  attachedDatasets: () => requestAPI<IAttachedDataset[]>('datasets'),
  attachDataset: request =>
    requestAPI<IAttachedDataset>('datasets', post(request)),
  attachProgress: () => requestAPI<IAttachProgress[]>('datasets/progress'),
  updateDataset: (to, rev) =>
    requestAPI<IAttachedDataset>('datasets/update', post({ to, rev })),
  detachDataset: to =>
    requestAPI<IAttachedDataset>(`datasets/${modelPath(to)}`, {
      method: 'DELETE'
    }),

  jobs: options => requestAPI<IJobList>(`jobs${query({ ...options })}`),
  job: id => requestAPI<IJobInfo>(`jobs/${encodeURIComponent(id)}`),
  jobMetrics: (id, since) =>
    requestAPI<IJobMetrics>(
      `jobs/${encodeURIComponent(id)}/metrics${query({ since })}`
    ),
  jobLogs: (id, rank, tail, since) =>
    requestAPI<IJobLogs>(
      `jobs/${encodeURIComponent(id)}/logs${query({
        rank,
        tail,
        since: since ? since.join(',') : null
      })}`
    ),
  cancelJob: id =>
    requestAPI<IJobInfo>(`jobs/${encodeURIComponent(id)}/cancel`, post({})),

  models: (namespace, includeYanked) =>
    requestAPI<IModelSummary[]>(
      `registry/models${query({
        namespace,
        include_yanked: includeYanked ? 'true' : null
      })}`
    ),
  versions: name =>
    requestAPI<IModelVersion[]>(
      `registry/models/${modelPath(name)}/versions${query({ include_yanked: 'true' })}`
    ),
  yankVersion: (name, version, reason) =>
    requestAPI<IModelVersion>(
      `registry/models/${modelPath(name)}/versions/${version}/yank`,
      post({ reason })
    ),
  unyankVersion: (name, version) =>
    requestAPI<IModelVersion>(
      `registry/models/${modelPath(name)}/versions/${version}/yank`,
      { method: 'DELETE' }
    ),
  deleteVersion: (name, version, dryRun) =>
    requestAPI<IVersionDeletion>(
      `registry/models/${modelPath(name)}/versions/${version}${query({
        dry_run: dryRun ? 'true' : null
      })}`,
      { method: 'DELETE' }
    ),
  namespace: name =>
    requestAPI<INamespaceInfo>(
      `registry/namespaces/${encodeURIComponent(name)}`
    ),
  grantRole: (namespace, role, subject) =>
    requestAPI<IGrantInfo>(
      `registry/namespaces/${encodeURIComponent(namespace)}/grants`,
      post({ role, ...subject })
    ),
  revokeGrant: (namespace, grant) =>
    requestAPI<IGrantInfo>(
      `registry/namespaces/${encodeURIComponent(namespace)}/grants/${grantPath(grant)}`,
      { method: 'DELETE' }
    ),
  setAlias: (name, alias, version) =>
    requestAPI<IAliasInfo>(
      `registry/models/${modelPath(name)}/aliases/${encodeURIComponent(alias)}`,
      post({ version }, 'PUT')
    ),
  rollbackAlias: (name, alias) =>
    requestAPI<IAliasInfo>(
      `registry/models/${modelPath(name)}/aliases/${encodeURIComponent(alias)}/rollback`,
      post({})
    ),
  aliasHistory: (name, alias) =>
    requestAPI<IAliasEvent[]>(
      `registry/models/${modelPath(name)}/aliases/${encodeURIComponent(alias)}/history`
    ),
  lineage: ref => requestAPI<ILineage>(`registry/lineage${query({ ref })}`),
  comparisons: name =>
    requestAPI<IComparison[]>(`registry/comparisons${query({ name })}`),
  gates: name => requestAPI<IGateReport[]>(`registry/gates${query({ name })}`),

  runs: limit => requestAPI<IRunManifest[]>(`runs${query({ limit })}`),
  run: id => requestAPI<IRunManifest>(`runs/${encodeURIComponent(id)}`),
  rerun: (id, parameters) =>
    requestAPI<IRunManifest>(
      `runs/${encodeURIComponent(id)}/rerun`,
      post({ parameters: parameters ?? {} })
    ),
  runDiff: (id, against) =>
    requestAPI<IRunDiff>(
      `runs/${encodeURIComponent(id)}/diff${query({ against })}`
    ),

  series: definitionId =>
    requestAPI<ISeries>(
      `scheduler/definitions/${encodeURIComponent(definitionId)}/series`
    ),
  setChecks: (definitionId, checks) =>
    requestAPI<IDefinitionChecks>(
      `scheduler/definitions/${encodeURIComponent(definitionId)}/checks`,
      post({ checks }, 'PUT')
    )
};

/** The rank order of a role (0: no role), to compare what a user may do. */
export function roleRank(role: Role | null | undefined): number {
  return role ? ROLES.indexOf(role) + 1 : 0;
}
