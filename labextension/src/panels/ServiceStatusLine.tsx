import * as React from 'react';

import { IServiceStatus } from '../handler';
import { PathText } from './common';

export interface IServiceStatusLineProps {
  status: IServiceStatus | undefined;
}

/** "Configured" or "Not configured", then the server's detail text. */
export function ServiceStatusLine({
  status
}: IServiceStatusLineProps): React.ReactElement {
  if (!status) {
    return (
      <p className="lepton-status lepton-status-unknown">
        The server did not report on this service.
      </p>
    );
  }
  const state = status.configured ? 'configured' : 'not-configured';
  return (
    <p className={`lepton-status lepton-status-${state}`}>
      <span className="lepton-status-state">
        {status.configured ? 'Configured' : 'Not configured'}
      </span>
      <span className="lepton-status-detail">
        <PathText text={status.detail} />
      </span>
    </p>
  );
}
