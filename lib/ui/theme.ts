/**
 * Light and dark: the system's choice until the user picks one, which is kept
 * in localStorage (a preference, not a secret).
 */
const KEY = "multiverse.theme";
export type Theme = "light" | "dark";

function stored(): Theme | null {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : null;
  } catch {
    return null;
  }
}

const systemDark = () => typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;

export function currentTheme(): Theme {
  return stored() ?? (systemDark() ? "dark" : "light");
}

export function applyTheme(theme: Theme = currentTheme()): void {
  document.documentElement.dataset["theme"] = theme;
  document.documentElement.style.colorScheme = theme;
  for (const listener of listeners) listener(theme);
}

const listeners = new Set<(theme: Theme) => void>();

/** Listens to theme changes (the terminal repaints its colours). */
export function onTheme(listener: (theme: Theme) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function toggleTheme(): Theme {
  const next: Theme = currentTheme() === "dark" ? "light" : "dark";
  try {
    localStorage.setItem(KEY, next);
  } catch {
    // Storage refused (private mode): the choice lasts for this page.
  }
  applyTheme(next);
  return next;
}

/** Follows the system while the user has not chosen. */
export function followSystem(): void {
  if (typeof matchMedia !== "function") return;
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (stored() === null) applyTheme();
  });
}
