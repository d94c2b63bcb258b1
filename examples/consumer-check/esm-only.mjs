// Public packages published as ESM only, and why: they have no CommonJS build, so the export
// check loads them only through import(), and the install check lints them with attw's esm-only
// profile. Every other public package must work from both module systems.
export const ESM_ONLY = {
  // packages/conformance/tsup.config.ts builds ESM only.
  '@dal/conformance': 'vitest, which the suite registers its tests with, cannot be required from CommonJS',
};

// Public packages that are commands, not libraries (package name -> its bin): nothing to import and
// no types, so the export check runs the command's --help instead and the install check does not
// ask attw for types.
export const COMMANDS = {
  '@dal/cli': 'dal',
};
