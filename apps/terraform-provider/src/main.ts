/**
 * terraform-provider-natplane: natplane's Terraform provider (plugin protocol 6). Terraform runs
 * this executable (bundled into one file with its dependencies by `npm run build`); see
 * docs/terraform/ for its resources and the README for installing it from the local mirror.
 */
import { natplaneProvider } from './natplane';
import { serve } from './server/serve';

serve(natplaneProvider).catch((e: unknown) => {
  process.stderr.write(`terraform-provider-natplane: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
