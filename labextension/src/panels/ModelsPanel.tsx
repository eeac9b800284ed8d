import * as React from 'react';

import { Section } from './Section';
import { ServiceStatusLine } from './ServiceStatusLine';
import { SettingsList } from './SettingsList';
import { IPanelProps } from './types';

/** The model registry. For now: the registry service status. */
export function ModelsPanel({
  status,
  settings
}: IPanelProps): React.ReactElement {
  return (
    <Section id="models" title="Models">
      <ServiceStatusLine status={status} />
      <SettingsList items={[['Registry URL', settings.registryUrl]]} />
    </Section>
  );
}
