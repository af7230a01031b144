/**
 * The command table of the simulated client: names, aliases, options and help
 * texts, modelled on the 1.16 client. Handlers live in their own modules and are
 * loaded on demand to keep start-up lean.
 */

import { formatHelp, type QtOption, type QtPositional } from "./args.ts";

/** Options every command parse accepts (ArgParser's global ones). */
export const GLOBAL_OPTIONS: readonly QtOption[] = [
  { names: ["h", "help"], description: "Display this help" },
  {
    names: ["v", "verbose"],
    description:
      "Increase logging verbosity. Repeat the 'v' in the short option for more detail. " +
      "Maximum verbosity is obtained with 4 (or more) v's, i.e. -vvvv.",
  },
  { names: ["V", "version"], description: "Show version details", hidden: true },
];

const FORMAT = (what: string): QtOption => ({
  names: ["format"],
  valueName: "format",
  description: `Output ${what} in the requested format.\nValid formats are: table (default), json, csv and yaml`,
});
const ALL = (verb: string): QtOption => ({ names: ["all"], description: `${verb} all instances` });
const TIMEOUT: QtOption = {
  names: ["timeout"],
  valueName: "timeout",
  description: "Maximum time, in seconds, to wait for the command to complete.",
};

/** Static description of one command. */
export interface CommandSpec {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly shortHelp: string;
  readonly description: string;
  readonly usageArgs: string;
  readonly options: readonly QtOption[];
  readonly positionals: readonly QtPositional[];
}

