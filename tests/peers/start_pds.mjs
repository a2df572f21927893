// A real Bluesky PDS (+ PLC) from @atproto/dev-env, bound to 127.0.0.1 only. Usage: PEERS_DIR=peers node start_pds.mjs PLC_PORT PDS_PORT
// Prints "READY <pds url>" when it serves; SIGTERM closes it.
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';

const orig = net.Server.prototype.listen;
net.Server.prototype.listen = function (...a) {  // the PDS would otherwise listen on every interface
  if (typeof a[0] === 'number' || /^\d+$/.test(a[0])) { if (typeof a[1] !== 'string') a.splice(1, 0, '127.0.0.1'); }
  else if (a[0] && typeof a[0] === 'object' && !a[0].path && !a[0].host) a[0] = { ...a[0], host: '127.0.0.1' };
  return orig.apply(this, a);
};
const [plcPort, pdsPort] = process.argv.slice(2).map(Number);
// The packages live in peers/node_modules (PEERS_DIR), not next to this script.
const require = createRequire(path.join(process.env.PEERS_DIR, 'package.json'));
const { TestNetworkNoAppView } = require('@atproto/dev-env');
const network = await TestNetworkNoAppView.create({
  plc: { port: plcPort },
  pds: { port: pdsPort, hostname: 'localhost', blobUploadLimit: 100 * 1024 * 1024 },  // default is 5 MB
});
console.log('READY', network.pds.url);
const stop = async () => { await network.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
