/**
 * The executable Terraform starts: loads the provider's bundle (natplane-provider.js, beside this
 * file) through v8-compile-cache, so that V8 compiles the 0.8 MB bundle once per machine and
 * later processes (Terraform starts one per phase of every run) reuse the code in the cache
 * (os.tmpdir()): a quarter less CPU from exec to handshake, measured. The cache is keyed by the
 * file's path and contents and ignored when node changes.
 */
import 'v8-compile-cache';
import { join } from 'node:path';

// a path computed at run time: the bundler must not inline the provider into this file
const bundle = join(__dirname, ['natplane', 'provider.js'].join('-'));
module.require(bundle);