const NAMES: QtPositional = { name: "name", description: "Names of instances to act on." };

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "delete",
    aliases: [],
    shortHelp: "Delete instances and snapshots",
    description: "Delete instances and snapshots. Instances can be purged immediately or later on,\nwith the \"purge\" command.",
    usageArgs: "<name>[.snapshot] [<name>[.snapshot] ...]",
    options: [ALL("Delete"), { names: ["p", "purge"], description: "Permanently delete specified instances and snapshots immediately" }],
    positionals: [{ name: "name", description: "Names of instances and snapshots to delete" }],
  },
  {
    name: "exec",
    aliases: [],
    shortHelp: "Run a command on an instance",
    description: "Run a command on an instance",
    usageArgs: "<name> [--] <command>",
    options: [
      { names: ["d", "working-directory"], valueName: "dir", description: "Change to <dir> before execution" },
      { names: ["n", "no-map-working-directory"], description: "Do not map the host execution path to a mounted path" },
    ],
    positionals: [
      { name: "name", description: "Name of instance to execute the command on" },
      { name: "command", description: "Command to execute on the instance" },
    ],
  },
  {
    name: "get",
    aliases: [],
    shortHelp: "Get a configuration setting",
    description: "Get the configuration setting corresponding to the given key, or all settings if no key is specified.",
    usageArgs: "[<key>]",
    options: [
      { names: ["raw"], description: "Output in raw format. For now, this affects only the representation of empty values (i.e. \"\" instead of \"<empty>\")." },
      { names: ["keys"], description: "List available settings keys. This outputs the whole list of currently available settings keys, or just <arg>, if provided and a valid key." },
    ],
    positionals: [{ name: "key", description: "Path to the setting whose configured value should be obtained." }],
  },
  {
    name: "help",
    aliases: [],
    shortHelp: "Display help about a command",
    description: "Displays help for the given command.",
    usageArgs: "[<command>]",
    options: [],
    positionals: [{ name: "command", description: "Name of command to display help for" }],
  },
  {
    name: "info",
    aliases: [],
    shortHelp: "Display information about instances or snapshots",
    description: "Display information about instances or snapshots",
    usageArgs: "[<instance>[.snapshot] [<instance>[.snapshot] ...]]",
    options: [
      { names: ["all"], description: "Display info for all instances.", hidden: true },
      { names: ["no-runtime-information"], description: "Retrieve from the daemon only the information obtained without running commands on the instance", hidden: true },
      { names: ["snapshots"], description: "Display detailed information about the snapshots of specified instances. This option has no effect on snapshot arguments. Omit instance/snapshot arguments to obtain detailed information on all the snapshots of all instances." },
      FORMAT("information"),
    ],
    positionals: [{ name: "instance/snapshot", description: "Names of instances or snapshots to display information about" }],
  },
  {
    name: "launch",
    aliases: [],
    shortHelp: "Create and start an Ubuntu instance",
    description: "Create and start a new instance.",
    usageArgs: "[[<remote:>]<image> | <url>]",
    options: [
      { names: ["c", "cpus"], valueName: "cpus", description: "Number of CPUs to allocate.\nMinimum: 1, default: 1." },
      { names: ["d", "disk"], valueName: "disk", description: "Disk space to allocate. Positive integers, in bytes, or decimals, with K, M, G suffix.\nMinimum: 512M, default: 5G." },
      { names: ["m", "memory"], valueName: "memory", description: "Amount of memory to allocate. Positive integers, in bytes, or decimals, with K, M, G suffix.\nMinimum: 128M, default: 1G." },
      { names: ["mem"], valueName: "memory", description: "Deprecated memory allocation long option. See \"--memory\" above.", hidden: true },
      { names: ["n", "name"], valueName: "name", description: "Name for the instance. If it is 'primary' (the configured primary instance name), the user's home directory is mounted inside the newly launched instance, in 'Home'.\nValid names must consist of letters, numbers, or hyphens, must start with a letter, and must end with an alphanumeric character." },
      { names: ["cloud-init"], valueName: "file> | <url", description: "Path or URL to a user-data cloud-init configuration, or '-' for stdin." },
      { names: ["network"], valueName: "spec", description: "Add a network interface to the instance, where <spec> is in the \"key=value,key=value\" format, with the following keys available:\n  name: the network to connect to (required), use the networks command for a list of possible values, or use 'bridged' to use the interface configured via `multipass set local.bridged-network`.\n  mode: auto|manual (default: auto)\n  mac: hardware address (default: random).\nYou can also use a shortcut of \"<name>\" to mean \"name=<name>\"." },
      { names: ["bridged"], description: "Adds one `--network bridged` network." },
      { names: ["mount"], valueName: "local-path>:<instance-path", description: "Mount a local directory inside the instance. If <instance-path> is omitted, the mount point will be the same as the absolute path of <local-path>" },
      TIMEOUT,
    ],
    positionals: [{ name: "image", description: "Optional image to launch. If omitted, then the default Ubuntu LTS will be used." }],
  },
  {
    name: "list",
    aliases: ["ls"],
    shortHelp: "List all available instances or snapshots",
    description: "List all instances or snapshots which have been created.",
    usageArgs: "",
    options: [
      { names: ["snapshots"], description: "List all available snapshots" },
      FORMAT("list"),
      { names: ["no-ipv4"], description: "Do not query the instances for the IPv4's they are using", hidden: true },
    ],
    positionals: [],
  },
  {
    name: "purge",
    aliases: [],
    shortHelp: "Purge all deleted instances permanently",
    description: "Purge all deleted instances permanently, including all their data.",
    usageArgs: "",
    options: [],
    positionals: [],
  },
  {
    name: "recover",
    aliases: [],
    shortHelp: "Recover deleted instances",
    description: "Recover deleted instances so they can be used again.",
    usageArgs: "<name> [<name> ...]",
    options: [ALL("Recover")],
    positionals: [{ name: "name", description: "Names of instances to recover" }],
  },
  {
    name: "restart",
    aliases: [],
    shortHelp: "Restart instances",
    description: "Restart the named instances. Exits with return\ncode 0 when the instances restart, or with an\nerror code if any fail to restart.",
    usageArgs: "[<name> ...]",
    options: [ALL("Restart"), TIMEOUT],
    positionals: [NAMES],
  },
  {
    name: "restore",
    aliases: [],
    shortHelp: "Restore an instance from a snapshot",
    description: "Restore a stopped instance to the state of a previously taken snapshot.",
    usageArgs: "<instance>.<snapshot>",
    options: [{ names: ["d", "destructive"], description: "Discard the current state of the instance" }],
    positionals: [{ name: "instance.snapshot", description: "The instance to restore and snapshot to use, in <instance>.<snapshot> format, where <instance> is the name of an instance, and <snapshot> is the name of a snapshot" }],
  },
  {
    name: "shell",
    aliases: ["sh", "connect"],
    shortHelp: "Open a shell on a running instance",
    description: "Open a shell prompt on the instance.",
    usageArgs: "[<name>]",
    options: [TIMEOUT],
    positionals: [{ name: "name", description: "Name of the instance to open a shell on. If omitted, 'primary' (the configured primary instance name) will be assumed. If the instance is not running, an attempt is made to start it (see `start` for more info)." }],
  },
  {
    name: "snapshot",
    aliases: [],
    shortHelp: "Take a snapshot of an instance",
    description: "Take a snapshot of a stopped instance that can later be restored to recover the current state.",
    usageArgs: "<instance>",
    options: [
      { names: ["n", "name"], valueName: "name", description: "An optional name for the snapshot, subject to the same validity rules as instance names (see `help launch`). Default: \"snapshotN\", where N is one plus the number of snapshots that were ever taken for <instance>." },
      { names: ["c", "m", "comment"], valueName: "comment", description: "An optional free comment to associate with the snapshot. (Hint: quote the text to avoid spaces being parsed by your shell)" },
    ],
    positionals: [{ name: "instance", description: "The instance to take a snapshot of." }],
  },
  {
    name: "start",
    aliases: [],
    shortHelp: "Start instances",
    description: "Start the named instances. Exits with return code 0\nwhen the instances start, or with an error code if\nany fail to start.",
    usageArgs: "[<name> ...]",
    options: [ALL("Start"), TIMEOUT],
    positionals: [NAMES],
  },
  {
    name: "stop",
    aliases: [],
    shortHelp: "Stop running instances",
    description: "Stop the named instances. Exits with return code 0 when the instances stop, or with an error code if any fail to stop.",
    usageArgs: "[<name> ...]",
    options: [
      ALL("Stop"),
      { names: ["t", "time"], valueName: "time", description: "Time from now, in minutes, to delay shutdown of the instance" },
      { names: ["c", "cancel"], description: "Cancel a pending delayed shutdown" },
      { names: ["force"], description: "Force the instance to shut down immediately. Warning: This could potentially corrupt a running instance, so use with caution." },
    ],
    positionals: [NAMES],
  },
  {
    name: "suspend",
    aliases: [],
    shortHelp: "Suspend running instances",
    description: "Suspend the named instances, if running. Exits with\nreturn code 0 if successful.",
    usageArgs: "[<name> ...]",
    options: [ALL("Suspend")],
    positionals: [NAMES],
  },
  {
    name: "transfer",
    aliases: ["copy-files"],
    shortHelp: "Transfer files between the host and instances",
    description: "Copy files and directories between the host and instances.",
    usageArgs: "<source> [<source> ...] <destination>",
    options: [
      { names: ["r", "recursive"], description: "Recursively copy entire directories" },
      { names: ["p", "parents"], description: "Make parent directories as needed" },
    ],
    positionals: [
      { name: "source", description: "One or more paths to transfer, prefixed with <name:> for paths inside the instance, or '-' for stdin" },
      { name: "destination", description: "The destination path, prefixed with <name:> for a path inside the instance, or '-' for stdout" },
    ],
  },
  {
    name: "version",
    aliases: [],
    shortHelp: "Show version details",
    description: "Display version information about the multipass command\nand daemon.",
    usageArgs: "",
    options: [FORMAT("version information")],
    positionals: [],
  },
];

