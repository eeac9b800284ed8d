import * as React from 'react';

import { Section } from './Section';
import { ServiceStatusLine } from './ServiceStatusLine';
import { IPanelProps } from './types';

/** Distributed training jobs. For now: the jobs service status. */
export function JobsPanel({ status }: IPanelProps): React.ReactElement {
  return (
    <Section id="jobs" title="Jobs">
      <ServiceStatusLine status={status} />
    </Section>
  );
}
