/**
 * Compile-time checks that the interfaces of api.ts and handler.ts fit the server's
 * OpenAPI document: openapi.d.ts is generated from lepton_jupyter/handlers/openapi.json
 * (tests/unit/test_openapi_typescript.py regenerates it and diffs), and `tsc` fails here
 * when a route the client calls is gone or answers something its interface does not hold.
 */
import type * as api from './api';
import type { IStatus } from './handler';
import type { paths } from './openapi';

type Verb = 'get' | 'post' | 'put' | 'delete';

/** The JSON a route answers with `status`. */
type Reply<
  P extends keyof paths,
  V extends Verb,
  Status extends number = 200
> = paths[P][V] extends {
  responses: { [K in Status]: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

/** The JSON body a route takes. */
type Body<P extends keyof paths, V extends Verb> = paths[P][V] extends {
  requestBody: { content: { 'application/json': infer T } };
}
  ? T
  : never;

/** `true` when every value of A is a B (and A is a real type, not never). */
type Fits<A, B> = [A] extends [never] ? false : [A] extends [B] ? true : false;
type Holds<T extends true> = T;

const MODEL = '/lepton/api/registry/models/{namespace}/{model}';
type Model = typeof MODEL;
const DEFINITION = '/lepton/api/scheduler/definitions/{definition_id}';
type Definition = typeof DEFINITION;

/** Each route the client calls, its answer read as the interface the client names. */
export type RepliesFit = [
  Holds<Fits<Reply<'/lepton/api/status', 'get'>, IStatus>>,
  Holds<
    Fits<Reply<'/lepton/api/datasets/browse', 'get'>, api.IRegistryListing>
  >,
  Holds<Fits<Reply<'/lepton/api/datasets', 'get'>, api.IAttachedDataset[]>>,
  Holds<Fits<Reply<'/lepton/api/datasets', 'post', 201>, api.IAttachedDataset>>,
  Holds<
    Fits<Reply<'/lepton/api/datasets/progress', 'get'>, api.IAttachProgress[]>
  >,
  Holds<
    Fits<Reply<'/lepton/api/datasets/update', 'post'>, api.IAttachedDataset>
  >,
  Holds<
    Fits<Reply<'/lepton/api/datasets/{to}', 'delete'>, api.IAttachedDataset>
  >,
  Holds<Fits<Reply<'/lepton/api/jobs', 'get'>, api.IJobList>>,
  Holds<Fits<Reply<'/lepton/api/jobs/{job_id}', 'get'>, api.IJobInfo>>,
  Holds<
    Fits<Reply<'/lepton/api/jobs/{job_id}/metrics', 'get'>, api.IJobMetrics>
  >,
  Holds<Fits<Reply<'/lepton/api/jobs/{job_id}/logs', 'get'>, api.IJobLogs>>,
  Holds<Fits<Reply<'/lepton/api/jobs/{job_id}/cancel', 'post'>, api.IJobInfo>>,
  Holds<Fits<Reply<'/lepton/api/registry/models', 'get'>, api.IModelSummary[]>>,
  Holds<Fits<Reply<`${Model}/versions`, 'get'>, api.IModelVersion[]>>,
  Holds<
    Fits<Reply<`${Model}/versions/{version}/yank`, 'post'>, api.IModelVersion>
  >,
  Holds<
    Fits<Reply<`${Model}/versions/{version}/yank`, 'delete'>, api.IModelVersion>
  >,
  Holds<
    Fits<Reply<`${Model}/versions/{version}`, 'delete'>, api.IVersionDeletion>
  >,
  Holds<
    Fits<
      Reply<'/lepton/api/registry/namespaces/{namespace}/grants', 'post', 201>,
      api.IGrantInfo
    >
  >,
  Holds<
    Fits<
      Reply<
        '/lepton/api/registry/namespaces/{namespace}/grants/{subject_kind}/{subject}',
        'delete'
      >,
      api.IGrantInfo
    >
  >,
  Holds<
    Fits<
      Reply<'/lepton/api/registry/namespaces/{namespace}', 'get'>,
      api.INamespaceInfo
    >
  >,
  Holds<Fits<Reply<`${Model}/aliases/{alias}`, 'put'>, api.IAliasInfo>>,
  Holds<
    Fits<Reply<`${Model}/aliases/{alias}/rollback`, 'post'>, api.IAliasInfo>
  >,
  Holds<
    Fits<Reply<`${Model}/aliases/{alias}/history`, 'get'>, api.IAliasEvent[]>
  >,
  Holds<Fits<Reply<'/lepton/api/registry/lineage', 'get'>, api.ILineage>>,
  Holds<
    Fits<Reply<'/lepton/api/registry/comparisons', 'get'>, api.IComparison[]>
  >,
  Holds<Fits<Reply<'/lepton/api/registry/gates', 'get'>, api.IGateReport[]>>,
  Holds<Fits<Reply<'/lepton/api/runs', 'get'>, api.IRunManifest[]>>,
  Holds<Fits<Reply<'/lepton/api/runs/{run_id}', 'get'>, api.IRunManifest>>,
  Holds<
    Fits<
      Reply<'/lepton/api/runs/{run_id}/rerun', 'post', 201>,
      api.IRunManifest
    >
  >,
  Holds<Fits<Reply<'/lepton/api/runs/{run_id}/diff', 'get'>, api.IRunDiff>>,
  Holds<Fits<Reply<`${Definition}/series`, 'get'>, api.ISeries>>,
  Holds<Fits<Reply<`${Definition}/checks`, 'put'>, api.IDefinitionChecks>>
];

/** Each body the client sends, taken by its route. */
export type BodiesFit = [
  Holds<Fits<api.IAttachRequest, Body<'/lepton/api/datasets', 'post'>>>,
  Holds<
    Fits<
      { to: string; rev?: string | null },
      Body<'/lepton/api/datasets/update', 'post'>
    >
  >,
  Holds<Fits<{ version: number }, Body<`${Model}/aliases/{alias}`, 'put'>>>,
  Holds<
    Fits<{ reason: string }, Body<`${Model}/versions/{version}/yank`, 'post'>>
  >,
  Holds<
    Fits<
      { role: api.Role } & api.IGrantSubject,
      Body<'/lepton/api/registry/namespaces/{namespace}/grants', 'post'>
    >
  >,
  Holds<
    Fits<
      { parameters: Record<string, unknown> },
      Body<'/lepton/api/runs/{run_id}/rerun', 'post'>
    >
  >,
  Holds<Fits<{ checks: string[] }, Body<`${Definition}/checks`, 'put'>>>
];
