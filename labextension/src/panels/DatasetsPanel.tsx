import * as React from 'react';

import { Section } from './Section';
import { ServiceStatusLine } from './ServiceStatusLine';
import { SettingsList } from './SettingsList';
import { IPanelProps } from './types';

/** Pinned DVC datasets. For now: the datasets service status. */
export function DatasetsPanel({
  status,
  settings
}: IPanelProps): React.ReactElement {
  return (
    <Section id="datasets" title="Datasets">
      <ServiceStatusLine status={status} />
      <SettingsList
        items={[
          ['Data registries', settings.dataRegistries.join(', ')],
          ['Shared data cache', settings.dataCache]
        ]}
      />
    </Section>
  );
}
