import * as React from 'react';

import { Section } from './Section';
import { ServiceStatusLine } from './ServiceStatusLine';
import { IPanelProps } from './types';

/** Recorded notebook runs and their reruns. For now: the runs service status. */
export function RunsPanel({ status }: IPanelProps): React.ReactElement {
  return (
    <Section id="runs" title="Runs">
      <ServiceStatusLine status={status} />
    </Section>
  );
}
