/**
 * Server answers shown to the user as JupyterLab notifications: an error
 * carries the server's own message (LeptonAPIError.message).
 */
import { Notification } from '@jupyterlab/apputils';

/** The message of anything thrown: the server's words for a LeptonAPIError. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Show a failed action as an error notification; returns the message. */
export function notifyError(action: string, error: unknown): string {
  const message = messageOf(error);
  Notification.error(`${action}: ${message}`, { autoClose: false });
  return message;
}

/** Show a finished action as a success notification. */
export function notifySuccess(message: string): void {
  Notification.success(message, { autoClose: 5000 });
}
