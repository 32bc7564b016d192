// Runs API Extractor once per entry point of package.json `exports`, against the built
// declarations in dist/. Without --local it fails when a committed report under etc/ differs
// from the API the build exposes (CI); with --local it rewrites the reports.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const local = process.argv.includes('--local');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const base = ExtractorConfig.loadFile(join(root, 'api-extractor.json'));

let failed = false;
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target === 'string') continue; // ./package.json
  const types = target.import.types;
  const name = subpath === '.' ? 'routing-context' : `routing-context-${subpath.slice(2)}`;
  const entry = join(root, types);
  if (!existsSync(entry)) {
    console.error(`api-report: ${types} is missing for "${subpath}": run the build first (npm run build).`);
    failed = true;
    continue;
  }
  // Integration entries use the core's types (RoutingOptions, RoutesSource…), which users import
  // from 'routing-context' itself: not re-exporting them from every entry is deliberate.
  const messages =
    subpath === '.'
      ? base.messages
      : {
          ...base.messages,
          extractorMessageReporting: {
            ...base.messages.extractorMessageReporting,
            'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: false },
          },
        };
  const config = ExtractorConfig.prepare({
    configObject: {
      ...base,
      messages,
      projectFolder: root,
      mainEntryPointFilePath: entry,
      apiReport: { ...base.apiReport, reportFileName: name },
      docModel: { ...base.docModel, apiJsonFilePath: join(root, 'temp', 'api-model', `${name}.api.json`) },
    },
    configObjectFullPath: join(root, 'api-extractor.json'),
    packageJsonFullPath: join(root, 'package.json'),
  });
  mkdirSync(join(root, 'temp', 'api-model'), { recursive: true });
  const result = Extractor.invoke(config, { localBuild: local, showVerboseMessages: false });
  if (!result.succeeded) {
    failed = true;
    console.error(
      `api-report: "${subpath}" ${result.apiReportChanged ? 'changed: run `npm run api:update` and commit etc/' : 'failed'} ` +
        `(${result.errorCount} errors, ${result.warningCount} warnings)`,
    );
  }
}
if (failed) process.exit(1);
console.log(`api-report: ${local ? 'updated' : 'matches'} etc/ for every entry point.`);