/** Commands of the real client that the stand-in does not simulate. */
export const UNSUPPORTED = [
  "alias", "aliases", "authenticate", "auth", "clone", "find", "mount", "networks",
  "prefer", "set", "umount", "unmount", "unalias",
];

/** The command called `word` (name or alias). */
export function findCommand(word: string): CommandSpec | undefined {
  return COMMANDS.find((spec) => spec.name === word || spec.aliases.includes(word));
}

/** `multipass help <command>` / `multipass <command> --help`. */
export function commandHelp(spec: CommandSpec): string {
  const usage = `multipass ${spec.name} [options]${spec.usageArgs === "" ? "" : ` ${spec.usageArgs}`}`;
  return formatHelp(usage, spec.description, [...GLOBAL_OPTIONS.slice(0, 2), ...spec.options], spec.positionals);
}

/** The general help (`multipass --help`, or bare `multipass`). */
export function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((spec) => spec.name.length));
  const commands = COMMANDS.map((spec) => `  ${spec.name.padEnd(width)}  ${spec.shortHelp}\n`).join("");
  const head = formatHelp(
    "multipass [options] <command>",
    "Create, control and connect to Ubuntu instances.\n\nThis is a command line utility for multipass, a\nservice that manages Ubuntu instances.",
    GLOBAL_OPTIONS,
    [],
  );
  return `${head}\nAvailable commands:\n${commands}`;
}
