import { IServiceStatus } from '../handler';
import { ILeptonSettings } from '../settings';

/** What every section panel receives from the sidebar. */
export interface IPanelProps {
  /** The section's service line from `/lepton/api/status`, if reported. */
  status: IServiceStatus | undefined;
  settings: ILeptonSettings;
}
