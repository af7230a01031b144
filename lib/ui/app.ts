// Placeholder for the web console's entry (issue 13): the UI replaces it.
export {};
