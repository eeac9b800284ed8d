/**
 * JupyterLab dialogs in front of the sidebar's destructive actions: a confirmation,
 * and a confirmation that asks why (a yank's reason, shown to whoever loads it later).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

export interface IConfirmOptions {
  title: string;
  /** What will happen, in a sentence. */
  body: string;
  /** The accept button's label, e.g. "Revoke". */
  accept: string;
}

/** Whether the user accepted the destructive action (Cancel and Escape decline). */
export async function confirmAction(
  options: IConfirmOptions
): Promise<boolean> {
  const result = await showDialog({
    title: options.title,
    body: options.body,
    buttons: [
      Dialog.cancelButton(),
      Dialog.warnButton({ label: options.accept })
    ]
  });
  return result.button.accept;
}

/** The dialog's body: what will happen, a required text area and, after a blank try, why not. */
class ReasonBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(body: string, label: string, problem: string | null) {
    super();
    this.addClass('lepton-reason-dialog');
    const text = document.createElement('p');
    text.textContent = body;
    this.node.appendChild(text);
    const caption = document.createElement('label');
    caption.textContent = label;
    this._input = document.createElement('textarea');
    this._input.className = 'jp-mod-styled lepton-reason-input';
    this._input.required = true;
    this._input.maxLength = REASON_MAX;
    this._input.rows = 3;
    caption.appendChild(this._input);
    this.node.appendChild(caption);
    if (problem) {
      const error = document.createElement('p');
      error.className = 'lepton-error';
      error.setAttribute('role', 'alert');
      error.textContent = problem;
      this.node.appendChild(error);
    }
  }

  getValue(): string {
    return this._input.value;
  }

  private _input: HTMLTextAreaElement;
}

/** The server's limit on a yank's reason (registry/service.py). */
export const REASON_MAX = 2000;

/**
 * Ask for a reason before a destructive action; null when the user cancels. A blank
 * reason is not accepted: the dialog comes back saying one is required.
 */
export async function askReason(
  options: IConfirmOptions & { label: string }
): Promise<string | null> {
  let problem: string | null = null;
  for (;;) {
    const result = await showDialog({
      title: options.title,
      body: new ReasonBody(options.body, options.label, problem),
      focusNodeSelector: 'textarea',
      buttons: [
        Dialog.cancelButton(),
        Dialog.warnButton({ label: options.accept })
      ]
    });
    if (!result.button.accept) {
      return null;
    }
    const reason = (result.value ?? '').trim();
    if (reason) {
      return reason;
    }
    problem = 'A reason is required.';
  }
}
