#!/bin/sh
# The build step of npm test and test:quick: `npm run compile` (tsc
# --incremental through dist/.tsbuildinfo, then test/prune-dist.ts), unless
# nothing tsc reads changed since the last build: no file or directory
# under src/ or test/ (a deleted file changes its directory), nor
# tsconfig.json or package.json, is newer than dist/.tsbuildinfo. tsc
# --incremental takes 2.5 s of CPU to find that nothing changed, before
# anything else of npm test can start. A failed build removes
# dist/.tsbuildinfo, so that the next run builds again and fails again.
set -e
info=dist/.tsbuildinfo
if [ -e "$info" ] && [ -z "$(find src test tsconfig.json package.json -newer "$info" -print -quit)" ]; then exit 0; fi
node_modules/.bin/tsc -p tsconfig.json --incremental --tsBuildInfoFile "$info" || { rm -f "$info"; exit 1; }
touch "$info"
node dist/test/prune-dist.js
