import * as React from 'react';
import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';

/** The sidebar's sections, as named in their `data-lepton-section` hook. */
export type SectionId = 'datasets' | 'jobs' | 'models' | 'runs';

export interface ISectionProps {
  id: SectionId;
  title: string;
  initiallyOpen?: boolean;
  children?: React.ReactNode;
}

/**
 * A collapsible sidebar section: a heading whose button toggles the body
 * (a disclosure: `aria-expanded` + `aria-controls`, operable by keyboard).
 */
export function Section({
  id,
  title,
  initiallyOpen = true,
  children
}: ISectionProps): React.ReactElement {
  const [open, setOpen] = React.useState(initiallyOpen);
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
      </h3>
      <div id={bodyId} className="lepton-section-body" hidden={!open}>
        {children}
      </div>
    </section>
  );
}
