import * as React from 'react';
import {
  caretDownIcon,
  caretRightIcon,
  launchIcon
} from '@jupyterlab/ui-components';

/** The sidebar's sections, as named in their `data-lepton-section` hook. */
export type SectionId = 'datasets' | 'jobs' | 'models' | 'runs';

/**
 * Where a panel is shown: the narrow sidebar (with a button opening the panel as a
 * main-area tab) or that wide tab, where panels show more (tables, full logs).
 */
export interface IWideView {
  wide: boolean;
  /** Open a section as a main-area tab; absent where no tab can be opened. */
  openWide?: (id: SectionId) => void;
}

export const WideViewContext = React.createContext<IWideView>({ wide: false });

/** Whether the panel is shown in a wide main-area tab. */
export function useWide(): boolean {
  return React.useContext(WideViewContext).wide;
}

export interface ISectionProps {
  id: SectionId;
  title: string;
  initiallyOpen?: boolean;
  children?: React.ReactNode;
}

/**
 * A collapsible sidebar section: a heading whose button toggles the body
 * (a disclosure: `aria-expanded` + `aria-controls`, operable by keyboard),
 * and, in the sidebar, a button opening the section as a wide tab.
 */
export function Section({
  id,
  title,
  initiallyOpen = true,
  children
}: ISectionProps): React.ReactElement {
  const [open, setOpen] = React.useState(initiallyOpen);
  const { wide, openWide } = React.useContext(WideViewContext);
  const uid = React.useId();
  const headingId = `${uid}-heading`;
  const bodyId = `${uid}-body`;
  const Caret = open ? caretDownIcon : caretRightIcon;

  return (
    <section
      className="lepton-section"
      data-lepton-section={id}
      aria-labelledby={headingId}
    >
      <h3 className="lepton-section-heading" id={headingId}>
        <button
          type="button"
          className="lepton-section-toggle"
          aria-expanded={open}
          aria-controls={bodyId}
          onClick={() => setOpen(!open)}
        >
          <Caret.react tag="span" className="lepton-section-caret" />
          <span>{title}</span>
        </button>
        {!wide && openWide && (
          <button
            type="button"
            className="lepton-section-open-wide"
            aria-label={`Open ${title} in a tab`}
            title={`Open ${title} in a tab`}
            onClick={() => openWide(id)}
          >
            <launchIcon.react tag="span" />
          </button>
        )}
      </h3>
      <div id={bodyId} className="lepton-section-body" hidden={!open}>
        {children}
      </div>
    </section>
  );
}
