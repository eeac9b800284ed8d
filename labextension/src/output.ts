/**
 * A run's output notebook, read-only, in a main-area tab: the server renders it as a
 * static page (nbconvert) and it is shown in a fully sandboxed frame (no scripts, no
 * forms), whether or not the notebook lies under the Jupyter server root.
 */
import { Widget } from '@lumino/widgets';

import { requestText } from './handler';
import { leptonIcon } from './icon';

export class RunOutputView extends Widget {
  constructor(runId: string, title: string, page: string) {
    super();
    this.id = `lepton-run-output-${runId}`;
    this.addClass('lepton-run-output');
    this.title.icon = leptonIcon;
    this.title.label = `${title} (read-only)`;
    this.title.caption = `Output of run ${runId}, read-only`;
    this.title.closable = true;
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', '');
    frame.setAttribute('title', `Output of run ${runId}`);
    frame.srcdoc = page;
    this.node.appendChild(frame);
  }
}

/** Fetch run `runId`'s output page and make its read-only view. */
export async function runOutputView(
  runId: string,
  title: string
): Promise<RunOutputView> {
  const page = await requestText(`runs/${encodeURIComponent(runId)}/output`);
  return new RunOutputView(runId, title, page);
}
