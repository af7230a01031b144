/** What every view gets from the app: the store, navigation, the confirmation dialog and notices. */
import type { StoreHandle } from "./store.ts";

export interface ConfirmOptions {
  title: string;
  message: string;
  okText: string;
  /** Offer the "purge" checkbox (delete). */
  purge?: boolean;
  /** The message while "purge" is ticked (it replaces `message`, which may say the instance can be recovered). */
  purgeMessage?: string;
  danger?: boolean;
}

export interface Ctx {
  store: StoreHandle;
  navigate: (path: string) => void;
  /** Resolves with the choice, or null when cancelled. */
  confirm: (options: ConfirmOptions) => Promise<{ purge: boolean } | null>;
  notify: (message: string, tone?: "info" | "error") => void;
}

/** A mounted view: the function that takes it down. */
export type Unmount = () => void;
