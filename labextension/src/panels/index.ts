export { DatasetsPanel } from './DatasetsPanel';
export { JobsPanel } from './JobsPanel';
export { ModelsPanel } from './ModelsPanel';
export { RunsPanel } from './RunsPanel';
export { Section, type SectionId, WideViewContext, useWide } from './Section';
export type { ILeptonContext, IPanelProps } from './types';
