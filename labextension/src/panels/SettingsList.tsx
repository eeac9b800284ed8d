import * as React from 'react';

export interface ISettingsListProps {
  /** Label and value pairs; empty values are left out. */
  items: ReadonlyArray<readonly [string, string]>;
}

/** The user settings that apply to a section, when any are set. */
export function SettingsList({
  items
}: ISettingsListProps): React.ReactElement | null {
  const shown = items.filter(([, value]) => value !== '');
  if (shown.length === 0) {
    return null;
  }
  return (
    <dl className="lepton-settings-list">
      {shown.map(([label, value]) => (
        <React.Fragment key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </React.Fragment>
      ))}
    </dl>
  );
}
